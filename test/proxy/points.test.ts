/**
 * Consistent points through the proxy: the snapshots of every VM of a group taken within a bound
 * skew while the guests keep writing, each VM's round pushed with its snapshot, every job frozen;
 * the frozen replicas equal the disks as the simulator froze them at those snapshots (copies
 * taken by the simulator at the snapshot instant, not digests taken at the end).
 */
import * as crypto from "node:crypto";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import { startProxy, type PointStatus, type RunningProxy } from "../../lib/proxy";
import { digest } from "../../lib/replication";
import { silentLogger } from "../../lib/service/log";
import { REHOST_SNAPSHOT_PREFIX } from "../../lib/vsphere/estate";
import { connectVSphere, type VSphereClient } from "../../lib/vsphere";
import { MiB, makeTarget, startTestAgent, until } from "../agent/fixtures";
import { tempDir } from "../helpers/nbd-servers";
import { guestWrite, PASSWORD, startVcsim, USER, type Vcsim } from "../vsphere/harness";
import { stopSite } from "../helpers/site";

const VMS = ["web-01", "db-01"];
const DISK_MiB = 32;

describe("consistent points of several VMs", () => {
  const dir = tempDir("rehost-points-");
  const frozen = path.join(dir, "frozen");
  const target = (vm: string) => path.join(dir, `${vm}.raw`);
  const job = (vm: string) => `${vm}-disk-2000`;
  let sim: Vcsim;
  let vc: VSphereClient;
  let agent: RunningAgent;
  let client: AgentClient;
  let proxy: RunningProxy;
  let writing = true;
  let writes = 0;
  let writer: Promise<void>;

  beforeAll(async () => {
    sim = await startVcsim({ vms: VMS.map((name) => ({ name, disks: [{ capacityMiB: DISK_MiB }] })) }, { keepFrozen: frozen });
    vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    for (const vm of VMS) makeTarget(target(vm), DISK_MiB);
    let token: string;
    ({ agent, client, token } = await startTestAgent(path.join(dir, "agent"), VMS.map(target)));
    for (const vm of VMS) await client.register({ id: job(vm), source: { pushedBy: `rehost proxy, VM ${vm}` }, target: target(vm) });
    proxy = await startProxy({
      stateDir: path.join(dir, "proxy"),
      port: 0,
      vc,
      agents: { token, fingerprint: agent.fingerprint },
      reader: { kind: "curl", caFile: sim.ca },
      logger: silentLogger,
    });
    for (const vm of VMS) await guestWrite(sim, vm, 2000, 0, crypto.randomBytes(8 * MiB));
    for (const vm of VMS) await proxy.manager.registerDisk(vm, 2000, { agentUrl: agent.url, jobId: job(vm), rpoSeconds: 0 });
    for (const vm of VMS) {
      await until(
        `${vm}'s initial round`,
        async () => {
          const s = proxy.manager.get(vm);
          if (s.state === "error") throw new Error(s.error);
          return s.lastRound !== undefined && s.state === "idle" ? s : undefined;
        },
        60_000,
      );
    }
    // The guests write all along from here on.
    writer = (async () => {
      while (writing) {
        for (const vm of VMS) await guestWrite(sim, vm, 2000, crypto.randomInt(DISK_MiB * MiB - 65_536), crypto.randomBytes(65_536));
        writes++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
  }, 300_000);

  afterAll(async () => {
    writing = false;
    await writer;
    await stopSite({ proxy, agent, vc, sim, dir });
  });

  const pointDone = (name: string) =>
    until(
      `point ${name}`,
      async () => {
        const p = proxy.manager.point(name);
        return p.state !== "running" ? p : undefined;
      },
      60_000,
    );

  it("a point too wide for its skew bound is refused: no job frozen, no snapshot left", async () => {
    proxy.manager.startPoint({ name: "too-tight", vms: VMS, maxSkewSeconds: 0.000001 });
    const point = await pointDone("too-tight");
    expect(point.state).toBe("failed");
    expect(point.error).toMatch(/snapshots of point too-tight are [\d.]+ s apart, more than the 0.000001 s allowed/);
    for (const vm of VMS) expect((await client.get(job(vm))).state).not.toBe("frozen");
    expect(await vc.listSnapshots({ onlyRehost: true })).toEqual([]);
  });

  it("holds every VM at its snapshot: the frozen replicas equal the disks the simulator froze", async () => {
    const before = writes;
    proxy.manager.startPoint({ name: "rehearsal-1", vms: VMS, maxSkewSeconds: 30 });
    const point: PointStatus = await pointDone("rehearsal-1");
    expect(point.error).toBeUndefined();
    expect(point.state).toBe("held");
    expect(point.skewSeconds).toBeGreaterThan(0);
    expect(point.skewSeconds).toBeLessThan(30);
    expect(writes).toBeGreaterThan(before);
    for (const vm of VMS) {
      const held = point.jobs![job(vm)];
      const status = await client.get(job(vm));
      expect(status.state).toBe("frozen");
      expect(status.frozenFor).toBe("rehearsal-1");
      const copy = path.join(frozen, vm, `${REHOST_SNAPSHOT_PREFIX}round-${held.round}`, `${vm}-flat.vmdk`);
      expect((await digest(target(vm))).digest, vm).toBe((await digest(copy)).digest);
      expect(held.digest).toBe((await digest(copy)).digest);
    }
    expect(await vc.listSnapshots({ onlyRehost: true })).toEqual([]);
  });

  it("rounds wait while the point is held and go on after the thaw", async () => {
    const held = proxy.manager.get("db-01").lastRound!.round;
    proxy.manager.runNow("db-01", "auto");
    await until("the skipped round", async () => (proxy.manager.get("db-01").state === "idle" ? true : undefined), 30_000);
    expect(proxy.manager.get("db-01").lastRound!.round).toBe(held);
    for (const vm of VMS) await client.thaw(job(vm), "rehearsal-1");
    proxy.manager.runNow("db-01", "auto");
    await until(
      "the next round",
      async () => {
        const s = proxy.manager.get("db-01");
        return s.lastRound!.round > held && s.state === "idle" ? s : undefined;
      },
      60_000,
    );
  });
});
