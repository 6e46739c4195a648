/**
 * Pushed rounds against a real agent on loopback: a proxy's frames applied in order and checked
 * by their hashes, resumed after a dropped link, and compared block by block.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgentRequestError } from "../../lib/agent/client";
import { dataFrame, endFrame, zeroFrame } from "../../lib/link/frames";
import { digest, openDevice } from "../../lib/replication";
import { hashBlocks } from "../../lib/replication/block-hashes";
import { tempDir } from "../helpers/nbd-servers";
import { fileSha256, MiB, makeTarget, startTestAgent } from "./fixtures";

const dir = tempDir("rehost-push-");
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers) await c();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The frames of `ranges` of `image`: data as it is, zero ranges as ZERO frames. */
async function* framesOf(
  image: Buffer,
  ranges: ReadonlyArray<{ offset: number; length: number }>,
  options: { corruptAt?: number; stopAfter?: number } = {},
): AsyncGenerator<Buffer> {
  let sent = 0;
  for (const r of ranges) {
    for (let at = r.offset; at < r.offset + r.length; at += MiB) {
      const data = image.subarray(at, Math.min(at + MiB, r.offset + r.length));
      // The sender stops without its END frame, as when its link drops.
      if (options.stopAfter !== undefined && sent >= options.stopAfter) return;
      sent++;
      if (data.every((b) => b === 0)) {
        yield zeroFrame(at, data.length);
      } else {
        const [header, payload] = dataFrame(at, data);
        const bad = at === options.corruptAt ? Buffer.from(payload).fill(0xff, 0, 16) : payload;
        yield header;
        yield bad;
      }
    }
  }
  yield endFrame(image.length, { ranges: ranges.length });
}

