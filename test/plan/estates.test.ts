/**
 * Real estates: wave selectors beyond folders (name patterns, cluster, host, datastore, resource
 * pool, annotation, custom attribute, the rest), two portgroups that are one network, ENI address
 * limits, and a plan that accounts for every VM even when some cannot move.
 */
import { describe, expect, it } from "vitest";
import { InventorySchema, type Inventory, parseNetworks, parseWaves, unmappedPortgroups } from "../../lib/inventory";
import { buildPlan } from "../../lib/plan";
import type { Plan } from "../../lib/plan/types";
import { InputError } from "../../lib/problems";
import { errors, wavesFile } from "./fixture";

/** An estate as RVTools reports it: no folders, but clusters, hosts, datastores, pools, notes and attributes. */
function estate(): Inventory {
  const vm = (name: string, i: number, extra: Record<string, unknown> = {}) => ({
    name,
    uuid: `uuid-${name}`,
    cpus: 2,
    memoryMiB: 4096,
    guestOs: { family: "linux", id: "CentOS 7 (64-bit)" },
    cluster: i % 2 === 0 ? "SZX-Cluster-01" : "SZX-Cluster-02",
    host: `esx${String(i % 3).padStart(2, "0")}.local`,
    resourcePool: i < 3 ? "Resources/Prod" : "Resources/Test",
    ...(i % 4 === 0 ? { annotation: `Owner: trading team; ticket CHG-${i}` } : {}),
    attributes: { "Backup status": i % 3 === 0 ? "Gold" : "Bronze" },
    disks: [{ key: 2000, label: "Hard disk 1", capacityBytes: 40 * 2 ** 30, datastore: i < 4 ? "VNX-DS01" : "VNX-DS02" }],
    nics: [{ mac: `00:50:56:00:00:${String(10 + i)}`, portgroup: i % 2 === 0 ? "VM Network" : "dvPG-web-120", ipv4: [`10.20.20.${10 + i}`] }],
    ...extra,
  });
  return InventorySchema.parse({
    vms: ["szx-web-01", "szx-web-02", "szx-app-01", "szx-app-02", "szx-db-01", "szx-db-02", "lab-test-01", "lab-test-02"].map((n, i) => vm(n, i)),
    networks: [{ portgroup: "dvPG-web-120", cidr: "10.20.20.0/24", aliases: ["VM Network"] }],
  });
}

const members = (plan: Plan) => Object.fromEntries(plan.waves.map((w) => [w.name, w.vms.map((v) => v.name)]));

