import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FORBIDDEN_VPC_RANGES, buildPlan, planVpcBlocks } from "../../lib/plan";
import { cidrContains, cidrCovers, cidrOf, cidrsOverlap, isAlibabaReserved, parseCidr } from "../../lib/net";
import type { Plan } from "../../lib/plan/types";
import { GiB, errors, inventory, wavesFile } from "./fixture";

const NETWORKS = { web: "10.1.1.0/24", app: "10.1.2.0/24", db: "10.1.3.0/24" };

function basic(): Plan {
  const inv = inventory(
    [
      { name: "web-1", nics: ["web=10.1.1.11"], disksGiB: [40] },
      { name: "web-2", nics: ["web=10.1.1.12,10.1.1.13"], disksGiB: [40, 100] },
      { name: "app-1", cpus: 4, memoryMiB: 16384, nics: ["app=10.1.2.21", "db=10.1.3.21"], disksGiB: [60, 500, 500] },
      { name: "db-1", cpus: 8, memoryMiB: 65536, nics: ["db=10.1.3.31"], disksGiB: [80, 2000] },
    ],
    NETWORKS,
  );
  const waves = wavesFile([
    { name: "front", members: { vms: ["web-1", "web-2"] } },
    { name: "back", members: { vms: ["app-1", "db-1"] }, after: ["front"], rehearsals: 2 },
  ]);
  return buildPlan(inv, waves, { inventory: "inv.yaml", waves: "waves.yaml" });
}

function only(plan: Plan, predicate: (message: string) => boolean) {
  return plan.problems.filter((p) => predicate(p.message));
}

