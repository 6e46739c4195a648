/**
 * Loading a 10,000-VM RVTools workbook (30,000 disks, 12,000 NICs) as RVTools 4.x writes it:
 * `x:`-prefixed SpreadsheetML, shared strings, every column of vInfo (93), vDisk (43) and
 * vNetwork (30), and other tabs the loader never reads (vCPU, vMemory, vPartition, vHost).
 * Target: ≤ 3 s through `loadInventory`. Peers measured in the same run: the same estate as an
 * RVTools CSV export through `loadInventory`, and inflating the workbook's parts alone (zlib).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { loadInventory } from "../lib/inventory";
import { type CellValue, type SheetSpec, workbookParts, zipParts } from "../test/inventory/rvtools-workbook";
import { tempDir } from "../test/helpers/tmp";

const VMS = 10_000;

const INFO = [
  "VM",
  "Powerstate",
  "Template",
  "SRM Placeholder",
  "Config status",
  "DNS Name",
  "Connection state",
  "Guest state",
  "Heartbeat",
  "Consolidation Needed",
  "PowerOn",
  "Suspended To Memory",
  "Suspend time",
  "Suspend Interval",
  "Creation date",
  "Change Version",
  "CPUs",
  "Overall Cpu Readiness",
  "Memory",
  "Active Memory",
  "NICs",
  "Disks",
  "Total disk capacity MiB",
  "Fixed Passthru HotPlug",
  "min Required EVC Mode Key",
  "Latency Sensitivity",
  "Op Notification Timeout",
  "EnableUUID",
  "CBT",
  "Primary IP Address",
  "Network #1",
  "Network #2",
  "Network #3",
  "Network #4",
  "Network #5",
  "Network #6",
  "Network #7",
  "Network #8",
  "Num Monitors",
  "Video Ram KiB",
  "Resource pool",
  "Folder ID",
  "Folder",
  "vApp",
  "DAS protection",
  "FT State",
  "FT Role",
  "FT Latency",
  "FT Bandwidth",
  "FT Sec. Latency",
  "Vm Failover In Progress",
  "Provisioned MiB",
  "In Use MiB",
  "Unshared MiB",
  "HA Restart Priority",
  "HA Isolation Response",
  "HA VM Monitoring",
  "Cluster rule(s)",
  "Cluster rule name(s)",
  "Boot Required",
  "Boot delay",
  "Boot retry delay",
  "Boot retry enabled",
  "Boot BIOS setup",
  "Reboot PowerOff",
  "EFI Secure boot",
  "Firmware",
  "HW version",
  "HW upgrade status",
  "HW upgrade policy",
  "HW target",
  "Path",
  "Log directory",
  "Snapshot directory",
  "Suspend directory",
  "Annotation",
  "Backup status",
  "ClusterInvariantVMMId",
  "Last backup",
  "Datacenter",
  "Cluster",
  "Host",
  "OS according to the configuration file",
  "OS according to the VMware Tools",
  "Customization Info",
  "Guest Detailed Data",
  "VM ID",
  "SMBIOS UUID",
  "VM UUID",
  "VI SDK Server type",
  "VI SDK API Version",
  "VI SDK Server",
  "VI SDK UUID",
];
const DISK = [
  "VM",
  "Powerstate",
  "Template",
  "SRM Placeholder",
  "Disk",
  "Disk Key",
  "Disk UUID",
  "Disk Path",
  "Capacity MiB",
  "Raw",
  "Disk Mode",
  "Sharing mode",
  "Thin",
  "Eagerly Scrub",
  "Split",
  "Write Through",
  "Level",
  "Shares",
  "Reservation",
  "Limit",
  "Controller",
  "Label",
  "SCSI Unit #",
  "Unit #",
  "Shared Bus",
  "Path",
  "Raw LUN ID",
  "Raw Comp. Mode",
  "Internal Sort Column",
  "Annotation",
  "Backup status",
  "ClusterInvariantVMMId",
  "Last backup",
  "Datacenter",
  "Cluster",
  "Host",
  "Folder",
  "OS according to the configuration file",
  "OS according to the VMware Tools",
  "VM ID",
  "VM UUID",
  "VI SDK Server",
  "VI SDK UUID",
];
const NETWORK = [
  "VM",
  "Powerstate",
  "Template",
  "SRM Placeholder",
  "NIC label",
  "Adapter",
  "Network",
  "Switch",
  "Connected",
  "Starts Connected",
  "Mac Address",
  "Type",
  "IPv4 Address",
  "IPv6 Address",
  "Direct Path IO",
  "Internal Sort Column",
  "Annotation",
  "Backup status",
  "ClusterInvariantVMMId",
  "Last backup",
  "Datacenter",
  "Cluster",
  "Host",
  "Folder",
  "OS according to the configuration file",
  "OS according to the VMware Tools",
  "VM ID",
  "VM UUID",
  "VI SDK Server",
  "VI SDK UUID",
];

const name = (i: number) => `vm-${String(i).padStart(5, "0")}`;
const uuid = (i: number) => `4200${i.toString(16).padStart(4, "0")}-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
const mac = (i: number, n: number) =>
  `00:50:56:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}:${n.toString(16).padStart(2, "0")}`;
const nicCount = (i: number) => (i % 5 === 0 ? 2 : 1);
const ip = (i: number, n: number) => `10.${n === 0 ? 100 + (i % 40) : 200}.${Math.floor(i / 250) % 256}.${1 + (i % 250)}`;
const OS = "Red Hat Enterprise Linux 7 (64-bit)";

/** A row for `headers` from the values known by header; other columns get filler as RVTools writes them. */
function row(headers: readonly string[], known: Readonly<Record<string, CellValue>>, i: number): CellValue[] {
  return headers.map((h, c) => (h in known ? known[h]! : c % 3 === 0 ? i % 7 : c % 3 === 1 ? "normal" : false));
}

