/**
 * What vCenter knows about the estate, read through the PropertyCollector in one container view,
 * and its mapping onto the inventory schema (`lib/inventory/schema.ts`).
 */
import { guestFamily } from "../inventory/rvtools";
import { InventorySchema, type Disk, type Inventory, type Nic, type Vm } from "../inventory/schema";
import type { Problem } from "../problems";
import type { ObjectContent } from "./soap";
import { child, childText, children, moRef, text, xsiType, type XmlNode } from "./xml";

/** The mark rehost writes in the description of every snapshot it creates. */
export const REHOST_SNAPSHOT_MARK = "created by rehost";
/** The name prefix of rehost's snapshots (`rehost-round-3`). */
export const REHOST_SNAPSHOT_PREFIX = "rehost-";

/** A portgroup (standard network or distributed portgroup) as vCenter lists it. */
export interface Portgroup {
  readonly name: string;
  readonly distributed: boolean;
  readonly vlan?: number;
}

/** An ESXi host as vCenter lists it. */
export interface HostInfo {
  readonly name: string;
  readonly connectionState?: string;
  readonly powerState?: string;
}

/** A datastore with its capacity and free space in bytes. */
export interface DatastoreInfo {
  readonly name: string;
  readonly type?: string;
  readonly capacityBytes?: number;
  readonly freeBytes?: number;
}

/** A disk rehost cannot replicate through snapshots and changed-block tracking, and why. */
export interface UnreplicableDisk {
  readonly vm: string;
  readonly uuid: string;
  readonly diskKey: number;
  readonly label: string;
  readonly backing: "rdm-physical" | "independent";
  readonly reason: string;
}

/** One snapshot of a VM. */
export interface SnapshotInfo {
  readonly moref: string;
  readonly vm: string;
  readonly vmMoref: string;
  readonly name: string;
  readonly description: string;
  readonly createTime?: string;
  /** Whether rehost created it (its name prefix or description mark). */
  readonly createdByRehost: boolean;
}

/** Everything `estate()` reads: the inventory plus what the inventory schema does not carry. */
export interface Estate {
  readonly inventory: Inventory;
  readonly portgroups: readonly Portgroup[];
  readonly hosts: readonly HostInfo[];
  readonly datastores: readonly DatastoreInfo[];
  readonly unreplicable: readonly UnreplicableDisk[];
  readonly snapshots: readonly SnapshotInfo[];
  /** VMs left out of the inventory (templates, VMs without disks or configuration), with the reason. */
  readonly skipped: ReadonlyArray<{ readonly vm: string; readonly reason: string }>;
}

/** The VM properties `estate()` reads. */
const VM_PATHS = [
  "name",
  "parent",
  "config.uuid",
  "config.instanceUuid",
  "config.template",
  "config.hardware.numCPU",
  "config.hardware.memoryMB",
  "config.hardware.device",
  "config.guestId",
  "config.firmware",
  "config.changeTrackingEnabled",
  "runtime.powerState",
  "guest.guestFamily",
  "guest.ipAddress",
  "guest.net",
  "snapshot",
] as const;

/** Every object type and property `estate()` reads through the container view. */
export const ESTATE_PROPERTIES: ReadonlyArray<{ type: string; paths: readonly string[] }> = [
  { type: "VirtualMachine", paths: VM_PATHS },
  { type: "Folder", paths: ["name", "parent"] },
  { type: "Datacenter", paths: ["name", "vmFolder"] },
  { type: "Network", paths: ["name"] },
  { type: "DistributedVirtualPortgroup", paths: ["name", "key", "config.defaultPortConfig", "tag"] },
  { type: "HostSystem", paths: ["name", "runtime.connectionState", "runtime.powerState"] },
  { type: "Datastore", paths: ["name", "summary.type", "summary.capacity", "summary.freeSpace"] },
];

const ADAPTERS: Record<string, string> = {
  VirtualVmxnet3: "vmxnet3",
  VirtualVmxnet3Vrdma: "vmxnet3vrdma",
  VirtualVmxnet2: "vmxnet2",
  VirtualVmxnet: "vmxnet",
  VirtualE1000: "e1000",
  VirtualE1000e: "e1000e",
  VirtualPCNet32: "pcnet32",
  VirtualSriovEthernetCard: "sriov",
};

