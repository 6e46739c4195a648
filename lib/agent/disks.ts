/**
 * Cloud disks by identity. On ECS a data disk appears as `/dev/vdb`, `/dev/vdc`… in whatever
 * order the hypervisor attached it, but its serial number is its disk id without the `d-`
 * prefix (`d-bp1abc…` → serial `bp1abc…`), and udev publishes it as
 * `/dev/disk/by-id/virtio-<serial>` (NVMe-attached disks: `nvme-…_<serial>`). The agent finds a
 * replica disk by that link and, before trusting it, reads the serial the kernel reports for the
 * device the link resolves to (`/sys/dev/block/<major>:<minor>/serial`, or `…/device/serial`
 * for an NVMe namespace): a link that leads to another disk is refused.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** An ECS disk id: `d-` and lowercase letters and digits. */
const DISK_ID_PATTERN = /^d-[a-z0-9]{1,62}$/;

/** Whether `value` is a cloud disk id (`d-bp1abc…`) rather than a path. */
export function isDiskId(value: string): boolean {
  return DISK_ID_PATTERN.test(value);
}

/** virtio-blk serials are at most 20 bytes (`VIRTIO_BLK_ID_BYTES`); the kernel reports the first 20. */
const VIRTIO_SERIAL_BYTES = 20;

/** The serial the kernel reports for disk `diskId`: the id without `d-`, cut to 20 characters as virtio-blk carries it. */
export function diskSerial(diskId: string): string {
  return diskId.slice(2, 2 + VIRTIO_SERIAL_BYTES);
}

/** Where the agent looks disks up. */
export interface DiskLookup {
  /** Directory of udev's by-id links. @default "/dev/disk/by-id" */
  readonly byIdDir?: string;
  /** Directory of `<major>:<minor>` entries of block devices, as sysfs has it. @default "/sys/dev/block" */
  readonly sysDevBlockDir?: string;
}

/** Defaults of {@link DiskLookup}. */
export const DEFAULT_BY_ID_DIR = "/dev/disk/by-id";
export const DEFAULT_SYS_DEV_BLOCK_DIR = "/sys/dev/block";

/** A disk id found on this machine. */
export interface FoundDisk {
  /** The by-id link that named it. */
  readonly link: string;
  /** The device the link resolves to (`realpath(3)`). */
  readonly path: string;
  /** The serial the kernel reports for that device. */
  readonly serial: string;
}

/** Why a disk id could not be used, in one sentence. */
export class DiskNotFound extends Error {
  /** `missing`: no link or no device; `mismatch`: the device is another disk, or cannot be identified. */
  readonly kind: "missing" | "mismatch";
  constructor(kind: "missing" | "mismatch", message: string) {
    super(message);
    this.name = "DiskNotFound";
    this.kind = kind;
  }
}

/**
 * Finds cloud disk `diskId`: its by-id link, the block device the link resolves to, and a check
 * that the kernel reports the disk's serial for that device.
 * @throws DiskNotFound when no link names it, the link leads to something that is not a block
 * device, or the device's serial is another disk's
 */
export function findDisk(diskId: string, lookup: DiskLookup = {}): FoundDisk {
  const byId = lookup.byIdDir ?? DEFAULT_BY_ID_DIR;
  const serial = diskSerial(diskId);
  const link = byIdLink(byId, serial);
  if (link === undefined) {
    throw new DiskNotFound(
      "missing",
      `Disk ${diskId} is not attached to this gateway: no ${path.join(byId, `virtio-${serial}`)} (nor an nvme-…_${serial} link).`,
    );
  }
  let real: string;
  try {
    real = fs.realpathSync.native(link);
  } catch {
    throw new DiskNotFound("missing", `Disk ${diskId}'s link ${link} leads nowhere.`);
  }
  const st = fs.statSync(real);
  if (!st.isBlockDevice()) throw new DiskNotFound("mismatch", `Disk ${diskId}'s link ${link} leads to ${real}, which is not a block device.`);
  const reported = kernelSerial(st.rdev, lookup.sysDevBlockDir ?? DEFAULT_SYS_DEV_BLOCK_DIR);
  if (reported === undefined) {
    throw new DiskNotFound(
      "mismatch",
      `Disk ${diskId}'s link ${link} leads to ${real}, whose serial the kernel does not report; nothing is written to a device that cannot be identified.`,
    );
  }
  if (reported !== serial) {
    throw new DiskNotFound(
      "mismatch",
      `Disk ${diskId}'s link ${link} leads to ${real}, whose serial is ${reported}, not ${serial}: that is another disk, and nothing is written to it.`,
    );
  }
  return { link, path: real, serial: reported };
}

/** `virtio-<serial>`, or an NVMe link ending in `_<serial>`, in `dir`. */
function byIdLink(dir: string, serial: string): string | undefined {
  const virtio = path.join(dir, `virtio-${serial}`);
  if (fs.lstatSync(virtio, { throwIfNoEntry: false }) !== undefined) return virtio;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  const nvme = names.filter((n) => n.startsWith("nvme-") && n.endsWith(`_${serial}`)).sort();
  return nvme.length > 0 ? path.join(dir, nvme[0]!) : undefined;
}

/** The serial sysfs reports for the block device numbered `rdev` (trimmed), if any. */
function kernelSerial(rdev: number, sysDevBlockDir: string = DEFAULT_SYS_DEV_BLOCK_DIR): string | undefined {
  const entry = path.join(sysDevBlockDir, `${major(rdev)}:${minor(rdev)}`);
  for (const file of ["serial", path.join("device", "serial")]) {
    try {
      const text = fs.readFileSync(path.join(entry, file), "utf8").replace(/\0+$/, "").trim();
      if (text.length > 0) return text;
    } catch {
      // Not this attribute: try the next.
    }
  }
  return undefined;
}

/** Major number of a Linux device number (`MAJOR()` of the 32-bit encoding glibc uses). */
function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}

/** Minor number of a Linux device number. */
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
}
