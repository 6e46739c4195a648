/**
 * Loading a large estate: 10,000 VMs / 30,000 disks / 12,000 NICs as an RVTools CSV export and as
 * a JSON inventory, each through `loadInventory`. Peers measured in the same run: csv-parse alone
 * on the same three CSV files (the floor for the RVTools loader) and `JSON.parse` alone.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { loadInventory, type Inventory } from "../lib/inventory";
import { tempDir } from "../test/helpers/tmp";

const VMS = 10_000;
const MiB = 2 ** 20;

function estate(): Inventory {
  const vms = Array.from({ length: VMS }, (_, i) => {
    const subnet = i % 40;
    return {
      name: `vm-${String(i).padStart(5, "0")}`,
      uuid: `4200${i.toString(16).padStart(4, "0")}-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
      cpus: 2 + (i % 4) * 2,
      memoryMiB: 4096 * (1 + (i % 4)),
      guestOs: { family: "linux" as const, id: "Red Hat Enterprise Linux 7 (64-bit)" },
      firmware: "bios" as const,
      powerState: "poweredOn" as const,
      folder: `Prod/App${i % 20}`,
      tags: [],
      disks: [0, 1, 2].map((n) => ({
        key: 2000 + n,
        label: `Hard disk ${n + 1}`,
        capacityBytes: (n === 0 ? 81920 : 102400) * MiB,
        thin: true,
        datastore: `ds${i % 16}`,
        controller: "scsi",
        backing: "flat" as const,
        fileName: `[ds${i % 16}] vm-${i}/vm-${i}${n === 0 ? "" : `_${n}`}.vmdk`,
      })),
      nics: Array.from({ length: i % 5 === 0 ? 2 : 1 }, (_, n) => ({
        label: `Network adapter ${n + 1}`,
        mac: `00:50:56:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}:${n.toString(16).padStart(2, "0")}`,
        portgroup: `pg-${n === 0 ? subnet : 40 + (subnet % 4)}`,
        ipv4: [`10.${n === 0 ? 100 + subnet : 200}.${Math.floor(i / 250) % 256}.${1 + (i % 250)}`],
        adapter: "vmxnet3",
      })),
    };
  });
  const networks = Array.from({ length: 44 }, (_, p) => ({ portgroup: `pg-${p}`, cidr: p < 40 ? `10.${100 + p}.0.0/16` : "10.200.0.0/16" }));
  return { vms, networks };
}

function writeExport(inv: Inventory, dir: string): void {
  const lines = (rows: string[][]) => rows.map((r) => r.join(",")).join("\r\n") + "\r\n";
  fs.writeFileSync(
    path.join(dir, "RVTools_tabvInfo.csv"),
    lines([
      ["vInfoVMName", "vInfoPowerstate", "vInfoTemplate", "vInfoCPUs", "vInfoMemory", "vInfoFirmware", "vInfoFolder", "vInfoOS", "vInfoUUID"],
      ...inv.vms.map((v) => [v.name, v.powerState, "False", String(v.cpus), String(v.memoryMiB), v.firmware, v.folder!, `"${v.guestOs.id}"`, v.uuid]),
    ]),
  );
  fs.writeFileSync(
    path.join(dir, "RVTools_tabvDisk.csv"),
    lines([
      ["vDiskVMName", "vDiskName", "vDiskKey", "vDiskCapacityMiB", "vDiskThin", "vDiskController", "vDiskPath"],
      ...inv.vms.flatMap((v) => v.disks.map((d) => [v.name, d.label, String(d.key), String(d.capacityBytes / MiB), "True", "SCSI controller 0", d.fileName!])),
    ]),
  );
  fs.writeFileSync(
    path.join(dir, "RVTools_tabvNetwork.csv"),
    lines([
      ["vNetworkVMName", "vNetworkNICLabel", "vNetworkAdapter", "vNetworkName", "vNetworkMacAddress", "vNetworkIPv4Address"],
      ...inv.vms.flatMap((v) => v.nics.map((n) => [v.name, n.label!, n.adapter, n.portgroup, n.mac, n.ipv4.join(", ")])),
    ]),
  );
  fs.writeFileSync(path.join(dir, "networks.json"), JSON.stringify({ networks: inv.networks }));
}

async function best(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    const start = process.hrtime.bigint();
    await fn();
    min = Math.min(min, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return min;
}

async function main(): Promise<void> {
  const dir = tempDir("rehost-bench-inventory-");
  try {
    const inv = estate();
    const exportDir = path.join(dir, "rvtools");
    fs.mkdirSync(exportDir);
    writeExport(inv, exportDir);
    const jsonFile = path.join(dir, "inventory.json");
    fs.writeFileSync(jsonFile, JSON.stringify(inv));
    const networks = path.join(exportDir, "networks.json");

    const loaded = await loadInventory(exportDir, { networks });
    if (loaded.vms.length !== VMS || loaded.vms.reduce((n, v) => n + v.disks.length, 0) !== 3 * VMS)
      throw new Error("the RVTools export did not load completely");

    const runs = 5;
    const rvtools = await best(runs, () => loadInventory(exportDir, { networks }));
    const csvOnly = await best(runs, () => {
      for (const tab of ["vInfo", "vDisk", "vNetwork"])
        parseCsv(fs.readFileSync(path.join(exportDir, `RVTools_tab${tab}.csv`), "utf8"), { bom: true, relax_column_count: true, skip_empty_lines: true });
    });
    const json = await best(runs, () => loadInventory(jsonFile));
    const jsonOnly = await best(runs, () => JSON.parse(fs.readFileSync(jsonFile, "utf8")));

    const disks = 3 * VMS;
    const nics = inv.vms.reduce((n, v) => n + v.nics.length, 0);
    process.stdout.write(`estate: ${VMS} VMs, ${disks} disks, ${nics} NICs (best of ${runs})\n`);
    process.stdout.write(
      `loadInventory(RVTools CSV)  ${rvtools.toFixed(0)} ms   ${(rvtools / csvOnly).toFixed(2)}× csv-parse alone (${csvOnly.toFixed(0)} ms)\n`,
    );
    process.stdout.write(`loadInventory(JSON)         ${json.toFixed(0)} ms   ${(json / jsonOnly).toFixed(2)}× JSON.parse alone (${jsonOnly.toFixed(0)} ms)\n`);
    process.stdout.write(`RVTools / JSON inventory    ${(rvtools / json).toFixed(2)}×\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