const CONTROLLERS: Record<string, string> = {
  ParaVirtualSCSIController: "pvscsi",
  VirtualLsiLogicController: "lsilogic",
  VirtualLsiLogicSASController: "lsilogic-sas",
  VirtualBusLogicController: "buslogic",
  VirtualAHCIController: "sata",
  VirtualIDEController: "ide",
  VirtualNVMEController: "nvme",
};

/**
 * Builds the estate from the container view's object contents; `tags` maps a VM's managed object
 * id (`vm-42`) to its vSphere tags (see `tags.ts`).
 */
export function buildEstate(contents: readonly ObjectContent[], tags: ReadonlyMap<string, readonly string[]> = new Map()): Estate {
  const byType = (type: string) => contents.filter((c) => c.obj.type === type);
  const prop = (c: ObjectContent, path: string) => c.props.get(path);

  const datastoreNames = new Map<string, string>();
  const datastores: DatastoreInfo[] = byType("Datastore").map((c) => {
    const name = text(prop(c, "name")) ?? c.obj.value;
    datastoreNames.set(c.obj.value, name);
    return omitUndefined({
      name,
      type: text(prop(c, "summary.type")),
      capacityBytes: num(text(prop(c, "summary.capacity"))),
      freeBytes: num(text(prop(c, "summary.freeSpace"))),
    });
  });

  const networkNames = new Map<string, string>();
  const portgroupByKey = new Map<string, string>();
  const portgroups: Portgroup[] = [];
  for (const c of contents) {
    if (c.obj.type === "DistributedVirtualPortgroup") {
      const name = text(prop(c, "name")) ?? c.obj.value;
      portgroupByKey.set(text(prop(c, "key")) ?? c.obj.value, name);
      networkNames.set(c.obj.value, name);
      // A distributed switch's uplink portgroup carries no VM traffic.
      const uplink = children(prop(c, "tag"), "Tag").some((t) => childText(t, "key") === "SYSTEM/DVS.UPLINKPG") || /-DVUplinks-\d+$/.test(name);
      if (uplink) continue;
      const vlan = num(childText(child(prop(c, "config.defaultPortConfig"), "vlan"), "vlanId"));
      portgroups.push(omitUndefined({ name, distributed: true, vlan }));
    } else if (c.obj.type === "Network" || c.obj.type === "OpaqueNetwork") {
      const name = text(prop(c, "name")) ?? c.obj.value;
      networkNames.set(c.obj.value, name);
      portgroups.push({ name, distributed: false });
    }
  }

  const hosts: HostInfo[] = byType("HostSystem").map((c) =>
    omitUndefined({
      name: text(prop(c, "name")) ?? c.obj.value,
      connectionState: text(prop(c, "runtime.connectionState")),
      powerState: text(prop(c, "runtime.powerState")),
    }),
  );

  const folderPath = folderPaths(contents);
  const vms: Vm[] = [];
  const unreplicable: UnreplicableDisk[] = [];
  const snapshots: SnapshotInfo[] = [];
  const skipped: Array<{ vm: string; reason: string }> = [];
  for (const c of byType("VirtualMachine")) {
    const name = text(prop(c, "name")) ?? c.obj.value;
    if (text(prop(c, "config.template")) === "true") {
      skipped.push({ vm: name, reason: "it is a template" });
      continue;
    }
    const uuid = text(prop(c, "config.uuid"));
    if (uuid === undefined) {
      skipped.push({ vm: name, reason: "vCenter shows no configuration for it (inaccessible or orphaned)" });
      continue;
    }
    const devices = children(prop(c, "config.hardware.device"), "VirtualDevice");
    const disks = readDisks(devices, datastoreNames, text(prop(c, "config.changeTrackingEnabled")) === "true");
    if (disks.length === 0) {
      skipped.push({ vm: name, reason: "it has no virtual disk" });
      continue;
    }
    for (const disk of disks) {
      if (disk.backing === "rdm-physical" || disk.backing === "independent") {
        unreplicable.push({ vm: name, uuid, diskKey: disk.key, label: disk.label, backing: disk.backing, reason: unreplicableReason(disk.backing) });
      }
    }
    const guestId = text(prop(c, "config.guestId")) ?? "otherGuest";
    const family = text(prop(c, "guest.guestFamily"));
    const power = text(prop(c, "runtime.powerState"));
    const folder = folderPath(moRef(prop(c, "parent"))?.value);
    vms.push({
      uuid,
      name,
      cpus: num(text(prop(c, "config.hardware.numCPU"))) ?? 1,
      memoryMiB: num(text(prop(c, "config.hardware.memoryMB"))) ?? 1024,
      guestOs: { family: family === "linuxGuest" ? "linux" : family === "windowsGuest" ? "windows" : guestFamily(guestId.replace(/Guest$/, "")), id: guestId },
      firmware: text(prop(c, "config.firmware")) === "efi" ? "efi" : "bios",
      powerState: power === "poweredOff" || power === "suspended" ? power : "poweredOn",
      ...(folder !== undefined ? { folder } : {}),
      tags: [...(tags.get(c.obj.value) ?? [])],
      disks,
      nics: readNics(devices, prop(c, "guest.net"), text(prop(c, "guest.ipAddress")), networkNames, portgroupByKey),
    });
    snapshots.push(...snapshotList(prop(c, "snapshot"), name, c.obj.value));
  }
  const inventory = InventorySchema.parse({ vms: vms.sort((a, b) => a.name.localeCompare(b.name)), networks: [] });
  return { inventory, portgroups, hosts, datastores, unreplicable, snapshots, skipped };
}

