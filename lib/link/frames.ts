/**
 * The frames of rehost's proxy–agent link: the changed ranges of one round of one disk, in
 * increasing offset order, each with the SHA-256 of its bytes, so the agent writes nothing it has
 * not checked and a round resumes from the last range it applied.
 *
 * A frame is a 56-byte header and a payload:
 *
 *   offset  size  field
 *   0       4     magic "RHL1"
 *   4       1     type: 1 DATA (payload: the bytes), 2 ZERO (no payload: the range reads zeroes),
 *                 3 END (payload: JSON summary of the round; offset = bytes covered)
 *   5       1     codec of the payload (DATA): 0 = as is, 1 = one zstd frame (`lib/link/codec.ts`),
 *                 whose payload is shorter than its range; other values are refused; 0 for ZERO and END
 *   6       2     reserved, 0
 *   8       8     offset in the disk (bytes, big-endian)
 *   16      4     length of the disk range (bytes): the data's length before any codec
 *   20      4     payload length (bytes on the link)
 *   24      32    SHA-256 of the range's bytes as written to the disk (DATA); zero otherwise
 *
 * This module is pure: it encodes and parses, it sends nothing.
 */
import { createHash } from "node:crypto";

/** `RHL1`. */
const FRAME_MAGIC = 0x52484c31;
/** Bytes of a frame header. */
export const FRAME_HEADER_BYTES = 56;
/** The longest range one frame carries (and the longest payload it may have). */
const MAX_FRAME_LENGTH = 16 * 1024 * 1024;

/** What a frame carries. */
export const FrameType = { Data: 1, Zero: 2, End: 3 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** How a payload is encoded on the link. */
export const Codec = { None: 0, Zstd: 1 } as const;
export type Codec = (typeof Codec)[keyof typeof Codec] | number;

/** A DATA frame's payload as encoded by a `PayloadEncoder`. */
export interface EncodedPayload {
  readonly codec: Codec;
  /** The bytes on the link: the data itself (`Codec.None`) or shorter than it. */
  readonly payload: Buffer;
}

/** Turns a range's bytes into a payload (a compressor; `lib/link/codec.ts`). */
export interface PayloadEncoder {
  encode(data: Buffer): EncodedPayload;
}

/** Turns a payload back into exactly `length` bytes; throws when it cannot. */
export interface PayloadDecoder {
  decode(codec: Codec, payload: Buffer, length: number): Buffer;
}

/** One frame, parsed. */
export interface Frame {
  readonly type: FrameType;
  readonly codec: Codec;
  readonly offset: number;
  /** Bytes of the disk the frame covers (for END: 0). */
  readonly length: number;
  /** SHA-256 of the range's bytes (DATA), 32 zero bytes otherwise. */
  readonly hash: Buffer;
  /** The payload as it came over the link. */
  readonly payload: Buffer;
}

const NO_HASH = Buffer.alloc(32);

/** A malformed stream: the link is closed and the round resumes from its last applied range. */
export class LinkProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LinkProtocolError";
  }
}

/** The SHA-256 the frames carry. */
export function rangeHash(data: Buffer): Buffer {
  return createHash("sha256").update(data).digest();
}

function header(type: FrameType, codec: Codec, offset: number, length: number, payloadLength: number, hash: Buffer): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_BYTES);
  h.writeUInt32BE(FRAME_MAGIC, 0);
  h.writeUInt8(type, 4);
  h.writeUInt8(codec, 5);
  h.writeUInt32BE(Math.floor(offset / 0x100000000), 8);
  h.writeUInt32BE(offset >>> 0, 12);
  h.writeUInt32BE(length, 16);
  h.writeUInt32BE(payloadLength, 20);
  hash.copy(h, 24);
  return h;
}

/**
 * A DATA frame of `data` at `offset` (header and payload). Without `encoder` the payload is
 * `data` itself (not copied); with one, whatever it returns. The hash is always of `data`.
 */
export function dataFrame(offset: number, data: Buffer, hash: Buffer = rangeHash(data), encoder?: PayloadEncoder): Buffer[] {
  if (data.length === 0 || data.length > MAX_FRAME_LENGTH) throw new RangeError(`A data frame carries 1 to ${MAX_FRAME_LENGTH} bytes, not ${data.length}.`);
  const { codec, payload } = encoder?.encode(data) ?? { codec: Codec.None, payload: data };
  if (codec !== Codec.None && codec !== Codec.Zstd) throw new RangeError(`Unknown codec ${codec}.`);
  if (codec === Codec.None ? payload.length !== data.length : payload.length === 0 || payload.length >= data.length) {
    throw new RangeError(`A payload of codec ${codec} of ${payload.length} bytes cannot carry ${data.length} bytes.`);
  }
  return [header(FrameType.Data, codec, offset, data.length, payload.length, hash), payload];
}

