/**
 * The "business": while replication runs, each source VM's guest keeps writing to its disks, as
 * a running application would — data blocks and zeroed ranges at random places of its filesystem,
 * past its first 16 MiB of metadata, through the simulator's guest I/O (so a write made while a
 * round's snapshot exists goes to the snapshot's delta, as on ESXi). Writes are whole 64 KiB
 * units, the simulated CBT's block, so a round moves exactly what was written.
 *
 * Writes come at a steady pace while `start`ed; `burst(n)` writes exactly `n` units (the lab's
 * fixed final delta, the same whatever the disks' size).
 */
import * as crypto from "node:crypto";
import { PARTITION_OFFSET, WRITE_UNIT } from "./images";

/** The start of the filesystem (superblock, group descriptors) the business leaves alone. */
const METADATA_BYTES = 16 * 1024 * 1024;
const ZEROES = Buffer.alloc(WRITE_UNIT);

/** How the guest writes to its disk. */
export type GuestWrite = (offset: number, data: Buffer) => Promise<void>;

/** Writes to one disk. */
export class BusinessWriter {
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private failure?: unknown;
  /** Bytes written as data and as zeroes since the writer was created. */
  bytesWritten = 0;
  bytesZeroed = 0;
  writes = 0;

  /**
   * @param capacityBytes - the disk's size
   * @param intervalMs - time between two writes while started
   */
  constructor(
    readonly name: string,
    private readonly capacityBytes: number,
    private readonly write: GuestWrite,
    private readonly intervalMs = 200,
  ) {}

  /** Starts writing at a steady pace. */
  start(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.timer !== undefined) return;
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

  /** Stops writing and waits for the write in flight. Throws a write failure. */
  async pause(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (this.failure !== undefined) throw new Error(`The business writes to ${this.name} failed: ${String(this.failure)}`);
  }

  /** Writes exactly `units` units now, one after the other. */
  async burst(units: number): Promise<void> {
    for (let i = 0; i < units; i++) await this.writeOnce();
  }

  private async writeOnce(): Promise<void> {
    const first = PARTITION_OFFSET + METADATA_BYTES;
    const units = Math.floor((this.capacityBytes - first) / WRITE_UNIT);
    const offset = first + crypto.randomInt(0, units) * WRITE_UNIT;
    this.writes++;
    if (this.writes % 8 === 0) {
      await this.write(offset, ZEROES);
      this.bytesZeroed += WRITE_UNIT;
    } else {
      await this.write(offset, crypto.randomBytes(WRITE_UNIT));
      this.bytesWritten += WRITE_UNIT;
    }
  }
}
