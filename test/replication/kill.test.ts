import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digest } from "../../lib/replication";
import { tempDir } from "../helpers/tmp";
import { spawnRehost } from "../helpers/cli";

const MiB = 1024 * 1024;
const SIZE = 48 * MiB;
const INTERVAL = 8 * MiB;
let dir: string;
const children: number[] = [];

beforeAll(() => {
  dir = tempDir("rehost-sync-kill-");
});
afterAll(() => {
  for (const pid of children) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts `rehost sync --json` and kills it with SIGKILL `delayMs` after its first copy progress
 * event. Resolves with the bytes of the disk done by its last report, and whether it was killed.
 */
function syncAndKill(
  args: string[],
  delayMs: number | undefined,
  signal: NodeJS.Signals = "SIGKILL",
): Promise<{ lastDone: number; killed: boolean; bytesRead: number }> {
  return new Promise((resolve, reject) => {
    const { child } = spawnRehost(...args);
    children.push(child.pid as number);
    let buffered = "";
    let lastDone = 0;
    let bytesRead = -1;
    let timer: NodeJS.Timeout | undefined;
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const event = JSON.parse(line) as { event: string; phase?: string; bytesDone: number; bytesTotal: number; bytesRead: number };
        if (event.event === "done") bytesRead = event.bytesRead;
        if (event.event === "progress" && event.phase === "copy" && delayMs !== undefined) {
          // Done bytes of the whole disk: what an earlier run left out of this run's total, plus this run's.
          lastDone = Math.max(lastDone, SIZE - event.bytesTotal + event.bytesDone);
          timer ??= setTimeout(() => child.kill(signal), delayMs);
        }
      }
    });
    child.on("error", reject);
    child.on("exit", (code, exitSignal) => {
      if (timer !== undefined) clearTimeout(timer);
      // SIGINT stops the round cleanly (exit 130, journal kept); SIGKILL leaves it where it was.
      if (exitSignal === "SIGKILL" || code === 130) resolve({ lastDone, killed: true, bytesRead });
      else if (code === 0) resolve({ lastDone: SIZE, killed: false, bytesRead });
      else reject(new Error(`rehost sync exited ${code}: ${stderr}`));
    });
  });
}

describe("kill -9 and resume", () => {
  it("resumed rounds end byte-identical and read again at most one checkpoint interval", async () => {
    const source = path.join(dir, "source.img");
    fs.writeFileSync(source, randomBytes(SIZE));
    const expected = await digest(source);
    const trials = 3;
    for (let trial = 0; trial < trials; trial++) {
      const target = path.join(dir, `target-${trial}.img`);
      const journal = path.join(dir, `round-${trial}.journal`);
      const args = [
        "sync",
        source,
        target,
        "--changed",
        "full",
        "--journal",
        journal,
        "--json",
        "--bandwidth",
        "32M",
        "--block-size",
        "1Mi",
        "--checkpoint-interval",
        "8Mi",
      ];
      // Kill at a random moment (in the first trial twice, the second time a resumed round; in the
      // last trial with SIGINT, which checkpoints and exits 130), then let the round finish.
      let killedAt: number | undefined;
      for (let attempt = 0; ; attempt++) {
        const interrupt = trial === trials - 1 ? "SIGINT" : "SIGKILL";
        const { lastDone, killed, bytesRead } = await syncAndKill(
          args,
          attempt < (trial === 0 ? 2 : 1) ? 50 + Math.floor(Math.random() * 900) : undefined,
          interrupt,
        );
        if (killed) {
          expect(fs.existsSync(journal) || lastDone < INTERVAL).toBe(true);
          killedAt = lastDone;
          continue;
        }
        if (killedAt !== undefined) {
          // The finishing run read what remained at the last kill, plus at most one interval.
          console.log(`trial ${trial}: killed at ${killedAt} bytes done, the resumed round read ${bytesRead} (bound ${SIZE - killedAt + INTERVAL})`);
          expect(bytesRead).toBeLessThanOrEqual(SIZE - killedAt + INTERVAL);
        }
        break;
      }
      expect(fs.existsSync(journal)).toBe(false);
      expect((await digest(target)).digest).toBe(expected.digest);
    }
  });
});
