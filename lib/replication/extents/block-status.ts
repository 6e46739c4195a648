/**
 * Reading NBD block status: the extents of one metadata context over a range, and a forward-only
 * view of `base:allocation` that other extent sources intersect their changed ranges with.
 */
import { NBD_STATE_ZERO, type BlockDevice, type StatusExtent } from "../device";

/** `base:allocation`, the context that says which ranges read as zeroes. */
export const BASE_ALLOCATION = "base:allocation";
/** The longest range asked in one NBD_CMD_BLOCK_STATUS (the length field is 32 bits). */
const STATUS_WINDOW = 1024 * 1024 * 1024;

/** The extents of `context` covering exactly [offset, offset+length), clipped, in order. */
export async function* statusExtents(device: BlockDevice, context: string, offset: number, length: number): AsyncGenerator<StatusExtent> {
  const end = offset + length;
  let at = offset;
  while (at < end) {
    const extents = await device.blockStatus(context, at, Math.min(STATUS_WINDOW, end - at));
    let advanced = false;
    for (const extent of extents) {
      const start = Math.max(extent.offset, at);
      const stop = Math.min(extent.offset + extent.length, end);
      if (stop <= start) continue;
      if (start !== at) throw new Error(`${context}: the server skipped bytes ${at}..${start} in its block status reply`);
      yield { offset: start, length: stop - start, flags: extent.flags };
      at = stop;
      advanced = true;
    }
    if (!advanced) throw new Error(`${context}: the server returned no extent at offset ${at}`);
  }
}

/** A range and whether the source reads as zeroes there. */
export interface AllocationRange {
  readonly offset: number;
  readonly length: number;
  readonly zero: boolean;
}

/**
 * A forward-only view of `base:allocation`: `ranges(offset, length)` for increasing offsets,
 * fetching block status ahead in windows so a million small changed ranges cost a few requests.
 * Without the context every byte is data.
 */
export class AllocationMap {
  private readonly available: boolean;
  private buffered: StatusExtent[] = [];
  /** Index of the first buffered extent not yet behind the queries. */
  private head = 0;

  /**
   * @param window - bytes asked per block-status request: large for a scan of the whole disk,
   *   small for scattered blocks (each request costs what the window holds, not what is used)
   */
  constructor(
    private readonly device: BlockDevice,
    private readonly window = STATUS_WINDOW,
  ) {
    this.available = device.caps.metaContexts.includes(BASE_ALLOCATION);
  }

  /** The allocation of [offset, offset+length), merged by kind; offsets must not go backwards. */
  async *ranges(offset: number, length: number): AsyncGenerator<AllocationRange> {
    if (!this.available) {
      yield { offset, length, zero: false };
      return;
    }
    const end = offset + length;
    let at = offset;
    while (at < end) {
      while (this.head < this.buffered.length && this.buffered[this.head].offset + this.buffered[this.head].length <= at) this.head++;
      if (this.head === this.buffered.length || this.buffered[this.head].offset > at) {
        await this.fetch(at);
        continue;
      }
      const extent = this.buffered[this.head];
      const stop = Math.min(extent.offset + extent.length, end);
      yield { offset: at, length: stop - at, zero: (extent.flags & NBD_STATE_ZERO) !== 0 };
      at = stop;
    }
  }

  /** Fetches a window from `at`, asked from the block boundary at or before it (servers refuse unaligned requests). */
  private async fetch(at: number): Promise<void> {
    const start = at - (at % this.device.caps.minimumBlockSize);
    const length = Math.min(this.window, STATUS_WINDOW, this.device.size - start);
    this.buffered = [];
    this.head = 0;
    for await (const extent of statusExtents(this.device, BASE_ALLOCATION, start, length)) this.buffered.push(extent);
  }
}

/** Turns allocation ranges into segments: zero ranges as `zeroKind`, data as `dataKind`, merged. */
export async function* classify<K extends string>(
  ranges: AsyncIterable<AllocationRange>,
  dataKind: K,
  zeroKind: K,
): AsyncGenerator<{ offset: number; length: number; kind: K }> {
  let pending: { offset: number; length: number; kind: K } | undefined;
  for await (const range of ranges) {
    const kind = range.zero ? zeroKind : dataKind;
    if (pending !== undefined && pending.kind === kind && pending.offset + pending.length === range.offset) {
      pending = { ...pending, length: pending.length + range.length };
      continue;
    }
    if (pending !== undefined) yield pending;
    pending = { offset: range.offset, length: range.length, kind };
  }
  if (pending !== undefined) yield pending;
}
