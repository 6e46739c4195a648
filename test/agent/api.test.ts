import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import { AgentClient, AgentRequestError } from "../../lib/agent/client";
import { ProcessGroup } from "../../lib/lab/processes";
import { digest, openDevice } from "../../lib/replication";
import { MiB, fileSha256, makeRawDisk, makeTarget, serveRaw, startTestAgent, until } from "./fixtures";
import { tempDir } from "../helpers/tmp";

/** Sends a raw request, trusting the agent's own certificate; returns status and parsed body. */
function raw(agent: RunningAgent, method: string, urlPath: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const url = new URL(urlPath, agent.url);
    const req = https.request({ method, host: url.hostname, port: url.port, path: url.pathname, ca: agent.certificate, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8") || "null") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("agent API", () => {
  const dir = tempDir("rehost-agent-api-");
  const group = new ProcessGroup();
  const sourceImage = path.join(dir, "source.raw");
  const target = path.join(dir, "target.raw");
  const outside = path.join(dir, "outside.raw");
  let agent: RunningAgent;
  let client: AgentClient;
  let token: string;
  let sourceUri: string;

  beforeAll(async () => {
    makeRawDisk(sourceImage, 16, 8, "api");
    makeTarget(target, 16);
    makeTarget(outside, 16);
    sourceUri = await serveRaw(group, sourceImage, path.join(dir, "source.sock"));
    ({ agent, client, token } = await startTestAgent(dir, [target]));
  });

  afterAll(async () => {
    await agent?.close();
    await group.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const jobFiles = (): string[] => fs.readdirSync(path.join(dir, "state", "jobs"));

  it("refuses a call without a token, or with a wrong one, and changes nothing", async () => {
    const spec = JSON.stringify({ id: "disk-a", source: { uri: sourceUri }, target });
    const none = await raw(agent, "POST", "/v1/jobs", { "Content-Type": "application/json" }, spec);
    expect(none.status).toBe(401);
    const wrong = await raw(agent, "POST", "/v1/jobs", { Authorization: `Bearer ${token}x`, "Content-Type": "application/json" }, spec);
    expect(wrong.status).toBe(401);
    const basic = await raw(agent, "GET", "/v1/jobs", { Authorization: `Basic ${Buffer.from(`x:${token}`).toString("base64")}` });
    expect(basic.status).toBe(401);
    expect(jobFiles()).toEqual([]);
    expect((await client.list()).jobs).toEqual([]);
  });

  it("refuses a target outside the allow-list and leaves that file untouched", async () => {
    const before = fileSha256(outside);
    const err = await client.register({ id: "disk-a", source: { uri: sourceUri }, target: outside }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentRequestError);
    expect((err as AgentRequestError).status).toBe(403);
    const sneaky = await client
      .register({ id: "disk-a", source: { uri: sourceUri }, target: `${path.dirname(target)}/../${path.basename(dir)}/outside.raw` })
      .catch((e: unknown) => e);
    expect((sneaky as AgentRequestError).status).toBe(403);
    expect(jobFiles()).toEqual([]);
    expect(fileSha256(outside)).toBe(before);
  });

  it("refuses malformed jobs with 400 and one problem per mistake", async () => {
    const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
    expect((await raw(agent, "POST", "/v1/jobs", headers, "{not json")).status).toBe(400);
    expect((await raw(agent, "POST", "/v1/jobs", headers, "")).status).toBe(400);
    const bad = await raw(agent, "POST", "/v1/jobs", headers, JSON.stringify({ id: "Disk A", source: { uri: "http://x" }, target: "relative" }));
    expect(bad.status).toBe(400);
    expect(bad.body.problems.map((p: { field: string }) => p.field).sort()).toEqual(["id", "source.uri", "target"]);
    const secret = await raw(
      agent,
      "POST",
      "/v1/jobs",
      headers,
      JSON.stringify({ id: "disk-a", source: { uri: `${sourceUri}&tls-psk-file=/etc/keys.psk` }, target }),
    );
    expect(secret.status).toBe(400);
    const extra = await raw(agent, "POST", "/v1/jobs", headers, JSON.stringify({ id: "disk-a", source: { uri: sourceUri, password: "x" }, target }));
    expect(extra.status).toBe(400);
    const unknownCredentials = await client.register({ id: "disk-a", source: { uri: sourceUri, credentials: "site.psk" }, target }).catch((e: unknown) => e);
    expect((unknownCredentials as AgentRequestError).status).toBe(400);
    expect(jobFiles()).toEqual([]);
    expect(fileSha256(target)).toBe(fileSha256(outside));
  });

  it("refuses a client that pins another certificate before sending the token", async () => {
    const pinned = new AgentClient({ url: agent.url, token, fingerprint: "00".repeat(32) });
    await expect(pinned.list()).rejects.toThrow(/refusing to send the token/);
  });

  it("syncs, runs an incremental round, freezes, verifies and unregisters a job", async () => {
    const created = await client.register({ id: "disk-a", source: { uri: sourceUri }, target });
    expect(created.state).toBe("initial-sync");
    const again = await client.register({ id: "disk-a", source: { uri: sourceUri }, target });
    expect(again.id).toBe("disk-a");
    const idle = await until(
      "the initial sync",
      async () => {
        const s = await client.get("disk-a");
        return s.state === "idle" ? s : undefined;
      },
      30_000,
      () => client.get("disk-a"),
    );
    const sourceDigest = await digest(sourceUri);
    expect(idle.lastRound?.round).toBe(0);
    expect(idle.lastRound?.digest.digest).toBe(sourceDigest.digest);
    expect(idle.lastRound?.bytesWritten).toBeGreaterThan(0);

    // The business writes 128 KiB to the source; round 1 finds it by hash and moves only that.
    const writer = await openDevice(sourceUri, { write: true });
    await writer.write(12 * MiB, Buffer.alloc(128 * 1024, 0x5a));
    await writer.flush();
    await writer.close();
    await client.round("disk-a", 1, "hash");
    const after = await until("round 1", async () => {
      const s = await client.get("disk-a");
      return s.state === "idle" && s.lastRound?.round === 1 ? s : undefined;
    });
    expect(after.lastRound!.bytesWritten).toBeLessThanOrEqual(2 * MiB);
    expect(after.lastRound!.bytesWritten).toBeLessThan(idle.lastRound!.bytesWritten);
    expect(after.lastRound!.digest.digest).toBe((await digest(sourceUri)).digest);
    expect(after.rounds.map((r) => r.round)).toEqual([0, 1]);
    // Asking for a round already done is acknowledged without copying again.
    expect((await client.round("disk-a", 1, "hash")).rounds).toHaveLength(2);

    const frozen = await client.freeze("disk-a", "rehearsal-1");
    expect(frozen.state).toBe("frozen");
    const refused = await client.round("disk-a", 2, "hash").catch((e: unknown) => e);
    expect((refused as AgentRequestError).status).toBe(409);
    expect((await client.thaw("disk-a")).state).toBe("idle");

    await client.verify("disk-a");
    const verified = await until("verification", async () => {
      const s = await client.get("disk-a");
      return s.verification?.state === "done" ? s.verification : undefined;
    });
    expect(verified.equal).toBe(true);

    expect(await client.unregister("disk-a")).toBe(true);
    expect(await client.unregister("disk-a")).toBe(false);
    expect(await client.find("disk-a")).toBeUndefined();
    expect(fs.existsSync(target)).toBe(true);
    expect(jobFiles()).toEqual([]);
  });
});