describe("pushed rounds", () => {
  it("apply a round's frames, then only the changed ranges, with an incremental digest", async () => {
    const target = path.join(dir, "target.raw");
    makeTarget(target, 16);
    const { agent, client } = await startTestAgent(path.join(dir, "a"), [target]);
    closers.push(() => agent.close());
    await client.register({ id: "web-01-disk-2000", source: { pushedBy: "test proxy, VM web-01, disk 2000" }, target });
    expect((await client.get("web-01-disk-2000")).state).toBe("initial-sync");
    await expect(client.round("web-01-disk-2000", 1, "hash")).rejects.toThrow(/pushed by test proxy/);

    const image = Buffer.alloc(16 * MiB);
    crypto.randomFillSync(image, 0, 10 * MiB);
    const round0 = await client.push(
      "web-01-disk-2000",
      { round: 0, snapshot: "snapshot-1", size: image.length },
      framesOf(image, [{ offset: 0, length: 16 * MiB }]),
    );
    expect(round0).toMatchObject({ round: 0, changed: "push", snapshot: "snapshot-1", bytesWritten: 10 * MiB, bytesZeroed: 6 * MiB, resumed: false });
    const source = path.join(dir, "image.raw");
    fs.writeFileSync(source, image);
    expect(fileSha256(target)).toBe(fileSha256(source));
    expect(round0.digest.digest).toBe((await digest(source)).digest);
    // Pushing the recorded round again is acknowledged, with its record.
    expect((await client.push("web-01-disk-2000", { round: 0, snapshot: "snapshot-1", size: image.length }, framesOf(image, []))).bytesWritten).toBe(10 * MiB);

    crypto.randomFillSync(image, 3 * MiB + 4096, 64 * 1024);
    crypto.randomFillSync(image, 12 * MiB, 8192);
    fs.writeFileSync(source, image);
    const changes = [
      { offset: 3 * MiB + 4096, length: 64 * 1024 },
      { offset: 12 * MiB, length: 8192 },
    ];
    let sent = 0;
    const round1 = await client.push(
      "web-01-disk-2000",
      { round: 1, snapshot: "snapshot-2", size: image.length },
      framesOf(image, changes),
      (n) => (sent += n),
    );
    expect(round1).toMatchObject({ round: 1, bytesWritten: 72 * 1024, digestMode: "incremental" });
    expect(round1.digest.digest).toBe((await digest(source)).digest);
    expect(round1.linkBytes).toBe(sent);
    expect(sent).toBeLessThan(72 * 1024 + 3 * 56 + 200);
  });

  it("refuse a frame whose bytes do not match its hash, and resume from the last range applied", async () => {
    const target = path.join(dir, "resume-target.raw");
    makeTarget(target, 16);
    const { agent, client } = await startTestAgent(path.join(dir, "b"), [target]);
    closers.push(() => agent.close());
    await client.register({ id: "db-01-disk-2000", source: { pushedBy: "test" }, target });
    const image = crypto.randomBytes(16 * MiB);
    const all = [{ offset: 0, length: 16 * MiB }];
    const bad = await client
      .push("db-01-disk-2000", { round: 0, snapshot: "s-1", size: image.length }, framesOf(image, all, { corruptAt: 5 * MiB }))
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(AgentRequestError);
    expect((bad as AgentRequestError).status).toBe(422);
    expect((bad as AgentRequestError).message).toMatch(/offset 5242880 .* does not match its hash/);
    const device = await openDevice(target);
    expect((await device.read(5 * MiB, MiB)).equals(Buffer.alloc(MiB))).toBe(true);
    await device.close();
    let status = await client.get("db-01-disk-2000");
    expect(status.active).toMatchObject({ round: 0, snapshot: "s-1", pushedUpTo: 5 * MiB });

    // The sender stops 8 frames later; the same snapshot pushed again resumes.
    await client.push("db-01-disk-2000", { round: 0, snapshot: "s-1", size: image.length }, framesOf(image, all, { stopAfter: 13 })).catch(() => undefined);
    status = await client.get("db-01-disk-2000");
    expect(status.active!.pushedUpTo).toBe(13 * MiB);
    const done = await client.push("db-01-disk-2000", { round: 0, snapshot: "s-1", size: image.length }, framesOf(image, all));
    expect(done).toMatchObject({ resumed: true, bytesWritten: 3 * MiB });
    fs.writeFileSync(path.join(dir, "resume-image.raw"), image);
    expect(fileSha256(target)).toBe(fileSha256(path.join(dir, "resume-image.raw")));
    // Another snapshot of round 0 after it was recorded is refused; a frozen job takes no push.
    await expect(client.push("db-01-disk-2000", { round: 0, snapshot: "s-2", size: image.length }, framesOf(image, []))).rejects.toThrow(
      /has recorded round 0/,
    );
    await client.freeze("db-01-disk-2000", "p-1");
    await expect(client.push("db-01-disk-2000", { round: 1, snapshot: "s-3", size: image.length }, framesOf(image, []))).rejects.toThrow(
      /frozen for rehearsal point p-1/,
    );
  });

  it("compare source block hashes with the target's, kept or read again", async () => {
    const target = path.join(dir, "compare-target.raw");
    makeTarget(target, 8);
    const { agent, client } = await startTestAgent(path.join(dir, "c"), [target]);
    closers.push(() => agent.close());
    await client.register({ id: "cmp", source: { pushedBy: "test" }, target });
    const image = crypto.randomBytes(8 * MiB);
    await client.push("cmp", { round: 0, snapshot: "s", size: image.length }, framesOf(image, [{ offset: 0, length: 8 * MiB }]));
    const source = path.join(dir, "compare-image.raw");
    fs.writeFileSync(source, image);
    const device = await openDevice(source);
    const { hashes } = await hashBlocks(device, device.size);
    await device.close();
    expect(await client.compare("cmp", 0, hashes)).toMatchObject({ differing: [], compared: 8, bytesRead: 0 });
    // Written behind the agent's back: a file target's kept hashes no longer hold (its stat
    // changed), so it is read again; a fresh compare always reads.
    const fd = fs.openSync(target, "r+");
    fs.writeSync(fd, Buffer.alloc(100, 1), 0, 100, 6 * MiB + 5);
    fs.closeSync(fd);
    expect(await client.compare("cmp", 0, hashes)).toMatchObject({ differing: [6], bytesRead: 8 * MiB });
    expect(await client.compare("cmp", 4, hashes.subarray(4 * 32), true)).toMatchObject({ differing: [6], compared: 4, bytesRead: 4 * MiB });
    await expect(client.compare("cmp", 6, hashes)).rejects.toThrow(/outside the disk's 8 blocks/);
  });
});
