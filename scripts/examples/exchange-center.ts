/**
 * Generates `examples/exchange-center/`: the case study's estate at full scale (about 120 VMs,
 * more than 10 TB provisioned, 7 subnets, 4 waves), written from one model as
 *
 * - `inventory.yaml`, `networks.yaml`, `waves.yaml` (the rehost schema), and
 * - `rvtools/RVTools_tabvInfo.csv`, `RVTools_tabvDisk.csv`, `RVTools_tabvNetwork.csv`
 *   (an RVTools CSV export of the same estate, with RVTools' prefixed CSV column names).
 *
 * Deterministic: the same model always gives byte-identical files.
 *
 * Usage: `node --import tsx scripts/examples/exchange-center.ts [outDir]`
 * (default `examples/exchange-center`).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Document, isMap, isSeq } from "yaml";
import { allocatedFromInUse } from "../../lib/inventory/rvtools";
import type { Inventory, Network, Vm } from "../../lib/inventory/schema";

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** The estate's subnets: portgroup, CIDR, gateway, VLAN, and the datastore its VMs mostly use. */
const NETWORKS: readonly Network[] = [
  { portgroup: "PG-DMZ-110", cidr: "10.20.10.0/24", gateway: "10.20.10.1", vlan: 110 },
  { portgroup: "PG-WEB-120", cidr: "10.20.20.0/24", gateway: "10.20.20.1", vlan: 120 },
  { portgroup: "PG-APP-130", cidr: "10.20.30.0/23", gateway: "10.20.30.1", vlan: 130 },
  { portgroup: "PG-MW-140", cidr: "10.20.40.0/24", gateway: "10.20.40.1", vlan: 140 },
  { portgroup: "PG-DB-150", cidr: "10.20.50.0/24", gateway: "10.20.50.1", vlan: 150 },
  { portgroup: "PG-MGMT-190", cidr: "10.20.90.0/24", gateway: "10.20.90.1", vlan: 190 },
  { portgroup: "PG-BAK-200", cidr: "10.20.100.0/24", gateway: "10.20.100.1", vlan: 200 },
];

const OS = {
  rhel7: { family: "linux", id: "Red Hat Enterprise Linux 7 (64-bit)" },
  rhel8: { family: "linux", id: "Red Hat Enterprise Linux 8 (64-bit)" },
  centos7: { family: "linux", id: "CentOS 7 (64-bit)" },
  oracle7: { family: "linux", id: "Oracle Linux 7 (64-bit)" },
  win2012: { family: "windows", id: "Microsoft Windows Server 2012 (64-bit)" },
  win2016: { family: "windows", id: "Microsoft Windows Server 2016 or later (64-bit)" },
} as const;

type OsKey = keyof typeof OS;

/** One VM of the model, before device details are derived. */
interface ModelVm {
  readonly name: string;
  readonly folder: string;
  readonly cpus: number;
  readonly memoryGiB: number;
  readonly os: OsKey;
  readonly firmware?: "bios" | "efi";
  readonly powerState?: Vm["powerState"];
  readonly datastore: string;
  /** Disk sizes in GiB; the first is the system disk. Data disks above 2 go on SCSI controller 1. */
  readonly disksGiB: readonly number[];
  /** Thick-provisioned data disks (databases); system disks are thin. */
  readonly thickData?: boolean;
  /** Share of the provisioned capacity really in use (RVTools `In Use MiB`). */
  readonly used: number;
  /** NICs: portgroup and IPv4 addresses (primary first). */
  readonly nics: ReadonlyArray<{ readonly portgroup: string; readonly ips: readonly string[]; readonly adapter?: string }>;
}

