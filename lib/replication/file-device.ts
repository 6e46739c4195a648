/**
 * A local file or block device as a `BlockDevice`.
 *
 * Reads and writes are positional (`pread`/`pwrite` on libuv's thread pool). Aligned writes from
 * aligned buffers go to the disk directly (`O_DIRECT`, several at once); other writes go through
 * the page cache one at a time (see `write`). Node exposes neither `SEEK_DATA` nor `fallocate`, so
 * a file reports no metadata contexts (every byte is data to the extent sources), and
 * `writeZeroes` runs util-linux's `fallocate(1)` on the open file (`/proc/self/fd/N`) for ranges
 * of 8 MiB or more: a punched hole keeps a file sparse and discards a block device's range
 * with zeroing, nothing is read, and a terabyte of zeroes takes seconds. Smaller ranges, and
 * where `fallocate` cannot (a device without discard), are written as zeroes.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { DIRECT_ALIGNMENT, isAligned } from "./aligned";
import type { BlockDevice, DeviceCaps, StatusExtent } from "./device";

/** The largest single read or write a file device accepts. */
const FILE_MAXIMUM_BLOCK = 32 * 1024 * 1024;
/**
 * Bytes written between two background writebacks (`fdatasync` started without waiting). The
 * kernel then writes the data out while the copy goes on, so the flush at the end of a round only
 * waits for the last of it instead of the whole disk.
 */
const WRITEBACK_EVERY = 64 * 1024 * 1024;
/** The piece size `writeZeroes` writes at a time where it writes zeroes. */
const ZERO_PIECE = 1024 * 1024;
const zeroPiece = Buffer.alloc(ZERO_PIECE);
/**
 * Ranges at least this long are zeroed with `fallocate(1)` instead of written: the zero ranges of
 * an extent source (up to 1 GiB each) are, a single zero block of a data range (1 MiB) is not —
 * a process per block would cost more than writing it.
 */
const FALLOCATE_MINIMUM = 8 * 1024 * 1024;

/** Whether `fallocate(1)` zeroed the range (false where the file system or device cannot). */
function fallocate(mode: "--punch-hole" | "--zero-range", file: string, offset: number, length: number): Promise<boolean> {
  return new Promise((resolve) => {
    execFile("fallocate", [mode, "--offset", String(offset), "--length", String(length), file], (err) => resolve(err === null));
  });
}

export interface OpenFileOptions {
  /** Open for writing. @default false - read-only */
  readonly write?: boolean;
  /** Create a regular file of this size when `path` does not exist (implies `write`). */
  readonly createSize?: number;
}

/** Opens a regular file or a block device. */
export async function openFileDevice(path: string, options: OpenFileOptions = {}): Promise<FileDevice> {
  const write = options.write === true || options.createSize !== undefined;
  if (options.createSize !== undefined && !fs.existsSync(path)) {
    const created = await fs.promises.open(path, "wx");
    try {
      await created.truncate(options.createSize);
    } finally {
      await created.close();
    }
  }
  const handle = await fs.promises.open(path, write ? "r+" : "r");
  let direct: fs.promises.FileHandle | undefined;
  try {
    const stat = await handle.stat();
    const size = stat.isBlockDevice() ? blockDeviceSize(stat) : stat.size;
    // The direct handle opens what the first one opened, whatever the path names by now.
    if (write) direct = await openDirect(`/proc/self/fd/${handle.fd}`);
    return new FileDevice(path, handle, size, !write, direct, { dev: stat.dev, ino: stat.ino, rdev: stat.rdev, blockDevice: stat.isBlockDevice() });
  } catch (err) {
    await direct?.close();
    await handle.close();
    throw err;
  }
}

/**
 * A second handle on the file with `O_DIRECT`, for aligned writes; undefined where the file
 * system refuses direct I/O (tmpfs, some FUSE file systems).
 */
async function openDirect(path: string): Promise<fs.promises.FileHandle | undefined> {
  try {
    return await fs.promises.open(path, fs.constants.O_RDWR | fs.constants.O_DIRECT);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EINVAL") return undefined;
    throw err;
  }
}

/** Size of a block device from sysfs (`/sys/dev/block/MAJOR:MINOR/size` counts 512-byte sectors). */
function blockDeviceSize(stat: fs.Stats): number {
  const major = Math.floor(stat.rdev / 256) & 0xfff;
  const minor = (stat.rdev & 0xff) | (Math.floor(stat.rdev / 4096) & 0xfff00);
  const sectors = Number(fs.readFileSync(`/sys/dev/block/${major}:${minor}/size`, "utf8").trim());
  return sectors * 512;
}

/** What a file device opened: a file's device and inode, or a block device's number. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly rdev: number;
  readonly blockDevice: boolean;
}

/** A `BlockDevice` over an open file handle. */
export class FileDevice implements BlockDevice {
  readonly caps: DeviceCaps;
  /** The last write queued: writes run one at a time, in the order they were asked for. */
  private writeQueue: Promise<void> = Promise.resolve();
  /** Bytes written since the last background writeback started. */
  private unsynced = 0;
  /** The background writeback running, if any. */
  private writeback: Promise<void> | undefined;

