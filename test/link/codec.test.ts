import * as crypto from "node:crypto";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BlockCompressor, BlockDecompressor, checkLevel, PROBE_MIN_BLOCK } from "../../lib/link/codec";
import { Codec, dataFrame, FRAME_HEADER_BYTES, FrameParser, frameData, LinkProtocolError, rangeHash, type Frame } from "../../lib/link/frames";
import { databaseBytes } from "../../lib/lab/realistic-image";
import { InputError } from "../../lib/problems";

const MiB = 1024 * 1024;

function text(bytes: number): Buffer {
  const lines: string[] = [];
  for (let i = 0, n = 0; n < bytes; i++) {
    const line = `Dec  2 05:${String(i % 60).padStart(2, "0")}:00 web-${i % 7} nginx[${1000 + (i % 13)}]: GET /api/orders/${i * 7919} 200 ${i % 977}ms\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join("")).subarray(0, bytes);
}

/** Encodes `data` as one frame, sends it through a parser and returns the parsed frame. */
function overTheLink(offset: number, data: Buffer, compressor: BlockCompressor): Frame {
  const wire = Buffer.concat(dataFrame(offset, data, rangeHash(data), compressor));
  const frames = new FrameParser().push(wire);
  expect(frames).toHaveLength(1);
  return frames[0];
}

describe("link codec", () => {
  it("round-trips compressible data compressed, with the codec byte set and the hash of the uncompressed bytes", () => {
    const compressor = new BlockCompressor();
    const decompressor = new BlockDecompressor();
    for (const data of [text(MiB), databaseBytes(2 * MiB, 7), text(5000)]) {
      const frame = overTheLink(12 * MiB, data, compressor);
      expect(frame.codec).toBe(Codec.Zstd);
      expect(frame.length).toBe(data.length);
      expect(frame.payload.length).toBeLessThan(data.length / 2);
      expect(frame.hash.equals(rangeHash(data))).toBe(true);
      expect(frameData(frame, decompressor)?.equals(data)).toBe(true);
    }
    expect(compressor.stats.compressedBlocks).toBe(3);
    expect(compressor.stats.bytesOut).toBeLessThan(compressor.stats.bytesIn / 2);
  });

  it("round-trips any data, compressed or raw, however it is cut", () => {
    const compressor = new BlockCompressor();
    const decompressor = new BlockDecompressor();
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.constantFrom(Buffer.alloc(777, 9), text(3000))), { minLength: 1, maxLength: 40 }),
        (parts) => {
          const data = Buffer.concat(parts.map((p) => Buffer.from(p)));
          const frame = overTheLink(0, data, compressor);
          expect(frame.codec === Codec.None ? frame.payload.length === data.length : frame.payload.length < data.length).toBe(true);
          expect(frameData(frame, decompressor)?.equals(data)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("sends random data raw: large blocks by the probe, small ones because compressing them saves nothing", () => {
    const compressor = new BlockCompressor();
    const big = crypto.randomBytes(4 * MiB);
    const frame = overTheLink(0, big, compressor);
    expect(frame.codec).toBe(Codec.None);
    expect(frame.payload.length).toBe(big.length);
    expect(compressor.stats.rawByProbe).toBe(1);
    const small = crypto.randomBytes(PROBE_MIN_BLOCK / 2);
    expect(overTheLink(0, small, compressor).codec).toBe(Codec.None);
    expect(compressor.stats.rawNoGain).toBe(1);
    expect(compressor.stats.bytesOut).toBe(compressor.stats.bytesIn);
    // Raw frames read back without a decoder.
    expect(frameData(frame)?.equals(big)).toBe(true);
  });

  it("compresses a block that is mostly compressible even when part of it is random", () => {
    const compressor = new BlockCompressor();
    const data = Buffer.concat([crypto.randomBytes(MiB / 4), text((3 * MiB) / 4)]);
    const frame = overTheLink(0, data, compressor);
    expect(frame.codec).toBe(Codec.Zstd);
    expect(frame.payload.length).toBeLessThan(data.length * 0.5);
  });

  it("never yields bytes from a corrupted, truncated, swapped or oversized compressed payload", () => {
    const compressor = new BlockCompressor();
    const decompressor = new BlockDecompressor();
    const data = databaseBytes(MiB, 3);
    const frame = overTheLink(4 * MiB, data, compressor);
    expect(frame.codec).toBe(Codec.Zstd);
    const withPayload = (payload: Buffer): Frame => ({ ...frame, payload });

    // Every single-byte corruption across the payload is caught by the decoder or by the hash.
    for (let at = 0; at < frame.payload.length; at += Math.max(1, Math.floor(frame.payload.length / 64))) {
      const bad = Buffer.from(frame.payload);
      bad[at] ^= 0x5a;
      expect(frameData(withPayload(bad), decompressor)).toBeUndefined();
    }
    expect(frameData(withPayload(frame.payload.subarray(0, frame.payload.length - 10)), decompressor)).toBeUndefined();
    // A valid zstd frame of other bytes of the same length: decodes, fails the hash.
    const other = Buffer.from(data);
    other[1000] ^= 1;
    const swapped = new BlockCompressor().encode(other);
    expect(swapped.codec).toBe(Codec.Zstd);
    expect(frameData(withPayload(swapped.payload), decompressor)).toBeUndefined();
    // A zstd frame of more bytes than the range: refused, never decoded into a larger buffer.
    const longer = new BlockCompressor().encode(Buffer.concat([data, data]));
    expect(() => decompressor.decode(Codec.Zstd, longer.payload, data.length)).toThrow(LinkProtocolError);
    expect(frameData(withPayload(longer.payload), decompressor)).toBeUndefined();
    expect(() => decompressor.decode(Codec.Zstd, Buffer.from("not zstd at all"), 100)).toThrow(/not a zstd frame/);
    // The intact frame still decodes with the same decoder.
    expect(frameData(frame, decompressor)?.equals(data)).toBe(true);
  });

  it("refuses a compressed frame without a decoder, an unknown codec and a compressed payload not shorter than its range", () => {
    const data = text(MiB);
    const frame = overTheLink(0, data, new BlockCompressor());
    expect(() => frameData(frame)).toThrow(/codec 1, which this side does not read/);
    const [head, payload] = dataFrame(0, data, rangeHash(data), new BlockCompressor());
    const unknown = Buffer.from(head);
    unknown.writeUInt8(7, 5);
    expect(() => new FrameParser().push(Buffer.concat([unknown, payload]))).toThrow(/unknown codec 7/);
    const tooLong = Buffer.from(head);
    tooLong.writeUInt32BE(data.length, 20);
    expect(() => new FrameParser().push(tooLong)).toThrow(LinkProtocolError);
    const [zero] = dataFrame(0, data);
    const zeroWithCodec = Buffer.from(zero.subarray(0, FRAME_HEADER_BYTES));
    zeroWithCodec.writeUInt8(2, 4);
    zeroWithCodec.writeUInt32BE(0, 20);
    zeroWithCodec.writeUInt8(Codec.Zstd, 5);
    expect(() => new FrameParser().push(zeroWithCodec)).toThrow(/unknown codec 1/);
  });

  it("takes a level per stream and changes it for the blocks to come", () => {
    const data = databaseBytes(MiB, 11);
    const compressor = new BlockCompressor({ level: -5 });
    const fast = compressor.encode(data).payload.length;
    compressor.setLevel(9);
    expect(compressor.level).toBe(9);
    const strong = compressor.encode(data).payload.length;
    expect(strong).toBeLessThan(fast);
    expect(new BlockDecompressor().decode(Codec.Zstd, compressor.encode(data).payload, data.length).equals(data)).toBe(true);
  });

  it.each([0, 20, -8, 1.5, Number.NaN])("refuses level %s with the field and the allowed range", (level) => {
    expect(() => checkLevel(level)).toThrow(InputError);
    expect(() => new BlockCompressor({ level })).toThrow(/compression\.level.*from -7 to -1 or from 1 to 19/);
  });
});