/** Builds the model: about 120 VMs of a regional equity-exchange centre. */
function model(): ModelVm[] {
  const vms: ModelVm[] = [];
  const add = (vm: ModelVm) => vms.push(vm);
  const linuxDs = (i: number) => `SZX-VNX-DS0${1 + (i % 4)}`;

  // Management and shared services (wave 1).
  const mgmt: Array<[string, number, number, OsKey, number[], number]> = [
    ["szx-mgmt-jump-01", 2, 8, "win2016", [80], 0.45],
    ["szx-mgmt-jump-02", 2, 8, "win2016", [80], 0.42],
    ["szx-mgmt-ad-01", 2, 8, "win2016", [80], 0.38],
    ["szx-mgmt-ad-02", 2, 8, "win2016", [80], 0.37],
    ["szx-mgmt-dns-01", 1, 2, "centos7", [40], 0.3],
    ["szx-mgmt-dns-02", 1, 2, "centos7", [40], 0.3],
    ["szx-mgmt-ntp-01", 1, 2, "centos7", [40], 0.25],
    ["szx-mgmt-zbx-01", 4, 16, "centos7", [60, 100], 0.55],
    ["szx-mgmt-zbx-db-01", 4, 16, "centos7", [60, 200], 0.6],
    ["szx-mgmt-elk-01", 8, 32, "centos7", [60, 300], 0.62],
    ["szx-mgmt-elk-02", 8, 32, "centos7", [60, 300], 0.61],
    ["szx-mgmt-elk-03", 8, 32, "centos7", [60, 300], 0.6],
    ["szx-mgmt-git-01", 4, 16, "rhel7", [60, 200], 0.5],
    ["szx-mgmt-ci-01", 4, 8, "rhel7", [60, 100], 0.4],
    ["szx-mgmt-ansible-01", 2, 4, "rhel8", [60], 0.35],
    ["szx-mgmt-yum-01", 2, 4, "rhel7", [60, 200], 0.7],
    ["szx-mgmt-bastion-01", 2, 4, "rhel8", [60], 0.3],
    ["szx-mgmt-vpn-01", 2, 4, "centos7", [40], 0.3],
    ["szx-mgmt-wsus-01", 4, 8, "win2012", [80, 200], 0.66],
    ["szx-mgmt-av-01", 4, 8, "win2012", [80, 100], 0.5],
  ];
  mgmt.forEach(([name, cpus, mem, os, disks, used], i) =>
    add({
      name,
      folder: "SZX/Infrastructure",
      cpus,
      memoryGiB: mem,
      os,
      firmware: os === "win2016" ? "efi" : "bios",
      datastore: "SZX-VNX-DS05",
      disksGiB: disks,
      used,
      nics: [{ portgroup: "PG-MGMT-190", ips: [`10.20.90.${11 + i}`], ...(os.startsWith("win") ? { adapter: "e1000e" } : {}) }],
    }),
  );

  // Public portal (wave 2): DMZ reverse proxies with a keepalived VIP, web and portal app tier.
  for (let i = 1; i <= 4; i++) {
    const vip = i <= 2 ? "10.20.10.10" : "10.20.10.20";
    add({
      name: `szx-dmz-nginx-0${i}`,
      folder: "SZX/Portal/DMZ",
      cpus: 4,
      memoryGiB: 8,
      os: "rhel7",
      datastore: linuxDs(i),
      disksGiB: [40],
      used: 0.3,
      // The VIP lives on the MASTER of each keepalived pair.
      nics: [{ portgroup: "PG-DMZ-110", ips: i % 2 === 1 ? [`10.20.10.${20 + i}`, vip] : [`10.20.10.${20 + i}`] }],
    });
  }
  for (let i = 1; i <= 10; i++) {
    add({
      name: `szx-web-portal-${String(i).padStart(2, "0")}`,
      folder: "SZX/Portal/Web",
      cpus: 4,
      memoryGiB: 8,
      os: i <= 6 ? "rhel7" : "centos7",
      datastore: linuxDs(i),
      disksGiB: [50, 40],
      used: 0.35,
      nics: [{ portgroup: "PG-WEB-120", ips: [`10.20.20.${30 + i}`] }],
    });
  }
  // A legacy FTP gateway configured long ago on .254 of the web subnet: Alibaba reserves that
  // address in a vSwitch, so this VM cannot keep its IP (the waves file says keepIp: false).
  add({
    name: "szx-web-ftpgw-01",
    folder: "SZX/Portal/Web",
    cpus: 2,
    memoryGiB: 4,
    os: "centos7",
    datastore: "SZX-VNX-DS01",
    disksGiB: [40, 100],
    used: 0.5,
    nics: [{ portgroup: "PG-WEB-120", ips: ["10.20.20.254"] }],
  });
  for (let i = 1; i <= 10; i++) {
    add({
      name: `szx-app-portal-${String(i).padStart(2, "0")}`,
      folder: "SZX/Portal/App",
      cpus: 8,
      memoryGiB: 16,
      os: "rhel7",
      datastore: linuxDs(i + 1),
      disksGiB: [60, 80],
      used: 0.4,
      nics: [{ portgroup: "PG-APP-130", ips: [`10.20.30.${40 + i}`] }],
    });
  }
  for (let i = 1; i <= 3; i++) {
    add({
      name: `szx-mw-redis-0${i}`,
      folder: "SZX/Portal/Cache",
      cpus: 4,
      memoryGiB: 32,
      os: "centos7",
      datastore: linuxDs(i),
      disksGiB: [40, 50],
      used: 0.3,
      nics: [{ portgroup: "PG-MW-140", ips: [`10.20.40.${10 + i}`] }],
    });
  }
  for (let i = 1; i <= 2; i++) {
    add({
      name: `szx-db-cms-0${i}`,
      folder: "SZX/Portal/DB",
      cpus: 8,
      memoryGiB: 32,
      os: "rhel7",
      datastore: "SZX-VNX-DS06",
      disksGiB: [80, 300, 100],
      thickData: true,
      used: 0.55,
      nics: [
        { portgroup: "PG-DB-150", ips: i === 1 ? ["10.20.50.21", "10.20.50.20"] : ["10.20.50.22"] },
        { portgroup: "PG-BAK-200", ips: [`10.20.100.${20 + i}`] },
      ],
    });
  }

  // Trading support services (wave 3): middleware clusters and business applications.
  const middleware: Array<[string, number, number, number[], number]> = [
    ["kafka", 3, 8, [60, 300], 0.5],
    ["zk", 3, 4, [40, 20], 0.2],
    ["mq", 3, 8, [60, 100], 0.3],
    ["es", 3, 8, [60, 200], 0.55],
    ["nacos", 2, 4, [40], 0.3],
  ];
  let mwHost = 20;
  for (const [role, count, cpus, disks, used] of middleware) {
    for (let i = 1; i <= count; i++) {
      add({
        name: `szx-mw-${role}-0${i}`,
        folder: "SZX/Trading/Middleware",
        cpus,
        memoryGiB: cpus * 4,
        os: "rhel7",
        datastore: linuxDs(mwHost),
        disksGiB: disks,
        used,
        nics: [{ portgroup: "PG-MW-140", ips: [`10.20.40.${mwHost++}`] }],
      });
    }
  }
  const services = ["listing", "member", "quote", "settle", "clearing", "risk", "notice", "report"];
  let appHost = 10;
  for (const svc of services) {
    for (let i = 1; i <= 3; i++) {
      const ip = `10.20.31.${appHost++}`;
      add({
        name: `szx-app-${svc}-0${i}`,
        folder: "SZX/Trading/App",
        cpus: svc === "risk" || svc === "settle" ? 8 : 4,
        memoryGiB: svc === "risk" || svc === "settle" ? 32 : 16,
        os: i === 3 ? "rhel8" : "rhel7",
        firmware: i === 3 ? "efi" : "bios",
        datastore: linuxDs(appHost),
        disksGiB: [50, 50],
        used: 0.4,
        // The report service publishes a second address for its legacy clients.
        nics: [{ portgroup: "PG-APP-130", ips: svc === "report" && i === 1 ? [ip, "10.20.31.200"] : [ip] }],
      });
    }
  }
  for (let i = 1; i <= 2; i++) {
    add({
      name: `szx-app-batch-0${i}`,
      folder: "SZX/Trading/App",
      cpus: 8,
      memoryGiB: 16,
      os: "rhel7",
      datastore: linuxDs(i),
      disksGiB: [60, 200],
      used: 0.45,
      nics: [{ portgroup: "PG-APP-130", ips: [`10.20.31.${60 + i}`] }],
    });
  }

  // Core databases, file and reporting servers (wave 4).
  for (let i = 1; i <= 2; i++) {
    add({
      name: `szx-db-ora-0${i}`,
      folder: "SZX/Core/DB",
      cpus: 16,
      memoryGiB: 128,
      os: "oracle7",
      datastore: "SZX-VNX-DS07",
      disksGiB: [100, 300, 300, 300, 200, 100],
      thickData: true,
      used: 0.68,
      nics: [
        { portgroup: "PG-DB-150", ips: i === 1 ? ["10.20.50.31", "10.20.50.30"] : ["10.20.50.32"] },
        { portgroup: "PG-BAK-200", ips: [`10.20.100.${30 + i}`] },
      ],
    });
  }
  for (let i = 1; i <= 6; i++) {
    add({
      name: `szx-db-mysql-0${i}`,
      folder: "SZX/Core/DB",
      cpus: 8,
      memoryGiB: 64,
      os: "rhel7",
      datastore: i <= 3 ? "SZX-VNX-DS06" : "SZX-VNX-DS07",
      disksGiB: [60, 200, 50],
      thickData: true,
      used: 0.5,
      nics: [
        { portgroup: "PG-DB-150", ips: [`10.20.50.${40 + i}`] },
        { portgroup: "PG-BAK-200", ips: [`10.20.100.${40 + i}`] },
      ],
    });
  }
  for (let i = 1; i <= 2; i++) {
    add({
      name: `szx-db-mssql-0${i}`,
      folder: "SZX/Core/DB",
      cpus: 8,
      memoryGiB: 64,
      os: "win2016",
      firmware: "efi",
      datastore: "SZX-VNX-DS06",
      disksGiB: [100, 200, 100, 50],
      thickData: true,
      used: 0.52,
      nics: [
        { portgroup: "PG-DB-150", ips: [`10.20.50.${60 + i}`] },
        { portgroup: "PG-BAK-200", ips: [`10.20.100.${60 + i}`] },
      ],
    });
  }
  for (let i = 1; i <= 2; i++) {
    add({
      name: `szx-db-dw-0${i}`,
      folder: "SZX/Core/DB",
      cpus: 16,
      memoryGiB: 128,
      os: "rhel7",
      datastore: "SZX-VNX-DS08",
      disksGiB: [100, 600, 400],
      thickData: true,
      used: 0.62,
      nics: [
        { portgroup: "PG-DB-150", ips: [`10.20.50.${70 + i}`] },
        { portgroup: "PG-BAK-200", ips: [`10.20.100.${70 + i}`] },
      ],
    });
  }
  for (let i = 1; i <= 2; i++) {
    add({
      name: `szx-file-0${i}`,
      folder: "SZX/Core/File",
      cpus: 4,
      memoryGiB: 16,
      os: "win2012",
      datastore: "SZX-VNX-DS08",
      disksGiB: [60, 700],
      used: 0.71,
      nics: [{ portgroup: "PG-APP-130", ips: [`10.20.31.${80 + i}`], adapter: "e1000e" }],
    });
  }
  for (const svc of ["core-trade", "core-settle", "core-member"]) {
    for (let i = 1; i <= 4; i++) {
      add({
        name: `szx-app-${svc}-0${i}`,
        folder: "SZX/Core/App",
        cpus: 8,
        memoryGiB: 32,
        os: "rhel7",
        datastore: linuxDs(i + 2),
        disksGiB: [60, 60],
        used: 0.42,
        nics: [{ portgroup: "PG-APP-130", ips: [`10.20.30.${100 + appHost++}`] }],
      });
    }
  }
  for (let i = 1; i <= 4; i++) {
    add({
      name: `szx-rpt-bi-0${i}`,
      folder: "SZX/Core/Report",
      cpus: 8,
      memoryGiB: 32,
      os: i <= 2 ? "win2016" : "rhel7",
      firmware: i <= 2 ? "efi" : "bios",
      datastore: "SZX-VNX-DS08",
      disksGiB: [60, 100],
      used: 0.4,
      nics: [{ portgroup: "PG-APP-130", ips: [`10.20.30.${200 + i}`] }],
    });
  }
  return vms;
}

