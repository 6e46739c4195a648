/**
 * The lab's source disks as real images, written straight into the simulated VMs' flat files: an
 * MBR partition table written here, an ext4 filesystem in partition 1 filled with files by
 * `mkfs.ext4 -d` (no mount, no root), free space left as zero regions (holes).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

const MiB = 1024 * 1024;
/** Where partition 1 starts: 1 MiB, as every modern partitioner aligns it. */
export const PARTITION_OFFSET = MiB;
/** The unit of the guests' writes: 64 KiB, the simulated CBT's block. */
export const WRITE_UNIT = 64 * 1024;

/** One disk to build. */
export interface DiskImageSpec {
  /** Where the raw image goes (a VM's flat file). */
  readonly image: string;
  readonly capacityBytes: number;
  /** Bytes of file data to put in the filesystem (about the VM's allocated bytes). */
  readonly dataBytes: number;
  /** Filesystem label (at most 16 characters). */
  readonly label: string;
  /** `system` disks get an OS-like tree, `data` disks data files. */
  readonly role: "system" | "data";
  readonly hostname: string;
  readonly ips: readonly string[];
}

/** Writes a DOS partition table with one Linux partition from 1 MiB to the end of the disk. */
export function writeMbr(fd: number, capacityBytes: number): void {
  const sector = Buffer.alloc(512);
  crypto.randomBytes(4).copy(sector, 440); // disk signature
  const entry = 446;
  sector[entry] = 0x80; // bootable
  sector.writeUIntBE(0xfeffff, entry + 1, 3); // CHS start: use LBA
  sector[entry + 4] = 0x83; // Linux
  sector.writeUIntBE(0xfeffff, entry + 5, 3); // CHS end: use LBA
  sector.writeUInt32LE(PARTITION_OFFSET / 512, entry + 8);
  sector.writeUInt32LE((capacityBytes - PARTITION_OFFSET) / 512, entry + 12);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  fs.writeSync(fd, sector, 0, 512, 0);
}

/** Fills `dir` with an OS-like or data tree holding about `dataBytes` of file data. */
function populateTree(dir: string, spec: DiskImageSpec): void {
  const write = (rel: string, data: string | Buffer): void => {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
  };
  let budget = spec.dataBytes;
  if (spec.role === "system") {
    write("etc/hostname", `${spec.hostname}\n`);
    write("etc/fstab", "LABEL=root / ext4 errors=remount-ro 0 1\n");
    write(
      "etc/network/interfaces",
      ["auto lo", "iface lo inet loopback", "", "auto ens192", "iface ens192 inet static", ...spec.ips.map((ip) => `    address ${ip}/24`), ""].join("\n"),
    );
    const log = Array.from(
      { length: 20_000 },
      (_, i) => `Nov 24 03:${String(i % 60).padStart(2, "0")}:00 ${spec.hostname} app[${1000 + (i % 97)}]: request ${i} served in ${i % 113} ms`,
    ).join("\n");
    write("var/log/syslog", log);
    budget -= log.length;
  } else {
    write("README", `Data volume of ${spec.hostname}.\n`);
  }
  // Incompressible blobs: application binaries on a system disk, table files on a data disk.
  const blob = 4 * MiB;
  for (let i = 0; budget > 0; i++) {
    const size = Math.min(blob, budget);
    write(spec.role === "system" ? `usr/lib/app/module-${i}.so` : `db/table-${i}.dat`, crypto.randomBytes(size));
    budget -= size;
  }
  // A preallocated file of zeroes: a zero region that is allocated in the guest's filesystem.
  write(spec.role === "system" ? "var/swapfile" : "db/preallocated.dat", Buffer.alloc(2 * MiB));
}

const run = promisify(execFile);

/** Builds one raw image at `spec.image` (see the module comment); `work` is a scratch directory. */
export async function buildDiskImage(spec: DiskImageSpec, work: string): Promise<void> {
  const tree = path.join(work, `${path.basename(spec.image)}.tree`);
  const raw = path.join(work, `${path.basename(spec.image)}.raw`);
  fs.mkdirSync(tree, { recursive: true });
  try {
    populateTree(tree, spec);
    const fd = fs.openSync(raw, "w");
    try {
      fs.ftruncateSync(fd, spec.capacityBytes);
      writeMbr(fd, spec.capacityBytes);
    } finally {
      fs.closeSync(fd);
    }
    const fsKiB = (spec.capacityBytes - PARTITION_OFFSET) / 1024;
    await run("mkfs.ext4", ["-q", "-F", "-L", spec.label.slice(0, 16), "-E", `offset=${PARTITION_OFFSET}`, "-d", tree, raw, `${fsKiB}k`]);
    // Into place in one step (the simulator reads the flat file by its path).
    await fs.promises.rename(raw, spec.image).catch(async () => {
      await run("cp", ["--sparse=always", raw, spec.image]);
    });
  } finally {
    await fs.promises.rm(tree, { recursive: true, force: true });
    await fs.promises.rm(raw, { force: true });
  }
}

/** Creates an empty sparse target file of `size` bytes, standing for a gateway's data disk. */
export function createTargetDisk(file: string, size: number): void {
  fs.writeFileSync(file, "");
  fs.truncateSync(file, size);
}
