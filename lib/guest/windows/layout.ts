/**
 * The partition table of a system disk and the signature of each volume's boot sector, read
 * from the disk's first sectors on this host before anything opens it for writing. This is how
 * rehost refuses, before any harm, the disks Windows adaptation cannot handle: dynamic disks
 * (Logical Disk Manager: MBR type 0x42, the LDM GPT types) and BitLocker volumes (`-FVE-FS-` in
 * the boot sector), and how it tells a BIOS disk from a UEFI one.
 *
 * The parsers are pure functions over bytes; {@link readDiskLayout} reads the bytes of a raw
 * image, a block device or (through `qemu-img dd`) a qcow2 image.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** What a volume's boot sector says it is. */
export type VolumeSignature = "ntfs" | "bitlocker" | "fat" | "exfat" | "refs" | "none";

/** One partition of the table. Offsets and sizes are in bytes. */
export interface Partition {
  /** 1-based, as libguestfs and Linux number partitions (`/dev/sda2` is 2). */
  readonly number: number;
  readonly start: number;
  readonly size: number;
  /** MBR partition type (0x07 NTFS, 0x42 LDM, …). */
  readonly mbrType?: number;
  /** GPT partition type GUID, upper case. */
  readonly gptType?: string;
  readonly bootable?: boolean;
  /** Filled by {@link readDiskLayout}. */
  readonly signature?: VolumeSignature;
}

export interface DiskLayout {
  readonly scheme: "mbr" | "gpt" | "none";
  readonly partitions: readonly Partition[];
}

/** GPT partition type GUIDs rehost recognizes. */
export const GPT_TYPE = {
  efiSystem: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
  microsoftReserved: "E3C9E316-0B5C-4DB8-817D-F92DF00215AE",
  basicData: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
  windowsRecovery: "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC",
  ldmMetadata: "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3",
  ldmData: "AF9B60A0-1431-4F62-BC68-3311714A69AD",
} as const;

/** MBR partition type of a Windows dynamic disk (Logical Disk Manager). */
export const MBR_LDM = 0x42;

const SECTOR = 512;

/** The partition table in the disk's first bytes (at least the first 34 sectors for GPT). */
export function parsePartitionTable(head: Buffer): DiskLayout {
  if (head.length < SECTOR || head.readUInt16LE(510) !== 0xaa55) return { scheme: "none", partitions: [] };
  const entries = [0, 1, 2, 3].map((i) => {
    const at = 446 + i * 16;
    return { number: i + 1, bootable: head[at] === 0x80, type: head[at + 4]!, lba: head.readUInt32LE(at + 8), sectors: head.readUInt32LE(at + 12) };
  });
  const protective = entries.some((e) => e.type === 0xee);
  if (protective && head.length >= 2 * SECTOR && head.toString("latin1", SECTOR, SECTOR + 8) === "EFI PART") return parseGpt(head);
  return {
    scheme: "mbr",
    partitions: entries
      .filter((e) => e.type !== 0 && e.sectors > 0)
      .map((e) => ({ number: e.number, start: e.lba * SECTOR, size: e.sectors * SECTOR, mbrType: e.type, bootable: e.bootable })),
  };
}

function parseGpt(head: Buffer): DiskLayout {
  const hdr = head.subarray(SECTOR, 2 * SECTOR);
  const entriesLba = Number(hdr.readBigUInt64LE(72));
  const count = hdr.readUInt32LE(80);
  const entrySize = hdr.readUInt32LE(84);
  const partitions: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const at = entriesLba * SECTOR + i * entrySize;
    if (at + 128 > head.length) break;
    const type = guidAt(head, at);
    if (type === "00000000-0000-0000-0000-000000000000") continue;
    const first = Number(head.readBigUInt64LE(at + 32));
    const last = Number(head.readBigUInt64LE(at + 40));
    partitions.push({ number: i + 1, start: first * SECTOR, size: (last - first + 1) * SECTOR, gptType: type });
  }
  return { scheme: "gpt", partitions };
}

