/**
 * NBD replies as bytes: the pure decoding of a simple reply, a structured reply's chunk header
 * and each chunk's payload (the NBD protocol's "Transmission phase" section). No I/O and no
 * state: `client.ts` decides which bytes are a header or a payload as they arrive (read data goes
 * straight into the caller's buffer, so it is never handed to a parser) and asks this module what
 * they say. Every function returns a decoded value or a `string` naming what is malformed.
 */
import { NBD_REPLY_TYPE_ERROR_OFFSET, NBD_SIMPLE_REPLY_MAGIC, NBD_SIMPLE_REPLY_SIZE, NBD_STRUCTURED_REPLY_MAGIC, NBD_STRUCTURED_REPLY_SIZE } from "./protocol";

/** A 64-bit big-endian number at `at` (offsets up to 2^53). */
export function readUInt64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * 0x100000000 + b.readUInt32BE(at + 4);
}

/** How many header bytes follow the 4-byte magic's reply kind: the whole header's size, or what is wrong. */
export function replyHeaderSize(magic: number): number | string {
  if (magic === NBD_STRUCTURED_REPLY_MAGIC) return NBD_STRUCTURED_REPLY_SIZE;
  if (magic === NBD_SIMPLE_REPLY_MAGIC) return NBD_SIMPLE_REPLY_SIZE;
  return `bad reply magic 0x${magic.toString(16)}`;
}

/** The request handle as two 32-bit halves (rehost's handles fit in the low half). */
export interface Handle {
  readonly high: number;
  readonly low: number;
}

/** A simple reply's header (16 bytes): the error number (0: success) and the handle. */
export interface SimpleReply {
  readonly errno: number;
  readonly handle: Handle;
}

export function parseSimpleReply(header: Buffer): SimpleReply {
  return { errno: header.readUInt32BE(4), handle: { high: header.readUInt32BE(8), low: header.readUInt32BE(12) } };
}

/** A structured reply chunk's header (20 bytes). */
export interface ChunkHeader {
  /** `NBD_REPLY_FLAG_*`. */
  readonly flags: number;
  /** `NBD_REPLY_TYPE_*`. */
  readonly type: number;
  readonly handle: Handle;
  /** Bytes of payload after the header. */
  readonly length: number;
}

export function parseChunkHeader(header: Buffer): ChunkHeader {
  return {
    flags: header.readUInt16BE(4),
    type: header.readUInt16BE(6),
    handle: { high: header.readUInt32BE(8), low: header.readUInt32BE(12) },
    length: header.readUInt32BE(16),
  };
}

/** A byte range a chunk names. */
export interface ChunkRange {
  readonly offset: number;
  readonly length: number;
}

/** Whether a chunk's range lies inside its request's range. */
export function withinRequest(chunk: ChunkRange, request: ChunkRange): boolean {
  return chunk.offset >= request.offset && chunk.offset + chunk.length <= request.offset + request.length;
}

/** An `NBD_REPLY_TYPE_OFFSET_HOLE` payload (12 bytes): a range that reads as zeroes. */
export function parseHoleChunk(payload: Buffer): ChunkRange | string {
  if (payload.length !== 12) return "bad OFFSET_HOLE chunk";
  return { offset: readUInt64(payload, 0), length: payload.readUInt32BE(8) };
}

/** One descriptor of a block-status chunk: a length and the context's flags for it. */
export interface StatusDescriptor {
  readonly length: number;
  readonly flags: number;
}

/** An `NBD_REPLY_TYPE_BLOCK_STATUS` payload: the context id and its descriptors in order. */
export function parseBlockStatusChunk(payload: Buffer): { contextId: number; descriptors: StatusDescriptor[] } | string {
  if (payload.length < 12 || (payload.length - 4) % 8 !== 0) return "bad BLOCK_STATUS chunk";
  const descriptors: StatusDescriptor[] = [];
  for (let i = 4; i < payload.length; i += 8) descriptors.push({ length: payload.readUInt32BE(i), flags: payload.readUInt32BE(i + 4) });
  return { contextId: payload.readUInt32BE(0), descriptors };
}

/** An error chunk's content. */
export interface ErrorChunk {
  readonly errno: number;
  readonly message: string;
  /** `NBD_REPLY_TYPE_ERROR_OFFSET`: where the error is. */
  readonly offset?: number;
}

/** An error chunk's payload (any type with bit 15 set: an unknown error type is still an error), or what is wrong with it. */
export function parseErrorChunk(type: number, payload: Buffer): ErrorChunk | string {
  if (!(type & 0x8000)) return `unknown chunk type ${type}`;
  if (payload.length < 6) return "short error chunk";
  const errno = payload.readUInt32BE(0);
  const messageLength = payload.readUInt16BE(4);
  const message = payload.toString("utf8", 6, Math.min(payload.length, 6 + messageLength));
  const offset = type === NBD_REPLY_TYPE_ERROR_OFFSET && payload.length >= 6 + messageLength + 8 ? readUInt64(payload, 6 + messageLength) : undefined;
  return { errno, message, ...(offset !== undefined ? { offset } : {}) };
}
