/**
 * What the agent guarantees when used against it or under faults, against real servers (nbdkit
 * with its filters, qemu-nbd) and a real agent on loopback: no write once a job has ended, no
 * write outside the allow-list, no key file named by a client, and an agent that neither dies nor
 * wedges on large bodies, hung sources, a full state directory, bad extents, crashes and
 * corrupt state. See docs/agent.md, "Guarantees".
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import { AgentClient, AgentRequestError } from "../../lib/agent/client";
import { StateDir } from "../../lib/agent/store";
import { ProcessGroup } from "../../lib/lab/processes";
import { digest } from "../../lib/replication";
import { startNbdkit, tempDir } from "../helpers/nbd-servers";
import { fileSha256, MiB, makeRawDisk, makeTarget, serveRaw, startTestAgent, until } from "./fixtures";
import { spawnRehost, type RehostProcess } from "../helpers/cli";

const dir = tempDir("rehost-agent-hardening-");
const group = new ProcessGroup();
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await group.stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh agent in its own directory; closed after the file. */
async function agentIn(name: string, allow: readonly string[], extra: Parameters<typeof startTestAgent>[2] = {}) {
  const started = await startTestAgent(path.join(dir, name), allow, { retryDelayMs: 200, ...extra });
  closers.push(() => started.agent.close());
  return started;
}

const refusal = async (p: Promise<unknown>): Promise<AgentRequestError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentRequestError);
  return err as AgentRequestError;
};

