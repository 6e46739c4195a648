/**
 * A wave through the source proxy under the real Pulumi engine: one `pulumi up` registers every
 * disk with the proxy, whose rounds (a vSphere snapshot each, CBT's areas pushed) then go on at the
 * recovery point with no Pulumi run; a second `up` with the cutover phase shuts the VMs down,
 * runs the final round and verifies by block hashes; destroy unregisters everything.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import type { VmStatus } from "../../lib/proxy/api";
import { digest } from "../../lib/replication";
import { MiB, makeTarget, startTestAgent, until } from "../agent/fixtures";
import { engineDir, linkRehostPackage, PulumiWorkspace } from "../helpers/engine";
import { tempDir } from "../helpers/nbd-servers";
import { spawnProxy, type ProxyProcess } from "../proxy/fixtures";
import { connectVSphere, type VSphereClient } from "../../lib/vsphere";
import { guestRead, guestWrite, PASSWORD, startVcsim, USER, type Vcsim } from "../vsphere/harness";
import { stopSite } from "../helpers/site";

const DISK_MiB = 32;
const RPO_SECONDS = 3;

describe("a wave through the source proxy under the real Pulumi engine", () => {
  const dir = tempDir("rehost-engine-proxied-");
  const project = path.join(dir, "checkout", "lab");
  const stack = "lab-proxied";
  const disks = [
    { id: "web-01-disk-2000", vm: "web-01", key: 2000 },
    { id: "db-01-disk-2000", vm: "db-01", key: 2000 },
    { id: "db-01-disk-2001", vm: "db-01", key: 2001 },
  ].map((d) => ({ ...d, target: path.join(dir, `${d.id}.raw`) }));
  const vms = [...new Set(disks.map((d) => d.vm))];
  let workspace: PulumiWorkspace;
  let sim: Vcsim;
  let agent: RunningAgent;
  let client: AgentClient;
  let proxy: ProxyProcess;
  let vc: VSphereClient;
  const snapshotsLeft = async (): Promise<number> => (await Promise.all(vms.map((vm) => vc.listSnapshots({ vm, onlyRehost: true })))).flat().length;

  const configSet = async (entries: Record<string, string>, secret = false): Promise<void> => {
    for (const [key, value] of Object.entries(entries))
      await workspace.ok(project, ["config", "set", "--stack", stack, ...(secret ? ["--secret"] : []), key, value]);
  };
  const outputs = async (): Promise<Record<string, any>> =>
    JSON.parse(await workspace.ok(project, ["stack", "output", "--stack", stack, "--json", "--show-secrets"]));
  const lastRound = async (vm: string): Promise<number> => (await proxy.client.get(vm)).lastRound?.round ?? -1;
  /** The VM's disk as the guest sees it now, as a file. */
  const vmDisk = async (d: (typeof disks)[number]): Promise<string> => {
    const file = path.join(dir, `${d.id}-source.raw`);
    fs.writeFileSync(file, await guestRead(sim, d.vm, d.key, 0, DISK_MiB * MiB));
    return (await digest(file)).digest;
  };

  beforeAll(async () => {
    engineDir();
    workspace = new PulumiWorkspace(dir);
    sim = await startVcsim({
      vms: vms.map((name) => ({ name, guestShutdown: "ok" as const, disks: disks.filter((d) => d.vm === name).map(() => ({ capacityMiB: DISK_MiB })) })),
    });
    vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    for (const d of disks) {
      makeTarget(d.target, DISK_MiB);
      await guestWrite(sim, d.vm, d.key, 0, crypto.randomBytes(6 * MiB));
    }
    let token: string;
    ({ agent, client, token } = await startTestAgent(
      path.join(dir, "agent"),
      disks.map((d) => d.target),
    ));
    const tokenFile = path.join(dir, "agent-token");
    fs.writeFileSync(tokenFile, token);
    proxy = await spawnProxy(path.join(dir, "proxy"), sim, { tokenFile, fingerprint: agent.fingerprint });
    fs.mkdirSync(project, { recursive: true });
    for (const f of ["Pulumi.yaml", "package.json", "index.js"]) fs.copyFileSync(path.join(__dirname, "lab-project", f), path.join(project, f));
    linkRehostPackage(project);
    await workspace.ok(project, ["login", `file://${workspace.backend}`]);
    await workspace.ok(project, ["stack", "init", stack]);
    await configSet({ "rehost:agentToken": token, "rehost:proxyToken": fs.readFileSync(path.join(dir, "proxy", "token"), "utf8").trim() }, true);
    await configSet({
      "rehost:agentFingerprint": agent.fingerprint,
      "rehost:proxyFingerprint": proxy.fingerprint,
      "lab:role": "proxied",
      "lab:agentUrl": agent.url,
      "lab:proxyUrl": proxy.url,
      "lab:rpo": String(RPO_SECONDS),
      "lab:disks": JSON.stringify(disks.map(({ id, vm, key, target }) => ({ id, vm, key, target }))),
    });
  }, 900_000);

  afterAll(async () => {
    await stopSite({ proxy, agent, vc, sim, dir });
  });

  it("one up registers every disk with the proxy and waits for the initial rounds", async () => {
    await workspace.ok(project, ["up", "--yes", "--stack", stack]);
    expect((await client.list()).jobs.map((j) => j.id).sort()).toEqual(disks.map((d) => d.id).sort());
    for (const vm of vms) expect(await lastRound(vm)).toBeGreaterThanOrEqual(0);
    const out = await outputs();
    expect(out.recoveryPoints).toHaveLength(disks.length);
    for (const at of out.recoveryPoints) expect(Date.parse(at)).toBeGreaterThan(0);
    // The proxy's cycles go on (a snapshot exists while a round runs); none is left between them.
    await until("no snapshot between rounds", async () => ((await snapshotsLeft()) === 0 ? true : undefined), 30_000);
  });

  it("rounds go on at the recovery point with no Pulumi run, each carrying what the guests wrote", async () => {
    const before = Object.fromEntries(await Promise.all(vms.map(async (vm) => [vm, await lastRound(vm)] as const)));
    for (const d of disks) await guestWrite(sim, d.vm, d.key, 12 * MiB, crypto.randomBytes(2 * MiB));
    const wrote = new Date().toISOString();
    // Two more rounds per VM, the second after the writes.
    for (const vm of vms) {
      await until(
        `two more rounds of ${vm}`,
        async () => {
          const s: VmStatus = await proxy.client.get(vm);
          if (s.state === "error") throw new Error(s.error);
          return (s.lastRound?.round ?? -1) >= before[vm] + 2 && s.rounds.some((r) => r.snapshotAt > wrote) && s.state === "idle" ? s : undefined;
        },
        60_000,
        () => proxy.client.get(vm),
      );
    }
    for (const d of disks) expect((await digest(d.target)).digest).toBe(await vmDisk(d));
    // A round that found nothing changed moved next to nothing.
    const quiet = (await proxy.client.get("web-01")).rounds
      .filter((r) => r.snapshotAt > wrote)
      .flatMap((r) => r.disks)
      .find((x) => x.changedBytes === 0);
    if (quiet !== undefined) expect(quiet.linkBytes).toBeLessThan(4096);
  });

  it("the cutover phase shuts the VMs down, pushes the final delta and verifies by hashes", async () => {
    for (const d of disks) await guestWrite(sim, d.vm, d.key, 20 * MiB, crypto.randomBytes(MiB));
    await configSet({ "lab:phase": "cutover" });
    await workspace.ok(project, ["up", "--yes", "--stack", stack]);
    const out = await outputs();
    expect(out.verified).toEqual(vms.map(() => true));
    for (const [i, vm] of vms.entries()) {
      expect(out.downtimeSeconds[i]).toBeGreaterThan(0);
      expect(out.sourceBytesReadOverLink[i]).toBeLessThanOrEqual(1.05 * out.finalDeltaBytes[i] + 4096);
      expect((await proxy.client.get(vm)).state).toBe("cut-over");
    }
    for (const d of disks) expect((await digest(d.target)).digest).toBe(await vmDisk(d));
    expect(await snapshotsLeft()).toBe(0);
  });

  it("destroy unregisters every disk from the proxy and the agent", async () => {
    await workspace.ok(project, ["destroy", "--yes", "--stack", stack]);
    expect((await client.list()).jobs).toEqual([]);
    for (const vm of vms) expect((await proxy.client.get(vm).catch((err: Error) => ({ disks: [], error: err.message }))).disks).toEqual([]);
  });
});
