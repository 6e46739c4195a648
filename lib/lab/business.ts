/**
 * The "business": while replication runs, each source VM keeps writing to its disks through the
 * same qemu-nbd that serves them, as a running guest would — data blocks and discarded (zeroed)
 * ranges at random places of its filesystem, past its first 16 MiB of metadata. Writes are aligned to the bitmap granularity so a
 * round moves exactly what was written.
 */
import * as crypto from "node:crypto";
import type { BlockDevice } from "../replication/device";
import { openDevice } from "../replication/open";
import { BITMAP_GRANULARITY, PARTITION_OFFSET } from "./images";

/** The start of the filesystem (superblock, group descriptors) the business leaves alone. */
const METADATA_BYTES = 16 * 1024 * 1024;

/** Writes to one disk until paused. */
export class BusinessWriter {
  private device?: BlockDevice;
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private failure?: unknown;
  /** Bytes written as data and as zeroes since the writer was created. */
  bytesWritten = 0;
  bytesZeroed = 0;
  writes = 0;

  /**
   * @param capacityBytes - the disk's size
   * @param intervalMs - time between two writes
   */
  constructor(
    readonly name: string,
    private readonly capacityBytes: number,
    private readonly intervalMs = 60,
  ) {}

  /** Connects to `uri` and starts writing. */
  async start(uri: string): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    this.device = await openDevice(uri, { write: true });
    this.timer = setInterval(() => {
      if (this.inFlight !== undefined) return;
      this.inFlight = this.writeOnce()
        .catch((err: unknown) => {
          this.failure ??= err;
        })
        .finally(() => {
          this.inFlight = undefined;
        });
    }, this.intervalMs);
  }

  /** Stops writing, flushes and disconnects (before the server is stopped). Throws a write failure. */
  async pause(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    const device = this.device;
    this.device = undefined;
    if (device !== undefined) {
      await device.flush();
      await device.close();
    }
    if (this.failure !== undefined) throw new Error(`The business writes to ${this.name} failed: ${String(this.failure)}`);
  }

  private async writeOnce(): Promise<void> {
    const device = this.device;
    if (device === undefined) return;
    const first = PARTITION_OFFSET + METADATA_BYTES;
    const blocks = (this.capacityBytes - first) / BITMAP_GRANULARITY;
    const offset = first + crypto.randomInt(0, blocks) * BITMAP_GRANULARITY;
    this.writes++;
    if (this.writes % 8 === 0) {
      await device.writeZeroes(offset, BITMAP_GRANULARITY);
      this.bytesZeroed += BITMAP_GRANULARITY;
    } else {
      await device.write(offset, crypto.randomBytes(BITMAP_GRANULARITY));
      this.bytesWritten += BITMAP_GRANULARITY;
    }
  }
}
