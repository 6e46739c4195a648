import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bufferPool, DIRECT_ALIGNMENT, isAligned } from "../../lib/replication/aligned";
import { openFileDevice } from "../../lib/replication/file-device";
import { tempDir } from "../helpers/tmp";

describe("aligned buffers and direct writes", () => {
  let dir = "";
  afterEach(() => {
    if (dir !== "") fs.rmSync(dir, { recursive: true, force: true });
    dir = "";
  });

  it("a pool gives distinct aligned buffers of the size asked for; other buffers are not aligned", () => {
    const pool = bufferPool(4, 5000);
    expect(pool.map((b) => b.length)).toEqual([5000, 5000, 5000, 5000]);
    pool.forEach((b, i) => b.fill(i + 1));
    expect(pool.map((b) => b[0])).toEqual([1, 2, 3, 4]);
    expect(pool.every((b) => b.byteOffset % DIRECT_ALIGNMENT === 0)).toBe(true);
    expect(isAligned(pool[0].subarray(0, 4096))).toBe(true);
    expect(isAligned(pool[0])).toBe(false);
    expect(isAligned(pool[0].subarray(512, 512 + 4096))).toBe(false);
    expect(isAligned(Buffer.alloc(4096))).toBe(false);
  });

  it("aligned, unaligned and short writes all land where asked, and survive flush and reopen", async () => {
    dir = tempDir("rehost-aligned-");
    const file = path.join(dir, "target.img");
    const size = 1024 * 1024 + 3000;
    const device = await openFileDevice(file, { createSize: size });
    const [a, b] = bufferPool(2, 64 * 1024);
    a.fill(0xaa);
    b.fill(0xbb);
    const odd = Buffer.alloc(3000, 0xcc);
    await Promise.all([device.write(0, a), device.write(65536, b), device.write(size - 3000, odd), device.write(200_000, a.subarray(0, 100))]);
    await device.flush();
    await device.close();
    const data = fs.readFileSync(file);
    expect(data.length).toBe(size);
    expect(data.subarray(0, 65536).every((x) => x === 0xaa)).toBe(true);
    expect(data.subarray(65536, 131072).every((x) => x === 0xbb)).toBe(true);
    expect(data.subarray(131072, 200_000).every((x) => x === 0)).toBe(true);
    expect(data.subarray(200_000, 200_100).every((x) => x === 0xaa)).toBe(true);
    expect(data.subarray(size - 3000).every((x) => x === 0xcc)).toBe(true);
  });
});
