import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgentClient } from "../../lib/agent/client";
import { ProcessGroup } from "../../lib/lab/processes";
import { MiB, fileSha256, makeRawDisk, makeTarget, serveRaw, until } from "./fixtures";
import { tempDir } from "../helpers/tmp";

const repo = path.resolve(__dirname, "..", "..");

describe("agent killed with SIGKILL mid-sync", () => {
  const dir = tempDir("rehost-agent-kill-");
  const group = new ProcessGroup();
  afterAll(async () => {
    await group.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `rehost agent` as a child process; resolves with its URL and fingerprint once it listens. */
  async function spawnAgent(target: string) {
    let listening: { url: string; fingerprint: string } | undefined;
    const proc = group.spawn(
      "agent",
      process.execPath,
      [
        path.join(repo, "bin", "rehost.js"),
        "agent",
        "--state",
        path.join(dir, "state"),
        "--listen",
        "127.0.0.1:0",
        "--allow",
        target,
        "--bandwidth",
        "8M",
        "--checkpoint-interval",
        "4Mi",
      ],
      {
        onStdout: (line) => {
          const entry = JSON.parse(line);
          if (entry.msg === "agent listening") listening = { url: entry.url, fingerprint: entry.fingerprint };
        },
      },
    );
    const seen = await until("the agent to listen", async () => {
      if (proc.child.exitCode !== null) throw new Error(`agent exited: ${proc.stderr()}`);
      return listening;
    });
    const token = fs.readFileSync(path.join(dir, "state", "token"), "utf8").trim();
    return { proc, client: new AgentClient({ url: seen.url, token, fingerprint: seen.fingerprint }) };
  }

  it("resumes the job from its journal after a restart and ends identical to the source", async () => {
    const image = path.join(dir, "source.raw");
    const target = path.join(dir, "target.raw");
    makeRawDisk(image, 24, 24, "kill");
    makeTarget(target, 24);
    const uri = await serveRaw(group, image, path.join(dir, "source.sock"));

    const first = await spawnAgent(target);
    await first.client.register({ id: "db-01-disk-2000", source: { uri }, target, initial: "full" });
    const midway = await until("the copy to pass 40%", async () => {
      const s = await first.client.get("db-01-disk-2000");
      return s.active !== undefined && s.active.bytesTotal > 0 && s.active.bytesDone > 0.4 * s.active.bytesTotal ? s : undefined;
    });
    first.proc.child.kill("SIGKILL");
    await first.proc.exited;
    expect(midway.state).toBe("initial-sync");
    const saved = JSON.parse(fs.readFileSync(path.join(dir, "state", "jobs", "db-01-disk-2000.json"), "utf8"));
    expect(saved.active.round).toBe(0);
    expect(saved.lastRound).toBeUndefined();
    expect(fs.existsSync(path.join(dir, "state", "journals", "db-01-disk-2000.r0.journal"))).toBe(true);
    expect(fileSha256(target)).not.toBe(fileSha256(image));

    const second = await spawnAgent(target);
    const done = await until(
      "the resumed round to finish",
      async () => {
        const s = await second.client.get("db-01-disk-2000");
        return s.state === "idle" ? s : undefined;
      },
      60_000,
      () => second.client.get("db-01-disk-2000"),
    );
    expect(done.lastRound?.round).toBe(0);
    expect(done.lastRound?.resumed).toBe(true);
    // A resumed round trusts no kept block hashes: its digest read the whole target.
    expect(done.lastRound?.digestMode).toBe("full");
    expect(done.lastRound?.digestBytesRead).toBe(24 * MiB);
    expect(fs.existsSync(path.join(dir, "state", "digests", "db-01-disk-2000.blocks"))).toBe(true);
    // The resumed run read only what the journal had not recorded as done.
    expect(done.lastRound!.bytesRead).toBeLessThan(24 * MiB);
    expect(fileSha256(target)).toBe(fileSha256(image));
    expect(fs.readdirSync(path.join(dir, "state", "journals"))).toEqual([]);
    await group.stop(second.proc);
  });
});