/** A ZERO frame: `length` bytes at `offset` read zeroes. */
export function zeroFrame(offset: number, length: number): Buffer {
  if (length <= 0 || length > 0xffffffff) throw new RangeError(`A zero frame covers 1 to 4294967295 bytes, not ${length}.`);
  return header(FrameType.Zero, Codec.None, offset, length, 0, NO_HASH);
}

/** The END frame: the round's data is complete; `summary` says what was sent. */
export function endFrame(covered: number, summary: Record<string, unknown>): Buffer {
  const payload = Buffer.from(JSON.stringify(summary), "utf8");
  return Buffer.concat([header(FrameType.End, Codec.None, covered, 0, payload.length, NO_HASH), payload]);
}

/**
 * Parses a byte stream into frames, chunk by chunk (chunks may split headers and payloads
 * anywhere). Throws `LinkProtocolError` on a bad magic, type or length.
 */
export class FrameParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private head: { type: FrameType; codec: Codec; offset: number; length: number; payloadLength: number; hash: Buffer } | undefined;

  /** Bytes received that do not yet make a whole frame. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /** Adds a chunk; returns the frames it completes, in order. */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.head === undefined) {
        if (this.pendingBytes < FRAME_HEADER_BYTES) return frames;
        this.head = parseHeader(this.take(FRAME_HEADER_BYTES));
      }
      if (this.pendingBytes < this.head.payloadLength) return frames;
      const payload = this.take(this.head.payloadLength);
      const { type, codec, offset, length, hash } = this.head;
      this.head = undefined;
      frames.push({ type, codec, offset, length, hash, payload });
    }
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const joined = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }
}

function parseHeader(h: Buffer): { type: FrameType; codec: Codec; offset: number; length: number; payloadLength: number; hash: Buffer } {
  const magic = h.readUInt32BE(0);
  if (magic !== FRAME_MAGIC) throw new LinkProtocolError(`Not a rehost link frame (magic 0x${magic.toString(16).padStart(8, "0")}).`);
  const type = h.readUInt8(4) as FrameType;
  if (type !== FrameType.Data && type !== FrameType.Zero && type !== FrameType.End) throw new LinkProtocolError(`Unknown frame type ${type}.`);
  const codec = h.readUInt8(5);
  const offset = h.readUInt32BE(8) * 0x100000000 + h.readUInt32BE(12);
  if (!Number.isSafeInteger(offset)) throw new LinkProtocolError(`Frame offset ${offset} is beyond 2^53.`);
  const length = h.readUInt32BE(16);
  const payloadLength = h.readUInt32BE(20);
  if (payloadLength > MAX_FRAME_LENGTH + 4096) throw new LinkProtocolError(`Frame payload of ${payloadLength} bytes is longer than ${MAX_FRAME_LENGTH}.`);
  if (codec !== Codec.None && (type !== FrameType.Data || codec !== Codec.Zstd))
    throw new LinkProtocolError(`Frame at ${offset} of type ${type} has unknown codec ${codec}.`);
  if (
    type === FrameType.Data &&
    (length === 0 || length > MAX_FRAME_LENGTH || (codec === Codec.None ? payloadLength !== length : payloadLength === 0 || payloadLength >= length))
  ) {
    throw new LinkProtocolError(`Data frame at ${offset}: range of ${length} bytes with a payload of ${payloadLength} (codec ${codec}).`);
  }
  if (type === FrameType.Zero && (length === 0 || payloadLength !== 0)) throw new LinkProtocolError(`Zero frame at ${offset} has a payload or no range.`);
  return { type, codec, offset, length, payloadLength, hash: Buffer.from(h.subarray(24, 56)) };
}

/**
 * The bytes a frame puts on the disk, decoded by `decoder` when the payload is compressed and
 * checked against the frame's hash; undefined when the payload does not decode to exactly the
 * range's length or the bytes do not match the hash (the frame is to be sent again).
 */
export function frameData(frame: Frame, decoder?: PayloadDecoder): Buffer | undefined {
  if (frame.type !== FrameType.Data) return undefined;
  let data = frame.payload;
  if (frame.codec !== Codec.None) {
    if (decoder === undefined) throw new LinkProtocolError(`Frame at ${frame.offset} uses codec ${frame.codec}, which this side does not read.`);
    try {
      data = decoder.decode(frame.codec, frame.payload, frame.length);
    } catch {
      return undefined;
    }
    if (data.length !== frame.length) return undefined;
  }
  return rangeHash(data).equals(frame.hash) ? data : undefined;
}
