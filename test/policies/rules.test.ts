import { describe, expect, it } from "vitest";
import { gatewayDiskLimit, noPublicIp } from "../../policies/compute";
import { gatewayInstanceTypes } from "../../policies/cost";
import { cutoverDowntimePredicted, cutoverInChangeWindow, cutoverWithinDowntimeBudget, requiredTags } from "../../policies/lifecycle";
import { predictCutover } from "../../lib/proxy/predict";
import { LAB_APP_01 } from "../proxy/lab-rounds";
import { noOpenAdminPorts, noReservedPrivateIp, pinnedIpMatchesSource, rehearsalVpcNotOnCen, syncVswitchIsolated } from "../../policies/network";
import { TYPES } from "../../policies/resources";
import { disksEncrypted, replicatedDisksProtected } from "../../policies/storage";
import { checkResource, checkStack, resource } from "./fake";

const component = (type: string, name: string) => resource(type, name, {});
const migratedTags = {
  "rehost:wave": "wave-1",
  "rehost:source-vm": "web-01",
  "rehost:source-vm-uuid": "4211-aa",
  "rehost:phase": "cutover",
  "rehost:source-ip": "10.1.1.21",
};
const webSwitch = resource(TYPES.vswitch, "lz-net-web", { cidrBlock: "10.1.1.0/24", tags: { "rehost:portgroup": "web" } });

function host(props: Record<string, unknown>, vswitch = webSwitch) {
  const parent = component("rehost:components:MigratedInstance", "web-01");
  return resource(
    TYPES.instance,
    "web-01-instance",
    { instanceType: "ecs.g7.large", internetMaxBandwidthOut: 0, tags: migratedTags, ...props },
    { parent, deps: { vswitchId: [vswitch] } },
  );
}

describe("pinned-ip-matches-source", () => {
  const rule = pinnedIpMatchesSource();
  it("accepts the source's address inside the vSwitch", async () => {
    expect(await checkStack(rule, [webSwitch, host({ privateIp: "10.1.1.21" })])).toEqual([]);
  });
  it("reports an address outside the vSwitch CIDR", async () => {
    const out = await checkStack(rule, [webSwitch, host({ privateIp: "10.1.2.21", tags: { ...migratedTags, "rehost:source-ip": "10.1.2.21" } })]);
    expect(out).toHaveLength(1);
    expect(out[0]![0]).toBe("web-01-instance");
    expect(out[0]![1]).toMatch(/10\.1\.2\.21, outside the CIDR 10\.1\.1\.0\/24/);
  });
  it("reports an address that differs from the source VM's", async () => {
    const out = await checkStack(rule, [webSwitch, host({ privateIp: "10.1.1.22" })]);
    expect(out.map(([, m]) => m)).toEqual([expect.stringMatching(/but its source VM web-01 has 10\.1\.1\.21/)]);
  });
});

describe("no-reserved-private-ip", () => {
  const rule = noReservedPrivateIp();
  it("accepts a usable address", async () => {
    expect(await checkStack(rule, [webSwitch, host({ privateIp: "10.1.1.252" })])).toEqual([]);
  });
  it.each(["10.1.1.0", "10.1.1.253", "10.1.1.254", "10.1.1.255"])("reports the reserved %s", async (ip) => {
    const out = await checkStack(rule, [webSwitch, host({ privateIp: ip })]);
    expect(out).toHaveLength(1);
    expect(out[0]![1]).toContain(`pins privateIp = ${ip}, an address Alibaba Cloud reserves`);
    expect(out[0]![1]).toContain("10.1.1.1 to 10.1.1.252");
  });
  it("checks secondary addresses of network interfaces too", async () => {
    const eni = resource(
      TYPES.networkInterface,
      "db-01-eni-1",
      { primaryIpAddress: "10.1.1.30", privateIpAddresses: ["10.1.1.255"] },
      { deps: { vswitchId: [webSwitch] } },
    );
    expect((await checkStack(rule, [webSwitch, eni])).map(([, m]) => m)).toEqual([expect.stringContaining("privateIpAddresses[0] = 10.1.1.255")]);
  });
});

