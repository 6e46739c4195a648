import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadInventory, loadNetworks } from "../../lib/inventory";
import { formatProblem } from "../../lib/problems";
import { tempDirEachTest } from "../helpers/scopes";
import { INVENTORY_TMP, problemsOf, vmDoc, WEB_NETWORK, write } from "./helpers";

const repo = path.join(__dirname, "..", "..");

let dir: string;
tempDirEachTest((d) => (dir = d), INVENTORY_TMP);

describe("loadInventory: YAML and JSON", () => {
  it("loads the lab estate with its defaults filled in", async () => {
    const inv = await loadInventory(path.join(repo, "examples/lab/inventory.yaml"));
    expect(inv.vms.map((v) => v.name)).toEqual(["lab-web-01", "lab-web-02", "lab-app-01", "lab-db-01"]);
    expect(inv.vms[1]!.nics[0]!.ipv4).toEqual(["10.10.1.12", "10.10.1.13"]);
    expect(inv.vms[3]!.disks.map((d) => d.capacityBytes)).toEqual([134217728, 134217728]);
    expect(inv.vms[0]!.disks[0]!.backing).toBe("flat");
    expect(inv.networks.map((n) => n.cidr)).toEqual(["10.10.1.0/24", "10.10.2.0/24"]);
  });

  it("reports a YAML syntax mistake once, with its line and column", async () => {
    const file = write(dir, "broken.yaml", "vms:\n  - name: a\n    nics: {ipv4: [10.10.1.11\n");
    const problems = await problemsOf(loadInventory(file));
    expect(problems).toHaveLength(1);
    expect(formatProblem(problems[0]!)).toMatch(
      /^error: .*broken\.yaml, field line \d+, column \d+: The file is not valid YAML: [^(]*[a-z\]}] \(expected a YAML document\)/,
    );
  });

  it("reads JSON and YAML of the same document alike", async () => {
    const doc = { vms: [vmDoc("web-01")], networks: [WEB_NETWORK] };
    const fromJson = await loadInventory(write(dir, "inv.json", JSON.stringify(doc)));
    const fromYaml = await loadInventory(write(dir, "inv.yaml", stringify(doc)));
    expect(fromJson).toEqual(fromYaml);
    expect(fromJson.vms[0]).toMatchObject({ firmware: "bios", powerState: "poweredOn", tags: [] });
    expect(fromJson.vms[0]!.disks[0]).toMatchObject({ thin: true, controller: "scsi" });
  });

  it("merges a networks file over the inventory's networks, the file winning", async () => {
    const inv = write(
      dir,
      "inv.yaml",
      stringify({
        vms: [vmDoc("web-01"), vmDoc("app-01", { uuid: "u2", nics: [{ mac: "00:50:56:00:00:02", portgroup: "app", ipv4: ["10.10.2.11"] }] })],
        networks: [{ portgroup: "web", cidr: "10.99.0.0/16" }],
      }),
    );
    const nets = write(dir, "networks.yaml", stringify({ networks: [WEB_NETWORK, { portgroup: "app", cidr: "10.10.2.0/24", vlan: 102 }] }));
    const loaded = await loadInventory(inv, { networks: nets });
    expect(loaded.networks).toEqual([WEB_NETWORK, { portgroup: "app", cidr: "10.10.2.0/24", vlan: 102 }]);
  });

  type Case = { name: string; vm: Record<string, unknown>; expected: { vm?: string; field: string; received?: string; expectedText?: RegExp } };
  const cases: Case[] = [
    {
      name: "negative disk size",
      vm: vmDoc("db-01", { disks: [{ key: 2000, label: "Hard disk 1", capacityBytes: -1024 }] }),
      expected: { vm: "db-01", field: "disks[0].capacityBytes", received: "-1024", expectedText: /positive/ },
    },
    {
      name: "non-numeric disk size",
      vm: vmDoc("db-01", { disks: [{ key: 2000, label: "Hard disk 1", capacityBytes: "40G" }] }),
      expected: { vm: "db-01", field: "disks[0].capacityBytes", received: '"40G"', expectedText: /number/ },
    },
    {
      name: "malformed MAC",
      vm: vmDoc("web-02", { nics: [{ mac: "00:50:56:zz:00:01", portgroup: "web", ipv4: [] }] }),
      expected: { vm: "web-02", field: "nics[0].mac", received: '"00:50:56:zz:00:01"', expectedText: /MAC address/ },
    },
    {
      name: "malformed IP",
      vm: vmDoc("web-03", { nics: [{ mac: "00:50:56:00:00:03", portgroup: "web", ipv4: ["10.10.1.11", "10.10.1.300"] }] }),
      expected: { vm: "web-03", field: "nics[0].ipv4[1]", received: '"10.10.1.300"', expectedText: /IPv4/ },
    },
    {
      name: "unknown power state",
      vm: vmDoc("web-04", { powerState: "running" }),
      expected: { vm: "web-04", field: "powerState", received: '"running"', expectedText: /poweredOn/ },
    },
    {
      name: "unknown firmware",
      vm: vmDoc("web-05", { firmware: "uefi" }),
      expected: { vm: "web-05", field: "firmware", received: '"uefi"', expectedText: /efi/ },
    },
    { name: "missing name", vm: { ...vmDoc("x"), name: undefined }, expected: { vm: "vms[0]", field: "name", expectedText: /string/ } },
    { name: "no disk", vm: vmDoc("web-06", { disks: [] }), expected: { vm: "web-06", field: "disks", expectedText: /at least 1/ } },
    {
      name: "allocated above capacity",
      vm: vmDoc("web-07", { disks: [{ key: 2000, label: "Hard disk 1", capacityBytes: 100, allocatedBytes: 200 }] }),
      expected: { vm: "web-07", field: "disks[0].allocatedBytes", received: "200" },
    },
    {
      name: "duplicate disk key",
      vm: vmDoc("web-08", {
        disks: [
          { key: 2000, label: "Hard disk 1", capacityBytes: 100 },
          { key: 2000, label: "Hard disk 2", capacityBytes: 100 },
        ],
      }),
      expected: { vm: "web-08", field: "disks[1].key", received: "2000" },
    },
  ];
  it.each(cases)("reports $name with file, VM, field and received value", async ({ vm, expected }) => {
    const file = write(dir, "inv.yaml", stringify({ vms: [vm], networks: [WEB_NETWORK] }));
    const problems = await problemsOf(loadInventory(file));
    expect(problems).toHaveLength(1);
    const p = problems[0]!;
    expect(p).toMatchObject({ severity: "error", file, field: expected.field });
    if (expected.vm !== undefined) expect(p.vm).toBe(expected.vm);
    if (expected.received !== undefined) expect(p.received).toBe(expected.received);
    if (expected.expectedText) expect(p.expected).toMatch(expected.expectedText);
    expect(p.fix).toBeTruthy();
    expect(formatProblem(p)).toContain(file);
  });

  it("lists every problem of the file at once", async () => {
    const file = write(
      dir,
      "inv.yaml",
      stringify({
        vms: [
          vmDoc("a", { cpus: 0, disks: [{ key: 2000, label: "Hard disk 1", capacityBytes: -5 }] }),
          vmDoc("b", { powerState: "on" }),
          vmDoc("c", { nics: [{ mac: "00:50:56:00:00:09", portgroup: "web", ipv4: ["1.2.3"] }] }),
        ],
        networks: [WEB_NETWORK, { portgroup: "app", cidr: "10.10.2.0/33" }],
      }),
    );
    const problems = await problemsOf(loadInventory(file));
    expect(problems.map((p) => `${p.vm ?? "-"} ${p.field}`).sort()).toEqual([
      "- networks[1].cidr",
      "a cpus",
      "a disks[0].capacityBytes",
      "b powerState",
      "c nics[0].ipv4[0]",
    ]);
  });

  it("reports duplicate VM names and uuids", async () => {
    const file = write(
      dir,
      "inv.yaml",
      stringify({ vms: [vmDoc("web-01"), vmDoc("web-01", { uuid: "other" }), vmDoc("web-02", { uuid: "UUID-web-01" })], networks: [WEB_NETWORK] }),
    );
    const problems = await problemsOf(loadInventory(file));
    expect(problems.map((p) => [p.vm, p.field, p.received])).toEqual([
      ["web-01", "name", "web-01"],
      ["web-02", "uuid", "UUID-web-01"],
    ]);
  });

  it("lists every unmapped portgroup in one problem, with the VMs using them", async () => {
    const nic = (pg: string, mac: string) => ({ mac, portgroup: pg, ipv4: [] });
    const file = write(
      dir,
      "inv.yaml",
      stringify({
        vms: [
          vmDoc("a", { nics: [nic("web", "00:50:56:00:00:01"), nic("backup", "00:50:56:00:00:02")] }),
          vmDoc("b", { uuid: "b", nics: [nic("db", "00:50:56:00:00:03")] }),
          vmDoc("c", { uuid: "c", nics: [nic("db", "00:50:56:00:00:04")] }),
        ],
        networks: [WEB_NETWORK],
      }),
    );
    const problems = await problemsOf(loadInventory(file));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.received).toBe("backup, db");
    expect(problems[0]!.message).toContain("backup (VM a)");
    expect(problems[0]!.message).toContain("db (VMs b, c)");
  });

  it("reports network mistakes of the inventory and of the networks file", async () => {
    const inv = write(dir, "inv.yaml", stringify({ vms: [vmDoc("a")], networks: [{ portgroup: "web", cidr: "10.10.1.7/24", gateway: "10.10.9.1" }] }));
    const problems = await problemsOf(loadInventory(inv));
    expect(problems.map((p) => [p.field, p.expected])).toEqual([
      ["networks[0].cidr", "10.10.1.0/24"],
      ["networks[0].gateway", "an address inside 10.10.1.0/24"],
    ]);
    const nets = write(
      dir,
      "nets.yaml",
      stringify([
        { portgroup: "web", cidr: "10.10.1.0/24", gateway: "10.10.1.x" },
        { portgroup: "web", cidr: "10.10.3.0/24", vlan: 5000 },
      ]),
    );
    const netProblems = await problemsOf(loadNetworks(nets));
    expect(netProblems.map((p) => [p.file, p.field])).toEqual([[nets, "networks[1].vlan"]]);
    const nets2 = write(
      dir,
      "nets2.yaml",
      stringify({
        networks: [
          { portgroup: "web", cidr: "10.10.1.0/24", gateway: "10.10.1.x" },
          { portgroup: "web", cidr: "10.10.3.0/24" },
        ],
      }),
    );
    expect((await problemsOf(loadNetworks(nets2))).map((p) => p.field)).toEqual(["networks[0].gateway", "networks[1].portgroup"]);
  });

  it("reports the problems of the inventory and of the networks file together", async () => {
    const inv = write(dir, "inv.yaml", stringify({ vms: [vmDoc("a", { cpus: -1 })] }));
    const nets = write(dir, "nets.yaml", stringify({ networks: [{ portgroup: "web", cidr: "10.10.1.0/99" }] }));
    const problems = await problemsOf(loadInventory(inv, { networks: nets }));
    expect(problems.map((p) => [p.file, p.field])).toEqual([
      [inv, "cpus"],
      [nets, "networks[0].cidr"],
    ]);
  });

  it("reports unreadable and syntactically broken files", async () => {
    const missing = path.join(dir, "nope.yaml");
    expect((await problemsOf(loadInventory(missing)))[0]).toMatchObject({ file: missing, message: "The file does not exist" });
    const broken = write(dir, "broken.yaml", "vms:\n  - name: a\n   cpus: 2\n");
    const yamlProblems = await problemsOf(loadInventory(broken));
    expect(yamlProblems[0]!.file).toBe(broken);
    expect(yamlProblems[0]!.field).toMatch(/^line 3/);
    const badJson = write(dir, "broken.json", '{ "vms": [ }');
    expect((await problemsOf(loadInventory(badJson)))[0]!.message).toMatch(/not valid JSON/);
    const empty = write(dir, "nets.yaml", "");
    expect((await problemsOf(loadNetworks(empty)))[0]!.message).toBe("The networks file has no networks list");
  });
});

describe("loadInventory: unknown keys", () => {
  it("reports keys the schema does not know, relative to their VM, in document order", async () => {
    const file = write(
      dir,
      "inv.yaml",
      stringify({
        vms: [vmDoc("web-01", { memoryMB: 4096, disks: [{ key: 2000, label: "Hard disk 1", capacityBytes: 1024, allocatedbytes: 10 }] })],
        networks: [{ ...WEB_NETWORK, vlanId: 3 }],
      }),
    );
    const problems = await problemsOf(loadInventory(file));
    expect(problems.map((p) => [p.vm, p.field, p.fix])).toEqual([
      ["web-01", "disks[0].allocatedbytes", "did you mean allocatedBytes? Rename the key"],
      ["web-01", "memoryMB", "did you mean memoryMiB? Rename the key"],
      [undefined, "networks[0].vlanId", "did you mean vlan? Rename the key"],
    ]);
  });
});
