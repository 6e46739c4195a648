import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { evaluatePolicies, evaluateStack, hasMandatoryViolations, type OfflineResource } from "../../policies/offline";
import { rehostPolicies } from "../../policies/rules";

const sync: OfflineResource = {
  type: "alicloud:vpc/switch:Switch",
  name: "lz-net-sync",
  parent: "lz-net",
  inputs: { cidrBlock: "10.1.1.0/26", tags: { "rehost:role": "sync" } },
  id: "lz-net-sync-id",
};
const web: OfflineResource = {
  type: "alicloud:vpc/switch:Switch",
  name: "lz-net-web",
  parent: "lz-net",
  inputs: { cidrBlock: "10.1.1.0/24", tags: { "rehost:portgroup": "web" } },
  id: "lz-net-web-id",
};
const net: OfflineResource = { type: "rehost:components:MirroredNetwork", name: "lz-net", parent: null, inputs: {} };
const gwComponent: OfflineResource = { type: "rehost:components:SyncGateway", name: "w1-gw-1", parent: null, inputs: {} };
const gateway: OfflineResource = {
  type: "alicloud:ecs/instance:Instance",
  name: "w1-gw-1-instance",
  parent: "w1-gw-1",
  inputs: {
    instanceType: "ecs.c7.large",
    vswitchId: "lz-net-sync-id",
    privateIp: "10.1.1.63",
    internetMaxBandwidthOut: 0,
    systemDiskEncrypted: true,
    tags: { "rehost:role": "sync-gateway" },
  },
  id: "w1-gw-1-instance-id",
};

describe("offline policy evaluation", () => {
  it("links references by the ids the mock runtime gave and names the resource", async () => {
    const violations = await evaluatePolicies([net, web, sync, gwComponent, gateway]);
    const byPolicy = Object.fromEntries(violations.map((v) => [v.policy, v]));
    expect(byPolicy["sync-vswitch-isolated"]).toMatchObject({ level: "mandatory", resource: "lz-net-sync" });
    // .63 is the last address of 10.1.1.0/26: reserved in the sync vSwitch, which the instance references by id.
    expect(byPolicy["no-reserved-private-ip"]).toMatchObject({ resource: "w1-gw-1-instance", message: expect.stringContaining("10.1.1.63") });
    expect(hasMandatoryViolations(violations)).toBe(true);
  });

  it("applies enforcement levels and config from the pack's config", async () => {
    const resources = [
      net,
      web,
      { ...sync, inputs: { ...sync.inputs, cidrBlock: "172.30.0.0/27" } },
      gwComponent,
      { ...gateway, inputs: { ...gateway.inputs, privateIp: "172.30.0.10", instanceType: "ecs.g7.8xlarge" } },
    ];
    expect((await evaluatePolicies(resources)).map((v) => [v.policy, v.level])).toEqual([["gateway-instance-types", "advisory"]]);
    expect(await evaluatePolicies(resources, { config: { "gateway-instance-types": "disabled" } })).toEqual([]);
    const allowed = await evaluatePolicies(resources, {
      config: { "gateway-instance-types": { enforcementLevel: "mandatory", allowedTypes: ["ecs.g7.8xlarge"] } },
    });
    expect(allowed).toEqual([]);
    const onPrem = await evaluatePolicies(resources, { config: { "sync-vswitch-isolated": { onPremRanges: ["172.16.0.0/12"] } } });
    expect(onPrem.map((v) => v.policy)).toContain("sync-vswitch-isolated");
  });

  it("has unique kebab-case rule names with descriptions", () => {
    const names = rehostPolicies().map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const p of rehostPolicies()) {
      expect(p.name).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(p.description.length).toBeGreaterThan(20);
    }
  });

  it("constructs the PolicyPack only in policies/index.ts", () => {
    const dir = path.join(__dirname, "..", "..", "policies");
    const constructing = readdirSync(dir).filter((f) => f.endsWith(".ts") && /new PolicyPack\(/.test(readFileSync(path.join(dir, f), "utf8")));
    expect(constructing).toEqual(["index.ts"]);
  });

  it("follows references into referenced stacks but reports only the stack's own resources", async () => {
    const host: OfflineResource = {
      type: "alicloud:ecs/instance:Instance",
      name: "w1-web-01-instance",
      parent: null,
      inputs: {
        vswitchId: "lz-net-web-id",
        privateIp: "10.1.1.255",
        systemDiskEncrypted: true,
        tags: { "rehost:source-vm-uuid": "4211", "rehost:wave": "w1", "rehost:phase": "cutover" },
      },
      id: "w1-web-01-instance-id",
    };
    // The landing zone's sync vSwitch overlaps a mirrored one: a landing-zone violation, not the wave's.
    const violations = await evaluateStack({ stack: "wave-1", resources: [host], referencedResources: [net, web, sync] });
    expect(violations.map((v) => [v.policy, v.resource])).toEqual([["no-reserved-private-ip", "w1-web-01-instance"]]);
  });
});
