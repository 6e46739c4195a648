import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import { ProcessGroup } from "../../lib/lab/processes";
import { digest, openDevice } from "../../lib/replication";
import { MiB, makeRawDisk, makeTarget, serveRaw, startTestAgent } from "../agent/fixtures";

describe("dynamic providers against a real agent and qemu-nbd", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehost-providers-"));
  const group = new ProcessGroup();
  const saved = { ...process.env };
  let agent: RunningAgent;
  let client: AgentClient;
  let providers: typeof import("../../lib/providers");
  const images = ["web", "db"].map((name) => ({ name, source: path.join(dir, `${name}.raw`), target: path.join(dir, `${name}-target.raw`), uri: "" }));

  beforeAll(async () => {
    for (const [i, disk] of images.entries()) {
      makeRawDisk(disk.source, 16, 6 + i, disk.name);
      makeTarget(disk.target, 16);
      disk.uri = await serveRaw(group, disk.source, path.join(dir, `${disk.name}.sock`));
    }
    let token: string;
    ({ agent, client, token } = await startTestAgent(dir, images.map((d) => d.target)));
    delete process.env.REHOST_VCENTER_URL;
    process.env.REHOST_AGENT_TOKEN = token;
    process.env.REHOST_AGENT_FINGERPRINT = agent.fingerprint;
    providers = require("../../lib/providers");
  });

  afterAll(async () => {
    process.env = saved;
    await agent?.close();
    await group.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const replicationInputs = (disk: (typeof images)[number], extra: Record<string, unknown> = {}) => ({
    agentUrl: agent.url,
    jobId: `${disk.name}-disk-2000`,
    source: disk.uri,
    target: disk.target,
    pollSeconds: 0.1,
    timeoutSeconds: 60,
    ...extra,
  });

  it("Replication.check reports one failure per wrong input and refuses a round going down", async () => {
    const p = providers.replicationProvider;
    const bad = await p.check!({}, { agentUrl: "http://10.0.0.1:8443", jobId: "Web 01", source: "/dev/sda", target: "/dev/vdb", token: "secret" });
    expect(bad.failures!.map((f) => f.property).sort()).toEqual(["", "agentUrl", "jobId", "source"]);
    expect(bad.failures!.find((f) => f.property === "")!.reason).toMatch(/token/);
    const good = await p.check!({}, replicationInputs(images[0]));
    expect(good.failures).toEqual([]);
    expect(good.inputs).toMatchObject({ round: 0, changed: "hash", initial: "allocated", waitForInitialSync: true });
    const down = await p.check!({ ...good.inputs, round: 3 }, { ...replicationInputs(images[0]), round: 2 });
    expect(down.failures!.map((f) => f.property)).toEqual(["round"]);
  });

  it("Replication.diff replaces only on immutable inputs", async () => {
    const p = providers.replicationProvider;
    const olds = (await p.check!({}, replicationInputs(images[0]))).inputs;
    expect(await p.diff!("x", olds, { ...olds })).toMatchObject({ changes: false, replaces: [] });
    expect(await p.diff!("x", olds, { ...olds, round: 1 })).toMatchObject({ changes: true, replaces: [] });
    expect(await p.diff!("x", olds, { ...olds, timeoutSeconds: 5 })).toMatchObject({ changes: true, replaces: [] });
    expect(await p.diff!("x", olds, { ...olds, target: "/dev/vdc", source: "nbd://other/x" })).toMatchObject({ changes: true, replaces: ["source", "target"], deleteBeforeReplace: true });
  });

  it("Replication create waits for the initial sync, update runs a round, delete is idempotent", async () => {
    const p = providers.replicationProvider;
    const [web] = images;
    const inputs = (await p.check!({}, replicationInputs(web))).inputs;
    const created = await p.create(inputs);
    expect(created.id).toBe("web-disk-2000");
    expect(created.outs).toMatchObject({ state: "idle", lastRound: 0, digest: (await digest(web.uri)).digest });
    expect(created.outs.bytesCopied).toBeGreaterThan(0);

    const writer = await openDevice(web.uri, { write: true });
    await writer.write(3 * MiB, Buffer.alloc(64 * 1024, 0x77));
    await writer.flush();
    await writer.close();
    const news = (await p.check!(created.outs, { ...replicationInputs(web), round: 1 })).inputs;
    const updated = await p.update!("web-disk-2000", created.outs, news);
    expect(updated.outs).toMatchObject({ state: "idle", lastRound: 1, digest: (await digest(web.uri)).digest });
    expect(updated.outs.lastRoundBytes).toBeLessThan(created.outs.lastRoundBytes);

    await p.delete!("web-disk-2000", updated.outs);
    expect(await client.find("web-disk-2000")).toBeUndefined();
    await p.delete!("web-disk-2000", updated.outs);
    expect(fs.statSync(web.target).size).toBe(16 * MiB);
    // An unreachable agent is an error, never silently "deleted".
    await expect(p.delete!("web-disk-2000", { ...updated.outs, agentUrl: "https://127.0.0.1:9" })).rejects.toThrow(/Cannot reach agent/);
  });

  it("refuses to run without credentials in the environment", async () => {
    const token = process.env.REHOST_AGENT_TOKEN;
    delete process.env.REHOST_AGENT_TOKEN;
    try {
      const inputs = (await providers.replicationProvider.check!({}, replicationInputs(images[1]))).inputs;
      await expect(providers.replicationProvider.create(inputs)).rejects.toThrow(/REHOST_AGENT_TOKEN/);
    } finally {
      process.env.REHOST_AGENT_TOKEN = token;
    }
    expect(await client.find("db-disk-2000")).toBeUndefined();
  });

  it("RehearsalPoint freezes at a round boundary with the point's digests; RehearsalThaw resumes replication", async () => {
    const repl = providers.replicationProvider;
    const both = [];
    for (const disk of images) both.push((await repl.create((await repl.check!({}, replicationInputs(disk))).inputs)).outs);
    const jobIds = both.map((o) => o.jobId as string);
    const pointInputs = (await providers.rehearsalPointProvider.check!({}, { agentUrl: agent.url, jobIds, point: "wave-1-rehearsal-1", pollSeconds: 0.1 })).inputs;
    const point = await providers.rehearsalPointProvider.create(pointInputs);
    expect(Object.keys(point.outs.digests).sort()).toEqual(jobIds.sort());
    for (const o of both) expect(point.outs.digests[o.jobId as string]).toEqual({ round: 0, digest: o.digest, algorithm: o.digestAlgorithm });
    for (const id of jobIds) expect((await client.get(id)).state).toBe("frozen");
    // A round asked for while frozen is refused; replication waits for the thaw.
    await expect(client.round(jobIds[0], 1, "hash")).rejects.toThrow(/frozen/);

    const thawInputs = (await providers.rehearsalThawProvider.check!({}, { agentUrl: agent.url, jobIds, point: "wave-1-rehearsal-1", snapshots: ["s-1", "s-2"] })).inputs;
    await providers.rehearsalThawProvider.create(thawInputs);
    for (const id of jobIds) expect((await client.get(id)).state).toBe("idle");
    // Deleting the point thaws again: idempotent.
    await providers.rehearsalPointProvider.delete!("p", point.outs);
    expect(await providers.rehearsalPointProvider.diff!("p", point.outs, { ...pointInputs, timeoutSeconds: 10 })).toMatchObject({ replaces: [] });
    expect(await providers.rehearsalPointProvider.diff!("p", point.outs, { ...pointInputs, point: "other" })).toMatchObject({ replaces: ["point"] });
  });

  it("Cutover needs a vSphere client or a manual confirmation", async () => {
    const bad = await providers.cutoverProvider.check!({}, { agentUrl: agent.url, vm: "web", jobIds: ["web-disk-2000"], round: 2 });
    expect(bad.failures!.map((f) => f.property)).toEqual(["manualConfirmation"]);
  });

  it("Cutover runs the final round and verifies equal digests", async () => {
    const db = images[1];
    const writer = await openDevice(db.uri, { write: true });
    await writer.write(5 * MiB, Buffer.alloc(64 * 1024, 0x31));
    await writer.flush();
    await writer.close();
    const inputs = (await providers.cutoverProvider.check!({}, { agentUrl: agent.url, vm: "db", jobIds: ["db-disk-2000"], round: 2, manualConfirmation: true, pollSeconds: 0.1 })).inputs;
    const result = await providers.cutoverProvider.create(inputs);
    const sourceDigest = (await digest(db.uri)).digest;
    expect(result.outs.shutdown).toBe("manual");
    expect(result.outs.digests["db-disk-2000"]).toMatchObject({ source: sourceDigest, target: sourceDigest });
    await providers.cutoverProvider.delete!("db-cutover", result.outs);
  });

  it("Cutover fails, launching nothing, when a target block is corrupted", async () => {
    const web = images[0];
    // The final round copies only the bitmap-like extent list, so target-side corruption is not repaired.
    const fd = fs.openSync(web.target, "r+");
    fs.writeSync(fd, Buffer.alloc(4096, 0xee), 0, 4096, 2 * MiB);
    fs.closeSync(fd);
    const inputs = (
      await providers.cutoverProvider.check!({}, {
        agentUrl: agent.url,
        vm: "web",
        jobIds: ["web-disk-2000"],
        round: 5,
        changed: { extents: [{ offset: 0, length: 65536 }] },
        manualConfirmation: true,
        pollSeconds: 0.1,
      })
    ).inputs;
    const launched: string[] = [];
    const cutoverThenLaunch = async () => {
      await providers.cutoverProvider.create(inputs);
      launched.push("web");
    };
    const err = await cutoverThenLaunch().catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const status = await client.get("web-disk-2000");
    expect(status.verification?.equal).toBe(false);
    expect((err as Error).message).toContain("digests differ");
    expect((err as Error).message).toContain(status.verification!.source!.digest);
    expect((err as Error).message).toContain(status.verification!.target!.digest);
    expect(launched).toEqual([]);
  });
});
