/**
 * What a migration needs to know about the source estate, as one zod schema.
 *
 * The same shape comes from every loader (YAML/JSON, RVTools, vCenter), so the planner never
 * knows where an inventory came from. Sizes are bytes, memory is MiB, IPs are dotted IPv4.
 */
import { z } from "zod";

export const DiskSchema = z.object({
  /** vSphere device key, unique within the VM (2000, 2001, ...). */
  key: z.number().int().nonnegative(),
  /** Device label as vSphere shows it ("Hard disk 1"). */
  label: z.string().min(1),
  /** Provisioned capacity in bytes. */
  capacityBytes: z.number().int().positive(),
  /** Bytes actually allocated on the datastore, when known; the planner falls back to capacity. */
  allocatedBytes: z.number().int().nonnegative().optional(),
  thin: z.boolean().default(true),
  datastore: z.string().optional(),
  /** Controller type: `scsi`, `pvscsi`, `lsilogic`, `sata`, `ide`, `nvme`, ... */
  controller: z.string().default("scsi"),
  /** Backing of the disk; RDM-physical and independent disks cannot be replicated by snapshot/CBT. */
  backing: z.enum(["flat", "rdm-physical", "rdm-virtual", "independent"]).default("flat"),
  /** vSphere backing file (`[datastore1] vm/vm.vmdk`), when known. */
  fileName: z.string().optional(),
  /** Whether changed-block tracking is enabled on the disk, when known. */
  changeTracking: z.boolean().optional(),
});

export const NicSchema = z.object({
  label: z.string().optional(),
  mac: z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, "a MAC address like 00:50:56:aa:bb:cc"),
  portgroup: z.string().min(1),
  /** Every IPv4 address of the NIC; the first is the primary one. */
  ipv4: z.array(z.string()).default([]),
  /** Adapter type: `vmxnet3`, `e1000`, `e1000e`, ... */
  adapter: z.string().default("vmxnet3"),
});

export const GuestOsSchema = z.object({
  family: z.enum(["linux", "windows", "other"]),
  /** vSphere guest id (`rhel7_64Guest`, `windows2019srv_64Guest`) or RVTools' OS text. */
  id: z.string(),
});

export const VmSchema = z.object({
  uuid: z.string().min(1),
  name: z.string().min(1),
  cpus: z.number().int().positive(),
  memoryMiB: z.number().int().positive(),
  guestOs: GuestOsSchema,
  firmware: z.enum(["bios", "efi"]).default("bios"),
  powerState: z.enum(["poweredOn", "poweredOff", "suspended"]).default("poweredOn"),
  folder: z.string().optional(),
  tags: z.array(z.string()).default([]),
  /** Where the VM runs in vSphere, when known; waves may select by each of these. */
  datacenter: z.string().optional(),
  cluster: z.string().optional(),
  host: z.string().optional(),
  resourcePool: z.string().optional(),
  /** The VM's notes (vSphere annotation). */
  annotation: z.string().optional(),
  /** Custom attributes (vSphere custom fields) by name, when known. */
  attributes: z.record(z.string(), z.string()).optional(),
  disks: z.array(DiskSchema).min(1),
  nics: z.array(NicSchema).default([]),
});

export const NetworkSchema = z.object({
  /** The portgroup (or network) name VM NICs refer to. */
  portgroup: z.string().min(1),
  /** The subnet in CIDR form; RVTools has no prefix lengths, so it always comes from here. */
  cidr: z.string(),
  gateway: z.string().optional(),
  vlan: z.number().int().min(0).max(4094).optional(),
  /**
   * Other portgroups that carry the same subnet (a standard and a distributed switch, or two VLAN
   * names): their NICs are placed in this network's vSwitch.
   */
  aliases: z.array(z.string().min(1)).optional(),
});

export const InventorySchema = z.object({
  vms: z.array(VmSchema),
  networks: z.array(NetworkSchema).default([]),
});

export type Disk = z.infer<typeof DiskSchema>;
export type Nic = z.infer<typeof NicSchema>;
export type GuestOs = z.infer<typeof GuestOsSchema>;
export type Vm = z.infer<typeof VmSchema>;
export type Network = z.infer<typeof NetworkSchema>;
export type Inventory = z.infer<typeof InventorySchema>;