/** The mixed-endian GUID at `at`, as `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`. */
function guidAt(b: Buffer, at: number): string {
  const hex = (start: number, end: number, reverse: boolean) => {
    const bytes = [...b.subarray(at + start, at + end)];
    return (reverse ? bytes.reverse() : bytes).map((x) => x.toString(16).padStart(2, "0")).join("");
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join("-").toUpperCase();
}

/** What the boot sector of a volume is: the OEM ID at offset 3 names NTFS and BitLocker. */
export function volumeSignature(bootSector: Buffer): VolumeSignature {
  if (bootSector.length < 90) return "none";
  const oem = bootSector.toString("latin1", 3, 11);
  if (oem === "-FVE-FS-") return "bitlocker";
  if (oem === "NTFS    ") return "ntfs";
  if (oem === "EXFAT   ") return "exfat";
  if (bootSector.toString("latin1", 3, 7) === "ReFS") return "refs";
  if (bootSector.readUInt16LE(510) === 0xaa55 && (bootSector.toString("latin1", 82, 87) === "FAT32" || bootSector.toString("latin1", 54, 57) === "FAT"))
    return "fat";
  return "none";
}

/** True when the disk is a Windows dynamic disk (its volumes live in the LDM database). */
export function isDynamicDisk(layout: DiskLayout): boolean {
  return layout.partitions.some((p) => p.mbrType === MBR_LDM || p.gptType === GPT_TYPE.ldmMetadata || p.gptType === GPT_TYPE.ldmData);
}

/** True when a volume on the disk looks like Windows (NTFS, BitLocker, ReFS) or the disk is dynamic. */
export function looksLikeWindows(layout: DiskLayout): boolean {
  return isDynamicDisk(layout) || layout.partitions.some((p) => p.signature === "ntfs" || p.signature === "bitlocker" || p.signature === "refs");
}

/** How the disk boots: UEFI with an EFI system partition on GPT, BIOS with MBR. */
export function bootMode(layout: DiskLayout): "bios" | "uefi" | "unknown" {
  if (layout.scheme === "gpt") return layout.partitions.some((p) => p.gptType === GPT_TYPE.efiSystem) ? "uefi" : "unknown";
  if (layout.scheme === "mbr") return "bios";
  return "unknown";
}

/**
 * The partition table of the disk and the boot-sector signature of every partition, read
 * without opening the disk for writing. `format` is the image format (`qcow2` images are read
 * through `qemu-img dd`).
 */
export async function readDiskLayout(disk: string, format: "raw" | "qcow2"): Promise<DiskLayout> {
  const read =
    format === "qcow2"
      ? (offset: number, length: number) => readQcow2(disk, offset, length)
      : (offset: number, length: number) => readRaw(disk, offset, length);
  const head = await read(0, 64 * SECTOR);
  let layout = parsePartitionTable(head);
  if (layout.scheme === "gpt") {
    // The entry array normally starts at LBA 2; read further when the header puts it elsewhere.
    const hdr = head.subarray(SECTOR, 2 * SECTOR);
    const end = Number(hdr.readBigUInt64LE(72)) * SECTOR + hdr.readUInt32LE(80) * hdr.readUInt32LE(84);
    if (end > head.length && end <= 4 * 1024 * 1024) layout = parsePartitionTable(await read(0, end));
  }
  const partitions: Partition[] = [];
  for (const p of layout.partitions) partitions.push({ ...p, signature: volumeSignature(await read(p.start, SECTOR)) });
  return { scheme: layout.scheme, partitions };
}

async function readRaw(file: string, offset: number, length: number): Promise<Buffer> {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(length);
    const n = fs.readSync(fd, buf, 0, length, offset);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

async function readQcow2(file: string, offset: number, length: number): Promise<Buffer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehost-layout-"));
  const out = path.join(dir, "bytes");
  try {
    // qemu-img dd counts in blocks of bs, and its count ends the input (skip included).
    const skip = Math.floor(offset / SECTOR);
    const args = ["dd", "-f", "qcow2", "-O", "raw", `bs=${SECTOR}`, `skip=${skip}`, `count=${skip + Math.ceil(length / SECTOR)}`, `if=${file}`, `of=${out}`];
    await new Promise<void>((resolve, reject) =>
      execFile("qemu-img", args, (err, _stdout, stderr) => {
        if (err) reject(new Error(`qemu-img could not read ${file}: ${stderr.trim() || err.message}`));
        else resolve();
      }),
    );
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