describe("a job's end means no more writes", () => {
  it("DELETE answers once the copy stopped, and a new job on the target ends identical to its own source", async () => {
    const oldImage = path.join(dir, "old.raw");
    const newImage = path.join(dir, "new.raw");
    const target = path.join(dir, "reused-target.raw");
    makeRawDisk(oldImage, 32, 32, "old");
    makeRawDisk(newImage, 32, 32, "new");
    makeTarget(target, 32);
    // Slow reads: dozens are in flight when the job is deleted.
    const slow = await startNbdkit({ dir, plugin: ["file", oldImage, "delay-read=1"], filters: ["delay"] });
    closers.push(() => slow.stop());
    const { client } = await agentIn("reuse", [target]);
    await client.register({ id: "disk-2000", source: { uri: slow.uri }, target, initial: "full" });
    await until("the copy to start", async () => ((await client.get("disk-2000")).active?.phase === "copy" ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    await client.unregister("disk-2000");
    const atDelete = fileSha256(target);
    await new Promise((r) => setTimeout(r, 1500));
    expect(fileSha256(target)).toBe(atDelete);

    // The replacement (what a Pulumi replacement does): same id, same target, another source.
    const fresh = await serveRaw(group, newImage, path.join(dir, "new.sock"));
    await client.register({ id: "disk-2000", source: { uri: fresh }, target, initial: "full" });
    const done = await until("the new job's initial sync", async () => {
      const s = await client.get("disk-2000");
      return s.state === "idle" ? s : undefined;
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect(fileSha256(target)).toBe(fileSha256(newImage));
    expect(done.lastRound!.digest.digest).toBe((await digest(target)).digest);
  });
});

describe("the allow-list", () => {
  it("resolves symbolic links and `..` as the kernel does, and checks again at every round", async () => {
    const allowed = path.join(dir, "allowed");
    const other = path.join(dir, "other");
    fs.mkdirSync(path.join(other, "deep"), { recursive: true });
    fs.mkdirSync(allowed, { recursive: true });
    for (const f of [path.join(allowed, "t2.raw"), path.join(other, "t2.raw"), path.join(allowed, "t3.raw"), path.join(other, "t3.raw")]) makeTarget(f, 4);
    fs.symlinkSync(path.join(other, "deep"), path.join(allowed, "lnk"));
    const image = path.join(dir, "allow-src.raw");
    makeRawDisk(image, 4, 4, "allow");
    const uri = await serveRaw(group, image, path.join(dir, "allow.sock"));
    const before = fileSha256(path.join(other, "t2.raw"));
    const { client, agent } = await agentIn("allow", [path.join(allowed, "t2.raw"), path.join(allowed, "t3.raw")]);

    // allowed/lnk/../t2.raw is other/t2.raw once lnk is followed.
    const bypass = await refusal(client.register({ id: "bypass", source: { uri }, target: `${allowed}/lnk/../t2.raw` }));
    expect(bypass.status).toBe(403);
    expect(bypass.message).toContain(path.join(other, "t2.raw"));
    expect(fileSha256(path.join(other, "t2.raw"))).toBe(before);

    // An allowed file swapped for a symbolic link between rounds is not followed.
    await client.register({ id: "swapped", source: { uri }, target: path.join(allowed, "t3.raw") });
    await until("round 0", async () => ((await client.get("swapped")).state === "idle" ? true : undefined));
    const otherT3 = fileSha256(path.join(other, "t3.raw"));
    fs.rmSync(path.join(allowed, "t3.raw"));
    fs.symlinkSync(path.join(other, "t3.raw"), path.join(allowed, "t3.raw"));
    await client.round("swapped", 1, "full");
    const refused = await until("the round to be refused", async () => {
      const s = await client.get("swapped");
      return s.state === "error" ? s : undefined;
    });
    expect(refused.error).toMatch(/not in the agent's allow-list|resolves to/);
    expect(refused.active?.attempts).toBe(1);
    expect(fileSha256(path.join(other, "t3.raw"))).toBe(otherT3);

    // A device taken off --allow at a restart is not written by the jobs that had it.
    fs.rmSync(path.join(allowed, "t3.raw"));
    makeTarget(path.join(allowed, "t3.raw"), 4);
    await agent.close();
    const again = await agentIn("allow", [path.join(allowed, "t2.raw")]);
    const t3 = fileSha256(path.join(allowed, "t3.raw"));
    await again.client.round("swapped", 2, "full");
    const offList = await until("the round to be refused after the restart", async () => {
      const s = await again.client.get("swapped");
      return s.state === "error" ? s : undefined;
    });
    expect(offList.error).toMatch(/not in the agent's allow-list/);
    expect(fileSha256(path.join(allowed, "t3.raw"))).toBe(t3);
  });
});

describe("source URIs", () => {
  it("are checked as the copier parses them, at registration: no key file, no certificate setting, nothing malformed", async () => {
    const target = path.join(dir, "uri-target.raw");
    makeTarget(target, 4);
    const { client } = await agentIn("uri", [target]);
    const socket = path.join(dir, "uri.sock");
    for (const uri of [
      `nbds+unix:///x?socket=${socket}&tls%2Dpsk%2Dfile=/etc/shadow`,
      `nbds+unix:///x?socket=${socket}&tls-psk-%66ile=/etc/shadow`,
      "nbds://10.0.0.1/x?tls-certificates=/etc/ssl",
      "nbds://10.0.0.1/x?tls-verify-peer=false",
      "nbd://10.0.0.1:99999/x",
      "nbd://10.0.0.1/x?unknown=1",
      "nbd+unix:///x",
    ]) {
      const err = await refusal(client.register({ id: "u", source: { uri }, target }));
      expect(err.status, uri).toBe(400);
    }
    expect((await client.list()).jobs).toEqual([]);
  });
});

describe("availability", () => {
  it("survives bodies larger than its limit and accepts the largest extent list the schema allows", async () => {
    const image = path.join(dir, "big.raw");
    const target = path.join(dir, "big-target.raw");
    makeRawDisk(image, 64, 2, "big");
    makeTarget(target, 64);
    const uri = await serveRaw(group, image, path.join(dir, "big.sock"));
    const { client } = await agentIn("bodies", [target]);
    await client.register({ id: "big", source: { uri }, target });
    await until("the initial sync", async () => ((await client.get("big")).state === "idle" ? true : undefined));
    await client.freeze("big", "hold");
    // 1,000,000 extents: accepted by the body limit and the schema, refused by the freeze (409).
    const extents = Array.from({ length: 1_000_000 }, (_, i) => ({ offset: i * 64, length: 32 }));
    const held = await refusal(client.round("big", 1, { extents }));
    expect(held.status).toBe(409);
    // Over the limit: 413, and the agent goes on.
    const huge = await refusal(client.request("POST", "/v1/jobs/big/rounds", { round: 1, changed: "x".repeat(70 * MiB) }));
    expect(huge.status).toBe(413);
    expect((await client.health()).ok).toBe(true);
  }, 120_000);

  it("lets go of a source that stops answering: DELETE frees the slot, the idle timeout fails the round, SIGTERM ends the agent", async () => {
    const image = path.join(dir, "hung.raw");
    makeRawDisk(image, 4, 4, "hung");
    const hung = await startNbdkit({ dir, plugin: ["file", image, "delay-read=3600"], filters: ["delay"] });
    closers.push(() => hung.stop());
    const [ta, tb, tc] = ["a", "b", "c"].map((n) => path.join(dir, `hung-${n}.raw`));
    for (const t of [ta, tb, tc]) makeTarget(t, 4);
    const goodImage = path.join(dir, "good.raw");
    makeRawDisk(goodImage, 4, 4, "good");
    const good = await serveRaw(group, goodImage, path.join(dir, "good.sock"));
    const { client } = await agentIn("hung", [ta, tb, tc], { maxConcurrent: 1 });
    await client.register({ id: "hung", source: { uri: hung.uri }, target: ta });
    await client.register({ id: "queued", source: { uri: good }, target: tb });
    expect((await client.get("queued")).active?.queued).toBe(true);
    const t0 = Date.now();
    await client.unregister("hung");
    expect(Date.now() - t0).toBeLessThan(10_000);
    await until("the queued job to get the slot and finish", async () => ((await client.get("queued")).state === "idle" ? true : undefined));

    const short = await agentIn("hung-timeout", [tc], { tuning: { idleTimeoutMs: 1000 } });
    await short.client.register({ id: "timeout", source: { uri: hung.uri }, target: tc });
    const stalled = await until(
      "the round to time out",
      async () => {
        const s = await short.client.get("timeout");
        return s.state === "stalled" || s.state === "error" ? s : undefined;
      },
      30_000,
    );
    expect(stalled.error).toMatch(/ETIMEDOUT|answered none/);

    const state = path.join(dir, "hung-child");
    const childAgent = spawnRehost("agent", "--state", state, "--listen", "127.0.0.1:0", "--allow", tc);
    closers.push(async () => childAgent.kill());
    const listening = await until(
      "the child agent",
      async () => /"msg":"agent listening","url":"([^"]+)","fingerprint":"([^"]+)"/.exec(childAgent.stdout) ?? undefined,
    );
    const childClient = new AgentClient({ url: listening[1]!, token: fs.readFileSync(path.join(state, "token"), "utf8").trim(), fingerprint: listening[2]! });
    await short.client.unregister("timeout");
    await childClient.register({ id: "hung", source: { uri: hung.uri }, target: tc });
    await until("the child's round to start", async () => ((await childClient.get("hung")).active?.startedAt !== undefined ? true : undefined));
    const t1 = Date.now();
    childAgent.child.kill("SIGTERM");
    expect(await childAgent.exited).toBe(0);
    expect(Date.now() - t1).toBeLessThan(10_000);
  }, 120_000);

  it("caps and times out connections that never authenticate; the bearer scheme is case-insensitive", async () => {
    const target = path.join(dir, "conn-target.raw");
    makeTarget(target, 4);
    const { agent, token } = await agentIn("connections", [target]);
    const port = Number(new URL(agent.url).port);
    const idle: net.Socket[] = [];
    let closedEarly = 0;
    for (let i = 0; i < 400; i++) {
      const s = net.connect({ host: "127.0.0.1", port });
      s.on("error", () => undefined);
      s.on("close", () => closedEarly++);
      idle.push(s);
    }
    await new Promise((r) => setTimeout(r, 1000));
    // Past the cap, connections are refused at once.
    expect(closedEarly).toBeGreaterThanOrEqual(400 - 256);
    await until("the idle connections to be closed", async () => (closedEarly === 400 ? true : undefined), 30_000);
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(`${agent.url}/v1/health`, { rejectUnauthorized: false, headers: { authorization: `bearer ${token}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(200);
  }, 60_000);
});

describe("the state directory", () => {
  const root = process.getuid?.() === 0;
  it("when briefly full, refuses changes it cannot save, keeps retrying failed rounds, and leaves no temporary file", async () => {
    // A real full file system: a 4 MiB tmpfs holding the agent's state.
    const mount = path.join(dir, "small-state");
    fs.mkdirSync(mount);
    expect(root, "the test mounts a tmpfs: run it as root").toBe(true);
    expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount]).status).toBe(0);
    closers.push(async () => spawnSync("umount", ["-l", mount]));
    const image = path.join(dir, "full-src.raw");
    const target = path.join(dir, "full-target.raw");
    const socket = path.join(dir, "full.sock");
    makeRawDisk(image, 4, 4, "full");
    makeTarget(target, 4);
    const own = new ProcessGroup();
    closers.push(() => own.stopAll());
    const server = await serveRaw(own, image, socket);
    const { agent, client } = await startTestAgent(mount, [target], { retryDelayMs: 300, maxAttempts: 20 });
    closers.push(() => agent.close());
    await client.register({ id: "full", source: { uri: server }, target });
    await until("round 0", async () => ((await client.get("full")).state === "idle" ? true : undefined));

    const filler = path.join(mount, "filler");
    const fill = () => spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=64k"], { stdio: "ignore" });
    fill();
    const refused = await refusal(client.round("full", 1, "hash"));
    expect(refused.status).toBe(503);
    expect((await client.get("full")).active).toBeUndefined();

    // A round that fails while the directory is full (its record cannot be saved) is still retried.
    fs.rmSync(filler);
    await own.stopAll();
    await client.round("full", 1, "hash");
    fill();
    await until("the round to fail", async () => (((await client.get("full")).active?.attempts ?? 0) >= 1 ? true : undefined));
    expect((await client.get("full")).state).toBe("stalled");
    fs.writeFileSync(image, Buffer.alloc(4 * MiB, 0x42));
    await serveRaw(own, image, socket);
    fs.rmSync(filler);
    const done = await until("the retried round", async () => {
      const s = await client.get("full");
      return s.state === "idle" ? s : undefined;
    });
    expect(done.lastRound?.round).toBe(1);
    await until("the record to be saved", async () => {
      const saved = JSON.parse(fs.readFileSync(path.join(mount, "state", "jobs", "full.json"), "utf8"));
      return saved.lastRound?.round === 1 ? true : undefined;
    });
    expect(fs.readdirSync(path.join(mount, "state", "jobs")).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(fileSha256(target)).toBe(fileSha256(image));
  }, 120_000);

  it("starts with unreadable job files, names them, keeps their targets reserved, and loses no job", async () => {
    const state = new StateDir(path.join(dir, "corrupt", "state"));
    state.ensure();
    const target = path.join(dir, "corrupt-target.raw");
    makeTarget(target, 4);
    const good = { version: 1, spec: { id: "good", source: { uri: "nbd://127.0.0.1:1/x" }, target, initial: "allocated" }, state: "idle", rounds: [] };
    fs.writeFileSync(state.jobFile("good"), JSON.stringify(good));
    fs.writeFileSync(state.jobFile("empty"), "{}");
    fs.writeFileSync(state.jobFile("truncated"), '{"version":1,"spec":{"id":"truncated","sou');
    fs.writeFileSync(
      state.jobFile("notarget"),
      JSON.stringify({ version: 1, spec: { id: "notarget", source: { uri: "nbd://h/x" } }, state: "idle", rounds: [] }),
    );
    fs.writeFileSync(state.jobFile("restored"), '{"version":1,"spec":');
    fs.writeFileSync(
      `${state.jobFile("restored")}.bak`,
      JSON.stringify({ ...good, spec: { ...good.spec, id: "restored", target: path.join(dir, "restored.raw") } }),
    );
    const { client } = await agentIn("corrupt", [target]);
    const jobs = (await client.list()).jobs;
    expect(jobs.map((j) => j.id).sort()).toEqual(["empty", "good", "notarget", "restored", "truncated"]);
    for (const id of ["empty", "truncated", "notarget"]) {
      const j = jobs.find((x) => x.id === id)!;
      expect(j.state).toBe("error");
      expect(j.error).toContain(state.jobFile(id));
    }
    expect(jobs.find((j) => j.id === "restored")!.state).toBe("idle");
    const blocked = await refusal(client.register({ id: "new", source: { uri: "nbd://127.0.0.1:1/y" }, target }));
    expect(blocked.status).toBe(409);
    for (const id of ["empty", "truncated", "notarget"]) await client.unregister(id);
    expect(fs.existsSync(state.jobFile("truncated"))).toBe(false);
    // Its target is taken by a job that is still there.
    expect((await refusal(client.register({ id: "new", source: { uri: "nbd://127.0.0.1:1/y" }, target }))).message).toMatch(/already used by job good/);
  });

  it("removes only a job's own journals", async () => {
    const state = new StateDir(path.join(dir, "journals", "state"));
    state.ensure();
    for (const name of ["d.r0.journal", "d.r12.journal.tmp", "d.rb.r0.journal", "d.r0.journalx"]) fs.writeFileSync(path.join(state.journalsDir, name), "{}");
    state.removeJournals("d");
    expect(fs.readdirSync(state.journalsDir).sort()).toEqual(["d.r0.journalx", "d.rb.r0.journal"]);
  });
});

describe("rounds", () => {
  it("refuses extents past the end of the disk at request time, and a failed round can be asked for again with new inputs", async () => {
    const image = path.join(dir, "ext.raw");
    const target = path.join(dir, "ext-target.raw");
    const socket = path.join(dir, "ext.sock");
    makeRawDisk(image, 8, 8, "ext");
    makeTarget(target, 8);
    await serveRaw(group, image, socket);
    const { client } = await agentIn("extents", [target], { maxAttempts: 1 });
    await client.register({ id: "ext", source: { uri: `nbd+unix:///?socket=${socket}` }, target });
    await until("round 0", async () => ((await client.get("ext")).state === "idle" ? true : undefined));
    const bad = await refusal(
      client.round("ext", 1, {
        extents: [
          { offset: 0, length: 4096 },
          { offset: 7 * MiB, length: 2 * MiB },
        ],
      }),
    );
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("changed.extents[1]");
    expect((await client.get("ext")).active).toBeUndefined();

    // A round that fails (here: a bitmap the source does not export) is asked for again, otherwise.
    await client.round("ext", 1, "bitmap:missing");
    await until("the round to fail", async () => ((await client.get("ext")).state === "error" ? true : undefined));
    await client.round("ext", 1, "hash");
    const done = await until("the round asked again", async () => {
      const s = await client.get("ext");
      return s.state === "idle" ? s : undefined;
    });
    expect(done.lastRound).toMatchObject({ round: 1, changed: "hash" });
    await client.round("ext", 2, "hash");
    await until("the next round", async () => ((await client.get("ext")).lastRound?.round === 2 ? true : undefined));
  });

  it("a crash after the copy and before the digest resumes with nothing left to copy", async () => {
    const image = path.join(dir, "crash.raw");
    const target = path.join(dir, "crash-target.raw");
    makeRawDisk(image, 256, 64, "crash");
    makeTarget(target, 256);
    const uri = await serveRaw(group, image, path.join(dir, "crash.sock"));
    const state = path.join(dir, "crash-state");
    const start = (): RehostProcess => {
      const agent = spawnRehost("agent", "--state", state, "--listen", "127.0.0.1:0", "--allow", target);
      closers.push(async () => agent.kill());
      return agent;
    };
    /** The agent's complete log lines so far. */
    const logLines = (agent: RehostProcess): Array<{ msg: string; url: string; fingerprint: string }> =>
      agent.stdout
        .slice(0, agent.stdout.lastIndexOf("\n") + 1)
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l));
    const clientOf = async (agent: RehostProcess) => {
      const listening = await until("the agent", async () => logLines(agent).find((l) => l.msg === "agent listening"));
      return new AgentClient({ url: listening.url, token: fs.readFileSync(path.join(state, "token"), "utf8").trim(), fingerprint: listening.fingerprint });
    };
    const first = start();
    const client = await clientOf(first);
    await client.register({ id: "crash", source: { uri }, target, initial: "full" });
    await until("the copy to end", async () => (logLines(first).some((l) => l.msg.startsWith("round copied")) ? true : undefined), 60_000);
    first.kill();
    await first.exited;
    const second = start();
    const again = await clientOf(second);
    const done = await until(
      "the resumed round",
      async () => {
        const s = await again.get("crash");
        return s.state === "idle" ? s : undefined;
      },
      60_000,
    );
    expect(done.lastRound).toMatchObject({ round: 0, resumed: true, bytesWritten: 0, bytesZeroed: 0 });
    expect(done.lastRound!.digest.digest).toBe((await digest(image)).digest);
    expect(fs.readdirSync(path.join(state, "journals"))).toEqual([]);
    second.child.kill("SIGTERM");
    await second.exited;
  }, 120_000);
});

export type { RunningAgent };
