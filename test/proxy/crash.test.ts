/**
 * `rehost proxy` killed with SIGKILL at random moments of its rounds (before, during and after the
 * snapshot, in the middle of a push): started again on the same state, it goes on, leaves no
 * snapshot behind, and the replicas end identical to the VM's disks.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import type { VmStatus } from "../../lib/proxy";
import { digest } from "../../lib/replication";
import { connectVSphere, type VSphereClient } from "../../lib/vsphere";
import { MiB, makeTarget, startTestAgent, until } from "../agent/fixtures";
import { tempDir } from "../helpers/nbd-servers";
import { guestRead, guestWrite, PASSWORD, startVcsim, USER, type Vcsim } from "../vsphere/harness";
import { spawnProxy, type ProxyProcess } from "./fixtures";
import { stopSite } from "../helpers/site";

const DISK_MiB = 64;

describe("rehost proxy killed at random moments", () => {
  const dir = tempDir("rehost-proxy-crash-");
  const keys = [2000, 2001];
  const target = (key: number) => path.join(dir, `db-01-${key}.raw`);
  const job = (key: number) => `db-01-disk-${key}`;
  let sim: Vcsim;
  let vc: VSphereClient;
  let agent: RunningAgent;
  let agentClient: AgentClient;
  let proxy: ProxyProcess | undefined;
  const logs: string[] = [];
  const trust = { tokenFile: path.join(dir, "agent-token"), fingerprint: "" };

  const start = async (): Promise<ProxyProcess> => (proxy = await spawnProxy(path.join(dir, "proxy"), sim, trust));
  const status = (): Promise<VmStatus> => proxy!.client.get("db-01");
  /** Waits for a round of at least `n` with nothing queued or in flight. */
  const settled = (n: number) =>
    until(
      `round ${n} settled`,
      async () => {
        const s = await status();
        return s.lastRound !== undefined && s.lastRound.round >= n && s.state === "idle" && s.inFlight === undefined ? s : undefined;
      },
      90_000,
      status,
    );
  const writeRandom = async (count: number, bytes: number): Promise<void> => {
    for (let i = 0; i < count; i++) await guestWrite(sim, "db-01", keys[i % 2], crypto.randomInt(DISK_MiB * MiB - bytes), crypto.randomBytes(bytes));
  };
  /** Kills the proxy `delayMs` after its next round is seen to start (or its moment has passed). */
  const killDuringRound = async (delayMs: number): Promise<string> => {
    const seen = await until(
      "a round in flight",
      async () => {
        const s = await status();
        return s.state === "round" || s.inFlight !== undefined ? s : undefined;
      },
      30_000,
      status,
    );
    await new Promise((r) => setTimeout(r, delayMs));
    const last = (await status().catch(() => seen)).inFlight;
    const pushing = (await Promise.all(keys.map((k) => agentClient.get(job(k))))).find((j) => j.active?.pushedUpTo !== undefined);
    await proxy!.kill();
    logs.push(proxy!.output());
    if (last?.snapshot === undefined) return "before the snapshot";
    return pushing !== undefined ? `pushing ${pushing.id} at ${(pushing.active!.pushedUpTo! / MiB).toFixed(0)} MiB` : "after the snapshot";
  };
  const vmDigest = async (key: number): Promise<string> => {
    const file = path.join(dir, `vm-${key}.raw`);
    fs.writeFileSync(file, await guestRead(sim, "db-01", key, 0, DISK_MiB * MiB));
    return (await digest(file)).digest;
  };

  beforeAll(async () => {
    sim = await startVcsim({ vms: [{ name: "db-01", disks: keys.map(() => ({ capacityMiB: DISK_MiB })) }] });
    vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    for (const key of keys) makeTarget(target(key), DISK_MiB);
    let token: string;
    ({ agent, client: agentClient, token } = await startTestAgent(path.join(dir, "agent"), keys.map(target)));
    fs.writeFileSync(trust.tokenFile, token, { mode: 0o600 });
    Object.assign(trust, { fingerprint: agent.fingerprint });
    for (const key of keys) await agentClient.register({ id: job(key), source: { pushedBy: "rehost proxy, VM db-01" }, target: target(key) });
    for (const key of keys) await guestWrite(sim, "db-01", key, 0, crypto.randomBytes(40 * MiB));
  }, 300_000);

  afterAll(async () => {
    await stopSite({ proxy, agent, vc, sim, dir });
  });

  it("resumes after each kill, leaves no snapshot, and ends identical", async () => {
    const moments: string[] = [];
    await start();
    for (const key of keys) await proxy!.client.registerDisk("db-01", key, { agentUrl: agent.url, jobId: job(key), rpoSeconds: 0, quiesce: true });
    // Three kills during the initial round, at random moments of it.
    for (let i = 0; i < 3; i++) {
      moments.push(await killDuringRound(crypto.randomInt(0, 600)));
      await start();
    }
    await settled(0);
    // Two more during incremental rounds with fresh writes.
    for (let i = 0; i < 2; i++) {
      await writeRandom(40, 256 * 1024);
      await proxy!.client.roundNow("db-01");
      moments.push(await killDuringRound(crypto.randomInt(0, 300)));
      await start();
      await settled(1);
    }
    // A round asked for and killed before it started (while it waits for the VM's other
    // requests): the restarted proxy still runs it. It ends identical to the VM's disks.
    await writeRandom(10, 64 * 1024);
    const before = (await status()).lastRound!.round;
    await proxy!.client.roundNow("db-01");
    expect((await status()).state).toBe("queued");
    await proxy!.kill();
    logs.push(proxy!.output());
    moments.push("before the round started");
    await start();
    const final = await settled(before + 1);
    for (const disk of final.lastRound!.disks) expect(disk.digestsAgree).toBe(true);
    for (const key of keys) expect((await digest(target(key))).digest, `disk ${key}`).toBe(await vmDigest(key));
    expect(await vc.listSnapshots({ vm: "db-01", onlyRehost: true })).toEqual([]);
    logs.push(proxy!.output());
    // A kill after the snapshot left it in place: the next start went on with it, then removed it.
    if (moments.some((m) => m !== "before the snapshot")) expect(logs.join("")).toMatch(/round resumed with its snapshot/);
    console.log(`rehost proxy killed ${moments.length} times: ${moments.join(", ")}`);
  }, 600_000);
});
