/**
 * The copier: moves the segments of a round from source to target.
 *
 * Segments are cut into requests of at most `blockSize` bytes (zero ranges into larger ones) and
 * handed, in offset order, to a fixed pool of workers; each worker owns one buffer (two for
 * `compare`), so memory is `workers × blockSize` by construction whatever the disk size. Workers
 * are spread over the source and target connections. A data block that reads as zeroes is
 * written as zeroes (NBD_CMD_WRITE_ZEROES), never as data.
 *
 * With a journal, the copier bounds the work a crash can lose: it never has more than one
 * checkpoint interval of source reads issued beyond the last checkpoint on disk (see
 * `journal.ts`).
 *
 * Once the copy stops — aborted, or a request failed — no worker issues another write, and
 * `copy` settles only after every request in flight has: when it returns or throws, the target
 * is no longer being written.
 */
import { xxh3 } from "@node-rs/xxhash";
import { bufferPool } from "./aligned";
import type { BlockDevice, Extent } from "./device";
import type { Segment, SegmentKind } from "./extents";
import type { ProgressMeter } from "./progress";
import type { Throttle } from "./throttle";

/** The longest write-zeroes request (NBD lengths are 32 bits; keep well under). */
const ZERO_REQUEST = 1024 * 1024 * 1024;

/** One request of a round. */
export interface CopyRequest extends Segment {}

/** Bytes moved by a round. */
export interface CopyCounters {
  /** Bytes read from the source. */
  bytesRead: number;
  /** Bytes written to the target as data. */
  bytesWritten: number;
  /** Bytes written to the target as zeroes (zero ranges and zero-detected blocks). */
  bytesZeroed: number;
  /** Bytes of the round that needed no write (equal blocks of a `hash` round). */
  bytesSkipped: number;
}

/**
 * Cuts segments into requests: data and compare requests at most `blockSize` long and split on
 * multiples of it, zero requests up to `ZERO_REQUEST`. Requests are aligned to `align` (the larger
 * minimum block size of both devices): data ranges grow outward, zero ranges shrink inward and
 * their unaligned edges become data, so no byte of data is ever zeroed.
 */
export async function* requestsOf(segments: AsyncIterable<Segment>, blockSize: number, align: number, size: number): AsyncGenerator<CopyRequest> {
  const down = (n: number): number => Math.floor(n / align) * align;
  const up = (n: number): number => Math.min(size, Math.ceil(n / align) * align);
  for await (const segment of segments) {
    const end = segment.offset + segment.length;
    if (segment.kind === "data" || segment.kind === "compare") {
      yield* split(down(segment.offset), up(end), segment.kind, blockSize);
      continue;
    }
    const edgeKind: SegmentKind = segment.kind === "zero" ? "data" : "compare";
    const zeroStart = up(segment.offset);
    const zeroEnd = Math.max(zeroStart, end === size ? size : down(end));
    if (zeroStart > segment.offset) yield* split(down(segment.offset), zeroStart, edgeKind, blockSize);
    yield* split(zeroStart, zeroEnd, segment.kind, segment.kind === "zero" ? ZERO_REQUEST : blockSize);
    if (zeroEnd < end) yield* split(zeroEnd, up(end), edgeKind, blockSize);
  }
}

function* split(start: number, end: number, kind: SegmentKind, step: number): Generator<CopyRequest> {
  let at = start;
  while (at < end) {
    const stop = Math.min(end, (Math.floor(at / step) + 1) * step);
    yield { offset: at, length: stop - at, kind };
    at = stop;
  }
}

/** Whether a request reads data from the source (what the checkpoint interval and throttle count). */
function readsSource(kind: SegmentKind): boolean {
  return kind === "data" || kind === "compare";
}

/** Checkpointing of a round (see `Journal`). */
interface CheckpointSink {
  /** Source bytes that may be read beyond the last checkpoint on disk. */
  readonly intervalBytes: number;
  /** Persists a checkpoint; the copier has flushed the targets before calling it. */
  write(frontier: number, done: readonly Extent[], bytesDone: number): Promise<void>;
}

/** What `copy` needs. */
export interface CopierOptions {
  /** Source connections (one or more to the same disk). */
  readonly sources: readonly BlockDevice[];
  /** Target connections (one or more to the same disk). */
  readonly targets: readonly BlockDevice[];
  /** The requests, in offset order (already without those a resumed journal says are done). */
  readonly requests: AsyncIterable<CopyRequest>;
  /** Workers, i.e. requests in flight at once. */
  readonly workers: number;
  readonly blockSize: number;
  readonly throttle?: Throttle;
  readonly signal?: AbortSignal;
  readonly meter: ProgressMeter;
  readonly checkpoint?: CheckpointSink;
  /** The target reads as zeroes everywhere (a sparse file this round created): zeroes need no write. */
  readonly targetIsZero?: boolean;
}