describe("wave selectors", () => {
  it.each([
    ["names (glob)", { names: ["szx-web-*"] }, ["szx-web-01", "szx-web-02"]],
    ["names (regular expression)", { names: ["/^szx-(app|db)-0[12]$/"] }, ["szx-app-01", "szx-app-02", "szx-db-01", "szx-db-02"]],
    ["clusters", { clusters: ["szx-cluster-02"] }, ["szx-web-02", "szx-app-02", "szx-db-02", "lab-test-02"]],
    ["hosts", { hosts: ["esx01.*"] }, ["szx-web-02", "szx-db-01", "lab-test-02"]],
    ["datastores", { datastores: ["VNX-DS01"] }, ["szx-web-01", "szx-web-02", "szx-app-01", "szx-app-02"]],
    ["resourcePools", { resourcePools: ["*/Prod"] }, ["szx-web-01", "szx-web-02", "szx-app-01"]],
    ["annotations", { annotations: ["*trading team*"] }, ["szx-web-01", "szx-db-01"]],
    ["attributes", { attributes: { "Backup status": "gold" } }, ["szx-web-01", "szx-app-02", "lab-test-01"]],
  ])("select by %s", (_, selector, expected) => {
    const plan = buildPlan(estate(), wavesFile([{ name: "w", members: selector }]));
    expect(errors(plan.problems)).toEqual([]);
    expect(members(plan)).toEqual({ w: expected });
  });

  it("rest takes every VM no other wave selects; nothing is left unassigned", () => {
    const plan = buildPlan(
      estate(),
      wavesFile([
        { name: "web", members: { names: ["szx-web-*"] } },
        { name: "rest", members: { rest: true }, after: ["web"] },
      ]),
    );
    expect(members(plan)).toEqual({
      web: ["szx-web-01", "szx-web-02"],
      rest: ["szx-app-01", "szx-app-02", "szx-db-01", "szx-db-02", "lab-test-01", "lab-test-02"],
    });
    expect(plan.unassigned).toEqual([]);
  });

  it("names every VM left out when there is no rest wave, in full", () => {
    const plan = buildPlan(estate(), wavesFile([{ name: "web", members: { names: ["szx-web-*"] } }]));
    expect(plan.unassigned).toEqual(["szx-app-01", "szx-app-02", "szx-db-01", "szx-db-02", "lab-test-01", "lab-test-02"]);
    expect(plan.problems.find((p) => p.field === "waves")!.message).toContain("szx-db-02, lab-test-01, lab-test-02");
  });

  it("reports a selector matching nothing with what the inventory has", () => {
    const plan = buildPlan(estate(), wavesFile([{ name: "w", members: { clusters: ["Cluster-9"], folders: ["SZX/Web"] } }]));
    expect(errors(plan.problems).map((p) => [p.field, p.expected])).toEqual([
      ["waves[0].members.folders[0]", "a folder path of the inventory's VMs"],
      ["waves[0].members.clusters[0]", "a cluster of the inventory: SZX-Cluster-01, SZX-Cluster-02"],
      ["waves[0].members", "at least one VM, folder or tag"],
    ]);
  });

  it("refuses patterns that do not compile and two rest waves when loading the waves file", () => {
    let problems: readonly { field?: string }[] = [];
    try {
      parseWaves(
        {
          waves: [
            { name: "a", members: { names: ["/([/"], rest: true } },
            { name: "b", members: { rest: true } },
          ],
        },
        "waves.yaml",
      );
    } catch (err) {
      problems = (err as InputError).problems;
    }
    expect(problems.map((p) => p.field)).toEqual(["waves[0].members.names[0]", "waves[1].members.rest"]);
  });
});

describe("two portgroups, one network", () => {
  it("places the NICs of both portgroups in one vSwitch", () => {
    const plan = buildPlan(estate(), wavesFile([{ name: "w", members: { rest: true } }]));
    expect(errors(plan.problems)).toEqual([]);
    expect(plan.waves[0]!.subnets.map((s) => [s.name, s.cidr])).toEqual([["dvpg-web-120-10-20-20-0-24", "10.20.20.0/24"]]);
    expect(new Set(plan.waves[0]!.vms.flatMap((v) => v.nics.map((n) => n.subnet)))).toEqual(new Set(["10.20.20.0/24"]));
  });

  it("suggests an alias when two portgroups carry the same subnet", () => {
    const inv = estate();
    const split = {
      ...inv,
      networks: [
        { portgroup: "dvPG-web-120", cidr: "10.20.20.0/24" },
        { portgroup: "VM Network", cidr: "10.20.20.0/24" },
      ],
    };
    const plan = buildPlan(split, wavesFile([{ name: "w", members: { rest: true } }]));
    expect(errors(plan.problems)[0]!.fix).toBe(
      "if the two portgroups carry the same network, list VM Network under aliases of dvPG-web-120 in the networks file",
    );
  });
});

describe("ENI address limits", () => {
  const manyIps = () => {
    const inv = estate();
    const vm = inv.vms[0]!;
    const ips = Array.from({ length: 100 }, (_, i) => `10.20.20.${100 + i}`);
    return { ...inv, vms: [{ ...vm, nics: [{ ...vm.nics[0]!, ipv4: ips }] }] };
  };
  it("blocks a NIC with more addresses than one ENI of the type holds, and says what to do", () => {
    const plan = buildPlan(manyIps(), wavesFile([{ name: "w", members: { rest: true } }], { limits: { privateIpsPerEni: { "ecs.c7.large": 6 } } }));
    expect(plan.blocked).toEqual([
      {
        name: "szx-web-01",
        wave: "w",
        reasons: [expect.objectContaining({ field: "nics[0].ipv4", expected: "at most 6 per ENI", fix: expect.stringContaining("more NICs") })],
      },
    ]);
  });
  it("warns, asking for the figure, when the catalog has none for the type", () => {
    const plan = buildPlan(manyIps(), wavesFile([{ name: "w", members: { rest: true } }]));
    expect(errors(plan.problems)).toEqual([]);
    expect(plan.problems).toContainEqual(
      expect.objectContaining({ severity: "warning", field: "nics[0].ipv4", fix: expect.stringContaining("settings.limits.privateIpsPerEni") }),
    );
  });
});

