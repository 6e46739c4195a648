import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { Changed, JobStatus } from "../../lib/agent/api";
import type { AgentClient } from "../../lib/agent/client";
import { ProcessGroup, startQemuNbd, unixUri } from "../../lib/lab/processes";
import { digest, openDevice } from "../../lib/replication";
import { MiB, makeRawDisk, makeTarget, serveRaw, startTestAgent, until } from "./fixtures";
import { tempDir } from "../helpers/tmp";

const SIZE_MIB = 32;

describe("per-round target digests from kept block hashes", () => {
  const dir = tempDir("rehost-agent-digests-");
  const group = new ProcessGroup();
  const rawImage = path.join(dir, "source.raw");
  const rawTarget = path.join(dir, "target.raw");
  const tamperTarget = path.join(dir, "tamper-target.raw");
  const qcowImage = path.join(dir, "bitmap.qcow2");
  const qcowTarget = path.join(dir, "bitmap-target.raw");
  let agent: RunningAgent;
  let client: AgentClient;
  let rawUri: string;
  let qcowUri: string;

  beforeAll(async () => {
    makeRawDisk(rawImage, SIZE_MIB, SIZE_MIB, "digests");
    makeTarget(rawTarget, SIZE_MIB);
    makeTarget(tamperTarget, SIZE_MIB);
    makeTarget(qcowTarget, SIZE_MIB);
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", qcowImage, `${SIZE_MIB}M`]);
    qemuIo(qcowImage, "write -P 0x11 0 20M");
    execFileSync("qemu-img", ["bitmap", "--add", qcowImage, "bitmap0"]);
    // Dirty since the bitmap was added: 4 KiB inside block 3, 64 KiB across blocks 9/10, a write-zeroes over block 5.
    qemuIo(qcowImage, "write -P 0x5a 3146000 4096", "write -P 0x33 10452992 65536", "write -z 5M 1M");
    rawUri = await serveRaw(group, rawImage, path.join(dir, "raw.sock"));
    await startQemuNbd(group, { image: qcowImage, format: "qcow2", socket: path.join(dir, "qcow.sock"), bitmap: "bitmap0", readOnly: true });
    qcowUri = unixUri(path.join(dir, "qcow.sock"));
    ({ agent, client } = await startTestAgent(dir, [rawTarget, tamperTarget, qcowTarget]));
  });

  afterAll(async () => {
    await agent?.close();
    await group.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cacheFile = (id: string): string => path.join(dir, "state", "digests", `${id}.blocks`);

  async function roundDone(id: string, round: number, changed?: Changed): Promise<JobStatus> {
    if (changed !== undefined) await client.round(id, round, changed);
    const status = await until(
      `round ${round} of ${id}`,
      async () => {
        const s = await client.get(id);
        return s.state === "idle" && s.lastRound?.round === round ? s : undefined;
      },
      30_000,
      () => client.get(id),
    );
    // The reported digest is the target's, recomputed from scratch.
    expect(status.lastRound!.digest).toEqual(await digest(status.target, { length: SIZE_MIB * MiB }));
    return status;
  }

  async function writeSource(offset: number, length: number, byte: number): Promise<void> {
    const writer = await openDevice(rawUri, { write: true });
    await writer.write(offset, Buffer.alloc(length, byte));
    await writer.flush();
    await writer.close();
  }

  it("re-hashes only the blocks an extents round changed, and the digest equals a full one", async () => {
    await client.register({ id: "raw-disk", source: { uri: rawUri }, target: rawTarget, initial: "full" });
    const first = await roundDone("raw-disk", 0);
    expect(first.lastRound!.digestMode).toBe("full");
    expect(first.lastRound!.digestBytesRead).toBe(SIZE_MIB * MiB);
    expect(fs.existsSync(cacheFile("raw-disk"))).toBe(true);

    // 128 KiB inside block 12 and 64 KiB across the boundary of blocks 19 and 20: three blocks.
    await writeSource(12 * MiB + 4096, 128 * 1024, 0x5a);
    await writeSource(20 * MiB - 32 * 1024, 64 * 1024, 0xa5);
    const second = await roundDone("raw-disk", 1, {
      extents: [
        { offset: 20 * MiB - 32 * 1024, length: 64 * 1024 },
        { offset: 12 * MiB + 4096, length: 128 * 1024 },
      ],
    });
    expect(second.lastRound!.digestMode).toBe("incremental");
    expect(second.lastRound!.digestBytesRead).toBe(3 * MiB);
    expect(second.lastRound!.digest.digest).toBe((await digest(rawUri)).digest);
    expect(second.lastRound!.digest.digest).not.toBe(first.lastRound!.digest.digest);

    // The kept hashes survive a restart of the agent between rounds.
    await agent.close();
    ({ agent, client } = await startTestAgent(dir, [rawTarget, tamperTarget, qcowTarget]));
    await writeSource(31 * MiB, 4096, 0x66);
    const third = await roundDone("raw-disk", 2, { extents: [{ offset: 31 * MiB, length: 4096 }] });
    expect(third.lastRound!.digestMode).toBe("incremental");
    expect(third.lastRound!.digestBytesRead).toBe(MiB);
    expect(third.lastRound!.digest.digest).toBe((await digest(rawUri)).digest);
  });

  it("reads the whole target when the kept hashes name another identity, are truncated or the target changed", async () => {
    await client.register({ id: "tamper-disk", source: { uri: rawUri }, target: tamperTarget, initial: "full" });
    expect((await roundDone("tamper-disk", 0)).lastRound!.digestMode).toBe("full");
    await writeSource(MiB, 4096, 0x07);
    expect((await roundDone("tamper-disk", 1, { extents: [{ offset: MiB, length: 4096 }] })).lastRound!.digestMode).toBe("incremental");

    // Another identity: the header names a different target.
    const saved = fs.readFileSync(cacheFile("tamper-disk"));
    const newline = saved.indexOf(0x0a);
    const header = JSON.parse(saved.subarray(0, newline).toString("utf8"));
    fs.writeFileSync(
      cacheFile("tamper-disk"),
      Buffer.concat([Buffer.from(`${JSON.stringify({ ...header, target: "/dev/other" })}\n`), saved.subarray(newline + 1)]),
    );
    await writeSource(2 * MiB, 4096, 0x01);
    const foreign = await roundDone("tamper-disk", 2, { extents: [{ offset: 2 * MiB, length: 4096 }] });
    expect(foreign.lastRound!.digestMode).toBe("full");
    expect(foreign.lastRound!.digestBytesRead).toBe(SIZE_MIB * MiB);

    // Truncated: the last hash is cut off.
    const rebuilt = fs.readFileSync(cacheFile("tamper-disk"));
    fs.writeFileSync(cacheFile("tamper-disk"), rebuilt.subarray(0, rebuilt.length - 7));
    await writeSource(4 * MiB, 4096, 0x02);
    const truncated = await roundDone("tamper-disk", 3, { extents: [{ offset: 4 * MiB, length: 4096 }] });
    expect(truncated.lastRound!.digestMode).toBe("full");
    expect(truncated.lastRound!.digestBytesRead).toBe(SIZE_MIB * MiB);

    // Intact again: the next round is incremental.
    await writeSource(6 * MiB, 4096, 0x03);
    const intact = await roundDone("tamper-disk", 4, { extents: [{ offset: 6 * MiB, length: 4096 }] });
    expect(intact.lastRound!.digestMode).toBe("incremental");
    expect(intact.lastRound!.digestBytesRead).toBe(MiB);

    // The target written outside the agent, in a block no round names: the stamp no longer matches.
    const fd = fs.openSync(tamperTarget, "r+");
    fs.writeSync(fd, Buffer.alloc(512, 0xee), 0, 512, 30 * MiB);
    fs.closeSync(fd);
    const outside = await roundDone("tamper-disk", 5, { extents: [{ offset: 6 * MiB, length: 4096 }] });
    expect(outside.lastRound!.digestMode).toBe("full");
    expect(outside.lastRound!.digest.digest).not.toBe((await digest(rawUri)).digest);

    // A hash round finds and repairs it, and takes its digest in full.
    const repaired = await roundDone("tamper-disk", 6, "hash");
    expect(repaired.lastRound!.digestMode).toBe("full");
    expect(repaired.lastRound!.digest.digest).toBe((await digest(rawUri)).digest);
  });

  it("re-hashes only the blocks a bitmap round marks dirty", async () => {
    await client.register({ id: "qcow-disk", source: { uri: qcowUri }, target: qcowTarget });
    const first = await roundDone("qcow-disk", 0);
    expect(first.lastRound!.digestMode).toBe("full");
    const second = await roundDone("qcow-disk", 1, "bitmap:bitmap0");
    expect(second.lastRound!.digestMode).toBe("incremental");
    // Dirty blocks: 3, 5, 9 and 10; block 5 now reads as zeroes on the target but a file target is read anyway.
    expect(second.lastRound!.digestBytesRead).toBe(4 * MiB);
    expect(second.lastRound!.digest.digest).toBe((await digest(qcowUri)).digest);
  });
});

function qemuIo(image: string, ...commands: string[]): void {
  execFileSync("qemu-io", ["-f", "qcow2", ...commands.flatMap((c) => ["-c", c]), image]);
}
