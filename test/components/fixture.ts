/** A small plan built by hand: two mirrored subnets, three VMs (one with two NICs), two gateways. */
import type { Plan, PlannedDisk, PlannedVm, PlannedWave } from "../../lib/plan/types";

const GiB = 2 ** 30;

function disk(vm: string, key: number, sizeGiB: number, gateway: string, slot: number): PlannedDisk {
  return {
    id: `${vm}-disk-${key}`,
    key,
    label: `Hard disk ${key - 1999}`,
    sizeBytes: sizeGiB * GiB,
    allocatedBytes: (sizeGiB * GiB) / 2,
    role: key === 2000 ? "system" : "data",
    category: "cloud_essd",
    gateway,
    slot,
  };
}

const vms: PlannedVm[] = [
  {
    name: "web-01",
    uuid: "4201aaaa-0000-0000-0000-000000000001",
    ips: ["10.1.1.21"],
    nics: [{ mac: "00:50:56:aa:00:01", portgroup: "web", subnet: "10.1.1.0/24", ips: ["10.1.1.21"], primary: true }],
    keepIp: true,
    instanceType: "ecs.g7.large",
    cpus: 2,
    memoryMiB: 8192,
    guestOs: { family: "linux", id: "rhel7_64Guest" },
    firmware: "bios",
    disks: [disk("web-01", 2000, 40, "wave-1-gw-1", 0), disk("web-01", 2001, 100, "wave-1-gw-1", 1)],
    gateway: "wave-1-gw-1",
  },
  {
    name: "db-01",
    uuid: "4201aaaa-0000-0000-0000-000000000002",
    ips: ["10.1.2.31", "10.1.2.32", "10.1.1.31"],
    nics: [
      { mac: "00:50:56:aa:00:02", portgroup: "db", subnet: "10.1.2.0/24", ips: ["10.1.2.31", "10.1.2.32"], primary: true },
      { mac: "00:50:56:aa:00:03", portgroup: "web", subnet: "10.1.1.0/24", ips: ["10.1.1.31"], primary: false },
    ],
    keepIp: true,
    instanceType: "ecs.r7.xlarge",
    cpus: 4,
    memoryMiB: 32768,
    guestOs: { family: "windows", id: "windows2019srv_64Guest" },
    firmware: "efi",
    disks: [disk("db-01", 2000, 80, "wave-1-gw-1", 2), disk("db-01", 2001, 500, "wave-1-gw-2", 0), disk("db-01", 2002, 500, "wave-1-gw-2", 1)],
    gateway: "wave-1-gw-1",
  },
  {
    name: "app-01",
    uuid: "4201aaaa-0000-0000-0000-000000000003",
    ips: ["10.1.2.41"],
    nics: [{ mac: "00:50:56:aa:00:04", portgroup: "db", subnet: "10.1.2.0/24", ips: ["10.1.2.41"], primary: true }],
    keepIp: true,
    instanceType: "ecs.g7.xlarge",
    cpus: 4,
    memoryMiB: 16384,
    guestOs: { family: "linux", id: "ubuntu64Guest" },
    firmware: "bios",
    disks: [disk("app-01", 2000, 50, "wave-1-gw-2", 2)],
    gateway: "wave-1-gw-2",
  },
];

function gateway(name: string) {
  const ids = vms.flatMap((vm) => vm.disks).filter((d) => d.gateway === name);
  return {
    name,
    instanceType: "ecs.c7.large",
    disks: ids.length,
    diskIds: ids.map((d) => d.id),
    bytes: ids.reduce((s, d) => s + d.sizeBytes, 0),
    throughputMBps: 200,
  };
}

export const wave1: PlannedWave = {
  name: "wave-1",
  after: [],
  rehearsals: 3,
  vms,
  subnets: [
    { name: "web-10-1-1-0-24", portgroup: "web", cidr: "10.1.1.0/24", zone: "cn-shenzhen-e" },
    { name: "db-10-1-2-0-24", portgroup: "db", cidr: "10.1.2.0/24", zone: "cn-shenzhen-e" },
  ],
  syncSubnet: { cidr: "172.30.0.0/27", zone: "cn-shenzhen-e" },
  gateways: [gateway("wave-1-gw-1"), gateway("wave-1-gw-2")],
  estimate: { initialSyncHours: 1, incrementalRoundBytes: 1, incrementalRoundHours: 1, costGateway: 1, costFullHosts: 2, currency: "CNY" },
};

export const plan: Plan = {
  version: 1,
  region: "cn-shenzhen",
  vpc: { cidrBlocks: ["10.1.0.0/16", "172.30.0.0/16"] },
  onPremRanges: ["10.0.0.0/8"],
  waves: [wave1],
  problems: [],
};