/** Why a disk of this backing cannot be replicated, and what to do. */
export function unreplicableReason(backing: "rdm-physical" | "independent"): string {
  return backing === "rdm-physical"
    ? "a physical-mode raw device mapping passes the LUN straight to the guest, so vSphere can neither snapshot it nor track its changes; convert it to a virtual disk (Storage vMotion to VMDK) or copy its data from inside the guest"
    : "an independent disk is left out of snapshots, so no consistent point or changed-block list exists for it; switch it to dependent (persistent) mode while the VM is off, or copy its data from inside the guest";
}

/** The disks of a device list, in the inventory schema. */
function readDisks(devices: readonly XmlNode[], datastoreNames: ReadonlyMap<string, string>, changeTracking: boolean): Disk[] {
  const controllers = new Map<string, string>();
  for (const d of devices) {
    const type = xsiType(d) ?? "";
    const key = childText(d, "key");
    if (key !== undefined && (CONTROLLERS[type] !== undefined || type.endsWith("Controller"))) controllers.set(key, CONTROLLERS[type] ?? "scsi");
  }
  const disks: Disk[] = [];
  for (const d of devices) {
    if (xsiType(d) !== "VirtualDisk") continue;
    const backing = child(d, "backing");
    const backingType = xsiType(backing) ?? "";
    const diskMode = childText(backing, "diskMode") ?? "persistent";
    const rdm = backingType === "VirtualDiskRawDiskMappingVer1BackingInfo";
    const kind: Disk["backing"] = rdm
      ? childText(backing, "compatibilityMode") === "physicalMode"
        ? "rdm-physical"
        : "rdm-virtual"
      : diskMode.startsWith("independent")
        ? "independent"
        : "flat";
    const capacity = num(childText(d, "capacityInBytes")) || (num(childText(d, "capacityInKB")) ?? 0) * 1024;
    const datastore = moRef(child(backing, "datastore"));
    const fileName = childText(backing, "fileName");
    const key = num(childText(d, "key")) ?? 0;
    disks.push(
      omitUndefined({
        key,
        label: childText(child(d, "deviceInfo"), "label") || `disk ${key}`,
        capacityBytes: capacity,
        thin: childText(backing, "thinProvisioned") === "true",
        datastore: datastore ? (datastoreNames.get(datastore.value) ?? fileName?.match(/^\[([^\]]+)\]/)?.[1]) : fileName?.match(/^\[([^\]]+)\]/)?.[1],
        controller: controllers.get(childText(d, "controllerKey") ?? "") ?? "scsi",
        backing: kind,
        fileName: fileName || undefined,
        changeTracking: changeTracking && (kind === "flat" || kind === "rdm-virtual"),
      }) as Disk,
    );
  }
  return disks;
}

