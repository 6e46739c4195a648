import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInventory, loadWaves, type Inventory } from "../../lib/inventory";
import { cidrContains, isAlibabaReserved } from "../../lib/net";
import { generate } from "../../scripts/examples/exchange-center";
import { removeDir, tempDir } from "../helpers/tmp";
import { INVENTORY_TMP } from "./helpers";

const repo = path.join(__dirname, "..", "..");
const exchange = path.join(repo, "examples/exchange-center");
const MiB = 2 ** 20;

/** Every address an Alibaba vSwitch of `cidr` lets an instance take (not the first, not the last three). */
function keepable(ip: string, cidr: string): boolean {
  return cidrContains(cidr, ip) && !isAlibabaReserved(cidr, ip);
}

describe("examples/lab", () => {
  it("is four small Linux VMs in two subnets, one with two disks, at most 768 MiB of disks", async () => {
    const inv = await loadInventory(path.join(repo, "examples/lab/inventory.yaml"));
    expect(inv.vms).toHaveLength(4);
    expect(inv.vms.every((v) => v.guestOs.family === "linux")).toBe(true);
    expect(new Set(inv.vms.flatMap((v) => v.nics.map((n) => n.portgroup))).size).toBe(2);
    expect(inv.vms.some((v) => v.disks.length >= 2)).toBe(true);
    const total = inv.vms.flatMap((v) => v.disks).reduce((a, d) => a + d.capacityBytes, 0);
    expect(total).toBeLessThanOrEqual(768 * MiB);
    for (const d of inv.vms.flatMap((v) => v.disks)) expect(d.capacityBytes % MiB).toBe(0);
    const waves = await loadWaves(path.join(repo, "examples/lab/waves.yaml"));
    expect(waves.waves).toHaveLength(1);
    expect(everyIpKeepable(inv, new Set())).toEqual([]);
  });
});

describe("examples/exchange-center", () => {
  let yaml: Inventory;
  let rvtools: Inventory;
  beforeAll(async () => {
    yaml = await loadInventory(path.join(exchange, "inventory.yaml"));
    rvtools = await loadInventory(path.join(exchange, "rvtools"), { networks: path.join(exchange, "networks.yaml") });
  });

  it("is the case study at full scale: about 120 VMs, at least 10 TB, the five subnet roles, multi-disk and multi-IP VMs", () => {
    expect(yaml.vms.length).toBeGreaterThanOrEqual(110);
    expect(yaml.vms.length).toBeLessThanOrEqual(130);
    const bytes = yaml.vms.flatMap((v) => v.disks).reduce((a, d) => a + d.capacityBytes, 0);
    expect(bytes).toBeGreaterThanOrEqual(10e12);
    const portgroups = yaml.networks.map((n) => n.portgroup).join(" ");
    for (const role of ["WEB", "APP", "DB", "MW", "MGMT"]) expect(portgroups).toContain(`PG-${role}-`);
    expect(yaml.vms.filter((v) => v.disks.length >= 4).length).toBeGreaterThanOrEqual(4);
    expect(yaml.vms.filter((v) => v.nics.flatMap((n) => n.ipv4).length >= 2).length).toBeGreaterThanOrEqual(5);
    expect(new Set(yaml.vms.map((v) => v.guestOs.family))).toEqual(new Set(["linux", "windows"]));
  });

  it("gives the same inventory from YAML and from the RVTools export", () => {
    expect(rvtools).toEqual(yaml);
  });

  it("lets every VM keep every IP, except the one whose override says keepIp: false", async () => {
    const waves = await loadWaves(path.join(exchange, "waves.yaml"));
    const released = new Set(
      waves.waves.flatMap((w) =>
        Object.entries(w.overrides)
          .filter(([, o]) => o.keepIp === false)
          .map(([vm]) => vm),
      ),
    );
    expect([...released]).toEqual(["szx-web-ftpgw-01"]);
    expect(everyIpKeepable(yaml, released)).toEqual([]);
    expect(everyIpKeepable(yaml, new Set())).toEqual(["szx-web-ftpgw-01 10.20.20.254"]);
    const all = yaml.vms.flatMap((v) => v.nics.flatMap((n) => n.ipv4));
    expect(new Set(all).size).toBe(all.length);
  });

  it("puts every VM in exactly one wave by folder or name, and every override names a VM", async () => {
    const waves = await loadWaves(path.join(exchange, "waves.yaml"));
    const names = new Set(yaml.vms.map((v) => v.name));
    for (const vm of yaml.vms) {
      const memberOf = waves.waves.filter((w) => w.members.vms.includes(vm.name) || w.members.folders.includes(vm.folder ?? ""));
      expect(
        memberOf.map((w) => w.name),
        vm.name,
      ).toHaveLength(1);
    }
    for (const w of waves.waves) for (const vm of [...w.members.vms, ...Object.keys(w.overrides)]) expect(names.has(vm), vm).toBe(true);
  });

  describe("the generator", () => {
    let out: string;
    beforeAll(() => {
      out = tempDir(INVENTORY_TMP);
      generate(out);
    });
    afterAll(() => removeDir(out));

    it("reproduces the committed files byte for byte", () => {
      for (const file of [
        "inventory.yaml",
        "networks.yaml",
        "waves.yaml",
        "rvtools/RVTools_tabvInfo.csv",
        "rvtools/RVTools_tabvDisk.csv",
        "rvtools/RVTools_tabvNetwork.csv",
      ]) {
        expect(fs.readFileSync(path.join(out, file), "utf8"), file).toBe(fs.readFileSync(path.join(exchange, file), "utf8"));
      }
    });
  });
});

/** `vm ip` for every address that is outside its subnet or reserved by Alibaba, for VMs not in `released`. */
function everyIpKeepable(inv: Inventory, released: ReadonlySet<string>): string[] {
  const cidrs = new Map(inv.networks.map((n) => [n.portgroup, n.cidr]));
  const bad: string[] = [];
  for (const vm of inv.vms) {
    for (const nic of vm.nics) {
      for (const ip of nic.ipv4) {
        if (!keepable(ip, cidrs.get(nic.portgroup)!) && !released.has(vm.name)) bad.push(`${vm.name} ${ip}`);
      }
    }
  }
  return bad;
}
