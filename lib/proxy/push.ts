/**
 * One disk's push of a round to its agent job.
 *
 * The 1 MiB blocks the changed areas touch are read once each, in windows of up to four blocks,
 * the next windows read ahead while the current one is encoded. From that one read come both the
 * proxy's source-side block hashes (every touched block, whole) and the link frames of the changed
 * ranges inside the window: DATA (compressed where it pays) or ZERO where a range reads zeroes,
 * each paced whole through the stream's throttles. After a dropped link or an agent restart the
 * push asks where the job is and goes on from there with the same snapshot; a frame the agent
 * refuses because its bytes do not match its hash is sent again uncompressed.
 *
 * Memory: the windows in flight of every push of the process share one budget
 * (`READ_AHEAD_BYTES`, 16 MiB): sixteen disks pushing at once read no further ahead than two.
 */
import type { AgentClient } from "../agent/client";
import type { JobStatus, RoundRecord } from "../agent/api";
import type { LinkThrottles } from "../link/bandwidth";
import { BlockCompressor, DEFAULT_LEVEL, zstdVersion, type CodecStats } from "../link/codec";
import { Codec, dataFrame, endFrame, zeroFrame, type PayloadEncoder } from "../link/frames";
import { takeAll, type ScheduledThrottle } from "../link/schedule";
import { blocksTouched, DIGEST_BLOCK, hashBlock, zeroBlockHash } from "../replication/sha256-blocks";
import type { BlockDevice, Extent } from "../replication/device";
import type { Logger } from "../service/log";
import type { DiskCompression } from "./api";
import type { DiskRecord } from "./state";

/** Blocks one read window holds: the longest range a DATA frame carries (4 MiB). */
const WINDOW_BLOCKS = 4;
/** Windows one push keeps read ahead of the one being encoded. */
const READ_AHEAD = 3;
/** Bytes of windows in flight across every push of the process. */
const READ_AHEAD_BYTES = 16 * 1024 * 1024;
/** Bytes a throttled push hands to the link at a time. */
const PACE_BYTES = 256 * 1024;
/** Times a push is tried again after the link or the agent failed. */
const PUSH_ATTEMPTS = 8;

/** The link settings of a proxy's streams. */
export interface LinkSettings {
  /** zstd level of every stream (a disk's registration may name its own), or `off`. @default 1 */
  readonly compressionLevel?: number | "off";
  /** The proxy's and the gateways' bandwidth throttles. @default - no cap */
  readonly throttles?: LinkThrottles;
  /**
   * The encoder of one push of a disk at `level` (`attempt` counts the pushes of the round):
   * @default - a `BlockCompressor` at that level
   */
  readonly encoder?: (
    level: number,
    stream: { readonly vm: string; readonly disk: number; readonly round: number; readonly attempt: number },
  ) => PayloadEncoder & { readonly stats: CodecStats };
}

