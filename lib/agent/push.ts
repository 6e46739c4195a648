/**
 * Applying a pushed round: the frames a source proxy sends for one disk (`lib/link/frames.ts`),
 * written to the target in order, each DATA frame's bytes checked against its hash before they
 * are written. Every `checkpointBytes` the target is flushed and the caller records how far the
 * round got (`pushedUpTo`), so a dropped link or a restart resumes from there.
 */
import type { BlockDevice, Extent } from "../replication/device";
import { mergeExtents } from "../replication/extents/list";
import { BlockDecompressor } from "../link/codec";
import { Codec, FrameParser, FrameType, frameData, LinkProtocolError, type Frame } from "../link/frames";

/** What a pushed round wrote so far. */
interface PushCounters {
  /** Every range below this offset that the round sends is on the target and flushed. */
  pushedUpTo: number;
  bytesWritten: number;
  bytesZeroed: number;
  /** Frames received on the link (headers and payloads). */
  linkBytes: number;
  /** DATA frames applied that came compressed (zstd) and as they are, and ZERO frames. */
  zstdFrames: number;
  rawFrames: number;
  zeroFrames: number;
}

/** A DATA frame whose bytes do not match its hash: nothing of it was written. */
class FrameHashError extends Error {
  constructor(
    readonly offset: number,
    readonly length: number,
  ) {
    super(`The frame at offset ${offset} (${length} bytes) does not match its hash; nothing of it was written. Send it again from offset ${offset}.`);
    this.name = "FrameHashError";
  }
}

/** Options of `applyFrames`. */
export interface ApplyOptions {
  /** Frames ending at or below this offset were applied before (a resumed round): skipped. */
  readonly from: number;
  /** The disk's size: no frame may reach past it. */
  readonly size: number;
  /** Bytes written between two checkpoints. */
  readonly checkpointBytes: number;
  /** Called after each flush with what is now durable. */
  onCheckpoint(counters: PushCounters): void;
  readonly signal?: AbortSignal;
}

/** The end of a pushed round. */
export interface PushResult {
  readonly counters: PushCounters;
  /** The ranges this run wrote, merged (not those of an earlier, interrupted run). */
  readonly touched: Extent[];
  /** The sender's summary from the END frame. */
  readonly summary: Record<string, unknown>;
}

/**
 * Reads frames from `stream` and applies them to `target` until the END frame. A compressed
 * payload is decoded (zstd, one context per stream) into exactly its range's length and the
 * decoded bytes checked against the frame's hash before anything is written.
 */
export async function applyFrames(stream: AsyncIterable<Buffer>, target: BlockDevice, options: ApplyOptions): Promise<PushResult> {
  const counters: PushCounters = { pushedUpTo: options.from, bytesWritten: 0, bytesZeroed: 0, linkBytes: 0, zstdFrames: 0, rawFrames: 0, zeroFrames: 0 };
  const decoder = new BlockDecompressor();
  const touched: Extent[] = [];
  let sinceCheckpoint = 0;
  const checkpoint = async (): Promise<void> => {
    if (target.caps.canFlush) await target.flush();
    options.onCheckpoint({ ...counters });
    sinceCheckpoint = 0;
  };
  const apply = async (frame: Frame): Promise<void> => {
    if (frame.type === FrameType.Data) {
      const data = frameData(frame, decoder);
      if (data === undefined) throw new FrameHashError(frame.offset, frame.length);
      await target.write(frame.offset, data);
      counters.bytesWritten += frame.length;
      if (frame.codec === Codec.None) counters.rawFrames++;
      else counters.zstdFrames++;
    } else {
      await target.writeZeroes(frame.offset, frame.length);
      counters.bytesZeroed += frame.length;
      counters.zeroFrames++;
    }
    touched.push({ offset: frame.offset, length: frame.length });
    counters.pushedUpTo = frame.offset + frame.length;
    sinceCheckpoint += frame.length;
    if (sinceCheckpoint >= options.checkpointBytes) await checkpoint();
  };
  try {
    const parser = new FrameParser();
    let last = -1;
    for await (const chunk of stream) {
      options.signal?.throwIfAborted();
      counters.linkBytes += chunk.length;
      for (const frame of parser.push(chunk)) {
        if (frame.type === FrameType.End) {
          await checkpoint();
          return { counters, touched: mergeExtents(touched), summary: parseSummary(frame.payload) };
        }
        const end = frame.offset + frame.length;
        if (frame.offset < last) throw new LinkProtocolError(`Frames out of order: ${frame.offset} after ${last}.`);
        if (end > options.size)
          throw new LinkProtocolError(`The frame at ${frame.offset} (${frame.length} bytes) reaches past the end of the disk (${options.size} bytes).`);
        last = end;
        // Applied before an interruption: skipped.
        if (end > options.from) await apply(frame);
      }
    }
    throw Object.assign(new Error(`The push ended before its last frame, at offset ${counters.pushedUpTo}; it resumes from there.`), { code: "ECONNRESET" });
  } catch (err) {
    // Whatever stopped the round — a dropped link, a bad frame — what is on the disk is kept.
    await checkpoint().catch(() => undefined);
    throw err;
  }
}

function parseSummary(payload: Buffer): Record<string, unknown> {
  try {
    const value = JSON.parse(payload.toString("utf8")) as unknown;
    return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : {};
  } catch {
    throw new LinkProtocolError("The END frame's summary is not JSON.");
  }
}