describe("a plan that accounts for every VM", () => {
  it("plans the VMs that can move and blocks each one that cannot, with every reason", () => {
    const inv = estate();
    const broken = {
      ...inv,
      vms: inv.vms.map((vm, i) =>
        i === 1
          ? { ...vm, disks: [{ ...vm.disks[0]!, capacityBytes: 1639 * 2 ** 30 }] }
          : i === 4
            ? { ...vm, nics: [{ ...vm.nics[0]!, ipv4: ["10.20.20.255", "10.20.21.3"] }] }
            : vm,
      ),
    };
    const plan = buildPlan(broken, wavesFile([{ name: "w", members: { rest: true } }]));
    const planned = plan.waves.flatMap((w) => w.vms.map((v) => v.name));
    expect(planned).toEqual(["szx-web-01", "szx-app-01", "szx-app-02", "szx-db-02", "lab-test-01", "lab-test-02"]);
    expect(plan.blocked!.map((b) => [b.name, b.reasons.map((r) => r.field)])).toEqual([
      ["szx-web-02", ["disks[0].capacityBytes"]],
      ["szx-db-01", ["nics[0].ipv4[0]", "nics[0].ipv4[1]"]],
    ]);
    expect([...planned, ...plan.blocked!.map((b) => b.name)].sort()).toEqual(inv.vms.map((v) => v.name).sort());
    // The gateways carry only the planned VMs' disks.
    expect(plan.waves[0]!.gateways.reduce((n, g) => n + g.disks, 0)).toBe(6);
  });

  it("lists VMs the loader rejected as blocked with the loader's reasons, in the wave that names them", () => {
    const rejected = [
      {
        name: "szx-ghost-01",
        problems: [{ severity: "error" as const, vm: "szx-ghost-01", field: "Memory", message: "Row 9: VM szx-ghost-01 has an invalid memory size" }],
      },
    ];
    const plan = buildPlan(
      estate(),
      wavesFile([
        { name: "w", members: { vms: ["szx-ghost-01"], names: ["szx-*"] } },
        { name: "r", members: { rest: true } },
      ]),
      {},
      { rejected },
    );
    expect(plan.blocked).toEqual([{ name: "szx-ghost-01", wave: "w", reasons: rejected[0]!.problems }]);
    expect(plan.problems[0]).toBe(rejected[0]!.problems[0]);
    expect(errors(plan.problems)).toHaveLength(1);
  });

  it("lists a rejected VM no wave names once: blocked, without a wave, and not in unassigned", () => {
    const rejected = [
      {
        name: "szx-ghost-02",
        problems: [{ severity: "error" as const, vm: "szx-ghost-02", field: "VM", message: "VM szx-ghost-02 has no disk in the vDisk tab" }],
      },
    ];
    const plan = buildPlan(estate(), wavesFile([{ name: "w", members: { names: ["*"] } }]), {}, { rejected });
    expect(plan.blocked).toEqual([{ name: "szx-ghost-02", reasons: rejected[0]!.problems }]);
    expect(plan.unassigned).toEqual([]);
  });
});

describe("aliases in the networks file", () => {
  it("count as mapped portgroups, and each name may be listed once", () => {
    const inv = estate();
    expect(unmappedPortgroups(inv.vms, inv.networks, "inv.yaml")).toEqual([]);
    let fields: Array<string | undefined> = [];
    try {
      parseNetworks(
        {
          networks: [
            { portgroup: "a", cidr: "10.0.0.0/24", aliases: ["b"] },
            { portgroup: "b", cidr: "10.0.1.0/24" },
          ],
        },
        "networks.yaml",
      );
    } catch (err) {
      fields = (err as InputError).problems.map((p) => p.field);
    }
    expect(fields).toEqual(["networks[1].portgroup"]);
  });
});