function sheets(): SheetSpec[] {
  const info: CellValue[][] = [INFO];
  const disk: CellValue[][] = [DISK];
  const network: CellValue[][] = [NETWORK];
  const cpu: CellValue[][] = [["VM", "Powerstate", "CPUs", "Sockets", "Cores p/s", "Shares", "Reservation", "Limit", "VM UUID"]];
  const memory: CellValue[][] = [["VM", "Powerstate", "Size MiB", "Shares", "Reservation", "Limit", "VM UUID"]];
  const partition: CellValue[][] = [["VM", "Powerstate", "Disk Key", "Disk", "Capacity MiB", "Consumed MiB", "Free MiB", "Free %", "VM UUID"]];
  for (let i = 0; i < VMS; i++) {
    const common = {
      VM: name(i),
      Powerstate: "poweredOn",
      Template: false,
      Datacenter: "DC1",
      Cluster: `C${i % 8}`,
      Host: `esx${i % 64}.example.local`,
      Folder: `Prod/App${i % 20}`,
      "OS according to the configuration file": OS,
      "VM UUID": uuid(i),
      Annotation: i % 10 === 0 ? `owner team-${i % 13}` : null,
    };
    info.push(
      row(
        INFO,
        {
          ...common,
          CPUs: 2 + (i % 4) * 2,
          Memory: 4096 * (1 + (i % 4)),
          "Provisioned MiB": 290816,
          "In Use MiB": 120000 + (i % 1000),
          Firmware: "bios",
          "Resource pool": "Resources",
          "Backup status": "ok",
          "Primary IP Address": ip(i, 0),
          "Network #1": `pg-${i % 40}`,
        },
        i,
      ),
    );
    for (let n = 0; n < 3; n++) {
      disk.push(
        row(
          DISK,
          {
            ...common,
            Disk: `Hard disk ${n + 1}`,
            "Disk Key": 2000 + n,
            "Capacity MiB": n === 0 ? 81920 : 102400,
            Thin: true,
            Raw: false,
            "Disk Mode": "persistent",
            Controller: "SCSI controller 0",
            "Disk Path": `[ds${i % 16}] ${name(i)}/${name(i)}${n === 0 ? "" : `_${n}`}.vmdk`,
            Path: `[ds${i % 16}] ${name(i)}/${name(i)}.vmx`,
          },
          i,
        ),
      );
      partition.push([name(i), "poweredOn", 2000 + n, `/dev/sda${n + 1}`, 80000, 40000, 40000, 50, uuid(i)]);
    }
    for (let n = 0; n < nicCount(i); n++) {
      network.push(
        row(
          NETWORK,
          {
            ...common,
            "NIC label": `Network adapter ${n + 1}`,
            Adapter: "vmxnet3",
            Network: `pg-${n === 0 ? i % 40 : 40 + ((i % 40) % 4)}`,
            "Mac Address": mac(i, n),
            "IPv4 Address": ip(i, n),
            "IPv6 Address": `fe80::250:56ff:fe00:${(i % 65536).toString(16)}`,
          },
          i,
        ),
      );
    }
    cpu.push([name(i), "poweredOn", 4, 2, 2, "normal", 0, -1, uuid(i)]);
    memory.push([name(i), "poweredOn", 8192, "normal", 0, -1, uuid(i)]);
  }
  const host: CellValue[][] = [
    ["Host", "Datacenter", "Cluster", "# CPU", "# Memory"],
    ...Array.from({ length: 64 }, (_, h) => [`esx${h}.example.local`, "DC1", `C${h % 8}`, 2, 524288] as CellValue[]),
  ];
  return [
    { name: "vInfo", rows: info },
    { name: "vCPU", rows: cpu },
    { name: "vMemory", rows: memory },
    { name: "vDisk", rows: disk },
    { name: "vPartition", rows: partition },
    { name: "vNetwork", rows: network },
    { name: "vHost", rows: host },
  ];
}

