/**
 * The source proxy against the vCenter simulator and a real agent: snapshots per round, CBT
 * areas read from the frozen disks through nbdkit's curl plugin over datastore HTTP, pushed to
 * the agent; resync after a CBT reset; bad input refused before any snapshot.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import { startProxy, type RunningProxy } from "../../lib/proxy";
import { CutoverRequestSchema } from "../../lib/proxy/api";
import { digest } from "../../lib/replication";
import { jsonLogger, silentLogger } from "../../lib/service/log";
import { connectVSphere, type VSphereClient } from "../../lib/vsphere";
import { MiB, makeTarget, startTestAgent, until } from "../agent/fixtures";
import { tempDir } from "../helpers/nbd-servers";
import { guestRead, guestWrite, PASSWORD, resetCbt, startVcsim, USER, type Vcsim } from "../vsphere/harness";
import { stopSite } from "../helpers/site";

describe("the source proxy", () => {
  const dir = tempDir("rehost-proxy-");
  let sim: Vcsim;
  let vc: VSphereClient;
  let agent: RunningAgent;
  let client: AgentClient;
  let token: string;
  let proxy: RunningProxy;
  const targets = [2000, 2001].map((key) => ({ key, target: path.join(dir, `app-01-${key}.raw`), job: `app-01-disk-${key}` }));

  const vmDisk = async (key: number): Promise<string> => {
    const file = path.join(dir, `vm-${key}.raw`);
    fs.writeFileSync(file, await guestRead(sim, "app-01", key, 0, 16 * MiB));
    return file;
  };

  /** Waits for round `n` of app-01 to be recorded with nothing queued; a failed round fails at once. */
  const roundDone = (n: number) =>
    until(
      `round ${n}`,
      async () => {
        const s = proxy.manager.get("app-01");
        if (s.state === "error") throw new Error(`round failed: ${s.error}`);
        return s.lastRound !== undefined && s.lastRound.round >= n && s.state === "idle" ? s : undefined;
      },
      60_000,
      async () => proxy.manager.get("app-01"),
    );

  beforeAll(async () => {
    sim = await startVcsim({
      vms: [
        { name: "app-01", disks: [{ capacityMiB: 16 }, { capacityMiB: 16 }] },
        { name: "rdm-01", disks: [{ capacityMiB: 4, rdm: "physical" }] },
        { name: "old-01", noCbt: true, disks: [{ capacityMiB: 4 }] },
        { name: "locked-01", unreadable: true, disks: [{ capacityMiB: 4 }] },
      ],
    });
    vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    for (const t of targets) makeTarget(t.target, 16);
    ({ agent, client, token } = await startTestAgent(
      path.join(dir, "agent"),
      targets.map((t) => t.target),
    ));
    for (const t of targets) await client.register({ id: t.job, source: { pushedBy: "rehost proxy (test), VM app-01" }, target: t.target });
    proxy = await startProxy({
      stateDir: path.join(dir, "proxy"),
      port: 0,
      vc,
      agents: { token, fingerprint: agent.fingerprint },
      reader: { kind: "curl", caFile: sim.ca },
      logger: process.env.PROXY_DEBUG ? jsonLogger((l) => process.stderr.write(l)) : silentLogger,
    });
    await guestWrite(sim, "app-01", 2000, 0, crypto.randomBytes(3 * MiB));
    await guestWrite(sim, "app-01", 2001, 5 * MiB, crypto.randomBytes(2 * MiB));
  }, 300_000);

  afterAll(async () => {
    await stopSite({ proxy, agent, vc, sim, dir });
  });

  it("takes the initial round: every allocated area of each disk, pushed, no snapshot left", async () => {
    // Both disks registered at once, as a stack's Replications are: CBT is turned on once.
    await Promise.all(targets.map((t) => proxy.manager.registerDisk("app-01", t.key, { agentUrl: agent.url, jobId: t.job, rpoSeconds: 0, quiesce: true })));
    const status = await roundDone(0);
    expect(status.lastRound!.round).toBe(0);
    expect(status.lastRound!.disks.map((d) => d.mode)).toEqual(["initial", "initial"]);
    for (const t of targets) expect((await digest(t.target)).digest).toBe((await digest(await vmDisk(t.key))).digest);
    for (const d of status.lastRound!.disks) expect(d.digestsAgree).toBe(true);
    expect(await vc.listSnapshots({ vm: "app-01", onlyRehost: true })).toEqual([]);
  });

  it("an incremental round reads and sends only what CBT says changed", async () => {
    await guestWrite(sim, "app-01", 2000, 9 * MiB + 12_345, crypto.randomBytes(100_000));
    proxy.manager.runNow("app-01", "auto");
    const status = await roundDone(1);
    const [d0, d1] = status.lastRound!.disks;
    expect(d0.mode).toBe("incremental");
    // The 100,000 bytes at 9 MiB + 12,345 touch two of CBT's 64 KiB blocks.
    expect(d0.changedBytes).toBe(2 * 64 * 1024);
    expect(d0.linkBytes).toBeLessThanOrEqual(d0.changedBytes * 1.05 + 4096);
    expect(d1.changedBytes).toBe(0);
    for (const t of targets) expect((await digest(t.target)).digest).toBe((await digest(await vmDisk(t.key))).digest);
  });

  it("after a CBT reset, resyncs by block hashes: only hashes and differing blocks cross the link", async () => {
    await guestWrite(sim, "app-01", 2001, 1 * MiB, crypto.randomBytes(4096));
    await resetCbt(sim, "app-01");
    proxy.manager.runNow("app-01", "auto");
    const status = await roundDone(2);
    const d1 = status.lastRound!.disks[1];
    expect(d1.mode).toBe("resync");
    expect(d1.hashBytes).toBe(16 * 32);
    expect(d1.changedBytes).toBe(MiB);
    expect(d1.linkBytes).toBeLessThan(MiB + 4096);
    for (const t of targets) expect((await digest(t.target)).digest).toBe((await digest(await vmDisk(t.key))).digest);
  });

  const cutoverDone = () =>
    until(
      "the cutover",
      async () => {
        const c = proxy.manager.get("app-01").cutover;
        return c !== undefined && c.state !== "running" ? c : undefined;
      },
      60_000,
      async () => proxy.manager.get("app-01"),
    );

  it("a cutover fails, naming the disk and block, when a replica differs from its source", async () => {
    // A block of the replica changed behind the agent's back: no round would ever send it again.
    const fd = fs.openSync(targets[1].target, "r+");
    fs.writeSync(fd, crypto.randomBytes(4096), 0, 4096, 7 * MiB + 100);
    fs.closeSync(fd);
    await guestWrite(sim, "app-01", 2000, 3 * MiB, crypto.randomBytes(50_000));
    proxy.manager.startCutover("app-01", CutoverRequestSchema.parse({ fullCheckFirst: false, sampleBlocks: 16 }));
    const cutover = await cutoverDone();
    expect(cutover.state).toBe("failed");
    expect(cutover.error).toMatch(/disk 2001: .*differing blocks 7\b/);
    expect(cutover.disks!.find((d) => d.key === 2001)!.differingBlocks).toEqual([7]);
    expect(cutover.shutdown).toBe("guest-shutdown");
    expect(await vc.powerState(await vc.findVm("app-01"))).toBe("poweredOff");
  });

  it("a cutover with its full check first repairs the replica and verifies without reading the source across the link", async () => {
    proxy.manager.startCutover("app-01", CutoverRequestSchema.parse({ sampleBlocks: 4 }));
    const cutover = await cutoverDone();
    expect(cutover.error).toBeUndefined();
    expect(cutover.state).toBe("verified");
    expect(cutover.fullCheckRound).toBeGreaterThan(0);
    const check = proxy.manager.get("app-01").rounds.find((r) => r.round === cutover.fullCheckRound)!;
    expect(check.disks.find((d) => d.key === 2001)!.changedBytes).toBe(MiB);
    // The source was off since the failed cutover: the final round had nothing to send.
    expect(cutover.finalDeltaBytes).toBe(0);
    expect(cutover.sourceBytesReadOverLink).toBeLessThanOrEqual(cutover.finalDeltaBytes! * 1.05 + 2 * 4096);
    // Nothing changed since the full check: only the sample was read again, on both sides.
    for (const d of cutover.disks!) expect([d.changedBlocks, d.sampleBlocks, d.differingBlocks]).toEqual([0, 4, []]);
    expect(cutover.verifiedBytes).toBe(2 * 4 * MiB);
    for (const t of targets) expect((await digest(t.target)).digest).toBe((await digest(await vmDisk(t.key))).digest);
    expect(await vc.listSnapshots({ vm: "app-01", onlyRehost: true })).toEqual([]);
  });

  it.each([
    ["rdm-01", 2000, /physical RDM|cannot be replicated/],
    ["old-01", 2000, /does not support changed-block tracking/],
    ["locked-01", 2000, /cannot read disk 2000.*HTTP 403/],
    ["app-01", 2009, /has no disk 2009/],
  ])("refuses %s disk %d before any snapshot, naming the VM and disk", async (vm, key, message) => {
    const err = (await proxy.manager
      .registerDisk(vm, key, { agentUrl: agent.url, jobId: "x", rpoSeconds: 0, quiesce: true })
      .catch((e: unknown) => e)) as Error & { status?: number };
    expect(err.message).toMatch(message);
    expect(err.status).toBe(400);
    expect(await vc.listSnapshots({ vm, onlyRehost: true })).toEqual([]);
  });
});