/** What a push needs around it. */
export interface PushContext {
  readonly link?: LinkSettings;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

/** One disk's round to push. */
export interface PushRequest {
  readonly vm: string;
  readonly disk: DiskRecord;
  /** The snapshot's moref: a push of the same snapshot resumes where the agent is. */
  readonly snapshot: string;
  readonly round: number;
  readonly size: number;
  readonly device: BlockDevice;
  /** The changed ranges, merged and in order. */
  readonly ranges: readonly Extent[];
  /** Called with the SHA-256 of every touched block the push reads (whole, from the frozen disk). */
  readonly onBlock?: (block: number, hash: Buffer) => void;
}

/** What a disk's push did: the agent's record, how its frames were encoded, and what it read. */
export interface Pushed {
  readonly record: RoundRecord;
  readonly compression: DiskCompression;
  /** Bytes read from the source over every attempt. */
  readonly bytesRead: number;
  /**
   * The touched blocks no attempt read, in order (so `onBlock` never had them): those the agent
   * had applied before this round's first attempt began, or all when it had the whole round.
   */
  readonly unread: readonly number[];
}

/** What one disk's pushes put on the link, over every attempt of the round. */
interface SendCounters {
  /** Bytes of DATA ranges sent (before compression), and of their payloads on the link. */
  dataBytes: number;
  payloadBytes: number;
  zstdFrames: number;
  rawFrames: number;
  zeroFrames: number;
  /** DATA frames the agent refused (their bytes did not match their hash): sent again uncompressed. */
  refusedFrames: number;
  bytesRead: number;
}

/** One attempt's stream: how its frames are encoded and paced. */
interface PushStream {
  /** Undefined: compression is off. */
  readonly encoder?: PayloadEncoder;
  /** Offsets of DATA frames the agent refused: sent raw from now on. */
  readonly rawAt: ReadonlySet<number>;
  readonly throttles: readonly ScheduledThrottle[];
  readonly counters: SendCounters;
  readonly onBlock?: (block: number, hash: Buffer) => void;
  readonly signal?: AbortSignal;
}

/** Pushes the round to the disk's job, resuming after failures; see the module's comment. */
export async function pushRound(ctx: PushContext, agent: AgentClient, request: PushRequest): Promise<Pushed> {
  const { vm, disk, snapshot, round, size, device, ranges } = request;
  const level = disk.compressionLevel ?? ctx.link?.compressionLevel ?? DEFAULT_LEVEL;
  const counters: SendCounters = { dataBytes: 0, payloadBytes: 0, zstdFrames: 0, rawFrames: 0, zeroFrames: 0, refusedFrames: 0, bytesRead: 0 };
  const rawAt = new Set<number>();
  const throttles = ctx.link?.throttles?.throttlesFor(disk.agentUrl) ?? [];
  // Every attempt reads each window from its `from` on, so what none read lies below the lowest.
  let readFrom = Infinity;
  const done = (record: RoundRecord): Pushed => ({
    record,
    compression: compressionOf(level, counters),
    bytesRead: counters.bytesRead,
    unread: blocksBelow(ranges, size, readFrom),
  });
  let lastError: unknown;
  for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
    ctx.signal?.throwIfAborted();
    let job: JobStatus | undefined;
    try {
      job = await agent.get(disk.jobId);
    } catch (err) {
      lastError = err;
      await backoff(attempt, ctx.signal);
      continue;
    }
    if (job.lastRound?.round === round && job.lastRound.snapshot === snapshot) return done(job.lastRound);
    const from = job.active?.round === round && job.active.snapshot === snapshot ? (job.active.pushedUpTo ?? 0) : 0;
    readFrom = Math.min(readFrom, from);
    const encoder = level === "off" ? undefined : (ctx.link?.encoder?.(level, { vm, disk: disk.key, round, attempt }) ?? new BlockCompressor({ level }));
    const stream: PushStream = { encoder, rawAt, throttles, counters, onBlock: request.onBlock, signal: ctx.signal };
    try {
      return done(await agent.push(disk.jobId, { round, snapshot, size }, framesOf(device, ranges, from, size, stream)));
    } catch (err) {
      lastError = err;
      const status = (err as { status?: number }).status ?? 0;
      // Refusals other than a bad frame (422) or an agent in trouble (5xx, unreachable) are final.
      if (status !== 0 && status !== 422 && status < 500) throw err;
      const refused = (err as { body?: { frameOffset?: unknown } }).body?.frameOffset;
      if (status === 422 && typeof refused === "number") {
        counters.refusedFrames++;
        rawAt.add(refused);
        ctx.logger.log("warn", "the agent refused a frame whose bytes do not match its hash; it is sent again uncompressed", {
          job: disk.jobId,
          round,
          offset: refused,
          attempt,
        });
        // Sent again at once; a link or agent failure waits first.
        continue;
      }
      ctx.logger.log("warn", "push interrupted; resuming", { job: disk.jobId, round, attempt, error: String(err) });
      await backoff(attempt, ctx.signal);
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

function compressionOf(level: number | "off", counters: SendCounters): DiskCompression {
  return {
    codec: level === "off" ? "none" : `zstd ${zstdVersion()}`,
    ...(level !== "off" ? { level } : {}),
    dataBytes: counters.dataBytes,
    payloadBytes: counters.payloadBytes,
    ratio: counters.payloadBytes > 0 ? Number((counters.dataBytes / counters.payloadBytes).toFixed(3)) : 1,
    zstdFrames: counters.zstdFrames,
    rawFrames: counters.rawFrames,
    zeroFrames: counters.zeroFrames,
    refusedFrames: counters.refusedFrames,
  };
}

/** A read window: whole touched blocks, and the changed ranges inside them. */
interface Window {
  readonly offset: number;
  readonly length: number;
  readonly firstBlock: number;
  readonly pieces: readonly Extent[];
}

/**
 * The read windows of `ranges` (merged, in order) on a disk of `size` bytes: runs of touched
 * blocks, at most `WINDOW_BLOCKS` a window, each with the parts of the ranges it holds.
 */
export function* readWindows(ranges: readonly Extent[], size: number): Generator<Window> {
  const blocks = blocksTouched(ranges, size);
  let r = 0;
  for (let i = 0; i < blocks.length;) {
    let n = 1;
    while (n < WINDOW_BLOCKS && i + n < blocks.length && blocks[i + n] === blocks[i] + n) n++;
    const offset = blocks[i] * DIGEST_BLOCK;
    const end = Math.min((blocks[i] + n) * DIGEST_BLOCK, size);
    while (r < ranges.length && ranges[r].offset + ranges[r].length <= offset) r++;
    const pieces: Extent[] = [];
    for (let k = r; k < ranges.length && ranges[k].offset < end; k++) {
      const from = Math.max(ranges[k].offset, offset);
      const to = Math.min(ranges[k].offset + ranges[k].length, end);
      if (to > from) pieces.push({ offset: from, length: to - from });
    }
    yield { offset, length: end - offset, firstBlock: blocks[i], pieces };
    i += n;
  }
}

/** The blocks of the read windows that end at or below `offset` (the windows a push from `offset` skips). */
function blocksBelow(ranges: readonly Extent[], size: number, offset: number): number[] {
  const blocks: number[] = [];
  for (const window of readWindows(ranges, size)) {
    if (window.offset + window.length > offset) break;
    for (let b = window.firstBlock; b * DIGEST_BLOCK < window.offset + window.length; b++) blocks.push(b);
  }
  return blocks;
}

/** The shared budget of read-ahead bytes: a push with nothing in flight waits for room, the others only take spare room. */
class ReadAheadBudget {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(bytes: number) {
    this.free = bytes;
  }

  tryTake(bytes: number): boolean {
    if (this.free < bytes) return false;
    this.free -= bytes;
    return true;
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    while (!this.tryTake(bytes)) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal?.removeEventListener("abort", wake);
          resolve();
        };
        this.waiting.push(wake);
        signal?.addEventListener("abort", wake, { once: true });
      });
    }
  }

  give(bytes: number): void {
    this.free += bytes;
    for (const wake of this.waiting.splice(0)) wake();
  }
}

