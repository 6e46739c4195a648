/**
 * The shapes of rehost's vSphere client: the `VSphereClient` interface and the handles and
 * answers its methods take and give (VMs, snapshots, disk files, changed areas, power states).
 */
import type { Inventory } from "../inventory/schema";
import type { Extent } from "../replication/device";
import type { Estate, SnapshotInfo, UnreplicableDisk } from "./estate";

/** A VM as the lifecycle methods address it. */
export interface VmHandle {
  readonly moref: string;
  readonly name: string;
  /** The BIOS UUID (`config.uuid`), the inventory's `uuid`. */
  readonly uuid: string;
  readonly instanceUuid?: string;
}

/** A VM handle, or anything `findVm` accepts (UUID, instance UUID, name, managed object id). */
export type VmSelector = VmHandle | string;

/** A snapshot created by `createSnapshot`. */
export interface SnapshotHandle {
  readonly moref: string;
  readonly name: string;
  readonly vm: VmHandle;
}

/** The areas of a disk changed since a changeId, and the changeId of the snapshot they lead to. */
export interface ChangedAreas {
  readonly extents: Extent[];
  /** The disk's changeId in the snapshot: the `changeId` argument of the next round. */
  readonly changeId: string;
  readonly capacityBytes: number;
}

/** A disk as a snapshot (or the VM now) holds it: what a reader of its frozen content needs. */
export interface DiskFile {
  readonly key: number;
  readonly label: string;
  readonly capacityBytes: number;
  /** `[datastore] folder/name.vmdk`, the descriptor. */
  readonly fileName: string;
  readonly datastore: string;
  /** The data file inside the datastore (`folder/name-flat.vmdk`), for datastore HTTP. */
  readonly flatPath: string;
  readonly backing: "flat" | "rdm-virtual" | "rdm-physical" | "independent";
  readonly changeId?: string;
}

/** Where a VM lives: what datastore HTTP (`/folder/…?dcPath=&dsName=`) and VDDK address it by. */
export interface VmLocation {
  readonly datacenter: string;
  readonly changeTrackingSupported: boolean;
  readonly changeTrackingEnabled: boolean;
  readonly powerState: PowerState;
  /** Whether VMware Tools run in the guest (a quiesced snapshot needs them). */
  readonly toolsRunning: boolean;
}

/** A VM's `runtime.powerState`. */
export type PowerState = "poweredOn" | "poweredOff" | "suspended";

/** How `shutdownGuest` brought the VM down. */
export type ShutdownOutcome = "already-off" | "guest-shutdown" | "powered-off";

/** The client `connectVSphere` returns. */
export interface VSphereClient {
  /** The vCenter product name and API version. */
  readonly about: { readonly fullName: string; readonly apiVersion: string; readonly apiType: string };
  /** The session key (to tell sessions apart; not a secret by itself, never persisted). */
  sessionKey(): string | undefined;
  logout(): Promise<void>;
  /** VMs (in the inventory schema, with their vSphere tags), portgroups, hosts, datastores, unreplicable disks, snapshots. */
  estate(): Promise<Estate>;
  /** The inventory; networks are empty: vCenter does not know portgroup CIDRs. */
  inventory(): Promise<Inventory>;
  /** Finds one VM by BIOS UUID, instance UUID, managed object id or name; `InputError` when none or several match. */
  findVm(uuidOrName: string): Promise<VmHandle>;
  /**
   * Enables changed-block tracking. Refuses (`InputError`) a VM that has snapshots unless
   * `allowSnapshots`: CBT enabled under existing snapshots does not track until they are consolidated.
   * On a running VM, a snapshot is taken and removed so that tracking starts (the stun/unstun cycle
   * vSphere needs). Returns false when it was already enabled.
   */
  enableChangeTracking(vm: VmSelector, options?: { allowSnapshots?: boolean }): Promise<boolean>;
  createSnapshot(vm: VmSelector, name: string, options?: { quiesce?: boolean; memory?: boolean; description?: string }): Promise<SnapshotHandle>;
  removeSnapshot(snapshot: SnapshotHandle | string): Promise<void>;
  /** The changeId a snapshot carries for one disk (undefined when CBT was off at snapshot time). */
  snapshotChangeId(snapshot: SnapshotHandle | string, diskKey: number): Promise<string | undefined>;
  /** Every disk of a snapshot (or, without one, of the VM as it is now), with its files. */
  diskFiles(vm: VmSelector, snapshot?: SnapshotHandle | string): Promise<DiskFile[]>;
  /** The VM's datacenter, its changed-block tracking and power state. */
  vmLocation(vm: VmSelector): Promise<VmLocation>;
  /** The session cookie, for a reader of datastore HTTP (never persisted). */
  sessionCookie(): string | undefined;
  /** Keeps the session from expiring (a `CurrentTime` call; logs in again if it had). */
  keepAlive(): Promise<void>;
  /** `https://host` of the endpoint, for datastore HTTP. */
  readonly baseUrl: string;
  /**
   * The areas of disk `diskKey` that changed between `changeId` (`"*"`: every allocated area) and
   * `snapshot`, following vCenter's partial answers to the end of the disk; adjacent areas merged.
   */
  queryChangedDiskAreas(vm: VmSelector, snapshot: SnapshotHandle | string, diskKey: number, changeId: string): Promise<ChangedAreas>;
  /**
   * Asks the guest to shut down and waits up to `timeoutMs` for power-off; powers off when the
   * guest has no tools, refuses, or does not stop in time.
   */
  shutdownGuest(vm: VmSelector, options: { timeoutMs: number }): Promise<ShutdownOutcome>;
  /** Powers the VM on; no-op when it is on. */
  powerOn(vm: VmSelector): Promise<void>;
  /** Powers the VM off (hard); no-op when it is off. */
  powerOff(vm: VmSelector): Promise<void>;
  powerState(vm: VmSelector): Promise<PowerState>;
  /** Snapshots of one VM or of every VM; `onlyRehost` keeps those rehost created. */
  listSnapshots(options?: { vm?: VmSelector; onlyRehost?: boolean }): Promise<SnapshotInfo[]>;
  /** Removes the snapshots rehost created (of one VM, or all); returns what it removed. */
  removeLeftoverSnapshots(options?: { vm?: VmSelector }): Promise<SnapshotInfo[]>;
  /** Disks that cannot be replicated (physical RDM, independent), with the reason. */
  unreplicableDisks(vm?: VmSelector): Promise<UnreplicableDisk[]>;
}
