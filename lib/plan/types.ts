/**
 * The migration plan: what `rehost plan --format json` prints and what the stacks, the offline
 * preview, the policies and the providers read. Field names are a public contract.
 */
import type { Problem } from "../problems";

export interface Plan {
  /** Contract version; bumped on any breaking change. */
  readonly version: 1;
  readonly region: string;
  /** The production VPC's CIDR blocks: the first is primary, the rest secondary. */
  readonly vpc: { readonly cidrBlocks: readonly string[] };
  /** On-prem ranges declared in the settings. */
  readonly onPremRanges: readonly string[];
  readonly waves: readonly PlannedWave[];
  /**
   * Every VM of a wave that cannot be planned as it is, with every reason; the other VMs are
   * planned. A plan with blocked VMs has errors (the CLI exits 2). `buildPlan` always sets this
   * and the two lists below; they are optional only for plans written by hand.
   */
  readonly blocked?: readonly BlockedVm[];
  /** VMs of the inventory in no wave (they do not move). */
  readonly unassigned?: readonly string[];
  /**
   * Addresses the planner chose for VMs that cannot keep theirs (`keepIp: false`): pinned in the
   * plan, listed here so DNS and clients can be prepared.
   */
  readonly readdressed?: readonly Readdress[];
  /** Errors and warnings; a plan with errors is printed but the CLI exits 2. */
  readonly problems: readonly Problem[];
}

/** A VM that cannot be planned, and why. */
export interface BlockedVm {
  readonly name: string;
  /** The wave that selects it, when one does. */
  readonly wave?: string;
  /** Every error about the VM (the same problems are in `plan.problems`). */
  readonly reasons: readonly Problem[];
}

/** A new address the planner chose in place of one the VM could not keep. */
export interface Readdress {
  readonly vm: string;
  readonly wave: string;
  readonly mac: string;
  readonly portgroup: string;
  readonly subnet: string;
  /** The address given up (outside the subnet, or reserved by Alibaba Cloud); `null` when the NIC had none. */
  readonly from: string | null;
  readonly to: string;
}

export interface PlannedWave {
  readonly name: string;
  /** Waves that must cut over before this one. */
  readonly after: readonly string[];
  readonly window?: { readonly start: string; readonly end: string };
  readonly rehearsals: number;
  readonly vms: readonly PlannedVm[];
  /** Mirrored subnets this wave's VMs live in: one vSwitch each, identical CIDR. */
  readonly subnets: readonly PlannedSubnet[];
  readonly syncSubnet: { readonly cidr: string; readonly zone: string };
  readonly gateways: readonly PlannedGateway[];
  readonly estimate: WaveEstimate;
}

export interface PlannedSubnet {
  /** Stable vSwitch name derived from the portgroup (`web-10-1-1-0-24`). */
  readonly name: string;
  readonly portgroup: string;
  readonly cidr: string;
  readonly zone: string;
  readonly gateway?: string;
  readonly vlan?: number;
}

export interface PlannedVm {
  readonly name: string;
  readonly uuid: string;
  /** Every IPv4 address the VM keeps, primary first. */
  readonly ips: readonly string[];
  readonly nics: readonly PlannedNic[];
  /** False only when the waves file says `keepIp: false` for this VM. */
  readonly keepIp: boolean;
  readonly instanceType: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly guestOs: { readonly family: "linux" | "windows" | "other"; readonly id: string };
  readonly firmware: "bios" | "efi";
  readonly disks: readonly PlannedDisk[];
  /** The sync gateway that carries this VM's disks. */
  readonly gateway: string;
}

export interface PlannedNic {
  readonly mac: string;
  readonly portgroup: string;
  /** The mirrored subnet (CIDR) the NIC's addresses belong to. */
  readonly subnet: string;
  readonly ips: readonly string[];
  /** The first NIC is the primary ENI; its first IP becomes the ECS `privateIp`. */
  readonly primary: boolean;
}

export interface PlannedDisk {
  /** `${vm}-disk-${key}`, unique in the plan. */
  readonly id: string;
  readonly key: number;
  readonly label: string;
  readonly sizeBytes: number;
  /** Size of the ECS disk, GiB: the capacity rounded up, at least the category's minimum. */
  readonly sizeGiB?: number;
  /** Bytes the initial sync moves (allocated, or capacity when unknown). */
  readonly allocatedBytes: number;
  /** The first disk is the system disk, the others data disks. */
  readonly role: "system" | "data";
  /** ECS disk category (`cloud_essd`, ...). */
  readonly category: string;
  readonly gateway: string;
  /** Data-disk slot on the gateway (0-based), which fixes the device name there. */
  readonly slot: number;
}

export interface PlannedGateway {
  /** `${wave}-gw-${n}`. */
  readonly name: string;
  readonly instanceType: string;
  /** Number of source disks it carries. */
  readonly disks: number;
  readonly diskIds: readonly string[];
  readonly bytes: number;
  /** Throughput it is sized for, MB/s. */
  readonly throughputMBps: number;
}

export interface WaveEstimate {
  /** Hours of the initial full sync over the link at its efficiency. */
  readonly initialSyncHours: number;
  /** Bytes of one daily incremental round at the configured change rate. */
  readonly incrementalRoundBytes: number;
  readonly incrementalRoundHours: number;
  /** Cost of the migration period with sync gateways (gateways + disks), in `currency`. */
  readonly costGateway: number;
  /** Cost of the same period running every target host instead (instances + disks). */
  readonly costFullHosts: number;
  readonly currency: string;
  /** Bytes the initial sync moves (every disk's allocated bytes). */
  readonly allocatedBytes?: number;
  /** Length of the migration period the costs cover, days. */
  readonly periodDays?: number;
  /** Rate the sync runs at: the link's share for replication, capped by the gateways, MB/s. */
  readonly syncRateMBps?: number;
}