describe("rehearsal-vpc-not-on-cen", () => {
  const rule = rehearsalVpcNotOnCen();
  const prodVpc = resource(TYPES.vpc, "lz-net-vpc", { cidrBlock: "10.0.0.0/8", tags: {} });
  const rehearsalVpc = resource(TYPES.vpc, "r1-vpc", { cidrBlock: "10.0.0.0/8", tags: { "rehost:phase": "rehearsal-1" } });
  it("accepts attaching the production VPC", async () => {
    const attach = resource(TYPES.cenTransitRouterVpcAttachment, "lz-cen-attach", {}, { deps: { vpcId: [prodVpc] } });
    expect(await checkStack(rule, [prodVpc, rehearsalVpc, attach])).toEqual([]);
  });
  it("reports a rehearsal VPC attached to CEN", async () => {
    const attach = resource(TYPES.cenTransitRouterVpcAttachment, "r1-cen-attach", {}, { deps: { vpcId: [rehearsalVpc] } });
    const out = await checkStack(rule, [prodVpc, rehearsalVpc, attach]);
    expect(out).toEqual([["r1-cen-attach", expect.stringContaining("attaches the rehearsal Network r1-vpc to CEN")]]);
  });
});

describe("sync-vswitch-isolated", () => {
  const rule = syncVswitchIsolated();
  const sync = (cidr: string) => resource(TYPES.vswitch, "lz-net-sync", { cidrBlock: cidr, tags: { "rehost:role": "sync" } });
  it("accepts a sync subnet apart from every kept range", async () => {
    expect(await checkStack(rule, [webSwitch, sync("172.30.0.0/27")], { onPremRanges: ["10.0.0.0/8"] })).toEqual([]);
  });
  it("reports overlap with a mirrored subnet and with an on-prem range", async () => {
    const out = await checkStack(rule, [webSwitch, sync("10.1.1.128/27")], { onPremRanges: ["10.0.0.0/8"] });
    expect(out.map(([, m]) => m)).toEqual([
      expect.stringContaining("overlaps the mirrored Switch lz-net-web"),
      expect.stringContaining("overlaps the on-prem range 10.0.0.0/8"),
    ]);
  });
});

describe("no-open-admin-ports", () => {
  const rule = noOpenAdminPorts();
  const sgRule = (props: Record<string, unknown>) =>
    resource(TYPES.securityGroupRule, "lz-net-sg-rule", { type: "ingress", ipProtocol: "tcp", policy: "accept", ...props });
  it("accepts SSH from the operator's CIDR and HTTPS from anywhere", async () => {
    expect(await checkResource(rule, sgRule({ portRange: "22/22", cidrIp: "192.168.10.0/24" }))).toEqual([]);
    expect(await checkResource(rule, sgRule({ portRange: "443/443", cidrIp: "0.0.0.0/0" }))).toEqual([]);
  });
  it.each([
    ["22/22", 22],
    ["3000/3400", 3389],
    ["8443/8443", 8443],
    ["-1/-1", 22],
  ])("reports %s open to the world", async (portRange, port) => {
    const out = await checkResource(rule, sgRule({ portRange, cidrIp: "0.0.0.0/0" }));
    expect(out).toEqual([expect.stringContaining(`opens port ${port}`)]);
  });
  it("uses the configured agent port", async () => {
    expect(await checkResource(rule, sgRule({ portRange: "9443/9443", cidrIp: "0.0.0.0/0" }), { agentPort: 9443 })).toHaveLength(1);
  });
});

describe("no-public-ip", () => {
  const rule = noPublicIp();
  const gateway = (props: Record<string, unknown>) =>
    resource(TYPES.instance, "w1-gw-1-instance", { instanceType: "ecs.c7.large", tags: { "rehost:role": "sync-gateway" }, ...props });
  it("accepts hosts and gateways without public addresses", async () => {
    expect(await checkStack(rule, [webSwitch, host({ privateIp: "10.1.1.21" }), gateway({ internetMaxBandwidthOut: 0 })])).toEqual([]);
  });
  it("reports public bandwidth on a gateway and an EIP on a host", async () => {
    const h = host({ privateIp: "10.1.1.21" });
    const eip = resource(TYPES.eipAssociation, "web-01-eip", {}, { deps: { instanceId: [h] } });
    const out = await checkStack(rule, [webSwitch, h, gateway({ internetMaxBandwidthOut: 10 }), eip]);
    expect(out).toEqual([
      ["w1-gw-1-instance", expect.stringContaining("internetMaxBandwidthOut = 10")],
      ["web-01-eip", expect.stringContaining("binds an EIP to the migrated host")],
    ]);
  });
  it("leaves a rehearsal bastion alone", async () => {
    const bastion = resource(TYPES.instance, "r1-bastion", { internetMaxBandwidthOut: 5, tags: { "rehost:role": "bastion" } });
    expect(await checkStack(rule, [bastion])).toEqual([]);
  });
});

