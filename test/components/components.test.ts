import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { runUnderMocks, SECRET, type RecordedResource } from "../../lib/preview/mocks";
import { InputError } from "../../lib/problems";
// The components declare nothing at import time, so importing them before the mocks are installed is safe.
import * as c from "../../lib/components";
import { plan, wave1 } from "./fixture";

const INSTANCE = "alicloud:ecs/instance:Instance";
const SWITCH = "alicloud:vpc/switch:Switch";
const VPC = "alicloud:vpc/network:Network";

const run = <T>(fn: () => Promise<T> | T) => runUnderMocks({ project: "rehost", stack: "test" }, fn);
/** A bundle as `buildAgentBundle` describes one (the mocks never read the file). */
const bundle = { file: "/srv/rehost/bundles/rehost-agent-0.1.0.tgz", sha256: "5e".repeat(32), version: "0.1.0" };
const release: c.GatewayRelease = {
  source: { endpoint: "https://b.oss-cn-shenzhen-internal.aliyuncs.com", bucket: "b", key: "k.tgz", sha256: bundle.sha256, version: "0.1.0", ramRole: "r" },
  roleName: "r",
};
const runtime: c.GatewayRuntime = { manager: "dnf", modules: ["nodejs:20"], packages: { nodejs: "20.16.0", "gnutls-utils": "3.6.16" } };
const ofType = (graph: RecordedResource[], type: string) => graph.filter((r) => r.type === type);
const byId = (graph: RecordedResource[], id: unknown) => graph.find((r) => r.id === id);

/** Landing network, CEN link, a wave in cutover (with fake controllers) and a rehearsal, in one graph. */
async function declareEverything() {
  const network = new c.MirroredNetwork("lz-network", {
    cidrBlocks: plan.vpc.cidrBlocks,
    subnets: wave1.subnets,
    syncSubnets: [{ name: "wave-1", ...wave1.syncSubnet }],
    gatewayAccess: { operatorCidr: "192.168.10.0/24", sourceProxyCidr: "10.0.9.10/32" },
  });
  const link = new c.CenLink("lz-link", {
    vpcId: network.vpcId,
    zoneMappings: [{ zoneId: "cn-shenzhen-e", vswitchId: network.syncVswitchIds.apply((ids) => ids["wave-1"]!) }],
    onPrem: {
      kind: "vbr",
      physicalConnectionId: "pc-1",
      vlanId: 100,
      localGatewayIp: "10.254.0.1",
      peerGatewayIp: "10.254.0.2",
      peeringSubnetMask: "255.255.255.252",
    },
    onPremRanges: plan.onPremRanges,
    routes: [
      { name: "sync-wave-1", cidr: "172.30.0.0/27", advertised: true },
      { name: "web-10-1-1-0-24", cidr: "10.1.1.0/24", advertised: true },
      { name: "db-10-1-2-0-24", cidr: "10.1.2.0/24", advertised: false },
    ],
  });
  const wave = new c.MigrationWave("wave-1", {
    wave: wave1,
    phase: "cutover",
    syncVswitchId: network.syncVswitchIds.apply((ids) => ids["wave-1"]!),
    gatewaySecurityGroupId: network.gatewaySecurityGroupId,
    gatewayImageId: "aliyun_3_x64",
    agentBundle: bundle,
    gatewayRuntime: runtime,
    agentToken: pulumi.secret("token-only-the-test-knows"),
    agentPsk: pulumi.secret("0123456789abcdef"),
    vswitchIds: network.vswitchIds,
    hostSecurityGroupIds: [network.hostSecurityGroupIds.apply((ids) => ids["hosts"]!)],
    controllers: {
      cutover: (_name, args) => ({
        digests: args.replicationDigests.apply(() => Object.fromEntries(wave1.vms.flatMap((vm) => vm.disks).map((d) => [d.id, `xxh3:${d.id}`]))),
      }),
    },
  });
  const rehearsal = new c.RehearsalEnvironment("wave-1-rehearsal-1", {
    cidrBlocks: plan.vpc.cidrBlocks,
    subnets: wave1.subnets,
    vms: wave1.vms,
    wave: "wave-1",
    rehearsal: 1,
    replicaDiskIds: wave.diskIds,
    rehearsalPoint: { "web-01-disk-2000": "round 7" },
    bastion: { imageId: "aliyun_3_x64", cidr: "172.30.1.0/28", zone: "cn-shenzhen-e", operatorCidr: "192.168.10.0/24" },
  });
  return {
    productionVpc: network.vpcId,
    rehearsalVpc: rehearsal.vpcId,
    privateIps: wave.privateIps,
    rehearsalIps: rehearsal.privateIps,
    devices: wave.devices,
    endpoints: wave.agentEndpoints,
    advertised: link.advertisedCidrs,
  };
}