const zeroBlocks = new Map<number, Buffer>();
/** A shared, never-written buffer of zeroes. */
function zeroes(length: number): Buffer {
  let block = zeroBlocks.get(length);
  if (block === undefined) {
    block = Buffer.alloc(length);
    zeroBlocks.set(length, block);
  }
  return block;
}

/** Whether `data` is all zero bytes. */
export function isZero(data: Buffer): boolean {
  return data.equals(zeroes(data.length));
}

/** Copies every request; flushes the targets at the end. Returns the byte counters. */
export async function copy(options: CopierOptions): Promise<CopyCounters> {
  const counters: CopyCounters = { bytesRead: 0, bytesWritten: 0, bytesZeroed: 0, bytesSkipped: 0 };
  const dispatcher = new Dispatcher(options);
  const zero = zeroes(options.blockSize);
  // Aligned, so a file target can take the data with direct I/O (see `FileDevice.write`).
  const pool = bufferPool(options.workers, options.blockSize);
  let failure: unknown;

  async function writeZeroes(target: BlockDevice, offset: number, length: number): Promise<void> {
    if (options.targetIsZero === true) {
      // Nothing was written there before this round, and a range is written once per round.
    } else if (target.caps.canWriteZeroes) {
      await target.writeZeroes(offset, length);
    } else {
      for (let at = offset; at < offset + length; at += options.blockSize) {
        await target.write(at, zero.subarray(0, Math.min(options.blockSize, offset + length - at)));
      }
    }
    counters.bytesZeroed += length;
  }

  async function worker(index: number): Promise<void> {
    const source = options.sources[index % options.sources.length];
    const target = options.targets[index % options.targets.length];
    const buffer = pool[index];
    let targetBuffer: Buffer | undefined;
    const hasher = xxh3.Xxh3.withSeed();
    const digestOf = (data: Buffer): bigint => {
      hasher.reset();
      return hasher.update(data).digest();
    };
    for (;;) {
      if (failure !== undefined) return;
      const request = await dispatcher.next();
      if (request === undefined || failure !== undefined) return;
      const { offset, length, kind } = request;
      if (kind === "zero") {
        await writeZeroes(target, offset, length);
      } else if (kind === "data") {
        await options.throttle?.take(length, options.signal);
        const data = await source.read(offset, length, buffer);
        counters.bytesRead += length;
        // Once the copy is stopped (aborted, or another worker failed), nothing more is written.
        if (failure !== undefined) return;
        if (isZero(data)) {
          await writeZeroes(target, offset, length);
        } else {
          await target.write(offset, data);
          counters.bytesWritten += length;
        }
      } else {
        targetBuffer ??= Buffer.allocUnsafe(options.blockSize);
        const current = await target.read(offset, length, targetBuffer);
        if (failure !== undefined) return;
        if (kind === "compare-zero") {
          if (isZero(current)) counters.bytesSkipped += length;
          else await writeZeroes(target, offset, length);
        } else {
          await options.throttle?.take(length, options.signal);
          const data = await source.read(offset, length, buffer);
          counters.bytesRead += length;
          if (failure !== undefined) return;
          if (digestOf(data) === digestOf(current)) {
            counters.bytesSkipped += length;
          } else if (isZero(data)) {
            await writeZeroes(target, offset, length);
          } else {
            await target.write(offset, data);
            counters.bytesWritten += length;
          }
        }
      }
      dispatcher.complete(request);
      options.meter.add(length);
    }
  }

  const onAbort = (): void => {
    failure ??= options.signal?.reason ?? new Error("aborted");
    dispatcher.stop();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (options.signal?.aborted) onAbort();
    await Promise.all(
      Array.from({ length: options.workers }, (_, index) =>
        worker(index).catch((err: unknown) => {
          failure ??= err;
          dispatcher.stop();
        }),
      ),
    );
    if (failure !== undefined) {
      // Keep what was done: a resumed round starts from here.
      await dispatcher.checkpointNow().catch(() => undefined);
      throw failure;
    }
    // A checkpoint still being written must land before the caller removes the journal.
    await dispatcher.settle();
    options.meter.setPhase("flush");
    await flushAll(options.targets);
    return counters;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** Flushes each target connection (once for a multi-conn export, where one flush covers all). */
async function flushAll(targets: readonly BlockDevice[]): Promise<void> {
  const distinct = [...new Set(targets)];
  const toFlush = distinct[0]?.caps.canMultiConn ? distinct.slice(0, 1) : distinct;
  await Promise.all(toFlush.filter((t) => t.caps.canFlush).map((t) => t.flush()));
}

/**
 * Hands out requests in order, tracks which are in flight, and checkpoints: the frontier is the
 * offset of the oldest request in flight; the requests completed beyond it are listed.
 */
class Dispatcher {
  private readonly iterator: AsyncIterator<CopyRequest>;
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Requests issued, oldest first, with their completion. */
  private readonly inFlight: Array<{ request: CopyRequest; done: boolean }> = [];
  private inFlightHead = 0;
  /** Completed requests at or beyond the frontier. */
  private completedAhead: CopyRequest[] = [];
  private lastIssuedOffset = 0;
  private bytesDone = 0;
  /** Source bytes issued since the last checkpoint on disk, and since the one being written. */
  private sincePersisted = 0;
  private sinceWriting = 0;
  private writing: Promise<void> | undefined;
  private readonly budget: number;

  constructor(private readonly options: CopierOptions) {
    this.iterator = options.requests[Symbol.asyncIterator]();
    const inFlightBytes = options.workers * options.blockSize;
    this.budget = options.checkpoint === undefined ? Infinity : Math.max(options.checkpoint.intervalBytes - inFlightBytes, options.blockSize);
  }

  /** The next request, or undefined when there are none left or the copy stopped. */
  next(): Promise<CopyRequest | undefined> {
    const pulled = this.chain.then(() => this.pull());
    this.chain = pulled.catch(() => undefined);
    return pulled;
  }

  stop(): void {
    this.stopped = true;
  }

  complete(request: CopyRequest): void {
    const entry = this.inFlight.find((e, i) => i >= this.inFlightHead && e.request === request);
    if (entry !== undefined) entry.done = true;
    while (this.inFlightHead < this.inFlight.length && this.inFlight[this.inFlightHead].done) this.inFlightHead++;
    if (this.inFlightHead > 1024) {
      this.inFlight.splice(0, this.inFlightHead);
      this.inFlightHead = 0;
    }
    if (this.options.checkpoint !== undefined) this.completedAhead.push(request);
    this.bytesDone += request.length;
    if (this.options.checkpoint !== undefined && this.writing === undefined && this.sincePersisted >= this.budget / 2) this.startCheckpoint();
  }

  /** Waits for the checkpoint being written, if any. */
  async settle(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  /** Writes a checkpoint of what is complete now (waiting for one being written first). */
  async checkpointNow(): Promise<void> {
    if (this.options.checkpoint === undefined) return;
    if (this.writing !== undefined) await this.writing;
    this.startCheckpoint();
    await this.writing;
  }

  private async pull(): Promise<CopyRequest | undefined> {
    if (this.stopped) return undefined;
    const next = await this.iterator.next();
    if (next.done === true || this.stopped) return undefined;
    const request = next.value;
    if (readsSource(request.kind)) {
      while (this.sincePersisted > 0 && this.sincePersisted + request.length > this.budget) {
        if (this.writing === undefined) this.startCheckpoint();
        await this.writing;
        if (this.stopped) return undefined;
      }
      this.sincePersisted += request.length;
      this.sinceWriting += request.length;
    }
    this.inFlight.push({ request, done: false });
    this.lastIssuedOffset = request.offset;
    return request;
  }

  private frontier(): number {
    return this.inFlightHead < this.inFlight.length ? this.inFlight[this.inFlightHead].request.offset : this.lastIssuedOffset;
  }

  private startCheckpoint(): void {
    const sink = this.options.checkpoint;
    if (sink === undefined) return;
    const frontier = this.frontier();
    this.completedAhead = this.completedAhead.filter((r) => r.offset >= frontier);
    const done = this.completedAhead.map((r) => ({ offset: r.offset, length: r.length }));
    const bytesDone = this.bytesDone;
    this.sinceWriting = 0;
    this.writing = (async () => {
      try {
        await flushAll(this.options.targets);
        await sink.write(frontier, done, bytesDone);
        this.sincePersisted = this.sinceWriting;
      } finally {
        this.writing = undefined;
      }
    })();
    this.writing.catch(() => undefined);
  }
}