describe("gateway-disk-limit", () => {
  const rule = gatewayDiskLimit();
  const gw = resource(TYPES.instance, "w1-gw-1-instance", { tags: { "rehost:role": "sync-gateway" } });
  const attachments = (n: number) =>
    Array.from({ length: n }, (_, i) => resource(TYPES.ecsDiskAttachment, `w1-gw-1-attach-${i}`, {}, { deps: { instanceId: [gw] } }));
  it("accepts 16 disks", async () => {
    expect(await checkStack(rule, [gw, ...attachments(16)])).toEqual([]);
  });
  it("reports 20 disks", async () => {
    expect(await checkStack(rule, [gw, ...attachments(20)])).toEqual([["w1-gw-1-instance", expect.stringContaining("carries 20 data disks")]]);
  });
  it("uses the configured limit", async () => {
    expect(await checkStack(rule, [gw, ...attachments(9)], { maxDisks: 8 })).toHaveLength(1);
  });
});

describe("disks-encrypted", () => {
  const rule = disksEncrypted();
  it("accepts encrypted disks", async () => {
    expect(await checkResource(rule, resource(TYPES.ecsDisk, "d", { encrypted: true }))).toEqual([]);
    expect(await checkResource(rule, resource(TYPES.instance, "i", { systemDiskEncrypted: true, dataDisks: [{ name: "d1", encrypted: true }] }))).toEqual([]);
  });
  it("reports unencrypted disks", async () => {
    expect(await checkResource(rule, resource(TYPES.ecsDisk, "d", {}))).toEqual([expect.stringContaining("is not encrypted")]);
    expect(await checkResource(rule, resource(TYPES.instance, "i", { systemDiskEncrypted: true, dataDisks: [{ name: "d1" }] }))).toEqual([
      expect.stringContaining("unencrypted data disk d1"),
    ]);
  });
});

describe("replicated-disks-protected", () => {
  const rule = replicatedDisksProtected();
  const gwComponent = component("rehost:components:SyncGateway", "w1-gw-1");
  const replica = (protect: boolean) =>
    resource(TYPES.ecsDisk, "w1-gw-1-disk-0", { tags: { "rehost:disk": "web-01-disk-2000" } }, { parent: gwComponent, protect });
  it("accepts a protected replica", async () => {
    expect(await checkStack(rule, [gwComponent, replica(true)])).toEqual([]);
  });
  it("reports an unprotected replica", async () => {
    expect(await checkStack(rule, [gwComponent, replica(false)])).toEqual([["w1-gw-1-disk-0", expect.stringContaining("protect: true")]]);
  });
});

describe("required-tags", () => {
  const rule = requiredTags();
  it("accepts a fully tagged migrated host", async () => {
    expect(await checkStack(rule, [host({ privateIp: "10.1.1.21" })])).toEqual([]);
  });
  it("names the missing tags", async () => {
    const out = await checkStack(rule, [host({ privateIp: "10.1.1.21", tags: { "rehost:wave": "wave-1" } })]);
    expect(out).toEqual([["web-01-instance", expect.stringContaining("rehost:source-vm-uuid, rehost:phase")]]);
  });
});

describe("cutover-in-change-window", () => {
  const rule = cutoverInChangeWindow();
  const cutover = resource("pulumi-nodejs:dynamic/rehost:Cutover", "wave-1-cutover", {
    window: { start: "2026-12-05T22:00:00+08:00", end: "2026-12-06T06:00:00+08:00" },
  });
  it("accepts a cutover inside its window", async () => {
    expect(await checkStack(rule, [cutover], { now: "2026-12-06T01:00:00+08:00" })).toEqual([]);
  });
  it("reports a cutover outside its window, and one without a window", async () => {
    expect(await checkStack(rule, [cutover], { now: "2026-12-04T10:00:00+08:00" })).toEqual([
      ["wave-1-cutover", expect.stringContaining("outside the wave's change window")],
    ]);
    const bare = resource("pulumi-nodejs:dynamic/rehost:Cutover", "wave-2-cutover", {});
    expect(await checkStack(rule, [bare])).toEqual([["wave-2-cutover", expect.stringContaining("has no change window")]]);
  });
});