/** The three tabs the loader reads, as the CSV files of an export with the same headers. */
function writeCsv(spec: readonly SheetSpec[], dir: string): void {
  const cell = (v: CellValue) => {
    const s = v === null ? "" : typeof v === "boolean" ? (v ? "True" : "False") : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  for (const sheet of spec.filter((s) => ["vInfo", "vDisk", "vNetwork"].includes(s.name))) {
    fs.writeFileSync(path.join(dir, `RVTools_tab${sheet.name}.csv`), sheet.rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n");
  }
}

/** Wall-clock min and median, and the median CPU time (user + system) of this process, in ms. */
async function best(runs: number, fn: () => Promise<unknown> | unknown): Promise<{ min: number; median: number; cpu: number }> {
  const times: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < runs; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    const start = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    await fn();
    const used = process.cpuUsage(cpu);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    cpus.push((used.user + used.system) / 1000);
  }
  times.sort((a, b) => a - b);
  cpus.sort((a, b) => a - b);
  return { min: times[0]!, median: times[Math.floor(times.length / 2)]!, cpu: cpus[Math.floor(cpus.length / 2)]! };
}

async function main(): Promise<void> {
  const dir = tempDir("rehost-bench-rvtools-");
  try {
    const spec = sheets();
    const parts = workbookParts(spec);
    const workbook = zipParts(path.join(dir, "RVTools_export_all.xlsx"), parts);
    const csvDir = path.join(dir, "csv");
    fs.mkdirSync(csvDir);
    writeCsv(spec, csvDir);
    const networks = path.join(dir, "networks.json");
    fs.writeFileSync(
      networks,
      JSON.stringify({ networks: Array.from({ length: 44 }, (_, p) => ({ portgroup: `pg-${p}`, cidr: p < 40 ? `10.${100 + p}.0.0/16` : "10.200.0.0/16" })) }),
    );
    const xmlBytes = Object.values(parts).reduce((n, t) => n + Buffer.byteLength(t), 0);

    const loaded = await loadInventory(workbook, { networks });
    if (loaded.vms.length !== VMS || loaded.vms.reduce((n, v) => n + v.disks.length, 0) !== 3 * VMS) throw new Error("the workbook did not load completely");
    const fromCsv = await loadInventory(csvDir, { networks });
    if (JSON.stringify(fromCsv) !== JSON.stringify(loaded)) throw new Error("the workbook and its CSV form load to different inventories");

    const deflated = Object.values(parts).map((t) => zlib.deflateRawSync(Buffer.from(t)));
    const runs = 5;
    const xlsx = await best(runs, () => loadInventory(workbook, { networks }));
    const csv = await best(runs, () => loadInventory(csvDir, { networks }));
    const inflate = await best(runs, () => {
      for (const d of deflated) zlib.inflateRawSync(d);
    });
    const nics = loaded.vms.reduce((n, v) => n + v.nics.length, 0);
    const os_ = os.loadavg()[0]!.toFixed(1);
    process.stdout.write(
      `workbook: ${VMS} VMs, ${3 * VMS} disks, ${nics} NICs; ${spec.length} tabs, ${(fs.statSync(workbook).size / 2 ** 20).toFixed(1)} MiB zipped, ${(xmlBytes / 2 ** 20).toFixed(0)} MiB of XML; wall min / median and CPU median of ${runs}; load average ${os_} on ${os.cpus().length} cores\n`,
    );
    process.stdout.write(
      `loadInventory(.xlsx)      ${xlsx.min.toFixed(0)} / ${xlsx.median.toFixed(0)} ms wall, ${xlsx.cpu.toFixed(0)} ms CPU   target ≤ 3000 ms: ${xlsx.median <= 3000 ? "met" : "MISSED"}\n`,
    );
    process.stdout.write(
      `loadInventory(CSV dir)    ${csv.min.toFixed(0)} / ${csv.median.toFixed(0)} ms wall, ${csv.cpu.toFixed(0)} ms CPU   workbook ${(xlsx.median / csv.median).toFixed(2)}× the CSV form\n`,
    );
    process.stdout.write(`inflate every part alone  ${inflate.min.toFixed(0)} / ${inflate.median.toFixed(0)} ms wall\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