describe("buildPlan on a valid estate", () => {
  const plan = basic();

  it("has no problems", () => {
    expect(plan.problems).toEqual([]);
  });

  it("mirrors every source subnet a wave uses, with the identical CIDR", () => {
    expect(plan.waves.map((w) => w.subnets.map((s) => `${s.name} ${s.cidr}`))).toEqual([
      ["web-10-1-1-0-24 10.1.1.0/24"],
      ["app-10-1-2-0-24 10.1.2.0/24", "db-10-1-3-0-24 10.1.3.0/24"],
    ]);
  });

  it("keeps every IPv4 address of every VM, primary first, on the NIC's mirrored subnet", () => {
    const vms = plan.waves.flatMap((w) => w.vms);
    expect(vms.map((vm) => [vm.name, vm.ips])).toEqual([
      ["web-1", ["10.1.1.11"]],
      ["web-2", ["10.1.1.12", "10.1.1.13"]],
      ["app-1", ["10.1.2.21", "10.1.3.21"]],
      ["db-1", ["10.1.3.31"]],
    ]);
    for (const vm of vms) for (const nic of vm.nics) for (const ip of nic.ips) expect(cidrContains(nic.subnet, ip)).toBe(true);
    expect(vms.find((v) => v.name === "app-1")!.nics.map((n) => n.primary)).toEqual([true, false]);
  });

  it("gives every wave its own sync subnet from the pool, overlapping no source subnet and no other sync subnet", () => {
    const sync = plan.waves.map((w) => w.syncSubnet.cidr);
    expect(sync).toEqual(["172.30.0.0/27", "172.30.0.32/27"]);
    for (const s of sync) for (const c of Object.values(NETWORKS)) expect(cidrsOverlap(s, c)).toBe(false);
  });

  it("plans VPC CIDR blocks covering every mirrored and sync subnet, primary first", () => {
    expect(plan.vpc.cidrBlocks).toEqual(["10.1.0.0/22", "172.30.0.0/26"]);
    const all = plan.waves.flatMap((w) => [...w.subnets.map((s) => s.cidr), w.syncSubnet.cidr]);
    for (const c of all) expect(plan.vpc.cidrBlocks.some((b) => cidrCovers(b, c))).toBe(true);
  });

  it("sizes instances by the memory:vCPU ratio and marks the first disk as the system disk", () => {
    const vms = plan.waves.flatMap((w) => w.vms);
    expect(vms.map((v) => v.instanceType)).toEqual(["ecs.c7.large", "ecs.c7.large", "ecs.g7.xlarge", "ecs.r7.2xlarge"]);
    expect(vms[1]!.disks.map((d) => [d.id, d.role, d.category, d.sizeGiB])).toEqual([
      ["web-2-disk-2000", "system", "cloud_essd", 40],
      ["web-2-disk-2001", "data", "cloud_essd", 100],
    ]);
  });

  it("places every disk on exactly one gateway slot and a VM's disks together", () => {
    for (const w of plan.waves) {
      const disks = w.vms.flatMap((vm) => vm.disks);
      expect(w.gateways.flatMap((g) => g.diskIds).sort()).toEqual(disks.map((d) => d.id).sort());
      for (const g of w.gateways) {
        expect(g.disks).toBe(g.diskIds.length);
        const slots = disks.filter((d) => d.gateway === g.name).map((d) => d.slot);
        expect(slots.sort((a, b) => a - b)).toEqual(slots.map((_, i) => i));
      }
      for (const vm of w.vms) expect(new Set(vm.disks.map((d) => d.gateway))).toEqual(new Set([vm.gateway]));
    }
    expect(plan.waves[0]!.gateways.map((g) => [g.name, g.instanceType, g.disks])).toEqual([["front-gw-1", "ecs.c7.large", 3]]);
  });

  it("estimates the sync from allocated bytes and the link, and the cost with gateways below running every host", () => {
    const back = plan.waves[1]!.estimate;
    const bytes = (60 + 500 + 500 + 80 + 2000) * GiB;
    expect(back.allocatedBytes).toBe(bytes);
    // 1000 Mbit/s at 70 % = 87.5 MB/s.
    expect(back.initialSyncHours).toBeCloseTo(bytes / 87.5e6 / 3600, 2);
    expect(back.incrementalRoundBytes).toBe(Math.round(bytes * 0.02));
    expect(back.costGateway).toBeGreaterThan(0);
    expect(back.costGateway).toBeLessThan(back.costFullHosts);
    expect(back.currency).toBe("CNY");
  });

  it("is deterministic and leaves its inputs untouched", () => {
    const inv = inventory([{ name: "a", nics: ["web=10.1.1.5"] }], NETWORKS);
    const waves = wavesFile([{ name: "w", members: { vms: ["a"] } }]);
    const before = JSON.stringify([inv, waves]);
    expect(JSON.stringify(buildPlan(inv, waves))).toBe(JSON.stringify(buildPlan(inv, waves)));
    expect(JSON.stringify([inv, waves])).toBe(before);
  });

  it("applies overrides and price table changes", () => {
    const inv = inventory([{ name: "a", nics: ["web=10.1.1.5"], disksGiB: [40, 100] }], NETWORKS);
    const waves = (prices: Record<string, number>) =>
      wavesFile([{ name: "w", members: { vms: ["a"] }, overrides: { a: { instanceType: "ecs.g7.2xlarge", diskCategory: "cloud_auto" } } }], { prices });
    const cheap = buildPlan(inv, waves({}));
    const dear = buildPlan(inv, waves({ "instance.g.vcpuHour": 10 }));
    expect(cheap.waves[0]!.vms[0]!.instanceType).toBe("ecs.g7.2xlarge");
    expect(cheap.waves[0]!.vms[0]!.disks.map((d) => d.category)).toEqual(["cloud_auto", "cloud_auto"]);
    expect(dear.waves[0]!.estimate.costFullHosts).toBeGreaterThan(cheap.waves[0]!.estimate.costFullHosts * 5);
  });
});

