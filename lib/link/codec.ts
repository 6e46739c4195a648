/**
 * Compression of the link's DATA payloads: each frame's range compressed on its own with zstd
 * (one zstd frame per link frame, so a frame decodes without its neighbours and a resumed round
 * needs no state), or sent as it is where compression does not pay.
 *
 * - A cheap probe first: four 4 KiB samples spread over the block are compressed at level 1; when
 *   together they shrink by less than 2 % (already-compressed, encrypted or random data) the block
 *   goes raw without compressing the rest.
 * - Otherwise the block is compressed into a buffer `minSaving` shorter than the block: a result
 *   that does not fit goes raw too, so a compressed payload is always shorter than its range.
 * - The receiver decodes into a buffer of exactly the range's length (no allocation follows
 *   what a frame claims) and the caller checks the bytes against the frame's SHA-256
 *   (`frameData` in `lib/link/frames.ts`): a corrupted payload never yields bytes.
 *
 * The library is zstd-napi (zstd 1.5.7 built from the package's bundled sources when it is
 * installed); its context API compresses into a caller's buffer and reuses one context per
 * stream. bench/README.md ("Link codec") has the measurements behind the choice and the level.
 */
import * as zstd from "zstd-napi/binding";
import { InputError, problem } from "../problems";
import { Codec, LinkProtocolError, type EncodedPayload, type PayloadDecoder, type PayloadEncoder } from "./frames";

/** The level used when a stream names none: the fastest level that still compresses well. */
export const DEFAULT_LEVEL = 1;
/** The levels a stream may use (zstd's negative "fast" levels down to -7, and 1 to 19). */
const MIN_LEVEL = -7;
const MAX_LEVEL = 19;
/** A compressed payload must be at least this fraction shorter than its block. @default 3 % */
const DEFAULT_MIN_SAVING = 0.03;
/** Blocks at least this long are probed before they are compressed. */
export const PROBE_MIN_BLOCK = 64 * 1024;
const PROBE_SAMPLES = 4;
const PROBE_SAMPLE_BYTES = 4096;
/** The probe skips a block whose samples shrink by less than this fraction. */
const PROBE_MIN_SAVING = 0.02;
/** Largest window a decoder accepts (2^24 = 16 MiB, the longest frame). */
const WINDOW_LOG_MAX = 24;

/** Options of a `BlockCompressor`. */
export interface CompressionOptions {
  /** zstd level, -7 to 19. @default 1 */
  readonly level?: number;
  /** Fraction of a block compression must save to be used. @default 0.03 */
  readonly minSaving?: number;
  /** Probe large blocks before compressing them. @default true */
  readonly probe?: boolean;
}

/** What a compressor did so far. */
export interface CodecStats {
  blocks: number;
  /** Bytes of the blocks handed in. */
  bytesIn: number;
  /** Bytes of the payloads handed out (compressed or raw). */
  bytesOut: number;
  compressedBlocks: number;
  /** Blocks sent raw because the probe found them incompressible. */
  rawByProbe: number;
  /** Blocks compressed but sent raw because the result saved too little. */
  rawNoGain: number;
}

/** Checks a level; throws `InputError` naming `field`. */
export function checkLevel(level: number, field = "compression.level"): number {
  if (!Number.isInteger(level) || level < MIN_LEVEL || level > MAX_LEVEL || level === 0) {
    throw new InputError(
      problem({
        field,
        received: String(level),
        expected: `an integer zstd level from ${MIN_LEVEL} to -1 or from 1 to ${MAX_LEVEL}`,
        fix: `use ${DEFAULT_LEVEL} (fast, the default), 3 for a slow line, or a negative level when the CPU is short`,
        message: `The compression level ${level} is not a zstd level`,
      }),
    );
  }
  return level;
}

/**
 * Compresses the blocks of one stream into whole zstd frames. The context and the scratch buffer
 * are the process's (compression runs to its end on this thread); the level and the statistics
 * are the stream's, so each stream has its own compressor.
 */
export class BlockCompressor implements PayloadEncoder {
  readonly stats: CodecStats = { blocks: 0, bytesIn: 0, bytesOut: 0, compressedBlocks: 0, rawByProbe: 0, rawNoGain: 0 };
  private readonly cctx = sharedContext();
  private readonly probeScratch = Buffer.allocUnsafe(zstd.compressBound(PROBE_SAMPLE_BYTES));
  private levelValue: number;
  private readonly minSaving: number;
  private readonly probe: boolean;

