import * as path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify } from "yaml";
import { loadInventory, parseInventory, splitAddresses, type Inventory, type Vm } from "../../lib/inventory";
import { removeDir, tempDir } from "../helpers/tmp";
import { INVENTORY_TMP, write } from "./helpers";

const MiB = 2 ** 20;
const PORTGROUPS = ["web", "app", "db"] as const;
const NETWORKS = [
  { portgroup: "web", cidr: "10.1.1.0/24", gateway: "10.1.1.1" },
  { portgroup: "app", cidr: "10.1.2.0/24", vlan: 12 },
  { portgroup: "db", cidr: "10.1.3.0/24" },
];
const OSES = [
  { family: "linux", id: "Red Hat Enterprise Linux 7 (64-bit)" },
  { family: "linux", id: "CentOS 7 (64-bit)" },
  { family: "windows", id: "Microsoft Windows Server 2016 or later (64-bit)" },
  { family: "other", id: "FreeBSD 12 (64-bit)" },
] as const;

// Link-local addresses (169.254/16) are not inventory addresses: RVTools' loader drops them.
const ipv4 = fc
  .tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 }))
  .map((o) => o.join("."))
  .filter((ip) => !ip.startsWith("169.254."));
const mac = fc.array(fc.nat(255), { minLength: 3, maxLength: 3 }).map((b) => ["00", "50", "56", ...b.map((x) => x.toString(16).padStart(2, "0"))].join(":"));
const word = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/);

/** Any valid VM whose every field an RVTools export can carry (whole-MiB disks, SCSI controllers). */
const vmArb = (index: number) =>
  fc
    .record({
      cpus: fc.integer({ min: 1, max: 64 }),
      memoryMiB: fc.integer({ min: 256, max: 1 << 20 }),
      guestOs: fc.constantFrom(...OSES),
      firmware: fc.constantFrom("bios" as const, "efi" as const),
      powerState: fc.constantFrom("poweredOn" as const, "poweredOff" as const, "suspended" as const),
      folder: fc.option(
        fc.array(word, { minLength: 1, maxLength: 3 }).map((p) => p.join("/")),
        { nil: undefined },
      ),
      disks: fc.uniqueArray(fc.record({ key: fc.integer({ min: 2000, max: 2063 }), mib: fc.integer({ min: 1, max: 4 << 20 }), thin: fc.boolean(), ds: word }), {
        minLength: 1,
        maxLength: 6,
        selector: (d) => d.key,
      }),
      nics: fc.array(
        fc.record({
          mac,
          portgroup: fc.constantFrom(...PORTGROUPS),
          ipv4: fc.uniqueArray(ipv4, { maxLength: 3 }),
          adapter: fc.constantFrom("vmxnet3", "e1000e"),
        }),
        { maxLength: 3 },
      ),
    })
    .map((r): Vm => ({
      name: `vm-${index}`,
      uuid: `4200-${index}`,
      cpus: r.cpus,
      memoryMiB: r.memoryMiB,
      guestOs: { ...r.guestOs },
      firmware: r.firmware,
      powerState: r.powerState,
      ...(r.folder !== undefined ? { folder: r.folder } : {}),
      tags: [],
      disks: [...r.disks]
        .sort((a, b) => a.key - b.key)
        .map((d, n) => ({
          key: d.key,
          label: `Hard disk ${n + 1}`,
          capacityBytes: d.mib * MiB,
          thin: d.thin,
          datastore: d.ds,
          controller: "scsi",
          backing: "flat" as const,
          fileName: `[${d.ds}] vm-${index}/disk${n}.vmdk`,
        })),
      nics: r.nics.map((n, i) => ({ label: `Network adapter ${i + 1}`, mac: n.mac, portgroup: n.portgroup, ipv4: n.ipv4, adapter: n.adapter })),
    }));

const inventoryArb: fc.Arbitrary<Inventory> = fc
  .integer({ min: 1, max: 8 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => vmArb(i))))
  .map((vms) => ({ vms, networks: NETWORKS.map((x) => ({ ...x })) }));