const budget = new ReadAheadBudget(READ_AHEAD_BYTES);

/** A window being read. */
interface Reading {
  readonly window: Window;
  readonly data: Promise<Buffer>;
}

/**
 * The frames of `ranges` read from `device`, from the first range ending past `from` (ranges the
 * agent applied before an interruption are not read again), then END.
 */
async function* framesOf(device: BlockDevice, ranges: readonly Extent[], from: number, size: number, stream: PushStream): AsyncGenerator<Buffer> {
  const windows = readWindows(ranges, size);
  const ahead: Reading[] = [];
  let held = 0;
  let next = windows.next();
  const skipApplied = (): void => {
    while (!next.done && next.value.offset + next.value.length <= from) next = windows.next();
  };
  try {
    for (;;) {
      skipApplied();
      while (!next.done && ahead.length < READ_AHEAD) {
        const window = next.value;
        if (ahead.length === 0) await budget.take(window.length, stream.signal);
        else if (!budget.tryTake(window.length)) break;
        held += window.length;
        const data = device.read(window.offset, window.length, Buffer.allocUnsafeSlow(window.length));
        // Awaited in turn below; a failure meanwhile is not an unhandled rejection.
        data.catch(() => undefined);
        ahead.push({ window, data });
        next = windows.next();
        skipApplied();
      }
      const reading = ahead.shift();
      if (reading === undefined) break;
      const data = await reading.data;
      stream.counters.bytesRead += data.length;
      hashWindow(reading.window, data, stream.onBlock);
      for (const piece of reading.window.pieces) {
        if (piece.offset + piece.length <= from) continue;
        yield* paced(frameOf(piece, data.subarray(piece.offset - reading.window.offset, piece.offset - reading.window.offset + piece.length), stream), stream);
      }
      held -= reading.window.length;
      budget.give(reading.window.length);
    }
  } finally {
    budget.give(held);
  }
  yield endFrame(size, { ranges: ranges.length });
}

/** The hashes of a window's blocks, from its bytes. */
function hashWindow(window: Window, data: Buffer, onBlock?: (block: number, hash: Buffer) => void): void {
  if (onBlock === undefined) return;
  for (let at = 0, b = window.firstBlock; at < data.length; at += DIGEST_BLOCK, b++) {
    const block = data.subarray(at, at + DIGEST_BLOCK);
    onBlock(b, isZero(block) ? zeroBlockHash(block.length) : hashBlock(block));
  }
}

/** The frame of one changed piece: ZERO where it reads zeroes, else DATA (its payload compressed where it pays). */
function frameOf(piece: Extent, data: Buffer, stream: PushStream): Buffer[] {
  const c = stream.counters;
  if (isZero(data)) {
    c.zeroFrames++;
    return [zeroFrame(piece.offset, piece.length)];
  }
  const frame = dataFrame(piece.offset, data, undefined, stream.rawAt.has(piece.offset) ? undefined : stream.encoder);
  c.dataBytes += piece.length;
  c.payloadBytes += frame[1].length;
  if (frame[0].readUInt8(5) === Codec.None) c.rawFrames++;
  else c.zstdFrames++;
  return frame;
}

/** A frame's parts, through the stream's throttles in slices, so a capped link carries a steady flow rather than a frame's burst. */
async function* paced(frame: Buffer[], stream: PushStream): AsyncGenerator<Buffer> {
  if (stream.throttles.length === 0) return yield* frame;
  for (const part of frame) {
    for (let i = 0; i < part.length; i += PACE_BYTES) {
      const slice = part.subarray(i, i + PACE_BYTES);
      await takeAll(stream.throttles, slice.length, stream.signal);
      yield slice;
    }
  }
}

const ZERO = Buffer.alloc(WINDOW_BLOCKS * DIGEST_BLOCK);
function isZero(data: Buffer): boolean {
  return data.equals(ZERO.subarray(0, data.length));
}

function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, Math.min(30_000, 500 * 2 ** (attempt - 1)));
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason ?? new Error("aborted"));
      },
      { once: true },
    );
  });
}