describe("buildPlan reports every broken input with VM, field and fix", () => {
  const plan = (
    vms: Parameters<typeof inventory>[0],
    waves: Array<Record<string, unknown>>,
    settings: Record<string, unknown> = {},
    networks: Record<string, string> = NETWORKS,
  ) => buildPlan(inventory(vms, networks), wavesFile(waves, settings), { inventory: "inv.yaml", waves: "waves.yaml" });
  const one = (vms: Parameters<typeof inventory>[0]) => plan(vms, [{ name: "w", members: { vms: vms.map((v) => v.name) } }]);

  it("an IP outside its portgroup's subnet", () => {
    const p = one([{ name: "a", nics: ["web=10.1.2.9"] }]);
    expect(errors(p.problems)).toEqual([
      expect.objectContaining({
        file: "inv.yaml",
        vm: "a",
        field: "nics[0].ipv4[0]",
        received: "10.1.2.9",
        expected: "an address in 10.1.1.0/24",
        fix: expect.any(String),
      }),
    ]);
  });

  it.each(["10.1.1.0", "10.1.1.253", "10.1.1.254", "10.1.1.255"])("the reserved address %s", (ip) => {
    const p = one([{ name: "a", nics: [`web=10.1.1.7,${ip}`] }]);
    expect(errors(p.problems)).toEqual([
      expect.objectContaining({ vm: "a", field: "nics[0].ipv4[1]", received: ip, expected: "an address from 10.1.1.1 to 10.1.1.252" }),
    ]);
  });

  it("keepIp: false pins a free address of the subnet in place of one that cannot be kept, and lists it", () => {
    const vms = [
      { name: "a", nics: ["web=10.1.1.254,10.1.1.9"] },
      ...Array.from({ length: 40 }, (_, i) => ({ name: `n${i}`, nics: [`web=10.1.1.${20 + i}`] })),
    ];
    const waves = [{ name: "w", members: { vms: vms.map((v) => v.name) }, overrides: { a: { keepIp: false } } }];
    const p = plan(vms, waves);
    expect(errors(p.problems)).toEqual([]);
    expect(p.problems).toEqual([expect.objectContaining({ severity: "warning", vm: "a", field: "nics[0].ipv4[0]" })]);
    const [fresh, kept] = p.waves[0]!.vms[0]!.ips;
    expect(kept).toBe("10.1.1.9");
    // Usable, not reserved, held by no VM of the inventory.
    const n = Number(fresh!.split(".")[3]);
    expect(fresh!.startsWith("10.1.1.")).toBe(true);
    expect(n >= 1 && n <= 252).toBe(true);
    expect(vms.flatMap((v) => v.nics[0]!.split("=")[1]!.split(","))).not.toContain(fresh);
    expect(p.waves[0]!.vms[0]!.keepIp).toBe(false);
    expect(p.readdressed).toEqual([{ vm: "a", wave: "w", mac: expect.any(String), portgroup: "web", subnet: "10.1.1.0/24", from: "10.1.1.254", to: fresh }]);
    expect(p.problems[0]!.message).toContain(`takes ${fresh} instead`);
    // The same address on every run, and when an unrelated VM joins the estate.
    const chosen = (x: typeof p) => x.readdressed!.map((r) => [r.vm, r.from, r.to]);
    expect(chosen(plan(vms, waves))).toEqual(chosen(p));
    const more = [...vms, { name: "z", nics: ["web=10.1.1.200"] }];
    const again = plan(more, [{ ...waves[0]!, members: { vms: more.map((v) => v.name) } }]);
    if (fresh !== "10.1.1.200") expect(again.readdressed![0]!.to).toBe(fresh);
    else expect(again.readdressed![0]!.to).not.toBe("10.1.1.200");
  });

  it("keepIp: false gives two VMs two different addresses, never one another VM holds", () => {
    const unique = Array.from({ length: 200 }, (_, i) => ({ name: `v${i}`, nics: [i < 2 ? `web=10.1.2.${5 + i}` : `web=10.1.1.${i}`] }));
    const p = plan(unique, [{ name: "w", members: { vms: unique.map((v) => v.name) }, overrides: { v0: { keepIp: false }, v1: { keepIp: false } } }]);
    const given = p.readdressed!.map((r) => r.to);
    expect(given).toHaveLength(2);
    expect(new Set(given).size).toBe(2);
    const held = new Set(unique.slice(2).map((v) => v.nics[0]!.split("=")[1]));
    for (const ip of given) expect(held.has(ip)).toBe(false);
  });

  it("a duplicate IP, across waves", () => {
    const p = plan(
      [
        { name: "a", nics: ["web=10.1.1.7"] },
        { name: "b", nics: ["web=10.1.1.7"] },
      ],
      [
        { name: "w1", members: { vms: ["a"] } },
        { name: "w2", members: { vms: ["b"] } },
      ],
    );
    expect(errors(p.problems)).toEqual([
      expect.objectContaining({ vm: "b", field: "nics[0].ipv4[0]", received: "10.1.1.7", message: expect.stringContaining("VM a") }),
    ]);
  });

  it("overlapping subnets", () => {
    const p = one([
      { name: "a", nics: ["web=10.1.1.7"] },
      { name: "b", nics: ["wide=10.1.2.7"] },
    ]);
    const q = plan(
      [
        { name: "a", nics: ["web=10.1.1.7"] },
        { name: "b", nics: ["wide=10.1.2.7"] },
      ],
      [{ name: "w", members: { vms: ["a", "b"] } }],
      {},
      { web: "10.1.1.0/24", wide: "10.1.0.0/16" },
    );
    expect(errors(p.problems).map((x) => x.field)).toEqual(["nics[0].portgroup", "networks"]);
    expect(errors(p.problems)[1]!.message).toMatch(/^1 portgroup\(s\) have no subnet, so their VMs are blocked: .* \(1 VM\)$/);
    expect(errors(q.problems)).toEqual([
      expect.objectContaining({
        file: "inv.yaml",
        field: "networks[0].cidr",
        received: "10.1.1.0/24",
        message: expect.stringContaining("overlaps 10.1.0.0/16"),
      }),
    ]);
  });

  it.each([
    ["10.0.0.0/15", "/15"],
    ["10.1.1.0/30", "/30"],
  ])("a subnet mask outside /16–/29 (%s)", (cidr, received) => {
    const p = plan([{ name: "a", nics: ["n=10.1.1.1"] }], [{ name: "w", members: { vms: ["a"] } }], {}, { n: cidr });
    expect(errors(p.problems)).toContainEqual(expect.objectContaining({ field: "networks[0].cidr", received, expected: "/16 to /29" }));
  });

  it("more than 150 vSwitches in the VPC", () => {
    const networks: Record<string, string> = {};
    const vms = Array.from({ length: 151 }, (_, i) => {
      networks[`pg${i}`] = `10.${Math.floor(i / 200)}.${i % 200}.0/24`;
      return { name: `vm${i}`, nics: [`pg${i}=10.${Math.floor(i / 200)}.${i % 200}.10`] };
    });
    const p = plan(vms, [{ name: "w", members: { vms: vms.map((v) => v.name) } }], {}, networks);
    expect(errors(p.problems)).toEqual([expect.objectContaining({ field: "waves", received: "152", expected: "at most 150" })]);
  });

  it("a wave naming an unknown VM, folder or tag; a VM in two waves; unknown and cyclic after", () => {
    const p = plan(
      [
        { name: "a", nics: ["web=10.1.1.7"], folder: "dc/web" },
        { name: "b", nics: ["web=10.1.1.8"], tags: ["gold"] },
      ],
      [
        { name: "w1", members: { vms: ["a", "ghost"], folders: ["dc/nowhere"], tags: ["silver"] }, after: ["w2"] },
        { name: "w2", members: { folders: ["dc"], tags: ["gold"] }, after: ["w1", "w9"] },
      ],
    );
    const got = errors(p.problems).map((x) => [x.file, x.vm ?? "", x.field]);
    expect(got).toEqual([
      ["waves.yaml", "ghost", "waves[0].members.vms[1]"],
      ["waves.yaml", "", "waves[0].members.folders[0]"],
      ["waves.yaml", "", "waves[0].members.tags[0]"],
      ["waves.yaml", "a", "waves[1].members"],
      ["waves.yaml", "", "waves[1].after[1]"],
      ["waves.yaml", "", "waves[1].after"],
    ]);
    expect(only(p, (m) => m.includes("cycle"))[0]!.received).toBe("w1 → w2 → w1");
  });

  it("a sync subnet overlapping an on-prem range or another wave's, and an exhausted pool", () => {
    const vms = [
      { name: "a", nics: ["web=10.1.1.7"] },
      { name: "b", nics: ["app=10.1.2.7"] },
    ];
    const waves = [
      { name: "w1", members: { vms: ["a"] } },
      { name: "w2", members: { vms: ["b"] } },
    ];
    const given = plan(vms, waves, { onPremRanges: ["192.168.0.0/16"], sync: { subnets: { w1: "192.168.5.0/27", w2: "10.1.1.0/28" } } });
    expect(errors(given.problems).map((x) => [x.field, x.received])).toEqual([
      ["settings.sync.subnets.w1", "192.168.5.0/27"],
      ["settings.sync.subnets.w2", "10.1.1.0/28"],
    ]);
    const exhausted = plan(vms, waves, { sync: { pool: "10.1.1.0/24", prefix: 27 } });
    expect(errors(exhausted.problems).map((x) => [x.field, x.message])).toEqual([
      ["settings.sync.pool", expect.stringContaining("no free /27 left for wave w1")],
      ["settings.sync.pool", expect.stringContaining("no free /27 left for wave w2")],
    ]);
  });

  it("carves the sync subnet around source subnets and on-prem ranges inside the pool", () => {
    const p = plan([{ name: "a", nics: ["web=10.1.1.7"] }], [{ name: "w", members: { vms: ["a"] } }], {
      onPremRanges: ["10.1.0.0/24"],
      sync: { pool: "10.1.0.0/21", prefix: 26 },
    });
    expect(p.problems).toEqual([]);
    expect(p.waves[0]!.syncSubnet.cidr).toBe("10.1.4.0/26");
  });

  it("ECS disk limits: a system disk over 500 GiB, more than 16 data disks, an unknown category", () => {
    const p = plan(
      [
        { name: "big", nics: ["web=10.1.1.7"], disksGiB: [600] },
        { name: "many", nics: ["web=10.1.1.8"], disksGiB: Array.from({ length: 18 }, () => 20) },
        { name: "odd", nics: ["web=10.1.1.9"] },
      ],
      [{ name: "w", members: { vms: ["big", "many", "odd"] }, overrides: { odd: { diskCategory: "cloud_floppy" } } }],
    );
    expect(errors(p.problems).map((x) => [x.vm, x.field, x.received])).toEqual([
      ["big", "disks[0].capacityBytes", "600 GiB"],
      ["many", "disks", "17"],
      ["odd", "waves[0].overrides.odd.diskCategory", "cloud_floppy"],
    ]);
    // Each is blocked with its reasons; the rest of the wave would still be planned.
    expect(p.blocked!.map((b) => [b.name, b.wave, b.reasons.map((r) => r.field)])).toEqual([
      ["big", "w", ["disks[0].capacityBytes"]],
      ["many", "w", ["disks"]],
      ["odd", "w", ["waves[0].overrides.odd.diskCategory"]],
    ]);
    // A region that allows larger system disks says so in the settings.
    const raised = plan([{ name: "big", nics: ["web=10.1.1.7"], disksGiB: [600] }], [{ name: "w", members: { vms: ["big"] } }], {
      limits: { systemDiskMaxGiB: 2048 },
    });
    expect(errors(raised.problems)).toEqual([]);
  });

  it("instance type overrides that are not ECS names, or smaller than the VM", () => {
    const p = plan(
      [
        { name: "a", nics: ["web=10.1.1.7"] },
        { name: "b", cpus: 8, memoryMiB: 32768, nics: ["web=10.1.1.8"] },
      ],
      [{ name: "w", members: { vms: ["a", "b"] }, overrides: { a: { instanceType: "g7.large" }, b: { instanceType: "ecs.g7.large" } } }],
    );
    expect(p.problems.map((x) => [x.severity, x.file, x.vm, x.field])).toEqual([
      ["error", "waves.yaml", "a", "waves[0].overrides.a.instanceType"],
      ["warning", "waves.yaml", "b", "waves[0].overrides.b.instanceType"],
    ]);
  });

  it("a VM no instance type holds, and settings out of range", () => {
    const p = plan([{ name: "huge", cpus: 512, memoryMiB: 4096, nics: ["web=10.1.1.7"] }], [{ name: "w", members: { vms: ["huge"] } }], {
      gateway: { maxDisks: 32 },
      sizing: { generation: 5 },
      prices: { "instance.x.vcpuHour": 1 },
    });
    expect(p.problems.map((x) => [x.severity, x.field])).toEqual([
      ["error", "settings.sizing.generation"],
      ["error", "settings.gateway.maxDisks"],
      ["warning", "settings.prices.instance.x.vcpuHour"],
      ["error", "cpus"],
    ]);
  });
});