  constructor(options: CompressionOptions = {}) {
    this.levelValue = checkLevel(options.level ?? DEFAULT_LEVEL);
    const minSaving = options.minSaving ?? DEFAULT_MIN_SAVING;
    if (!(minSaving >= 0 && minSaving < 1)) throw new RangeError(`minSaving is a fraction from 0 to below 1, not ${minSaving}.`);
    this.minSaving = minSaving;
    this.probe = options.probe ?? true;
  }

  /** The level in use. */
  get level(): number {
    return this.levelValue;
  }

  /** Changes the level for the blocks to come (frames already encoded keep theirs). */
  setLevel(level: number): void {
    this.levelValue = checkLevel(level);
  }

  /** Whether the probe finds `data` incompressible. */
  private incompressible(data: Buffer): boolean {
    if (!this.probe || data.length < PROBE_MIN_BLOCK) return false;
    const step = Math.floor((data.length - PROBE_SAMPLE_BYTES) / (PROBE_SAMPLES - 1));
    let packed = 0;
    for (let i = 0; i < PROBE_SAMPLES; i++) {
      const sample = data.subarray(i * step, i * step + PROBE_SAMPLE_BYTES);
      packed += this.cctx.compress(this.probeScratch, sample, 1);
    }
    return packed > PROBE_SAMPLES * PROBE_SAMPLE_BYTES * (1 - PROBE_MIN_SAVING);
  }

  /** The payload of `data`: one zstd frame shorter than `data` by `minSaving`, or `data` itself. */
  encode(data: Buffer): EncodedPayload {
    this.stats.blocks++;
    this.stats.bytesIn += data.length;
    const raw = (): EncodedPayload => {
      this.stats.bytesOut += data.length;
      return { codec: Codec.None, payload: data };
    };
    if (this.incompressible(data)) {
      this.stats.rawByProbe++;
      return raw();
    }
    const capacity = Math.floor(data.length * (1 - this.minSaving));
    const scratch = sharedScratch(capacity);
    let n: number;
    try {
      n = this.cctx.compress(scratch.subarray(0, capacity), data, this.levelValue);
    } catch {
      // "Destination buffer is too small": compression would not save enough.
      n = -1;
    }
    if (n <= 0 || n >= data.length) {
      this.stats.rawNoGain++;
      return raw();
    }
    const payload = Buffer.allocUnsafeSlow(n);
    scratch.copy(payload, 0, 0, n);
    this.stats.compressedBlocks++;
    this.stats.bytesOut += n;
    return { codec: Codec.Zstd, payload };
  }
}

let context: zstd.CCtx | undefined;
/** The compression context of every compressor of the process: each call makes a whole frame, so the streams share it as they share the scratch. */
function sharedContext(): zstd.CCtx {
  context ??= new zstd.CCtx();
  return context;
}

let scratchBuffer = Buffer.alloc(0);
/**
 * The buffer every compressor of the process compresses into before the payload is copied out:
 * compression runs to its end on this thread, so one buffer serves all the streams at once.
 */
function sharedScratch(bytes: number): Buffer {
  if (scratchBuffer.length < bytes) scratchBuffer = Buffer.allocUnsafeSlow(bytes);
  return scratchBuffer;
}

/** Decodes the payloads of one stream (one context). */
export class BlockDecompressor implements PayloadDecoder {
  private readonly dctx = new zstd.DCtx();

  constructor() {
    this.dctx.setParameter(zstd.DParameter.windowLogMax, WINDOW_LOG_MAX);
  }

  /**
   * Exactly `length` bytes from `payload`; throws `LinkProtocolError` when the payload is not one
   * zstd frame of that content size (corrupt, truncated, or claiming another size).
   */
  decode(codec: Codec, payload: Buffer, length: number): Buffer {
    if (codec === Codec.None) return payload;
    if (codec !== Codec.Zstd) throw new LinkProtocolError(`Unknown codec ${codec}.`);
    let declared: number | null;
    try {
      declared = zstd.getFrameContentSize(payload);
    } catch (err) {
      throw new LinkProtocolError(`The compressed payload is not a zstd frame: ${(err as Error).message}.`);
    }
    if (declared !== null && declared !== length) throw new LinkProtocolError(`The compressed payload holds ${declared} bytes, not the frame's ${length}.`);
    const out = Buffer.allocUnsafeSlow(length);
    let n: number;
    try {
      n = this.dctx.decompress(out, payload);
    } catch (err) {
      throw new LinkProtocolError(`The compressed payload does not decode: ${(err as Error).message}.`);
    }
    if (n !== length) throw new LinkProtocolError(`The compressed payload decodes to ${n} bytes, not the frame's ${length}.`);
    return out;
  }
}

/** The zstd library's version, for logs and the bench. */
export function zstdVersion(): string {
  return zstd.versionString();
}