/** A stable UUID from a name (the model has no vCenter to assign one). */
function uuidOf(name: string): string {
  const h = createHash("sha256").update(`szx-vm:${name}`).digest("hex");
  return `42${h.slice(0, 6)}-${h.slice(6, 10)}-${h.slice(10, 14)}-${h.slice(14, 18)}-${h.slice(18, 30)}`;
}

/** VMware-assigned MAC (00:50:56 prefix) from the VM's index and NIC index. */
function macOf(vmIndex: number, nicIndex: number): string {
  const n = 0x100000 + vmIndex * 8 + nicIndex;
  return ["00", "50", "56", ((n >> 16) & 0xff).toString(16), ((n >> 8) & 0xff).toString(16), (n & 0xff).toString(16)].map((x) => x.padStart(2, "0")).join(":");
}

/** Device key of the n-th disk: controller 0 holds the system disk and the first data disk. */
function diskKey(n: number): number {
  return n < 2 ? 2000 + n : 2016 + (n - 2);
}

interface Derived {
  readonly vm: Vm;
  readonly inUseMiB: number;
  readonly provisionedMiB: number;
  readonly controllers: readonly string[];
}

/** The model as inventory VMs plus the RVTools-only figures. */
/** The ESXi host a VM runs on: eight hosts, VMs spread over them in order. */
function hostOf(index: number): string {
  return `szx-esx${String(1 + (index % 8)).padStart(2, "0")}.exchange.local`;
}