describe("planVpcBlocks", () => {
  const valid = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "11.0.0.0/8", "100.0.0.0/8", "30.0.0.0/8"].map((r) => parseCidr(r)!);
  const subnet = fc
    .tuple(fc.constantFrom(...valid), fc.integer({ min: 0, max: 2 ** 24 - 1 }), fc.integer({ min: 16, max: 29 }))
    .map(([range, offset, prefix]) => cidrOf(range.first + (offset % range.size), Math.max(prefix, range.prefix)))
    .filter((c) => !FORBIDDEN_VPC_RANGES.some((f) => cidrsOverlap(f, c.text)));

  it("covers every subnet with blocks of /8–/28 outside the refused ranges, most-used block first", () => {
    fc.assert(
      fc.property(fc.array(subnet, { minLength: 1, maxLength: 12 }), (subnets) => {
        const blocks = planVpcBlocks(subnets);
        for (const s of subnets) expect(blocks.some((b) => cidrCovers(b, s))).toBe(true);
        for (const b of blocks) {
          expect(b.prefix).toBeGreaterThanOrEqual(8);
          expect(b.prefix).toBeLessThanOrEqual(28);
          expect(FORBIDDEN_VPC_RANGES.some((f) => cidrsOverlap(f, b))).toBe(false);
        }
        const counts = blocks.map((b) => subnets.filter((s) => cidrCovers(b, s)).length);
        expect(counts[0]).toBe(Math.max(...counts));
      }),
    );
  });

  it.each([
    [
      ["10.10.1.0/24", "10.10.2.0/24", "172.30.0.0/27"],
      ["10.10.0.0/22", "172.30.0.0/27"],
    ],
    [["192.168.7.8/29"], ["192.168.7.0/28"]],
    [
      ["100.1.0.0/16", "100.200.0.0/16"],
      ["100.1.0.0/16", "100.200.0.0/16"],
    ],
    // The block holding two subnets (one nested) is the primary, though it is a refused range's split.
    [
      ["10.1.0.0/16", "100.200.0.0/16", "100.1.0.0/16", "100.1.2.0/24"],
      ["100.1.0.0/16", "10.1.0.0/16", "100.200.0.0/16"],
    ],
  ])("%j → %j", (subnets, expected) => {
    expect(planVpcBlocks(subnets.map((s) => parseCidr(s)!)).map((b) => b.text)).toEqual(expected);
  });
});