/** The inventory as an RVTools CSV export, in either header style, with columns in any order. */
function rvtoolsCsv(inv: Inventory, prefixed: boolean, order: number[]): Record<string, string> {
  const tab = (name: string, cols: Array<[string, string, (row: any) => string]>, rows: unknown[]) => {
    const sorted = cols
      .map((c, i) => ({ c, k: order[i % order.length]! * 100 + i }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.c);
    const cell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    const lines = [sorted.map(([xlsx, csv]) => (prefixed ? csv : xlsx)), ...rows.map((r) => sorted.map(([, , f]) => f(r)))];
    return [name, lines.map((l) => l.map(cell).join(",")).join("\n")] as const;
  };
  const disks = inv.vms.flatMap((vm) => vm.disks.map((d) => ({ vm, d })));
  const nics = inv.vms.flatMap((vm) => vm.nics.map((n) => ({ vm, n })));
  return Object.fromEntries([
    tab(
      "RVTools_tabvInfo.csv",
      [
        ["VM", "vInfoVMName", (vm: Vm) => vm.name],
        ["Powerstate", "vInfoPowerstate", (vm: Vm) => vm.powerState],
        ["CPUs", "vInfoCPUs", (vm: Vm) => String(vm.cpus)],
        ["Memory", "vInfoMemory", (vm: Vm) => String(vm.memoryMiB)],
        ["Firmware", "vInfoFirmware", (vm: Vm) => vm.firmware],
        ["OS according to the configuration file", "vInfoOS", (vm: Vm) => vm.guestOs.id],
        ["VM UUID", "vInfoUUID", (vm: Vm) => vm.uuid],
        ["Folder", "vInfoFolder", (vm: Vm) => vm.folder ?? ""],
        ["DNS Name", "vInfoDNSName", () => "vm.example.local"],
      ],
      inv.vms,
    ),
    tab(
      "RVTools_tabvDisk.csv",
      [
        ["VM", "vDiskVMName", (r: any) => r.vm.name],
        ["Disk", "vDiskName", (r: any) => r.d.label],
        ["Disk Key", "vDiskKey", (r: any) => String(r.d.key)],
        ["Capacity MiB", "vDiskCapacityMiB", (r: any) => String(r.d.capacityBytes / MiB)],
        ["Thin", "vDiskThin", (r: any) => (r.d.thin ? "True" : "False")],
        ["Controller", "vDiskController", () => "SCSI controller 0"],
        ["Path", "vDiskPath", (r: any) => r.d.fileName],
      ],
      disks,
    ),
    tab(
      "RVTools_tabvNetwork.csv",
      [
        ["VM", "vNetworkVMName", (r: any) => r.vm.name],
        ["NIC label", "vNetworkNICLabel", (r: any) => r.n.label],
        ["Adapter", "vNetworkAdapter", (r: any) => r.n.adapter.toUpperCase()],
        ["Network", "vNetworkName", (r: any) => r.n.portgroup],
        ["Mac Address", "vNetworkMacAddress", (r: any) => r.n.mac.toUpperCase()],
        ["IPv4 Address", "vNetworkIPv4Address", (r: any) => r.n.ipv4.join(", ")],
      ],
      nics,
    ),
  ]);
}

describe("inventory properties", () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir(INVENTORY_TMP);
  });
  afterAll(() => removeDir(dir));

  it("any valid inventory round-trips YAML → load → equal", () => {
    fc.assert(
      fc.property(inventoryArb, (inv) => {
        expect(parseInventory(JSON.parse(JSON.stringify(inv)))).toEqual(inv);
        expect(parseInventory(parseYaml(stringify(inv)))).toEqual(inv);
      }),
      { numRuns: 150 },
    );
  });

  it("any valid inventory written as an RVTools export loads back equal, in either header style and any column order", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(inventoryArb, fc.boolean(), fc.array(fc.nat(9), { minLength: 1, maxLength: 9 }), async (inv, prefixed, order) => {
        const exportDir = path.join(dir, `export-${run++}`);
        for (const [name, text] of Object.entries(rvtoolsCsv(inv, prefixed, order))) write(exportDir, name, text);
        const networks = write(dir, "networks.yaml", stringify({ networks: inv.networks }));
        expect(await loadInventory(exportDir, { networks })).toEqual(inv);
      }),
      { numRuns: 60 },
    );
  });

  it("splits an IPv4 Address cell on any mix of commas, semicolons and whitespace, dropping IPv6 and link-local", () => {
    const sep = fc.constantFrom(", ", ",", ";", " ", "; ", "\t", " ,  ");
    const noise = fc.constantFrom("fe80::250:56ff:fe00:1", "2001:db8::5", "169.254.10.20");
    fc.assert(
      fc.property(
        fc.uniqueArray(ipv4, { maxLength: 6 }),
        fc.array(noise, { maxLength: 3 }),
        fc.array(sep, { minLength: 10, maxLength: 10 }),
        (ips, extra, seps) => {
          const tokens = [...ips];
          extra.forEach((e, i) => tokens.splice(Math.min(i * 2, tokens.length), 0, e));
          const cell = tokens.map((t, i) => (i === 0 ? t : `${seps[i % seps.length]}${t}`)).join("");
          expect(splitAddresses(cell)).toEqual({ ips, malformed: [] });
        },
      ),
      { numRuns: 300 },
    );
  });
});