function derive(models: readonly ModelVm[]): Derived[] {
  return models.map((m, index) => {
    const capacities = m.disksGiB.map((g) => g * GiB);
    const totalMiB = capacities.reduce((a, b) => a + b, 0) / MiB;
    const inUseMiB = Math.round(totalMiB * m.used);
    const allocated = allocatedFromInUse(capacities, inUseMiB);
    const folderDir = m.name;
    const vm: Vm = {
      name: m.name,
      uuid: uuidOf(m.name),
      cpus: m.cpus,
      memoryMiB: m.memoryGiB * 1024,
      guestOs: { ...OS[m.os] },
      firmware: m.firmware ?? "bios",
      powerState: m.powerState ?? "poweredOn",
      folder: m.folder,
      tags: [],
      datacenter: "SZX-DC",
      cluster: "SZX-Cluster-01",
      host: hostOf(index),
      disks: capacities.map((capacityBytes, n) => ({
        key: diskKey(n),
        label: `Hard disk ${n + 1}`,
        capacityBytes,
        allocatedBytes: allocated[n]!,
        thin: n === 0 || !m.thickData,
        datastore: m.datastore,
        controller: "scsi",
        backing: "flat" as const,
        fileName: `[${m.datastore}] ${folderDir}/${m.name}${n === 0 ? "" : `_${n}`}.vmdk`,
      })),
      nics: m.nics.map((nic, n) => ({
        label: `Network adapter ${n + 1}`,
        mac: macOf(index, n),
        portgroup: nic.portgroup,
        ipv4: [...nic.ips],
        adapter: nic.adapter ?? "vmxnet3",
      })),
    };
    return {
      vm,
      inUseMiB,
      provisionedMiB: Math.round(totalMiB + m.memoryGiB * 1024),
      controllers: m.disksGiB.map((_, n) => (n < 2 ? "SCSI controller 0" : "SCSI controller 1")),
    };
  });
}

