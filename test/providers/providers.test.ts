import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import { ProcessGroup } from "../../lib/lab/processes";
import { digest, openDevice } from "../../lib/replication";
import * as pulumi from "@pulumi/pulumi";
import { unixUri } from "../../lib/lab/processes";
import { MiB, makeRawDisk, makeTarget, serveRaw, startTestAgent, until } from "../agent/fixtures";
import { freePort } from "../helpers/nbd-servers";
import { tempDir } from "../helpers/tmp";

describe("dynamic providers against a real agent and qemu-nbd", () => {
  const dir = tempDir("rehost-providers-");
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
    ({ agent, client, token } = await startTestAgent(
      dir,
      images.map((d) => d.target),
    ));
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
    expect(good.inputs).toMatchObject({ round: 0, changed: "hash", initial: "allocated", waitForInitialSync: false, readyTimeoutSeconds: 900 });
    const down = await p.check!({ ...good.inputs, round: 3 }, { ...replicationInputs(images[0]), round: 2 });
    expect(down.failures!.map((f) => f.property)).toEqual(["round"]);
  });

  it("check leaves values the engine does not know yet alone, and still judges the others", async () => {
    const unknown = pulumi.runtime.unknownValue;
    // A preview of a new wave: the gateway's address and device are not known yet.
    const preview = await providers.replicationProvider.check!(
      {},
      { ...replicationInputs(images[0]), agentUrl: unknown, target: unknown, __provider: "serialized" },
    );
    expect(preview.failures).toEqual([]);
    expect(preview.inputs).toMatchObject({ agentUrl: unknown, target: unknown, round: 0, changed: "hash", __provider: "serialized" });
    const stillWrong = await providers.replicationProvider.check!({}, { ...replicationInputs(images[0]), agentUrl: unknown, jobId: "Not Valid" });
    expect(stillWrong.failures!.map((f) => f.property)).toEqual(["jobId"]);
    // A rehearsal's snapshot ids, and one job id of a list, not known yet.
    const thaw = await providers.rehearsalThawProvider.check!({}, { agentUrl: agent.url, jobIds: ["a-disk-1", unknown], point: "r-1", snapshots: unknown });
    expect(thaw.failures).toEqual([]);
    const point = await providers.rehearsalPointProvider.check!({}, { agentUrl: unknown, jobIds: ["a-disk-1"], point: "r-1" });
    expect(point.failures).toEqual([]);
    expect(point.inputs).toMatchObject({ timeoutSeconds: 3600, deleteTimeoutSeconds: 120 });
  });

  it("Replication.diff replaces only for another disk; a new provider text is an update", async () => {
    const p = providers.replicationProvider;
    const olds = (await p.check!({}, replicationInputs(images[0]))).inputs;
    expect(await p.diff!("x", olds, { ...olds })).toMatchObject({ changes: false, replaces: [] });
    expect(await p.diff!("x", olds, { ...olds, round: 1 })).toMatchObject({ changes: true, replaces: [] });
    expect(await p.diff!("x", olds, { ...olds, timeoutSeconds: 5 })).toMatchObject({ changes: true, replaces: [] });
    // Another way to reach the same disk, or the same gateway at another address: the job is kept.
    expect(await p.diff!("x", olds, { ...olds, source: "nbd://other/x", credentials: "new.psk", agentUrl: "https://10.0.0.2:8443" })).toMatchObject({
      changes: true,
      replaces: [],
    });
    expect(await p.diff!("x", olds, { ...olds, target: "/dev/vdc" })).toMatchObject({ changes: true, replaces: ["target"], deleteBeforeReplace: true });
    // The state then carries the provider that will delete the resource.
    expect(await p.diff!("x", { ...olds, __provider: "old code" }, { ...olds, __provider: "new code" })).toMatchObject({ changes: true, replaces: [] });
    expect(await p.diff!("x", { ...olds, __provider: "same" }, { ...olds, __provider: "same" })).toMatchObject({ changes: false });
  });

  it("Replication create returns once the sync runs, update runs a round, refresh sees the job, delete is idempotent", async () => {
    const p = providers.replicationProvider;
    const [web] = images;
    const inputs = (await p.check!({}, replicationInputs(web))).inputs;
    const created = await p.create(inputs);
    expect(created.id).toBe("web-disk-2000");
    expect(["initial-sync", "idle"]).toContain(created.outs.state);
    // Refresh: the job as the agent sees it, once its initial sync is done.
    await until("the initial sync", async () => ((await client.get("web-disk-2000")).lastRound !== undefined ? true : undefined));
    const refreshed = await p.read!("web-disk-2000", created.outs);
    expect(refreshed.id).toBe("web-disk-2000");
    expect(refreshed.props).toMatchObject({ state: "idle", lastRound: 0, progress: 100, digest: (await digest(web.uri)).digest });
    expect(refreshed.props!.bytesCopied).toBeGreaterThan(0);

    const writer = await openDevice(web.uri, { write: true });
    await writer.write(3 * MiB, Buffer.alloc(64 * 1024, 0x77));
    await writer.flush();
    await writer.close();
    const news = (await p.check!(refreshed.props, { ...replicationInputs(web), round: 1 })).inputs;
    const updated = await p.update!("web-disk-2000", refreshed.props, news);
    expect(updated.outs).toMatchObject({ state: "idle", lastRound: 1, digest: (await digest(web.uri)).digest });
    expect(updated.outs.lastRoundBytes).toBeLessThan(refreshed.props!.lastRoundBytes as number);

    await p.delete!("web-disk-2000", updated.outs);
    expect(await client.find("web-disk-2000")).toBeUndefined();
    // Refresh of a job deleted behind Pulumi's back: gone.
    expect((await p.read!("web-disk-2000", updated.outs)).id).toBe("");
    await p.delete!("web-disk-2000", updated.outs);
    expect(fs.statSync(web.target).size).toBe(16 * MiB);
    // An unreachable agent is an error naming the way out, never silently "deleted".
    await expect(p.delete!("web-disk-2000", { ...updated.outs, agentUrl: "https://127.0.0.1:9", deleteTimeoutSeconds: 1 })).rejects.toThrow(
      /Cannot reach agent.*pulumi state delete/s,
    );
  });

  it("Replication update re-points the job at a new source and keeps what was copied", async () => {
    const p = providers.replicationProvider;
    const [web] = images;
    const created = await p.create((await p.check!({}, { ...replicationInputs(web), waitForInitialSync: true })).inputs);
    expect(created.outs.lastRound).toBe(0);
    // The same disk, reached another way (here: a copy served on another socket).
    const copy = path.join(dir, "web-copy.raw");
    fs.copyFileSync(web.source, copy);
    const otherUri = await serveRaw(group, copy, path.join(dir, "web-copy.sock"));
    const news = (await p.check!(created.outs, { ...replicationInputs(web), source: otherUri, round: 1 })).inputs;
    expect((await p.diff!("web-disk-2000", created.outs, news)).replaces).toEqual([]);
    const updated = await p.update!("web-disk-2000", created.outs, news);
    const status = await client.get("web-disk-2000");
    expect(status.source).toMatchObject({ uri: otherUri });
    expect(status.rounds.map((r) => r.round)).toEqual([0, 1]);
    expect(updated.outs).toMatchObject({ lastRound: 1, digest: (await digest(otherUri)).digest });
    await p.delete!("web-disk-2000", updated.outs);
  });

  it("a create whose job fails after it was registered is recorded, with the job's state", async () => {
    const p = providers.replicationProvider;
    const inputs = (await p.check!({}, { ...replicationInputs(images[1]), source: unixUri(path.join(dir, "nothing-here.sock")), settleSeconds: 20 })).inputs;
    const err = (await p.create(inputs).catch((e: unknown) => e)) as { id?: string; properties?: Record<string, unknown>; message: string };
    expect(err.id).toBe("db-disk-2000");
    expect(err.properties).toMatchObject({ jobId: "db-disk-2000", state: "stalled", lastRound: -1 });
    expect(err.message).toMatch(/initial sync of job db-disk-2000 failed.*pulumi up again/s);
    expect((await client.get("db-disk-2000")).state).toMatch(/stalled|initial-sync/);
    await p.delete!("db-disk-2000", err.properties!);
    expect(await client.find("db-disk-2000")).toBeUndefined();
  });

  it("Replication waits for a new gateway's agent to answer before registering", async () => {
    const port = await freePort();
    const lateDir = path.join(dir, "late");
    const target = path.join(dir, "late-target.raw");
    makeTarget(target, 16);
    const token = process.env.REHOST_AGENT_TOKEN!;
    fs.mkdirSync(path.join(lateDir, "state"), { recursive: true });
    fs.writeFileSync(path.join(lateDir, "state", "token"), `${token}\n`);
    // The agent starts 2 s after the create began, as on a gateway still booting.
    let late: RunningAgent | undefined;
    const starting = new Promise((r) => setTimeout(r, 2000)).then(async () => {
      // Same certificate as the first agent, so the pin the providers hold matches.
      late = (
        await startTestAgent(lateDir, [target], {
          port,
          certFile: path.join(dir, "state", "tls", "cert.pem"),
          keyFile: path.join(dir, "state", "tls", "key.pem"),
        })
      ).agent;
    });
    try {
      const inputs = (
        await providers.replicationProvider.check!(
          {},
          { ...replicationInputs(images[0]), agentUrl: `https://127.0.0.1:${port}`, jobId: "late-disk-2000", target, pollSeconds: 0.2 },
        )
      ).inputs;
      const created = await providers.replicationProvider.create(inputs);
      await starting;
      expect(created.id).toBe("late-disk-2000");
      expect(late!.port).toBe(port);
      expect((await providers.replicationProvider.read!("late-disk-2000", created.outs)).id).toBe("late-disk-2000");
      await providers.replicationProvider.delete!("late-disk-2000", created.outs);
    } finally {
      await starting;
      await late?.close();
    }
  });

  it("credentials come from the stack's configuration before the environment", async () => {
    const token = process.env.REHOST_AGENT_TOKEN!;
    delete process.env.REHOST_AGENT_TOKEN;
    const runtime = require("rehost/providers/runtime") as typeof import("../../lib/providers/runtime");
    try {
      const config: Record<string, string> = { "rehost:agentToken": token, "rehost:agentFingerprint": agent.fingerprint };
      await providers.replicationProvider.configure!({ config: { get: (k: string) => config[k] } } as pulumi.dynamic.ConfigureRequest);
      const inputs = (await providers.replicationProvider.check!({}, replicationInputs(images[1]))).inputs;
      const created = await providers.replicationProvider.create(inputs);
      expect(created.id).toBe("db-disk-2000");
      await providers.replicationProvider.delete!("db-disk-2000", created.outs);
    } finally {
      runtime.configure({ get: () => undefined });
      process.env.REHOST_AGENT_TOKEN = token;
    }
  });

  it("refuses to run without credentials in the environment", async () => {
    const token = process.env.REHOST_AGENT_TOKEN;
    delete process.env.REHOST_AGENT_TOKEN;
    try {
      const inputs = (await providers.replicationProvider.check!({}, replicationInputs(images[1]))).inputs;
      await expect(providers.replicationProvider.create(inputs)).rejects.toThrow(/rehost:agentToken.*REHOST_AGENT_TOKEN/);
    } finally {
      process.env.REHOST_AGENT_TOKEN = token;
    }
    expect(await client.find("db-disk-2000")).toBeUndefined();
  });

  it("RehearsalPoint freezes at a round boundary with the point's digests; RehearsalThaw resumes replication", async () => {
    const repl = providers.replicationProvider;
    const both = [];
    for (const disk of images) both.push((await repl.create((await repl.check!({}, { ...replicationInputs(disk), waitForInitialSync: true })).inputs)).outs);
    const jobIds = both.map((o) => o.jobId as string);
    const pointInputs = (await providers.rehearsalPointProvider.check!({}, { agentUrl: agent.url, jobIds, point: "wave-1-rehearsal-1", pollSeconds: 0.1 }))
      .inputs;
    const point = await providers.rehearsalPointProvider.create(pointInputs);
    expect(Object.keys(point.outs.digests).sort()).toEqual(jobIds.sort());
    for (const o of both) expect(point.outs.digests[o.jobId as string]).toEqual({ round: 0, digest: o.digest, algorithm: o.digestAlgorithm });
    for (const id of jobIds) expect((await client.get(id)).state).toBe("frozen");
    // A round asked for while frozen is refused; replication waits for the thaw.
    await expect(client.round(jobIds[0], 1, "hash")).rejects.toThrow(/frozen/);

    const thawInputs = (
      await providers.rehearsalThawProvider.check!({}, { agentUrl: agent.url, jobIds, point: "wave-1-rehearsal-1", snapshots: ["s-1", "s-2"] })
    ).inputs;
    await providers.rehearsalThawProvider.create(thawInputs);
    for (const id of jobIds) expect((await client.get(id)).state).toBe("idle");
    // Deleting the point thaws again: idempotent.
    await providers.rehearsalPointProvider.delete!("p", point.outs);
    // Destroying one rehearsal never ends another's freeze.
    const second = await providers.rehearsalPointProvider.create(
      (await providers.rehearsalPointProvider.check!({}, { agentUrl: agent.url, jobIds, point: "wave-1-rehearsal-2", pollSeconds: 0.1 })).inputs,
    );
    await providers.rehearsalPointProvider.delete!("p", point.outs);
    for (const id of jobIds) expect(await client.get(id)).toMatchObject({ state: "frozen", frozenFor: "wave-1-rehearsal-2" });
    await providers.rehearsalThawProvider.create(
      (await providers.rehearsalThawProvider.check!({}, { agentUrl: agent.url, jobIds, point: "wave-1-rehearsal-1" })).inputs,
    );
    for (const id of jobIds) expect((await client.get(id)).state).toBe("frozen");
    await providers.rehearsalPointProvider.delete!("p", second.outs);
    for (const id of jobIds) expect((await client.get(id)).state).toBe("idle");
    // A gateway that is gone does not block a destroy forever: it fails with the way out.
    await expect(providers.rehearsalPointProvider.delete!("p", { ...point.outs, agentUrl: "https://127.0.0.1:9", deleteTimeoutSeconds: 1 })).rejects.toThrow(
      /pulumi state delete/,
    );
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
    const inputs = (
      await providers.cutoverProvider.check!(
        {},
        { agentUrl: agent.url, vm: "db", jobIds: ["db-disk-2000"], round: 2, manualConfirmation: true, pollSeconds: 0.1 },
      )
    ).inputs;
    const result = await providers.cutoverProvider.create(inputs);
    const sourceDigest = (await digest(db.uri)).digest;
    expect(result.outs.shutdown).toBe("manual");
    expect(result.outs.digests["db-disk-2000"]).toMatchObject({ source: sourceDigest, target: sourceDigest });
    expect(result.outs.verified).toBe(true);
    // Changing a verified cutover's round, blocks or confirmation never runs it again, nor replaces it.
    const later = (await providers.cutoverProvider.check!(result.outs, { ...inputs, round: 7, changed: "full", manualConfirmation: true })).inputs;
    expect(await providers.cutoverProvider.diff!("db-cutover", result.outs, later)).toMatchObject({ changes: true, replaces: [] });
    expect(await providers.cutoverProvider.diff!("db-cutover", result.outs, { ...later, vm: "other" })).toMatchObject({ replaces: ["vm"] });
    const roundsBefore = (await client.get("db-disk-2000")).rounds.length;
    const updated = await providers.cutoverProvider.update!("db-cutover", result.outs, later);
    expect(updated.outs).toMatchObject({ verified: true, round: 7 });
    expect((await client.get("db-disk-2000")).rounds.length).toBe(roundsBefore);
    await providers.cutoverProvider.delete!("db-cutover", result.outs);
  });

  it("Cutover fails, launching nothing, when a target block is corrupted", async () => {
    const web = images[0];
    // The final round copies only the bitmap-like extent list, so target-side corruption is not repaired.
    const fd = fs.openSync(web.target, "r+");
    fs.writeSync(fd, Buffer.alloc(4096, 0xee), 0, 4096, 2 * MiB);
    fs.closeSync(fd);
    const inputs = (
      await providers.cutoverProvider.check!(
        {},
        {
          agentUrl: agent.url,
          vm: "web",
          jobIds: ["web-disk-2000"],
          round: 5,
          changed: { extents: [{ offset: 0, length: 65536 }] },
          manualConfirmation: true,
          pollSeconds: 0.1,
        },
      )
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
    // It is recorded unverified (the source is off), so the next pulumi up verifies again, and fails again.
    const recorded = err as unknown as { id: string; properties: Record<string, unknown> };
    expect(recorded.id).toBe("web-cutover");
    expect(recorded.properties).toMatchObject({ verified: false, shutdown: "manual" });
    await expect(providers.cutoverProvider.update!("web-cutover", recorded.properties, inputs)).rejects.toThrow(/digests differ/);
  });
});
