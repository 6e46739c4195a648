/**
 * The stacks under the real Pulumi engine this repository builds: a lab project whose gateway is
 * a local agent and whose sources are qemu-nbd servers, through preview (with unknown values),
 * up, rounds, a rehearsal destroyed from another checkout while replication goes on, refresh,
 * cutover and a policy-pack preview. Every step is checked against the agent and the disks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import { ProcessGroup } from "../../lib/lab/processes";
import { digest, openDevice } from "../../lib/replication";
import { MiB, makeRawDisk, makeTarget, serveRaw, startTestAgent, until } from "../agent/fixtures";
import { engineDir, linkRehostPackage, PulumiWorkspace, REPOSITORY_ROOT } from "../helpers/engine";
import { tempDir } from "../helpers/nbd-servers";

describe("the stacks under the real Pulumi engine", () => {
  const dir = tempDir("rehost-engine-");
  const group = new ProcessGroup();
  const project = path.join(dir, "checkout-a", "lab");
  const moved = path.join(dir, "checkout-b", "lab");
  const snapshots = path.join(dir, "snapshots");
  let workspace: PulumiWorkspace;
  let agent: RunningAgent;
  let client: AgentClient;
  const disks = ["web-01-disk-2000", "db-01-disk-2000"].map((id, i) => ({
    id,
    vm: id.replace(/-disk-.*/, ""),
    image: path.join(dir, `${id}.raw`),
    target: path.join(dir, `${id}-target.raw`),
    source: "",
    seed: i,
  }));

  const write = async (uri: string, offset: number, byte: number): Promise<void> => {
    const dev = await openDevice(uri, { write: true });
    await dev.write(offset, Buffer.alloc(256 * 1024, byte));
    await dev.flush();
    await dev.close();
  };
  const configSet = async (cwd: string, stack: string, entries: Record<string, string>, secret = false): Promise<void> => {
    for (const [key, value] of Object.entries(entries))
      await workspace.ok(cwd, ["config", "set", "--stack", stack, ...(secret ? ["--secret"] : []), key, value]);
  };
  const outputs = async (cwd: string, stack: string): Promise<Record<string, any>> =>
    JSON.parse(await workspace.ok(cwd, ["stack", "output", "--stack", stack, "--json", "--show-secrets"]));
  const sourceDigests = async (): Promise<string[]> => Promise.all(disks.map(async (d) => (await digest(d.source)).digest));
  const targetDigests = async (): Promise<string[]> => Promise.all(disks.map(async (d) => (await digest(d.target)).digest));

  beforeAll(async () => {
    engineDir();
    workspace = new PulumiWorkspace(dir);
    fs.mkdirSync(snapshots);
    for (const d of disks) {
      makeRawDisk(d.image, 24, 10, d.id);
      makeTarget(d.target, 24);
      d.source = await serveRaw(group, d.image, path.join(dir, `${d.id}.sock`));
    }
    let token: string;
    ({ agent, client, token } = await startTestAgent(
      dir,
      disks.map((d) => d.target),
    ));
    fs.mkdirSync(project, { recursive: true });
    for (const f of ["Pulumi.yaml", "package.json", "index.js"]) fs.copyFileSync(path.join(__dirname, "lab-project", f), path.join(project, f));
    linkRehostPackage(project);
    await workspace.ok(project, ["login", `file://${workspace.backend}`]);
    for (const stack of ["lab-wave", "lab-rehearsal-1"]) {
      await workspace.ok(project, ["stack", "init", stack]);
      await configSet(project, stack, { "rehost:agentToken": token }, true);
      await configSet(project, stack, { "rehost:agentFingerprint": agent.fingerprint });
    }
    await configSet(project, "lab-wave", {
      "lab:role": "wave",
      "lab:agentUrl": agent.url,
      "lab:disks": JSON.stringify(disks.map(({ id, vm, source, target }) => ({ id, vm, source, target }))),
      "lab:round": "0",
    });
    await configSet(project, "lab-rehearsal-1", { "lab:role": "rehearsal", "lab:waveStack": "organization/lab/lab-wave", "lab:snapshotDir": snapshots });
  }, 900_000);

  afterAll(async () => {
    await agent?.close();
    await group.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("previews a new wave whose agent URL is not known yet, without touching the agent", async () => {
    const out = await workspace.ok(project, ["preview", "--stack", "lab-wave", "--diff"]);
    expect(out).toMatch(/\+ 4 to create/);
    expect(out).toMatch(/agentUrl\s*:\s*output<string>|agentUrl\s*:\s*\[unknown\]/);
    expect((await client.list()).jobs).toEqual([]);
  });

  it("up registers every disk and the initial sync runs on; a later up sees it done", async () => {
    await workspace.ok(project, ["up", "--yes", "--stack", "lab-wave"]);
    expect((await client.list()).jobs.map((j) => j.id).sort()).toEqual(disks.map((d) => d.id).sort());
    await until("the initial syncs", async () => ((await client.list()).jobs.every((j) => j.state === "idle") ? true : undefined));
    expect(await targetDigests()).toEqual(await sourceDigests());
    await workspace.ok(project, ["up", "--yes", "--refresh", "--stack", "lab-wave"]);
    expect((await outputs(project, "lab-wave")).lastRounds).toEqual([0, 0]);
  });

  it("raising the round runs an incremental round of every disk", async () => {
    for (const d of disks) await write(d.source, 5 * MiB, 0x5a);
    await configSet(project, "lab-wave", { "lab:round": "1" });
    await workspace.ok(project, ["up", "--yes", "--stack", "lab-wave"]);
    for (const d of disks) expect((await client.get(d.id)).rounds.map((r) => r.round)).toEqual([0, 1]);
    expect(await targetDigests()).toEqual(await sourceDigests());
    expect((await outputs(project, "lab-wave")).lastRounds).toEqual([1, 1]);
  });

  it("a rehearsal takes a point, snapshots it and thaws; destroyed from another checkout while replication goes on", async () => {
    const preview = await workspace.ok(project, ["preview", "--stack", "lab-rehearsal-1"]);
    expect(preview).toMatch(/\+ 4 to create/);
    await workspace.ok(project, ["up", "--yes", "--stack", "lab-rehearsal-1"]);
    const rehearsal = await outputs(project, "lab-rehearsal-1");
    for (const d of disks) {
      // The snapshot holds exactly the point's round.
      expect(rehearsal.snapshotDigests[d.id]).toBe(rehearsal.pointDigests[d.id].digest);
      expect(rehearsal.pointDigests[d.id].round).toBe(1);
      expect((await client.get(d.id)).state).toBe("idle");
    }
    expect(fs.readdirSync(snapshots)).toHaveLength(2);

    // Another checkout (a CI runner): the project at another path; the first one is gone.
    fs.mkdirSync(path.dirname(moved), { recursive: true });
    fs.cpSync(project, moved, { recursive: true, verbatimSymlinks: true });
    fs.rmSync(path.dirname(project), { recursive: true, force: true });
    for (const d of disks) await write(d.source, 9 * MiB, 0x6b);
    for (const d of disks) await client.round(d.id, 2, "hash");
    await workspace.ok(moved, ["destroy", "--yes", "--stack", "lab-rehearsal-1"]);
    expect(fs.readdirSync(snapshots)).toEqual([]);
    await until("round 2", async () => ((await client.list()).jobs.every((j) => j.lastRound?.round === 2 && j.state === "idle") ? true : undefined));
    expect(await targetDigests()).toEqual(await sourceDigests());
  });

  it("keeps no path of the checkout or of the project in the state", async () => {
    const exported = await workspace.ok(moved, ["stack", "export", "--stack", "lab-wave", "--show-secrets"]);
    expect(exported).toContain('require(\\"rehost/providers/runtime\\")');
    // The engine records where each resource was declared, relative to the project
    // (`project:///…`); here @pulumi/pulumi is linked from the checkout, so those point through it.
    const state = JSON.parse(exported);
    for (const r of state.deployment.resources) {
      delete r.sourcePosition;
      delete r.stackTrace;
    }
    const text = JSON.stringify(state);
    for (const forbidden of [REPOSITORY_ROOT, path.dirname(project), path.dirname(moved)]) {
      const at = text.indexOf(forbidden);
      expect(at === -1 ? "" : text.slice(Math.max(0, at - 200), at + 100)).toBe("");
    }
  });

  it("refresh notices a job deleted behind Pulumi's back, and up registers it again", async () => {
    await client.unregister(disks[1].id);
    await workspace.ok(moved, ["refresh", "--yes", "--stack", "lab-wave"]);
    const state = JSON.parse(await workspace.ok(moved, ["stack", "export", "--stack", "lab-wave"]));
    const replications = state.deployment.resources.filter((r: { type: string }) => r.type === "pulumi-nodejs:dynamic/rehost:Replication");
    expect(replications.map((r: { id: string }) => r.id)).toEqual([disks[0].id]);
    await workspace.ok(moved, ["up", "--yes", "--stack", "lab-wave"]);
    expect((await client.get(disks[1].id)).state).toMatch(/initial-sync|idle/);
    await until("the new initial sync", async () => ((await client.get(disks[1].id)).state === "idle" ? true : undefined));
  });

  it("cutover runs the final round of every disk and verifies equal digests", async () => {
    for (const d of disks) await write(d.source, 13 * MiB, 0x7c);
    await configSet(moved, "lab-wave", { "lab:phase": "cutover", "lab:round": "2" });
    await workspace.ok(moved, ["up", "--yes", "--stack", "lab-wave"]);
    const out = await outputs(moved, "lab-wave");
    expect(out.verified).toEqual([true, true]);
    const sources = await sourceDigests();
    disks.forEach((d, i) => expect(out.cutoverDigests[i][d.id]).toMatchObject({ source: sources[i], target: sources[i] }));
    for (const d of disks) expect((await client.get(d.id)).verification?.equal).toBe(true);
    // Nothing more to do: a second up changes nothing.
    const again = await workspace.ok(moved, ["up", "--yes", "--stack", "lab-wave"]);
    expect(again).not.toMatch(/updated|created|replaced/);
  });

  it("runs the repository's policy pack in a preview: a cutover outside its change window is refused", async () => {
    const pack = path.join(REPOSITORY_ROOT, "policies");
    const hour = 3600_000;
    await configSet(moved, "lab-wave", {
      "lab:window": JSON.stringify({ start: new Date(Date.now() - 3 * hour).toISOString(), end: new Date(Date.now() - 2 * hour).toISOString() }),
    });
    const refused = await workspace.run(moved, ["preview", "--stack", "lab-wave", "--policy-pack", pack]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toMatch(/\[mandatory\]\s+cutover-in-change-window/);
    await configSet(moved, "lab-wave", {
      "lab:window": JSON.stringify({ start: new Date(Date.now() - hour).toISOString(), end: new Date(Date.now() + hour).toISOString() }),
    });
    const out = await workspace.ok(moved, ["preview", "--stack", "lab-wave", "--policy-pack", pack]);
    expect(out).toMatch(/rehost-guard@v0\.1\.0/);
    expect(out).not.toMatch(/mandatory/);
  });
});