/** The waves file: four waves in the order of the case study, Friday-night change windows (UTC+8). */
function wavesDocument(): unknown {
  const window = (day: string, next: string) => ({ start: `2026-${day}T22:00:00+08:00`, end: `2026-${next}T06:00:00+08:00` });
  return {
    settings: {
      region: "cn-shenzhen",
      zones: ["cn-shenzhen-e", "cn-shenzhen-f"],
      onPremRanges: ["10.30.0.0/16", "192.168.100.0/24"],
      sync: { pool: "172.30.0.0/16", prefix: 27 },
      link: { bandwidthMbps: 1000, efficiency: 0.7 },
      dailyChangeRate: 0.02,
      gateway: { maxDisks: 16 },
      sizing: { generation: 7, diskCategory: "cloud_essd" },
      migrationDays: 60,
    },
    waves: [
      {
        name: "wave-1-infra",
        members: { folders: ["SZX/Infrastructure"] },
        window: window("03-06", "03-07"),
        rehearsals: 3,
        overrides: {
          "szx-mgmt-elk-01": { diskCategory: "cloud_auto" },
          "szx-mgmt-elk-02": { diskCategory: "cloud_auto" },
          "szx-mgmt-elk-03": { diskCategory: "cloud_auto" },
        },
      },
      {
        name: "wave-2-portal",
        members: {
          folders: ["SZX/Portal/DMZ", "SZX/Portal/Web", "SZX/Portal/App", "SZX/Portal/DB"],
          vms: ["szx-mw-redis-01", "szx-mw-redis-02", "szx-mw-redis-03"],
        },
        after: ["wave-1-infra"],
        window: window("03-20", "03-21"),
        rehearsals: 3,
        overrides: { "szx-web-ftpgw-01": { keepIp: false } },
      },
      {
        name: "wave-3-trading",
        members: { folders: ["SZX/Trading/Middleware", "SZX/Trading/App"] },
        after: ["wave-2-portal"],
        window: window("04-03", "04-04"),
        rehearsals: 3,
      },
      {
        name: "wave-4-core",
        members: { folders: ["SZX/Core/DB", "SZX/Core/File", "SZX/Core/App", "SZX/Core/Report"] },
        after: ["wave-3-trading"],
        window: window("04-17", "04-18"),
        rehearsals: 3,
        overrides: {
          "szx-db-ora-01": { instanceType: "ecs.r7.4xlarge" },
          "szx-db-ora-02": { instanceType: "ecs.r7.4xlarge" },
          "szx-file-01": { diskCategory: "cloud_efficiency" },
          "szx-file-02": { diskCategory: "cloud_efficiency" },
        },
      },
    ],
  };
}