  constructor(
    /** The path opened. */
    readonly path: string,
    private readonly handle: fs.promises.FileHandle,
    readonly size: number,
    readOnly: boolean,
    /** A handle with `O_DIRECT` for aligned writes, when the file system allows it. */
    private readonly direct?: fs.promises.FileHandle,
    /** What was opened: the file (device and inode) or the block device (`rdev`). */
    readonly identity: FileIdentity = { dev: 0, ino: 0, rdev: 0, blockDevice: false },
  ) {
    this.caps = {
      minimumBlockSize: 1,
      preferredBlockSize: 4096,
      maximumBlockSize: FILE_MAXIMUM_BLOCK,
      readOnly,
      canFlush: true,
      canTrim: false,
      canWriteZeroes: true,
      canFastZero: false,
      canMultiConn: true,
      metaContexts: [],
    };
  }

  private destroyed: string | undefined;
  /** `fallocate` stops being tried once it failed on this file. */
  private fallocateWorks = true;

  async read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    this.check(offset, length);
    const buffer = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) {
        // A file that shrank under us reads as zeroes past its end, like a sparse tail.
        buffer.fill(0, done, length);
        break;
      }
      done += bytesRead;
    }
    return into === undefined ? buffer : buffer.subarray(0, length);
  }

  /**
   * Writes `data` at `offset`.
   *
   * An aligned write from an aligned buffer (see `bufferPool`) goes to the disk directly
   * (`O_DIRECT`), several at once: the page cache is not filled with data the copy never reads
   * again, and the flush at the end has little left to do. Filling the page cache is what made
   * buffered copies slow where fresh memory is expensive to back (a 4 GiB buffered `dd` took
   * 10.6 s on the development machine the first time and 1.4 s when the memory had been used;
   * `O_DIRECT` took 2.9 s, the same each time).
   *
   * Other writes are buffered, queued and run one at a time: buffered writes to one file
   * serialize on the kernel's inode lock anyway, and several in flight on libuv's threads only
   * contend for it (a 1 MiB `pwrite` took 3-4 times as long with four in flight as alone).
   */
  write(offset: number, data: Buffer): Promise<void> {
    this.check(offset, data.length);
    this.checkWritable();
    if (this.direct !== undefined && offset % DIRECT_ALIGNMENT === 0 && isAligned(data)) return this.writeDirect(this.direct, offset, data);
    const written = this.writeQueue.then(() => this.writeNow(offset, data));
    this.writeQueue = written.catch(() => undefined);
    return written;
  }

  private async writeDirect(direct: fs.promises.FileHandle, offset: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await direct.write(data, done, data.length - done, offset + done);
      if (bytesWritten % DIRECT_ALIGNMENT !== 0) {
        // A short direct write that ends unaligned: finish the rest through the page cache.
        await this.writeNow(offset + done + bytesWritten, data.subarray(done + bytesWritten));
        return;
      }
      done += bytesWritten;
    }
  }

  private async writeNow(offset: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    this.unsynced += data.length;
    if (this.unsynced >= WRITEBACK_EVERY && this.writeback === undefined) {
      this.unsynced = 0;
      // Errors are not lost: a failed writeback leaves the pages dirty and `flush` reports it.
      this.writeback = this.handle
        .datasync()
        .catch(() => undefined)
        .finally(() => {
          this.writeback = undefined;
        });
    }
  }

  /**
   * Zeroes a range without reading it: `fallocate --punch-hole` (or `--zero-range` with `noHole`)
   * for 8 MiB or more, else zeroes written. Data written before through the page cache is
   * written back first, so the hole is not filled again later.
   */
  async writeZeroes(offset: number, length: number, options: { noHole?: boolean; fastZero?: boolean } = {}): Promise<void> {
    this.check(offset, length);
    this.checkWritable();
    if (length >= FALLOCATE_MINIMUM && this.fallocateWorks) {
      await this.writeQueue;
      const zeroed = await fallocate(options.noHole === true ? "--zero-range" : "--punch-hole", `/proc/${process.pid}/fd/${this.handle.fd}`, offset, length);
      if (zeroed) return;
      this.fallocateWorks = false;
    }
    if (options.fastZero === true) throw Object.assign(new Error(`${this.path}: zeroing fast is not supported here`), { code: "ENOTSUP" });
    for (let at = offset; at < offset + length; at += ZERO_PIECE) {
      this.checkAlive();
      await this.write(at, zeroPiece.subarray(0, Math.min(ZERO_PIECE, offset + length - at)));
    }
  }

  async trim(offset: number, length: number): Promise<void> {
    this.check(offset, length);
    throw new Error(`${this.path}: TRIM is not supported on a local file`);
  }

  async flush(): Promise<void> {
    if (this.caps.readOnly) return;
    if (this.writeback !== undefined) await this.writeback;
    await this.handle.datasync();
  }

  async blockStatus(context: string, offset: number, length: number): Promise<StatusExtent[]> {
    throw new Error(`${this.path}: metadata context ${context} is not available on a local file (offset ${offset}, length ${length})`);
  }

  async close(): Promise<void> {
    await this.direct?.close();
    await this.handle.close();
  }

  /** Refuses every later request; reads and writes already on libuv's threads finish by themselves. */
  destroy(reason: string): void {
    this.destroyed ??= reason;
  }

  private checkAlive(): void {
    if (this.destroyed !== undefined) throw Object.assign(new Error(`${this.path}: ${this.destroyed}`), { code: "ECANCELED" });
  }

  private check(offset: number, length: number): void {
    this.checkAlive();
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`${this.path}: request at offset ${offset}, length ${length} is outside the disk (size ${this.size})`);
    }
  }

  private checkWritable(): void {
    if (this.caps.readOnly) throw new Error(`${this.path}: opened read-only`);
  }
}