type Everything = Awaited<ReturnType<typeof run<Awaited<ReturnType<typeof declareEverything>>>>>;

describe("components under mocks", () => {
  // One graph for the assertions below: production network, CEN link, a wave at cutover, a rehearsal.
  let everything: Everything;
  beforeAll(async () => {
    everything = await run(declareEverything);
  });

  it("pins every migrated instance to its source IP in a vSwitch with the source CIDR", async () => {
    const { resources, result } = everything;
    const hosts = ofType(resources, INSTANCE).filter((r) => (r.inputs.tags as Record<string, string> | undefined)?.["rehost:source-vm"]);
    // Three VMs, twice: cutover hosts in production and rehearsal hosts in the isolated VPC.
    expect(hosts).toHaveLength(6);
    for (const vm of wave1.vms) {
      const twins = hosts.filter((h) => h.inputs.instanceName === vm.name);
      expect(twins.map((h) => (h.inputs.tags as Record<string, string>)["rehost:phase"]).sort()).toEqual(["cutover", "rehearsal-1"]);
      for (const host of twins) {
        expect(host.inputs.privateIp).toBe(vm.nics[0]!.ips[0]);
        expect(host.inputs.instanceType).toBe(vm.instanceType);
        expect((host.inputs.tags as Record<string, string>)["rehost:source-vm-uuid"]).toBe(vm.uuid);
        const vswitch = byId(resources, host.inputs.vswitchId);
        expect(vswitch?.type).toBe(SWITCH);
        expect(vswitch?.inputs.cidrBlock).toBe(vm.nics[0]!.subnet);
      }
    }
    // The second NIC of db-01 keeps its address in the web subnet's vSwitch.
    const enis = ofType(resources, "alicloud:ecs/ecsNetworkInterface:EcsNetworkInterface");
    expect(enis).toHaveLength(2);
    for (const eni of enis) {
      expect(eni.inputs.primaryIpAddress).toBe("10.1.1.31");
      expect(byId(resources, eni.inputs.vswitchId)?.inputs.cidrBlock).toBe("10.1.1.0/24");
    }
    // Secondary IPs of the primary NIC stay too.
    expect(hosts.filter((h) => h.inputs.instanceName === "db-01").map((h) => h.inputs.secondaryPrivateIps)).toEqual([["10.1.2.32"], ["10.1.2.32"]]);
    // The mock hands back the pinned addresses as outputs.
    expect(result.privateIps).toEqual({ "web-01": "10.1.1.21", "db-01": "10.1.2.31", "app-01": "10.1.2.41" });
    expect(result.rehearsalIps).toEqual(result.privateIps);
  });

  it("never attaches the rehearsal VPC to CEN and gives it the production CIDRs", async () => {
    const { resources, result } = everything;
    const vpcs = ofType(resources, VPC);
    expect(vpcs.map((v) => v.id).sort()).toEqual([result.productionVpc, result.rehearsalVpc].sort());
    const attachments = resources.filter((r) => r.type.startsWith("alicloud:cen/") && "vpcId" in r.inputs);
    expect(attachments.map((a) => a.inputs.vpcId)).toEqual([result.productionVpc]);
    expect(resources.some((r) => r.type.startsWith("alicloud:cen/") && JSON.stringify(r.inputs).includes(String(result.rehearsalVpc)))).toBe(false);
    // Same CIDR blocks: primary on the VPC, the rest as secondary blocks of each VPC.
    for (const vpcId of [result.productionVpc, result.rehearsalVpc]) {
      const vpc = byId(resources, vpcId)!;
      const secondary = ofType(resources, "alicloud:vpc/ipv4CidrBlock:Ipv4CidrBlock").filter((b) => b.inputs.vpcId === vpcId);
      expect([vpc.inputs.cidrBlock, ...secondary.map((b) => b.inputs.secondaryCidrBlock)]).toEqual(plan.vpc.cidrBlocks);
      const mirrored = ofType(resources, SWITCH).filter((s) => s.inputs.vpcId === vpcId && wave1.subnets.some((p) => p.name === s.inputs.vswitchName));
      expect(mirrored.map((s) => s.inputs.cidrBlock).sort()).toEqual(wave1.subnets.map((s) => s.cidr).sort());
    }
  });

  it("gives no gateway or migrated host a public IP, and only the bastion one", async () => {
    const { resources } = everything;
    const instances = ofType(resources, INSTANCE);
    expect(instances).toHaveLength(2 + 6 + 1);
    for (const instance of instances) {
      const role = (instance.inputs.tags as Record<string, string>)["rehost:role"];
      if (role === "bastion") {
        expect(Number(instance.inputs.internetMaxBandwidthOut)).toBeGreaterThan(0);
        continue;
      }
      expect(instance.inputs.internetMaxBandwidthOut).toBe(0);
      expect(instance.inputs.allocatePublicIp).toBeUndefined();
    }
    expect(ofType(resources, "alicloud:ecs/eipAddress:EipAddress")).toHaveLength(0);
  });

  it("attaches each gateway's disks as separate retained disks within the limit, and names each by its cloud disk id", async () => {
    const { resources, result } = everything;
    const gateways = ofType(resources, INSTANCE).filter((r) => (r.inputs.tags as Record<string, string>)["rehost:role"] === "sync-gateway");
    expect(gateways.map((g) => g.name).sort()).toEqual(["wave-1-gw-1-instance", "wave-1-gw-2-instance"]);
    for (const gw of gateways) {
      expect(byId(resources, gw.inputs.vswitchId)?.inputs.cidrBlock).toBe(wave1.syncSubnet.cidr);
      expect(gw.inputs.userData).toBe(SECRET);
      const attachments = ofType(resources, "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment").filter((a) => a.inputs.instanceId === gw.id);
      expect(attachments.length).toBeLessThanOrEqual(16);
      const planned = wave1.gateways.find((p) => gw.name === `${p.name}-instance`)!;
      expect(attachments).toHaveLength(planned.disks);
      for (const a of attachments) {
        const disk = byId(resources, a.inputs.diskId)!;
        expect(disk.type).toBe("alicloud:ecs/ecsDisk:EcsDisk");
        expect(disk.inputs.deleteWithInstance).toBe(false);
        // Replicated data outlives a gateway replacement and a destroy.
        expect(disk).toMatchObject({ protect: true, retainOnDelete: true });
      }
    }
    expect(JSON.stringify(resources)).not.toContain("token-only-the-test-knows");
    // What replication writes to: the cloud disk's id (found on the gateway by its serial), not a slot's device name.
    const diskIdOf = (planned: string) => ofType(resources, "alicloud:ecs/ecsDisk:EcsDisk").find((d) => d.inputs.diskName === planned)!.id;
    for (const planned of ["web-01-disk-2000", "web-01-disk-2001", "db-01-disk-2000", "db-01-disk-2001"])
      expect((result.devices as unknown as Record<string, string>)[planned]).toBe(diskIdOf(planned));
    expect(result.endpoints).toEqual({ "wave-1-gw-1": "https://dhcp:wave-1-gw-1-instance:8443", "wave-1-gw-2": "https://dhcp:wave-1-gw-2-instance:8443" });
    const web = ofType(resources, "alicloud:ecs/ecsDisk:EcsDisk").find((d) => d.inputs.diskName === "web-01-disk-2001")!;
    expect(web.inputs.size).toBe(100);
  });

  it("refuses a gateway with more disks than its limit, naming it", async () => {
    const disks = Array.from({ length: 17 }, (_, i) => ({ ...wave1.vms[0]!.disks[1]!, id: `big-disk-${i}`, slot: i }));
    const attempt = run(() => {
      new c.SyncGateway("gw-x", {
        instanceType: "ecs.c7.large",
        imageId: "img",
        vswitchId: "vsw",
        zone: "z",
        securityGroupIds: [],
        disks,
        agentToken: "t",
        agentPsk: "p",
        release,
        runtime,
      });
    });
    await expect(attempt).rejects.toThrow(InputError);
    await expect(attempt).rejects.toThrow(/gw-x carries 17 disks/);
  });

  it("refuses a gateway runtime that is not pinned to exact versions", async () => {
    const attempt = run(() => {
      new c.SyncGateway("gw-y", {
        instanceType: "ecs.c7.large",
        imageId: "img",
        vswitchId: "vsw",
        zone: "z",
        securityGroupIds: [],
        disks: [wave1.vms[0]!.disks[0]!],
        agentToken: "t",
        agentPsk: "p",
        release,
        runtime: { manager: "dnf", packages: { nodejs: "latest" } },
      });
    });
    await expect(attempt).rejects.toThrow(/Package nodejs is not pinned to an exact version/);
  });

  it("ships the agent bundle in a private bucket of the region, readable only by the gateways' RAM role", async () => {
    const { resources } = everything;
    const bucket = ofType(resources, "alicloud:oss/bucket:Bucket");
    expect(bucket.map((b) => b.name)).toEqual(["wave-1-agent-bucket"]);
    expect(bucket[0]!.inputs).toMatchObject({ serverSideEncryptionRule: { sseAlgorithm: "AES256" } });
    expect(bucket[0]!.inputs.acl).toBeUndefined();
    expect(ofType(resources, "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock")[0]!.inputs).toMatchObject({ blockPublicAccess: true });
    const object = ofType(resources, "alicloud:oss/bucketObject:BucketObject");
    expect(object).toHaveLength(1);
    expect(object[0]!.inputs).toMatchObject({ key: `rehost/agent/0.1.0/${bundle.sha256}.tgz`, source: bundle.file, acl: "private" });
    const role = ofType(resources, "alicloud:ram/role:Role")[0]!;
    expect(JSON.parse(String(role.inputs.assumeRolePolicyDocument)).Statement).toEqual([
      { Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: ["ecs.aliyuncs.com"] } },
    ]);
    const policy = ofType(resources, "alicloud:ram/policy:Policy")[0]!;
    const statements = JSON.parse(String(policy.inputs.policyDocument)).Statement as Array<{ Action: string[]; Resource: string[] }>;
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Action).toEqual(["oss:GetObject"]);
    expect(statements[0]!.Resource).toEqual([`acs:oss:*:*:${bucket[0]!.inputs.bucket}/rehost/agent/*`]);
    expect(ofType(resources, "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment")[0]!.inputs).toMatchObject({
      policyName: policy.inputs.policyName,
      roleName: role.inputs.roleName,
      policyType: "Custom",
    });
    // Each gateway gets the role.
    const gateways = ofType(resources, INSTANCE).filter((r) => (r.inputs.tags as Record<string, string>)["rehost:role"] === "sync-gateway");
    const attachments = ofType(resources, "alicloud:ecs/ramRoleAttachment:RamRoleAttachment");
    expect(attachments.map((a) => a.inputs.instanceId).sort()).toEqual(gateways.map((g) => g.id).sort());
    for (const a of attachments) expect(a.inputs.ramRoleName).toBe(role.inputs.roleName);
  });

  it("names the default bucket after the account and the wave, within OSS's limits", () => {
    expect(c.defaultBucketName("1234567890123456", "wave-1-agent")).toBe("rehost-1234567890123456-wave-1-agent");
    const long = c.defaultBucketName("1234567890123456", "a-very-long-wave-name-that-goes-on-and-on-and-on-agent");
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9][a-z0-9-]+[a-z0-9]$/);
    expect(c.defaultBucketName("1234567890123456", "Wave_1 Agent")).toBe("rehost-1234567890123456-wave-1-agent");
  });

  it("parents every child to its component, named after it", async () => {
    const { resources } = everything;
    const components = new Map(resources.filter((r) => !r.custom).map((r) => [r.name, r]));
    for (const r of resources) {
      if (r.parent === null) {
        expect(r.custom, `${r.type} ${r.name} is declared outside any component`).toBe(false);
        continue;
      }
      expect(components.has(r.parent), `${r.name}'s parent ${r.parent} is a component`).toBe(true);
      expect(r.name.startsWith(`${r.parent}-`), `${r.name} is named after ${r.parent}`).toBe(true);
    }
    expect(
      [...components.values()]
        .filter((c) => c.parent === null)
        .map((c) => c.name)
        .sort(),
    ).toEqual(["lz-link", "lz-network", "wave-1", "wave-1-rehearsal-1"]);
  });

  it("snapshots replicas at the controllers' points before building hosts from them", async () => {
    const { resources } = everything;
    const snapshots = ofType(resources, "alicloud:ecs/ecsSnapshot:EcsSnapshot");
    const cutover = snapshots.filter((s) => s.parent === "wave-1");
    expect(cutover).toHaveLength(6);
    for (const s of cutover) {
      const diskId = (s.inputs.tags as Record<string, string>)["rehost:disk"]!;
      expect(s.inputs.description).toContain(`verified digest xxh3:${diskId}`);
      expect(byId(resources, s.inputs.diskId)?.inputs.diskName).toBe(diskId);
    }
    const rehearsal = snapshots.filter((s) => s.parent === "wave-1-rehearsal-1");
    expect(rehearsal.find((s) => s.name === "wave-1-rehearsal-1-snap-web-01-disk-2000")?.inputs.description).toContain("round 7");
    // The system disk's image comes from its snapshot, data disks from theirs.
    const db = ofType(resources, INSTANCE).find((r) => r.name === "wave-1-db-01-instance")!;
    const image = byId(resources, db.inputs.imageId)!;
    expect(image.inputs.bootMode).toBe("UEFI");
    expect(byId(resources, image.inputs.snapshotId)?.name).toBe("wave-1-snap-db-01-disk-2000");
    expect((db.inputs.dataDisks as Array<{ snapshotId: string }>).map((d) => byId(resources, d.snapshotId)?.name)).toEqual([
      "wave-1-snap-db-01-disk-2001",
      "wave-1-snap-db-01-disk-2002",
    ]);
  });

  it("admits the agent API only from the operator, NBD only from the proxy, and advertises only cut-over subnets", async () => {
    const { resources, result } = everything;
    const rules = ofType(resources, "alicloud:ecs/securityGroupRule:SecurityGroupRule");
    expect(rules.find((r) => r.name === "lz-network-gateway-agent")?.inputs).toMatchObject({ portRange: "8443/8443", cidrIp: "192.168.10.0/24" });
    expect(rules.find((r) => r.name === "lz-network-gateway-nbd")?.inputs).toMatchObject({ portRange: "10809/10809", cidrIp: "10.0.9.10/32" });
    expect(rules.filter((r) => r.inputs.cidrIp === "0.0.0.0/0")).toHaveLength(0);
    const routes = ofType(resources, "alicloud:cen/transitRouterRouteEntry:TransitRouterRouteEntry");
    expect(routes.map((r) => r.inputs.transitRouterRouteEntryDestinationCidrBlock).sort()).toEqual(["10.1.1.0/24", "172.30.0.0/27"]);
    expect(result.advertised).toEqual(["172.30.0.0/27", "10.1.1.0/24"]);
    const vpc = ofType(resources, "alicloud:cen/transitRouterVpcAttachment:TransitRouterVpcAttachment")[0]!;
    expect(vpc.inputs.autoPublishRouteEnabled).toBe(false);
    for (const route of routes) expect(route.inputs.transitRouterRouteEntryNextHopId).toBe(vpc.id);
  });

  it("uses an IPsec connection whose local subnets are the advertised CIDRs for a VPN link", async () => {
    const { resources } = await run(async () => {
      new c.CenLink("vpn-link", {
        vpcId: "vpc-1",
        zoneMappings: [{ zoneId: "cn-shenzhen-e", vswitchId: "vsw-sync" }],
        onPrem: { kind: "vpn", customerGatewayIp: "203.0.113.7", psk: pulumi.secret("ike-psk") },
        onPremRanges: ["10.0.0.0/8"],
        routes: [
          { name: "sync-wave-1", cidr: "172.30.0.0/27", advertised: true },
          { name: "web", cidr: "10.1.1.0/24", advertised: false },
        ],
      });
    });
    const connection = ofType(resources, "alicloud:vpn/connection:Connection")[0]!;
    expect(connection.inputs).toMatchObject({ localSubnets: ["172.30.0.0/27"], remoteSubnets: ["10.0.0.0/8"] });
    // The PSK makes the whole IKE block secret: it never reaches the recorded graph.
    expect(connection.inputs.ikeConfig).toBe(SECRET);
    expect(JSON.stringify(resources)).not.toContain("ike-psk");
    expect(ofType(resources, "alicloud:expressconnect/virtualBorderRouter:VirtualBorderRouter")).toHaveLength(0);
  });

  it("refuses SSH or RDP open to the internet in host security groups", async () => {
    const attempt = run(() => {
      new c.MirroredNetwork("bad", {
        cidrBlocks: ["10.1.0.0/16"],
        subnets: [],
        hostSecurityGroups: [{ name: "web", rules: [{ protocol: "tcp", ports: "3380/3390", cidr: "0.0.0.0/0" }] }],
      });
    });
    await expect(attempt).rejects.toThrow(/opens SSH or RDP to the whole internet/);
  });

  it("refuses a rehearsal bastion outside the VPC or on a mirrored subnet", async () => {
    const declare = (cidr: string) =>
      run(() => {
        new c.RehearsalEnvironment("r", {
          cidrBlocks: plan.vpc.cidrBlocks,
          subnets: wave1.subnets,
          vms: wave1.vms,
          wave: "wave-1",
          rehearsal: 1,
          replicaDiskIds: {},
          bastion: { imageId: "img", cidr, zone: "cn-shenzhen-e", operatorCidr: "192.168.10.0/24" },
        });
      });
    await expect(declare("192.168.50.0/28")).rejects.toThrow(/outside the VPC's CIDR blocks/);
    await expect(declare("10.1.1.16/28")).rejects.toThrow(/overlaps a mirrored subnet/);
  });

  it("refuses to pin an address the VPC reserves, with the planner's own check", async () => {
    const vm = { ...wave1.vms[0]!, nics: [{ ...wave1.vms[0]!.nics[0]!, ips: ["10.1.1.255"] }] };
    const attempt = run(() => {
      new c.MigratedInstance("bad-ip", {
        vm,
        vswitchIdsBySubnet: { "10.1.1.0/24": "vsw" },
        securityGroupIds: [],
        systemSnapshotId: "s",
        dataSnapshotIds: { "web-01-disk-2001": "s2" },
        wave: "wave-1",
        phase: "cutover",
      });
    });
    await expect(attempt).rejects.toThrow(/10\.1\.1\.255 is reserved by Alibaba Cloud/);
  });
});