describe("buildPlan never throws on bad data", () => {
  it("reports problems instead, for arbitrary addresses, subnets, members and settings", () => {
    // Mostly valid values, so that some inputs plan cleanly, mixed with every kind of garbage.
    const garbageCidr = fc.oneof(
      fc.constantFrom("10.1.1.5/24", "10.0.0.0/30", "100.64.0.0/16", "0.0.0.0/0", "x", "", "10.1.1.300/24"),
      fc.string({ maxLength: 12 }),
    );
    const text = fc.oneof({ arbitrary: fc.constantFrom("10.1.1.0/24", "10.1.2.0/24", "10.1.0.0/16"), weight: 6 }, { arbitrary: garbageCidr, weight: 1 });
    const garbageIp = fc.oneof(fc.constantFrom("999.1.1.1", "10.1.1", ""), fc.string({ maxLength: 10 }));
    const address = fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 2 * 256 + 255 }).map((n) => `10.1.${1 + (n >> 8)}.${n & 255}`), weight: 8 },
      { arbitrary: garbageIp, weight: 1 },
    );
    const input = fc.record({
      networks: fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), text), { maxLength: 4 }),
      vms: fc.array(
        fc.record({
          pg: fc.constantFrom("a", "b", "c", "d"),
          ips: fc.array(address, { maxLength: 2 }),
          disks: fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 20 }),
          cpus: fc.integer({ min: 1, max: 300 }),
        }),
        { maxLength: 5 },
      ),
      members: fc.oneof(
        { arbitrary: fc.constant(["v1", "v3", "v4", "v5"]), weight: 3 },
        { arbitrary: fc.array(fc.constantFrom("v1", "v2", "v3", "v4", "v9"), { maxLength: 5 }), weight: 1 },
      ),
      after: fc.array(fc.constantFrom("w1", "w2", "w3"), { maxLength: 2 }),
      pool: fc.oneof({ arbitrary: fc.constant("172.30.0.0/16"), weight: 6 }, { arbitrary: text, weight: 1 }),
      onPrem: fc.array(fc.oneof(fc.constant("192.168.0.0/16"), text), { maxLength: 1 }),
      keepIp: fc.boolean(),
    });
    fc.assert(
      fc.property(input, (i) => {
        const inv = {
          vms: i.vms.map((v, n) => ({
            uuid: `u${n}`,
            name: `v${n + 1}`,
            cpus: v.cpus,
            memoryMiB: 4096,
            guestOs: { family: "linux" as const, id: "x" },
            firmware: "bios" as const,
            powerState: "poweredOn" as const,
            tags: [],
            disks: v.disks.map((gib, k) => ({
              key: 2000 + k,
              label: `d${k}`,
              capacityBytes: gib * GiB,
              thin: true,
              controller: "scsi",
              backing: "flat" as const,
            })),
            nics: [{ mac: "00:50:56:00:00:01", portgroup: v.pg, ipv4: v.ips, adapter: "vmxnet3" }],
          })),
          networks: i.networks.map(([portgroup, cidr]) => ({ portgroup, cidr })),
        };
        const members: readonly string[] = i.members;
        const second = i.vms.length >= 2 && !members.includes("v2");
        const first = members.length > 0 ? [...members] : ["v9"];
        const waves = wavesFile(
          [
            {
              name: "w1",
              members: { vms: first },
              after: second ? i.after : [],
              overrides: first.includes("v1") && i.vms.length > 0 ? { v1: { keepIp: i.keepIp } } : {},
            },
            ...(second ? [{ name: "w2", members: { vms: ["v2"] }, after: ["w1"] }] : []),
          ],
          { sync: { pool: i.pool }, onPremRanges: i.onPrem },
        );
        const plan = buildPlan(inv, waves);
        expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
        for (const p of plan.problems) {
          expect(p.message.length).toBeGreaterThan(0);
          expect(p.field).toBeDefined();
        }
        // Every address kept by a VM that must keep its addresses and has no error is usable.
        const failed = new Set(errors(plan.problems).map((p) => p.vm));
        for (const w of plan.waves)
          for (const vm of w.vms)
            if (!failed.has(vm.name))
              for (const nic of vm.nics) {
                if (parseCidr(nic.subnet) === undefined) {
                  // A subnet that cannot be a vSwitch is an error of the networks.
                  expect(errors(plan.problems).some((p) => p.field?.startsWith("networks["))).toBe(true);
                  continue;
                }
                for (const ip of nic.ips) {
                  expect(cidrContains(nic.subnet, ip)).toBe(true);
                  expect(isAlibabaReserved(nic.subnet, ip)).toBe(false);
                }
              }
      }),
      { numRuns: 300 },
    );
  });
});

