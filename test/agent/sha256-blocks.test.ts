import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { hashBlocks } from "../../lib/replication/block-hashes";
import { BlockDigests, blocksTouched, parseBlockDigests, type BlockDigestIdentity } from "../../lib/replication/sha256-blocks";
import { DIGEST_ALGORITHM, DIGEST_BLOCK, digest, openDevice } from "../../lib/replication";
import { tempDir } from "../helpers/tmp";

const dir = tempDir("rehost-block-digests-");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function identity(size: number, stamp = "after-round:0"): BlockDigestIdentity {
  return { target: "/dev/vdb", size, algorithm: DIGEST_ALGORITHM, block: DIGEST_BLOCK, stamp };
}

async function blockDigestsOf(file: string, blocks?: readonly number[]) {
  const device = await openDevice(file);
  try {
    return await hashBlocks(device, device.size, blocks);
  } finally {
    await device.close();
  }
}

describe("block digests", () => {
  it("updated with the re-hashed touched blocks, equal the digest of the whole disk read again", async () => {
    const write = fc.record({
      offset: fc.nat({ max: 5 * DIGEST_BLOCK }),
      length: fc.integer({ min: 1, max: DIGEST_BLOCK + 4096 }),
      byte: fc.integer({ min: 0, max: 255 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 5 * DIGEST_BLOCK + 1000 }), fc.array(write, { maxLength: 4 }), async (size, writes) => {
        const file = path.join(dir, "disk.raw");
        fs.writeFileSync(file, Buffer.alloc(size, 0x11));
        const full = await blockDigestsOf(file);
        const kept = new BlockDigests(identity(size), full.hashes);
        expect(kept.digest()).toEqual(await digest(file));

        const fd = fs.openSync(file, "r+");
        const inside = writes.map((w) => ({ ...w, length: Math.max(0, Math.min(w.length, size - w.offset)) })).filter((w) => w.length > 0);
        for (const w of inside) fs.writeSync(fd, Buffer.alloc(w.length, w.byte), 0, w.length, w.offset);
        fs.closeSync(fd);
        const touched = blocksTouched(inside, size);
        const read = await blockDigestsOf(file, touched);
        expect(read.bytesRead).toBe(touched.reduce((sum, b) => sum + Math.min(DIGEST_BLOCK, size - b * DIGEST_BLOCK), 0));
        touched.forEach((b, i) => kept.set(b, read.hashes.subarray(i * 32, i * 32 + 32)));
        expect(kept.digest()).toEqual(await digest(file));
      }),
      { numRuns: 25 },
    );
  });

  it("parses what it serialized, and refuses another identity, a truncated list or a changed hash", () => {
    const size = 3 * DIGEST_BLOCK + 17;
    const hashes = Buffer.alloc(4 * 32);
    for (let i = 0; i < hashes.length; i++) hashes[i] = i;
    const data = new BlockDigests(identity(size), hashes).serialize();
    const parsed = parseBlockDigests(data, identity(size));
    expect(parsed.ok && parsed.digests.hashes.equals(hashes)).toBe(true);

    expect(parseBlockDigests(data, identity(size, "after-round:1"))).toMatchObject({ ok: false, reason: expect.stringMatching(/stamp/) });
    expect(parseBlockDigests(data, { ...identity(size), target: "/dev/vdc" })).toMatchObject({ ok: false, reason: expect.stringMatching(/target/) });
    expect(parseBlockDigests(data, identity(size + DIGEST_BLOCK))).toMatchObject({ ok: false });
    expect(parseBlockDigests(data.subarray(0, data.length - 1), identity(size))).toMatchObject({ ok: false, reason: expect.stringMatching(/bytes of hashes/) });
    const flipped = Buffer.from(data);
    flipped[flipped.length - 5] ^= 1;
    expect(parseBlockDigests(flipped, identity(size))).toMatchObject({ ok: false, reason: expect.stringMatching(/checksum/) });
    expect(parseBlockDigests(Buffer.from("not a header"), identity(size))).toMatchObject({ ok: false });
  });

  it("names the blocks a set of ranges touches, clipped to the disk", () => {
    expect(blocksTouched([], 10 * DIGEST_BLOCK)).toEqual([]);
    expect(
      blocksTouched(
        [
          { offset: DIGEST_BLOCK - 1, length: 2 },
          { offset: 0, length: 1 },
        ],
        10 * DIGEST_BLOCK,
      ),
    ).toEqual([0, 1]);
    expect(blocksTouched([{ offset: 5 * DIGEST_BLOCK, length: DIGEST_BLOCK }], 10 * DIGEST_BLOCK)).toEqual([5]);
    expect(
      blocksTouched(
        [
          { offset: 9 * DIGEST_BLOCK, length: 4 * DIGEST_BLOCK },
          { offset: 20 * DIGEST_BLOCK, length: 1 },
        ],
        10 * DIGEST_BLOCK,
      ),
    ).toEqual([9]);
  });
});
