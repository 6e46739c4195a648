import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { InputError } from "../../lib/problems";
import { requestsOf, type CopyRequest } from "../../lib/replication/copier";
import { extentSourceFor, mergeExtents, parseExtents, type Segment } from "../../lib/replication/extents";
import { completedAt, Journal } from "../../lib/replication/journal";
import { parseByteCount, parseRate, Throttle } from "../../lib/replication/throttle";
import { tempDir } from "../helpers/tmp";

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

describe("parseRate and parseByteCount", () => {
  it.each([
    ["200M", 200e6],
    ["200MB/s", 200e6],
    ["50Mi", 50 * 2 ** 20],
    ["1GiB", 2 ** 30],
    ["1.5G", 1.5e9],
    ["64k", 64e3],
    ["512", 512],
  ])("%s is %d bytes/s", (text, bytes) => {
    expect(parseRate(text)).toBe(bytes);
  });

  it.each(["", "fast", "-5M", "0", "12Q", "M"])("%j is refused with an InputError naming the bandwidth field", (text) => {
    expect(() => parseRate(text)).toThrow(InputError);
    try {
      parseRate(text);
    } catch (err) {
      expect((err as InputError).problems[0].field).toBe("bandwidth");
    }
  });

  it("parseByteCount returns undefined for text that is not a size", () => {
    expect(parseByteCount("4 Mi")).toBe(4 * 2 ** 20);
    expect(parseByteCount("four")).toBeUndefined();
  });
});

describe("Throttle", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("lets bytes pass at its rate, shared by every taker", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const throttle = new Throttle(1000, 0.1);
    const start = performance.now();
    let passed = 0;
    const takers = [0, 1].map(async () => {
      for (let i = 0; i < 10; i++) {
        await throttle.take(100);
        passed += 100;
      }
    });
    const all = Promise.all(takers);
    await vi.advanceTimersByTimeAsync(1000);
    // 2000 bytes at 1000 B/s with a 100-byte burst: after one second at most 1100 have passed.
    expect(passed).toBeLessThanOrEqual(1100);
    expect(passed).toBeGreaterThanOrEqual(900);
    await vi.advanceTimersByTimeAsync(1100);
    await all;
    expect(passed).toBe(2000);
    expect(performance.now() - start).toBeGreaterThanOrEqual(1900);
  });

  it("rejects a non-positive rate", () => {
    expect(() => new Throttle(0)).toThrow(RangeError);
  });
});

describe("extents lists", () => {
  it("accepts [{offset,length}], vSphere's [{start,length}] and {changedArea}", () => {
    expect(parseExtents([{ offset: 1, length: 2 }])).toEqual([{ offset: 1, length: 2 }]);
    expect(parseExtents([{ start: 5, length: 6 }])).toEqual([{ offset: 5, length: 6 }]);
    expect(parseExtents({ startOffset: 0, length: 100, changedArea: [{ start: 7, length: 8 }] })).toEqual([{ offset: 7, length: 8 }]);
  });

  it("reports one problem per bad entry", () => {
    try {
      parseExtents([{ offset: 1, length: 2 }, { offset: -1, length: 2 }, { offset: "x" }], "cbt.json");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      const problems = (err as InputError).problems;
      expect(problems.map((p) => p.field)).toEqual(["[1]", "[2]"]);
      expect(problems[0].file).toBe("cbt.json");
    }
  });

  it("merges unsorted and overlapping ranges", () => {
    expect(
      mergeExtents([
        { offset: 10, length: 5 },
        { offset: 0, length: 4 },
        { offset: 4, length: 1 },
        { offset: 12, length: 10 },
        { offset: 30, length: 0 },
      ]),
    ).toEqual([
      { offset: 0, length: 5 },
      { offset: 10, length: 12 },
    ]);
  });

  it("an unknown --changed value is an InputError", () => {
    expect(() => extentSourceFor("sometimes" as never)).toThrow(/extent source "sometimes" is not known/);
    expect(() => extentSourceFor("bitmap:" as never)).toThrow(InputError);
  });
});

describe("requestsOf", () => {
  const segmentsArbitrary = fc
    .array(
      fc.record({
        gap: fc.integer({ min: 0, max: 9000 }),
        length: fc.integer({ min: 1, max: 20000 }),
        kind: fc.constantFrom("data", "zero", "compare", "compare-zero"),
      }),
      { maxLength: 12 },
    )
    .map((parts) => {
      let at = 0;
      const segments: Segment[] = [];
      for (const part of parts) {
        at += part.gap;
        segments.push({ offset: at, length: part.length, kind: part.kind as Segment["kind"] });
        at += part.length;
      }
      return { segments, size: at + 777 };
    });

  it("covers every segment, in order, within the block size, and never zeroes bytes outside zero segments", async () => {
    await fc.assert(
      fc.asyncProperty(segmentsArbitrary, fc.constantFrom(1, 512, 4096), fc.constantFrom(4096, 8192), async ({ segments, size }, align, blockSize) => {
        const requests: CopyRequest[] = await collect(requestsOf(fromArray(segments), blockSize, align, size));
        for (let i = 1; i < requests.length; i++) expect(requests[i].offset).toBeGreaterThanOrEqual(requests[i - 1].offset);
        for (const r of requests) {
          expect(r.offset % align === 0 || r.offset === size).toBe(true);
          expect((r.offset + r.length) % align === 0 || r.offset + r.length === size).toBe(true);
          if (r.kind !== "zero") expect(r.length).toBeLessThanOrEqual(blockSize);
          if (r.kind === "zero" || r.kind === "compare-zero") {
            const inside = segments.some((s) => s.kind === r.kind && s.offset <= r.offset && r.offset + r.length <= s.offset + s.length);
            expect(inside).toBe(true);
          }
        }
        for (const s of segments) {
          for (const probe of [s.offset, s.offset + s.length - 1, s.offset + Math.floor(s.length / 2)]) {
            expect(requests.some((r) => r.offset <= probe && probe < r.offset + r.length)).toBe(true);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("Journal", () => {
  const identity = { source: "nbd+unix:///?socket=/s", target: "/dev/vdb", size: 1 << 30, changed: "allocated", blockSize: 2 << 20 };

  it("checkpoints atomically, resumes the same round and refuses another round's journal", async () => {
    const dir = tempDir("rehost-journal-");
    try {
      const file = path.join(dir, "round.journal");
      const journal = Journal.open(file, identity);
      expect(journal.resumedFrom).toBeUndefined();
      await journal.checkpoint(4 << 20, [{ offset: 8 << 20, length: 2 << 20 }], 6 << 20);
      expect(fs.readdirSync(dir)).toEqual(["round.journal"]);

      const resumed = Journal.open(file, identity);
      expect(resumed.resumedFrom?.frontier).toBe(4 << 20);
      const done = completedAt(resumed.resumedFrom);
      expect(done(0, 2 << 20)).toBe(true);
      expect(done(2 << 20, 2 << 20)).toBe(true);
      expect(done(4 << 20, 2 << 20)).toBe(false);
      expect(done(8 << 20, 2 << 20)).toBe(true);
      expect(done(8 << 20, 1 << 20)).toBe(false);

      expect(() => Journal.open(file, { ...identity, changed: "bitmap:b0" })).toThrow(/another round \(its changed differs\)/);
      await resumed.remove();
      expect(fs.existsSync(file)).toBe(false);

      fs.writeFileSync(file, "{not json");
      expect(() => Journal.open(file, identity)).toThrow(InputError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