describe("buildPlan properties", () => {
  // Estates in 10.<s>.0.0/24 subnets with unique, unreserved addresses.
  const estate = fc
    .array(
      fc.record({
        subnet: fc.integer({ min: 0, max: 5 }),
        host: fc.integer({ min: 1, max: 252 }),
        disks: fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 17 }),
      }),
      {
        minLength: 1,
        maxLength: 40,
      },
    )
    .map((list) => {
      const seen = new Set<string>();
      return list
        .map((v, i) => ({ name: `vm${i}`, ip: `10.9.${v.subnet}.${v.host}`, subnet: v.subnet, disksGiB: [Math.min(v.disks[0]!, 500), ...v.disks.slice(1)] }))
        .filter((v) => !seen.has(v.ip) && seen.add(v.ip));
    });

  it("a valid estate plans without errors, keeps every address and places every disk exactly once within the limits", () => {
    fc.assert(
      fc.property(estate, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 16 }), (vms, waveCount, maxDisks) => {
        const networks = Object.fromEntries([0, 1, 2, 3, 4, 5].map((s) => [`pg${s}`, `10.9.${s}.0/24`]));
        const inv = inventory(
          vms.map((v) => ({ name: v.name, nics: [`pg${v.subnet}=${v.ip}`], disksGiB: v.disksGiB })),
          networks,
        );
        const waves = Array.from({ length: waveCount }, (_, w) => ({
          name: `w${w}`,
          members: { vms: vms.filter((_, i) => i % waveCount === w).map((v) => v.name) },
        })).filter((w) => w.members.vms.length > 0);
        const p = buildPlan(inv, wavesFile(waves, { gateway: { maxDisks, maxBytes: 40 * 1024 * GiB } }));
        expect(errors(p.problems)).toEqual([]);
        for (const w of p.waves) {
          for (const vm of w.vms) {
            const ip = vms.find((v) => v.name === vm.name)!.ip;
            expect(vm.ips).toEqual([ip]);
            expect(isAlibabaReserved(vm.nics[0]!.subnet, ip)).toBe(false);
          }
          const ids = w.vms.flatMap((vm) => vm.disks.map((d) => d.id));
          expect(w.gateways.flatMap((g) => g.diskIds).sort()).toEqual(ids.sort());
          for (const g of w.gateways) {
            expect(g.disks).toBeLessThanOrEqual(maxDisks);
            expect(g.bytes).toBeLessThanOrEqual(40 * 1024 * GiB);
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});