function readNics(
  devices: readonly XmlNode[],
  guestNet: XmlNode | undefined,
  guestIp: string | undefined,
  networkNames: ReadonlyMap<string, string>,
  portgroupByKey: ReadonlyMap<string, string>,
): Nic[] {
  const guestNics = children(guestNet, "GuestNicInfo");
  const cards = devices.filter((d) => childText(d, "macAddress") !== undefined && child(d, "backing") !== undefined);
  return cards.map((d) => {
    const key = childText(d, "key");
    const mac = (childText(d, "macAddress") ?? "").toLowerCase();
    const backing = child(d, "backing");
    const portgroup =
      xsiType(backing) === "VirtualEthernetCardDistributedVirtualPortBackingInfo"
        ? (portgroupByKey.get(childText(child(backing, "port"), "portgroupKey") ?? "") ?? childText(child(backing, "port"), "portgroupKey") ?? "")
        : (childText(backing, "deviceName") ?? networkNames.get(moRef(child(backing, "network"))?.value ?? "") ?? childText(backing, "opaqueNetworkId") ?? "");
    const guest =
      guestNics.find((g) => childText(g, "deviceConfigId") === key) ?? guestNics.find((g) => (childText(g, "macAddress") ?? "").toLowerCase() === mac);
    let ips = children(guest, "ipAddress")
      .map((n) => text(n) ?? "")
      .filter(isUsableIpv4);
    if (ips.length === 0 && cards.length === 1 && guestIp !== undefined && isUsableIpv4(guestIp)) ips = [guestIp];
    return {
      label: childText(child(d, "deviceInfo"), "label") || undefined,
      mac,
      portgroup: portgroup || "(unknown)",
      ipv4: ips,
      adapter: ADAPTERS[xsiType(d) ?? ""] ?? (xsiType(d) ?? "vmxnet3").replace(/^Virtual/, "").toLowerCase(),
    } as Nic;
  });
}

function isUsableIpv4(ip: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(ip) && !ip.startsWith("169.254.") && ip !== "0.0.0.0";
}

/** A function from a VM's parent folder to its path below the datacenter's VM folder. */
function folderPaths(contents: readonly ObjectContent[]): (folder: string | undefined) => string | undefined {
  const folders = new Map<string, { name: string; parent?: string }>();
  for (const c of contents) {
    if (c.obj.type !== "Folder") continue;
    folders.set(c.obj.value, { name: text(c.props.get("name")) ?? c.obj.value, parent: moRef(c.props.get("parent"))?.value });
  }
  const vmRoots = new Set(contents.filter((c) => c.obj.type === "Datacenter").map((c) => moRef(c.props.get("vmFolder"))?.value));
  return (folder) => {
    const names: string[] = [];
    let at = folder;
    for (let depth = 0; at !== undefined && depth < 64; depth++) {
      if (vmRoots.has(at)) return names.length > 0 ? names.reverse().join("/") : undefined;
      const f = folders.get(at);
      if (!f) return undefined;
      names.push(f.name);
      at = f.parent;
    }
    return undefined;
  };
}

/** Flattens a VM's snapshot tree. */
export function snapshotList(info: XmlNode | undefined, vm: string, vmMoref: string): SnapshotInfo[] {
  const out: SnapshotInfo[] = [];
  const walk = (nodes: readonly XmlNode[]) => {
    for (const n of nodes) {
      const name = childText(n, "name") ?? "";
      const description = childText(n, "description") ?? "";
      out.push(
        omitUndefined({
          moref: moRef(child(n, "snapshot"))?.value ?? "",
          vm,
          vmMoref,
          name,
          description,
          createTime: childText(n, "createTime"),
          createdByRehost: name.startsWith(REHOST_SNAPSHOT_PREFIX) || description.includes(REHOST_SNAPSHOT_MARK),
        }),
      );
      walk(children(n, "childSnapshotList"));
    }
  };
  walk(children(info, "rootSnapshotList"));
  return out;
}

function num(t: string | undefined): number | undefined {
  if (t === undefined || t === "") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

function omitUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Problems for the unreplicable disks of an estate, as warnings (one per disk). */
export function unreplicableProblems(disks: readonly UnreplicableDisk[]): Problem[] {
  return disks.map((d) => ({
    severity: "warning" as const,
    vm: d.vm,
    field: `disks[key=${d.diskKey}]`,
    received: d.backing,
    expected: "a flat or virtual-mode RDM disk",
    message: `Disk ${d.label} cannot be replicated: ${d.reason}`,
  }));
}