/** RFC 4180 CSV with CRLF line ends, as RVTools writes it. */
function csv(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cell = (v: string | number) => {
    const s = String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [headers, ...rows].map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}

const capital = (b: boolean) => (b ? "True" : "False");

function rvtoolsFiles(derived: readonly Derived[]): Record<string, string> {
  const vc = "szx-vc01.exchange.local";
  const host = hostOf;
  const info = csv(
    [
      "vInfoVMName",
      "vInfoPowerstate",
      "vInfoTemplate",
      "vInfoConfigStatus",
      "vInfoDNSName",
      "vInfoCPUs",
      "vInfoMemory",
      "vInfoNICs",
      "vInfoNumVirtualDisks",
      "vInfoPrimaryIPAddress",
      "vInfoProvisioned",
      "vInfoInUse",
      "vInfoFirmware",
      "vInfoHWVersion",
      "vInfoDataCenter",
      "vInfoCluster",
      "vInfoHost",
      "vInfoFolder",
      "vInfoOS",
      "vInfoOSTools",
      "vInfoUUID",
      "vInfoSDKServer",
    ],
    derived.map(({ vm, inUseMiB, provisionedMiB }, i) => [
      vm.name,
      vm.powerState,
      "False",
      "green",
      `${vm.name}.exchange.local`,
      vm.cpus,
      vm.memoryMiB,
      vm.nics.length,
      vm.disks.length,
      vm.nics[0]?.ipv4[0] ?? "",
      provisionedMiB,
      inUseMiB,
      vm.firmware,
      "vmx-13",
      "SZX-DC",
      "SZX-Cluster-01",
      host(i),
      vm.folder ?? "",
      vm.guestOs.id,
      vm.powerState === "poweredOn" ? vm.guestOs.id : "",
      vm.uuid,
      vc,
    ]),
  );
  const disk = csv(
    [
      "vDiskVMName",
      "vDiskPowerstate",
      "vDiskTemplate",
      "vDiskName",
      "vDiskKey",
      "vDiskPath",
      "vDiskCapacityMiB",
      "vDiskRaw",
      "vDiskDiskMode",
      "vDiskThin",
      "vDiskEagerlyScrub",
      "vDiskController",
      "vDiskUnitNumber",
      "vDiskDataCenter",
      "vDiskCluster",
      "vDiskHost",
      "vDiskFolder",
      "vDiskOS",
      "vDiskVMUUID",
      "vDiskSDKServer",
    ],
    derived.flatMap(({ vm, controllers }, i) =>
      vm.disks.map((d, n) => [
        vm.name,
        vm.powerState,
        "False",
        d.label,
        d.key,
        d.fileName ?? "",
        d.capacityBytes / MiB,
        "False",
        "persistent",
        capital(d.thin),
        capital(!d.thin),
        controllers[n]!,
        d.key < 2016 ? d.key - 2000 : d.key - 2016,
        "SZX-DC",
        "SZX-Cluster-01",
        host(i),
        vm.folder ?? "",
        vm.guestOs.id,
        vm.uuid,
        vc,
      ]),
    ),
  );
  const network = csv(
    [
      "vNetworkVMName",
      "vNetworkPowerstate",
      "vNetworkTemplate",
      "vNetworkNICLabel",
      "vNetworkAdapter",
      "vNetworkName",
      "vNetworkSwitch",
      "vNetworkConnected",
      "vNetworkStartsConnected",
      "vNetworkMacAddress",
      "vNetworkType",
      "vNetworkIPv4Address",
      "vNetworkIPv6Address",
      "vNetworkDataCenter",
      "vNetworkCluster",
      "vNetworkHost",
      "vNetworkFolder",
      "vNetworkOS",
      "vNetworkVMUUID",
      "vNetworkSDKServer",
    ],
    derived.flatMap(({ vm }, i) =>
      vm.nics.map((nic, n) => [
        vm.name,
        vm.powerState,
        "False",
        nic.label ?? "",
        nic.adapter,
        nic.portgroup,
        "SZX-DVS-01",
        capital(vm.powerState === "poweredOn"),
        "True",
        nic.mac,
        "assigned",
        // RVTools joins several addresses with ", "; powered-off VMs report none.
        vm.powerState === "poweredOn" ? nic.ipv4.join(", ") : "",
        vm.powerState === "poweredOn" && n === 0 ? `fe80::250:56ff:fe${nic.mac.slice(9, 11)}:${nic.mac.slice(12, 14)}${nic.mac.slice(15, 17)}` : "",
        "SZX-DC",
        "SZX-Cluster-01",
        host(i),
        vm.folder ?? "",
        vm.guestOs.id,
        vm.uuid,
        vc,
      ]),
    ),
  );
  return { "RVTools_tabvInfo.csv": info, "RVTools_tabvDisk.csv": disk, "RVTools_tabvNetwork.csv": network };
}

/** YAML text with a header comment; maps inside `disks`, `nics` and `networks` lists are written on one line. */
function yamlText(value: unknown, header: string): string {
  const doc = new Document(value);
  doc.commentBefore = header;
  const flowItems = (node: unknown) => {
    if (isSeq(node)) for (const item of node.items) if (isMap(item)) item.flow = true;
  };
  const root = doc.contents;
  if (isMap(root)) {
    flowItems(root.get("networks", true));
    const vms = root.get("vms", true);
    if (isSeq(vms)) {
      for (const vm of vms.items) {
        if (!isMap(vm)) continue;
        flowItems(vm.get("disks", true));
        flowItems(vm.get("nics", true));
        const guest = vm.get("guestOs", true);
        if (isMap(guest)) guest.flow = true;
      }
    }
  }
  return doc.toString({ lineWidth: 0 });
}

/** Writes every file of the example into `outDir`. */
export function generate(outDir: string): void {
  const derived = derive(model());
  const inventory: Inventory = { networks: NETWORKS.map((n) => ({ ...n })), vms: derived.map((d) => d.vm) };
  const generated = " Generated by scripts/examples/exchange-center.ts from one model; do not edit by hand.";
  const files: Record<string, string> = {
    "inventory.yaml": yamlText(inventory, `${generated}\n The exchange centre's estate in the rehost inventory schema (docs/inventory.md).`),
    "networks.yaml": yamlText(
      { networks: inventory.networks },
      `${generated}\n Portgroup -> subnet map; RVTools has no prefix lengths, so the RVTools form needs it.`,
    ),
    "waves.yaml": yamlText(wavesDocument(), `${generated}\n Four waves in the order of the case study, each cut over in a Friday-night window.`),
  };
  fs.mkdirSync(path.join(outDir, "rvtools"), { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(outDir, name), text);
  for (const [name, text] of Object.entries(rvtoolsFiles(derived))) fs.writeFileSync(path.join(outDir, "rvtools", name), text);
}

if (require.main === module) {
  const outDir = process.argv[2] ?? path.join(__dirname, "..", "..", "examples", "exchange-center");
  generate(outDir);
  process.stdout.write(`wrote ${outDir}\n`);
}