describe("cutover-within-downtime-budget and cutover-downtime-predicted", () => {
  // lab-app-01's cutover as predicted from the lab's rounds (test/proxy/lab-rounds.ts): about 14 s.
  const predicted = predictCutover(LAB_APP_01.rounds, {
    now: Date.parse(LAB_APP_01.cutover.requestedAt),
    fullCheckFirst: false,
    shutdownSeconds: 0.229,
    sampleBlocks: 16,
    diskSizes: LAB_APP_01.diskSizes,
  }).downtimeSeconds;
  const predictions = { "lab-app-01": predicted };
  const cutover = (props: Record<string, unknown>) =>
    resource("pulumi-nodejs:dynamic/rehost:Cutover", "lab-cutover-lab-app-01", { vm: "lab-app-01", ...props });
  const rule = cutoverWithinDowntimeBudget();
  it("reports a cutover whose predicted downtime exceeds its budget, with the numbers", async () => {
    expect(predicted).toBeGreaterThan(10);
    expect(await checkStack(rule, [cutover({ downtimeBudget: "10s" })], { predictions })).toEqual([
      [
        "lab-cutover-lab-app-01",
        expect.stringMatching(/would take VM lab-app-01 down for a predicted 1\d\.\d s, more than its downtime budget of 10 s; .*ignoreDowntimeBudget: true/),
      ],
    ]);
  });
  it("reports one the change window's end leaves too little time for", async () => {
    const out = await checkStack(rule, [cutover({ downtimeBudget: "1h", changeWindowEnd: "2026-12-06T06:00:00+08:00" })], {
      predictions,
      now: "2026-12-06T05:59:55+08:00",
    });
    expect(out).toEqual([
      ["lab-cutover-lab-app-01", expect.stringContaining("more than the 5 s left until the change window ends at 2026-12-06T06:00:00+08:00")],
    ]);
  });
  it("accepts a budget the prediction fits, an override, and a cutover without a budget", async () => {
    expect(await checkStack(rule, [cutover({ downtimeBudget: "1m" })], { predictions })).toEqual([]);
    expect(await checkStack(rule, [cutover({ downtimeBudget: "10s", ignoreDowntimeBudget: true })], { predictions })).toEqual([]);
    expect(await checkStack(rule, [cutover({})], { predictions })).toEqual([]);
  });
  it("reports a budget that is no duration", async () => {
    expect(await checkStack(rule, [cutover({ downtimeBudget: "a while" })], { predictions })).toEqual([
      ["lab-cutover-lab-app-01", expect.stringContaining('a downtimeBudget of "a while", which is not a duration')],
    ]);
  });
  it("warns when no prediction is known at preview", async () => {
    const advisory = cutoverDowntimePredicted();
    expect(advisory.enforcementLevel).toBe("advisory");
    expect(await checkStack(advisory, [cutover({ downtimeBudget: "10s" })])).toEqual([
      ["lab-cutover-lab-app-01", expect.stringContaining("no prediction for VM lab-app-01 is known at preview")],
    ]);
    expect(await checkStack(advisory, [cutover({ downtimeBudget: "10s" })], { predictions })).toEqual([]);
    expect(await checkStack(rule, [cutover({ downtimeBudget: "10s" })])).toEqual([]);
  });
});

describe("gateway-instance-types", () => {
  const rule = gatewayInstanceTypes();
  const gw = (type: string) => resource(TYPES.instance, "w1-gw-1-instance", { instanceType: type, tags: { "rehost:role": "sync-gateway" } });
  it("accepts a small gateway", async () => {
    expect(await checkStack(rule, [gw("ecs.c7.large")])).toEqual([]);
  });
  it("reports an oversized gateway", async () => {
    expect(await checkStack(rule, [gw("ecs.g7.16xlarge")])).toEqual([
      ["w1-gw-1-instance", expect.stringContaining("ecs.g7.16xlarge, which is not in the allowed list")],
    ]);
  });
});
