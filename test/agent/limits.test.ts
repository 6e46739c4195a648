import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { JobStatus } from "../../lib/agent";
import { ProcessGroup } from "../../lib/lab/processes";
import { digest } from "../../lib/replication";
import { fileSha256, makeRawDisk, makeTarget, serveRaw, startTestAgent, until } from "./fixtures";
import { tempDir } from "../helpers/tmp";

describe("agent limits, freezes and failures", () => {
  const dir = tempDir("rehost-agent-limits-");
  const group = new ProcessGroup();
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const close of closers) await close();
    await group.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("copies one disk at a time under --max-concurrent 1, queues the other, and freezes at the round boundary", async () => {
    const disks = ["a", "b"].map((n) => ({ n, image: path.join(dir, `${n}.raw`), target: path.join(dir, `${n}-t.raw`), uri: "" }));
    for (const d of disks) {
      makeRawDisk(d.image, 6, 6, d.n);
      makeTarget(d.target, 6);
      d.uri = await serveRaw(group, d.image, path.join(dir, `${d.n}.sock`));
    }
    const { agent, client } = await startTestAgent(
      path.join(dir, "one"),
      disks.map((d) => d.target),
      { maxConcurrent: 1, bandwidth: 4_000_000 },
    );
    closers.push(() => agent.close());
    await client.register({ id: "a", source: { uri: disks[0].uri }, target: disks[0].target, initial: "full" });
    await client.register({ id: "b", source: { uri: disks[1].uri }, target: disks[1].target, initial: "full" });
    const [a, b] = await Promise.all([client.get("a"), client.get("b")]);
    expect(a.active?.queued).toBe(false);
    expect(b.state).toBe("initial-sync");
    expect(b.active?.queued).toBe(true);

    // A freeze asked mid-round waits for the round to end, then holds the job.
    const pending = await client.freeze("a", "point-1");
    expect(pending.state).toBe("initial-sync");
    const seen: JobStatus[] = [];
    const frozen = await until("job a to freeze", async () => {
      const [sa, sb] = await Promise.all([client.get("a"), client.get("b")]);
      seen.push(sa, sb);
      return sa.state === "frozen" ? sa : undefined;
    });
    expect(frozen.frozenFor).toBe("point-1");
    expect(frozen.lastRound?.round).toBe(0);
    expect(frozen.lastRound?.digest.digest).toBe((await digest(disks[0].uri)).digest);
    // Never both copying at once.
    for (let i = 0; i < seen.length; i += 2) expect(seen[i].active?.queued === false && seen[i + 1].active?.queued === false).toBe(false);
    await until("job b", async () => ((await client.get("b")).state === "idle" ? true : undefined));
    expect(fileSha256(disks[1].target)).toBe(fileSha256(disks[1].image));
  });

  it("marks a job stalled while its source is unreachable, in error after the last attempt, and retries on request", async () => {
    const image = path.join(dir, "late.raw");
    const target = path.join(dir, "late-t.raw");
    const socket = path.join(dir, "late.sock");
    makeRawDisk(image, 4, 4, "late");
    makeTarget(target, 4);
    const { agent, client } = await startTestAgent(path.join(dir, "two"), [target], { maxAttempts: 3, retryDelayMs: 200 });
    closers.push(() => agent.close());
    await client.register({ id: "late", source: { uri: `nbd+unix:///?socket=${socket}` }, target });
    const stalled = await until("stalled", async () => {
      const s = await client.get("late");
      return s.state === "stalled" ? s : undefined;
    });
    expect(stalled.error).toMatch(/late\.sock|connect/i);
    const failed = await until("error", async () => {
      const s = await client.get("late");
      return s.state === "error" ? s : undefined;
    });
    expect(failed.active?.attempts).toBe(3);
    expect(failed.lastRound).toBeUndefined();

    await serveRaw(group, image, socket);
    await client.round("late", 0, "allocated");
    const done = await until("the retried initial sync", async () => {
      const s = await client.get("late");
      return s.state === "idle" ? s : undefined;
    });
    expect(done.error).toBeUndefined();
    expect(fileSha256(target)).toBe(fileSha256(image));
  });
});
