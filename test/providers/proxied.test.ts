/**
 * The providers with the source behind the on-prem proxy, against the vCenter simulator, a real
 * proxy and a real agent: a Replication declares its recovery point and the proxy's cycles run
 * without any further call; a round on request; a RehearsalPoint through the proxy with its skew;
 * a Cutover through the proxy; delete unregisters on both sides.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import { startProxy, type RunningProxy } from "../../lib/proxy";
import { configure, operations, ProviderCredentials } from "../../lib/providers/runtime";
import type { CutoverOutputs, RehearsalPointOutputs, ReplicationOutputs } from "../../lib/providers/runtime";
import { digest } from "../../lib/replication";
import { silentLogger } from "../../lib/service/log";
import { connectVSphere, type VSphereClient } from "../../lib/vsphere";
import { MiB, makeTarget, startTestAgent, until } from "../agent/fixtures";
import { tempDir } from "../helpers/nbd-servers";
import { guestRead, guestWrite, PASSWORD, startVcsim, USER, type Vcsim } from "../vsphere/harness";
import { stopSite } from "../helpers/site";

const VMS = ["web-01", "db-01"];

describe("providers through the source proxy", () => {
  const dir = tempDir("rehost-proxied-");
  const target = (vm: string) => path.join(dir, `${vm}.raw`);
  const jobId = (vm: string) => `${vm}-disk-2000`;
  let sim: Vcsim;
  let vc: VSphereClient;
  let agent: RunningAgent;
  let client: AgentClient;
  let proxy: RunningProxy;
  const replicas = new Map<string, ReplicationOutputs>();

  const inputs = async (vm: string, extra: Record<string, unknown> = {}) => {
    const checked = await operations.replication.check(
      {},
      {
        agentUrl: agent.url,
        jobId: jobId(vm),
        target: target(vm),
        proxy: { url: proxy.url, vm, diskKey: 2000, rpo: "2s", fullCheck: 0 },
        pollSeconds: 0.2,
        timeoutSeconds: 60,
        settleSeconds: 1,
        ...extra,
      },
    );
    expect(checked.failures).toEqual([]);
    return checked.inputs as Record<string, unknown>;
  };

  beforeAll(async () => {
    sim = await startVcsim({ vms: VMS.map((name) => ({ name, disks: [{ capacityMiB: 16 }] })) });
    vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    for (const vm of VMS) makeTarget(target(vm), 16);
    let token: string;
    ({ agent, client, token } = await startTestAgent(path.join(dir, "agent"), VMS.map(target)));
    proxy = await startProxy({
      stateDir: path.join(dir, "proxy"),
      port: 0,
      vc,
      agents: { token, fingerprint: agent.fingerprint },
      reader: { kind: "curl", caFile: sim.ca },
      logger: silentLogger,
    });
    const proxyToken = fs.readFileSync(proxy.tokenFile, "utf8").trim();
    const config = new Map([
      ["rehost:agentToken", token],
      ["rehost:agentFingerprint", agent.fingerprint],
      ["rehost:proxyToken", proxyToken],
      ["rehost:proxyFingerprint", proxy.fingerprint],
    ]);
    configure(new ProviderCredentials({ get: (k) => config.get(k) }, {}));
    for (const vm of VMS) await guestWrite(sim, vm, 2000, 0, crypto.randomBytes(5 * MiB));
  }, 300_000);

  afterAll(async () => {
    configure(new ProviderCredentials());
    await stopSite({ proxy, agent, vc, sim, dir });
  });

  it("check refuses both a source and a proxy, and a bad recovery point", async () => {
    const both = await operations.replication.check(
      {},
      {
        agentUrl: "https://10.0.0.1:8443",
        jobId: "web-01-disk-2000",
        target: "/dev/vdb",
        source: "nbd://10.0.0.2/x",
        proxy: { url: "https://10.0.0.3:8444", vm: "web-01", diskKey: 2000 },
      },
    );
    expect(both.failures!.map((f) => f.reason).join("; ")).toMatch(/exactly one of source .* and proxy/);
    const rpo = await operations.replication.check(
      {},
      {
        agentUrl: "https://10.0.0.1:8443",
        jobId: "web-01-disk-2000",
        target: "/dev/vdb",
        proxy: { url: "https://10.0.0.3:8444", vm: "web-01", diskKey: 2000, rpo: "hourly" },
      },
    );
    expect(rpo.failures!.map((f) => f.property)).toEqual(["proxy.rpo"]);
    expect(rpo.failures![0].reason).toMatch(/a duration such as 30s.*received "hourly"/);
    // A cutover through a proxy needs no round number; without one it does.
    const through = await operations.cutover.check(
      {},
      { agentUrl: "https://10.0.0.1:8443", vm: "web-01", jobIds: ["web-01-disk-2000"], proxy: { url: "https://10.0.0.3:8444" } },
    );
    expect(through.failures ?? []).toEqual([]);
    const direct = await operations.cutover.check(
      {},
      { agentUrl: "https://10.0.0.1:8443", vm: "web-01", jobIds: ["web-01-disk-2000"], manualConfirmation: true },
    );
    expect(direct.failures!.map((f) => f.property)).toEqual(["round"]);
    // Stack config values are strings: whole seconds as text are a duration too.
    for (const [given, seconds] of [
      ["3600", 3600],
      ["15m", 900],
      [7200, 7200],
    ] as const) {
      const ok = await operations.replication.check(
        {},
        {
          agentUrl: "https://10.0.0.1:8443",
          jobId: "web-01-disk-2000",
          target: "/dev/vdb",
          proxy: { url: "https://10.0.0.3:8444", vm: "web-01", diskKey: 2000, rpo: given },
        },
      );
      expect(ok.failures ?? []).toEqual([]);
      expect((ok.inputs.proxy as { rpo: number }).rpo).toBe(seconds);
    }
  });

  it("create registers the job and the disk; the proxy's cycles then run without another call", async () => {
    for (const vm of VMS) {
      const created = await operations.replication.create!(await inputs(vm, { waitForInitialSync: true }));
      const outs = created.outs as ReplicationOutputs;
      // The initial round is done; with a 2 s recovery point the proxy's next cycle may be too.
      expect(outs.lastRound).toBeGreaterThanOrEqual(0);
      expect(outs.recoveryPointAt).not.toBe("");
      replicas.set(vm, outs);
    }
    // Writes after the initial round reach the replica by the proxy's own cycles (rpo 2 s).
    await guestWrite(sim, "web-01", 2000, 7 * MiB, crypto.randomBytes(300_000));
    const expected = crypto
      .createHash("sha256")
      .update(await guestRead(sim, "web-01", 2000, 0, 16 * MiB))
      .digest("hex");
    await until(
      "a cycle that carries the write",
      async () => {
        const s = proxy.manager.get("web-01");
        if (s.state === "error") throw new Error(s.error);
        if (s.rounds.length < 2 || s.state !== "idle") return undefined;
        const have = crypto
          .createHash("sha256")
          .update(fs.readFileSync(target("web-01")))
          .digest("hex");
        return have === expected ? true : undefined;
      },
      60_000,
      async () => proxy.manager.get("web-01"),
    );
  });

  it("raising round asks the proxy for a round now", async () => {
    const old = replicas.get("db-01")!;
    const before = proxy.manager.get("db-01").lastRound!.round;
    const { outs } = await operations.replication.update!("db-01-disk-2000", old, { ...(await inputs("db-01")), round: 1 });
    expect(proxy.manager.get("db-01").lastRound!.round).toBeGreaterThan(before);
    expect(Date.parse((outs as ReplicationOutputs).recoveryPointAt)).toBeGreaterThan(Date.parse(old.recoveryPointAt));
    replicas.set("db-01", outs as ReplicationOutputs);
  });

  it("a RehearsalPoint through the proxy holds both VMs with their skew; delete thaws them", async () => {
    const checked = await operations.rehearsalPoint.check(
      {},
      {
        agentUrl: agent.url,
        jobIds: VMS.map(jobId),
        point: "rehearsal-1",
        proxy: { url: proxy.url, vms: VMS, maxSkew: "30s" },
        pollSeconds: 0.2,
        timeoutSeconds: 60,
      },
    );
    expect(checked.failures).toEqual([]);
    const { outs } = await operations.rehearsalPoint.create!(checked.inputs);
    const point = outs as RehearsalPointOutputs;
    expect(point.skewSeconds).toBeGreaterThan(0);
    expect(point.skewSeconds).toBeLessThan(30);
    for (const vm of VMS) {
      expect((await client.get(jobId(vm))).state).toBe("frozen");
      expect(point.digests[jobId(vm)].digest).toBe((await digest(target(vm))).digest);
    }
    await operations.rehearsalPoint.delete!("rehearsal-1", point);
    for (const vm of VMS) expect((await client.get(jobId(vm))).state).not.toBe("frozen");
    expect(() => proxy.manager.point("rehearsal-1")).toThrow(/No point rehearsal-1/);
  });

  it("a Cutover through the proxy: verified, with its downtime and what crossed the link", async () => {
    await guestWrite(sim, "db-01", 2000, 2 * MiB, crypto.randomBytes(100_000));
    const checked = await operations.cutover.check(
      {},
      {
        agentUrl: agent.url,
        vm: "db-01",
        jobIds: [jobId("db-01")],
        round: 99,
        proxy: { url: proxy.url, sampleBlocks: 4 },
        pollSeconds: 0.2,
        timeoutSeconds: 120,
      },
    );
    expect(checked.failures).toEqual([]);
    const { outs } = await operations.cutover.create!(checked.inputs);
    const cutover = outs as CutoverOutputs;
    expect(cutover.verified).toBe(true);
    expect(cutover.shutdown).toBe("guest-shutdown");
    expect(cutover.downtimeSeconds).toBeGreaterThan(0);
    expect(cutover.digests[jobId("db-01")].source).toBe(cutover.digests[jobId("db-01")].target);
    expect(cutover.digests[jobId("db-01")].size).toBe(16 * MiB);
    const source = path.join(dir, "db-01-source.raw");
    fs.writeFileSync(source, await guestRead(sim, "db-01", 2000, 0, 16 * MiB));
    expect((await digest(target("db-01"))).digest).toBe((await digest(source)).digest);
  });

  it("delete unregisters the disk on the proxy and the job on the agent", async () => {
    for (const vm of VMS) await operations.replication.delete!(jobId(vm), replicas.get(vm)!);
    for (const vm of VMS) expect(await client.find(jobId(vm))).toBeUndefined();
    expect(proxy.manager.list()).toEqual([]);
    expect(await vc.listSnapshots({ onlyRehost: true })).toEqual([]);
  });
});
