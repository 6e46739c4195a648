import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dataFrame, endFrame, FRAME_HEADER_BYTES, FrameParser, frameData, FrameType, LinkProtocolError, rangeHash, zeroFrame } from "../../lib/link/frames";

describe("link frames", () => {
  it("round-trip DATA, ZERO and END frames, however the stream is cut", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({
              kind: fc.constant("data" as const),
              offset: fc.integer({ min: 0, max: 2 ** 40 }),
              data: fc.uint8Array({ minLength: 1, maxLength: 3000 }),
            }),
            fc.record({ kind: fc.constant("zero" as const), offset: fc.integer({ min: 0, max: 2 ** 52 }), length: fc.integer({ min: 1, max: 2 ** 32 - 1 }) }),
          ),
          { maxLength: 20 },
        ),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 10 }),
        (items, cuts) => {
          const wire = Buffer.concat([
            ...items.flatMap((i) => (i.kind === "data" ? dataFrame(i.offset, Buffer.from(i.data)) : [zeroFrame(i.offset, i.length)])),
            endFrame(123, { frames: items.length }),
          ]);
          const parser = new FrameParser();
          const frames: ReturnType<FrameParser["push"]> = [];
          let at = 0;
          for (let k = 0; at < wire.length; k++) {
            const n = cuts[k % cuts.length];
            frames.push(...parser.push(wire.subarray(at, at + n)));
            at += n;
          }
          expect(parser.buffered).toBe(0);
          expect(frames).toHaveLength(items.length + 1);
          items.forEach((item, i) => {
            const f = frames[i];
            expect(f.offset).toBe(item.offset);
            if (item.kind === "data") {
              expect(f.type).toBe(FrameType.Data);
              expect(frameData(f)?.equals(Buffer.from(item.data))).toBe(true);
            } else {
              expect(f.type).toBe(FrameType.Zero);
              expect(f.length).toBe(item.length);
            }
          });
          const end = frames[items.length];
          expect(end.type).toBe(FrameType.End);
          expect(JSON.parse(end.payload.toString())).toEqual({ frames: items.length });
        },
      ),
    );
  });

  it("a corrupted payload fails its hash and is never handed out as data", () => {
    const [head, data] = dataFrame(4096, Buffer.alloc(512, 7));
    const corrupted = Buffer.from(data);
    corrupted[100] ^= 1;
    const [frame] = new FrameParser().push(Buffer.concat([head, corrupted]));
    expect(frameData(frame)).toBeUndefined();
    expect(rangeHash(corrupted).equals(frame.hash)).toBe(false);
  });

  it.each([
    ["a bad magic", (h: Buffer) => h.writeUInt32BE(0xdeadbeef, 0), /magic/],
    ["an unknown type", (h: Buffer) => h.writeUInt8(9, 4), /type 9/],
    ["a data length different from its payload", (h: Buffer) => h.writeUInt32BE(10, 16), /range of 10 bytes/],
    ["a payload over the limit", (h: Buffer) => h.writeUInt32BE(64 * 1024 * 1024, 20), /longer than/],
  ])("refuses %s", (_name, mutate, message) => {
    const [h] = dataFrame(0, Buffer.alloc(64, 1));
    const bad = Buffer.from(h);
    mutate(bad);
    expect(() => new FrameParser().push(Buffer.concat([bad, Buffer.alloc(64)]))).toThrow(LinkProtocolError);
    expect(() => new FrameParser().push(Buffer.concat([bad, Buffer.alloc(64)]))).toThrow(message);
  });

  it("has a 56-byte header", () => {
    expect(zeroFrame(0, 1)).toHaveLength(FRAME_HEADER_BYTES);
  });
});
