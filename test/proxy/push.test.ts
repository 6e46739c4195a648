import { describe, expect, it } from "vitest";
import { readWindows } from "../../lib/proxy/push";

const MiB = 1024 * 1024;

describe("readWindows", () => {
  it("reads each touched block once, whole, with the changed ranges inside it", () => {
    const ranges = [
      { offset: 100, length: 64 * 1024 },
      { offset: MiB + 10, length: 20 },
      { offset: 3 * MiB - 5, length: 3 * MiB },
      { offset: 9 * MiB, length: 10 },
    ];
    const windows = [...readWindows(ranges, 10 * MiB - 7)];
    expect(windows.map((w) => [w.offset / MiB, w.length / MiB, w.firstBlock])).toEqual([
      [0, 4, 0],
      [4, 2, 4],
      [9, (MiB - 7) / MiB, 9],
    ]);
    expect(windows[0].pieces).toEqual([
      { offset: 100, length: 64 * 1024 },
      { offset: MiB + 10, length: 20 },
      { offset: 3 * MiB - 5, length: MiB + 5 },
    ]);
    expect(windows[1].pieces).toEqual([{ offset: 4 * MiB, length: 2 * MiB - 5 }]);
    expect(windows[2].pieces).toEqual([{ offset: 9 * MiB, length: 10 }]);
  });

  it("covers every changed byte exactly once and reads nothing untouched", () => {
    const size = 64 * MiB + 12345;
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let trial = 0; trial < 50; trial++) {
      const ranges: { offset: number; length: number }[] = [];
      let at = rand(2 * MiB);
      while (at < size) {
        const length = Math.min(1 + rand(3 * MiB), size - at);
        ranges.push({ offset: at, length });
        at += length + 1 + rand(4 * MiB);
      }
      const windows = [...readWindows(ranges, size)];
      const pieces = windows.flatMap((w) => w.pieces);
      expect(pieces.reduce((n, p) => n + p.length, 0)).toBe(ranges.reduce((n, r) => n + r.length, 0));
      for (const w of windows) {
        expect(w.offset % MiB).toBe(0);
        expect(w.length).toBeLessThanOrEqual(4 * MiB);
        expect(w.pieces.length).toBeGreaterThan(0);
        for (const p of w.pieces) expect(p.offset >= w.offset && p.offset + p.length <= w.offset + w.length).toBe(true);
        // Every block of a window holds a changed byte.
        for (let b = w.offset; b < w.offset + w.length; b += MiB) expect(w.pieces.some((p) => p.offset < b + MiB && p.offset + p.length > b)).toBe(true);
      }
      for (let i = 1; i < windows.length; i++) expect(windows[i].offset).toBeGreaterThanOrEqual(windows[i - 1].offset + windows[i - 1].length);
    }
  });
});
