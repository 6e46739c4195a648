/**
 * rehost as users install it: `npm pack`, installed with `npm install --omit=dev` into an empty
 * folder, used as a library and a command, and by a plain Node Pulumi program under the engine
 * this repository builds — which keeps working after its folder is moved.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import { ProcessGroup } from "../../lib/lab/processes";
import { digest } from "../../lib/replication";
import { makeRawDisk, makeTarget, serveRaw, startTestAgent, until } from "../agent/fixtures";
import { engineDir, PulumiWorkspace, REPOSITORY_ROOT } from "../helpers/engine";
import { tempDir } from "../helpers/nbd-servers";

const npm = (cwd: string, args: string[]): string =>
  execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, encoding: "utf8", timeout: 300_000 });

describe("the packed package", () => {
  const dir = tempDir("rehost-package-");
  const app = path.join(dir, "first", "app");
  const moved = path.join(dir, "second", "app");
  const group = new ProcessGroup();
  let agent: RunningAgent;
  let client: AgentClient;
  let token: string;
  const disk = { id: "app-01-disk-2000", vm: "app-01", image: path.join(dir, "app.raw"), target: path.join(dir, "app-target.raw"), source: "" };

  beforeAll(async () => {
    engineDir();
    npm(REPOSITORY_ROOT, ["pack", "--pack-destination", dir, "--silent"]);
    const tarball = fs.readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
    fs.mkdirSync(app, { recursive: true });
    fs.writeFileSync(path.join(app, "package.json"), `${JSON.stringify({ name: "migration", private: true }, null, 2)}\n`);
    npm(app, ["install", "--omit=dev", "--prefer-offline", path.join(dir, tarball)]);
    makeRawDisk(disk.image, 16, 8, disk.id);
    makeTarget(disk.target, 16);
    disk.source = await serveRaw(group, disk.image, path.join(dir, "app.sock"));
    ({ agent, client, token } = await startTestAgent(dir, [disk.target]));
  }, 900_000);

  afterAll(async () => {
    await agent?.close();
    await group.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("installs compiled JavaScript only: no tsx, no cloud package, no TypeScript source", () => {
    const modules = path.join(app, "node_modules");
    expect(fs.existsSync(path.join(modules, "tsx"))).toBe(false);
    expect(fs.existsSync(path.join(modules, "@pulumi", "alicloud"))).toBe(false);
    expect(fs.existsSync(path.join(modules, "@pulumi", "command"))).toBe(false);
    const files = execFileSync("find", [path.join(modules, "rehost"), "-name", "*.ts", "-not", "-name", "*.d.ts"], { encoding: "utf8" }).trim();
    expect(files).toBe("");
  });

  it("require('rehost') gives the providers and the planner, and the components once @pulumi/alicloud is installed", () => {
    const probe = (script: string) => spawnSync(process.execPath, ["-e", script], { cwd: app, encoding: "utf8" });
    const first = probe(
      'const r = require("rehost"); console.log([typeof r.Replication, typeof r.Cutover, typeof r.buildPlan, typeof require("rehost/providers").RehearsalPoint].join(" ")); try { r.MigrationWave } catch (e) { console.log(e.message) }',
    );
    expect(first.stderr).toBe("");
    expect(first.stdout).toContain("function function function function");
    expect(first.stdout).toContain("needs @pulumi/alicloud: npm install @pulumi/alicloud@3.108.0");
    const withCloud = path.join(dir, "with-cloud");
    fs.cpSync(app, withCloud, { recursive: true, verbatimSymlinks: true });
    npm(withCloud, ["install", "--omit=dev", "--prefer-offline", "@pulumi/alicloud@3.108.0"]);
    const second = spawnSync(
      process.execPath,
      ["-e", 'const r = require("rehost"); console.log(typeof r.MigrationWave, typeof require("rehost/components").SyncGateway)'],
      { cwd: withCloud, encoding: "utf8" },
    );
    expect(second.stdout.trim()).toBe("function function");
  }, 300_000);

  it("npx rehost plans the lab estate", () => {
    const examples = path.join(app, "node_modules", "rehost", "examples", "lab");
    const plan = spawnSync(
      "npx",
      ["rehost", "plan", "--inventory", path.join(examples, "inventory.yaml"), "--waves", path.join(examples, "waves.yaml"), "--format", "json"],
      { cwd: app, encoding: "utf8" },
    );
    expect(plan.status).toBe(0);
    expect(JSON.parse(plan.stdout).waves[0].vms).toHaveLength(4);
    const version = spawnSync("npx", ["rehost", "--version"], { cwd: app, encoding: "utf8" });
    expect(version.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(REPOSITORY_ROOT, "package.json"), "utf8")).version);
  });

  it("a Pulumi program with only rehost installed previews, deploys, and is destroyed after its folder moved", async () => {
    const workspace = new PulumiWorkspace(dir);
    for (const f of ["Pulumi.yaml", "index.js"]) fs.copyFileSync(path.join(__dirname, "lab-project", f), path.join(app, f));
    await workspace.ok(app, ["login", `file://${workspace.backend}`]);
    await workspace.ok(app, ["stack", "init", "dev"]);
    await workspace.ok(app, ["config", "set", "--secret", "rehost:agentToken", token]);
    for (const [k, v] of Object.entries({
      "rehost:agentFingerprint": agent.fingerprint,
      "lab:role": "wave",
      "lab:agentUrl": agent.url,
      "lab:disks": JSON.stringify([{ id: disk.id, vm: disk.vm, source: disk.source, target: disk.target }]),
    })) {
      await workspace.ok(app, ["config", "set", k, v]);
    }
    // The agent URL is an output of a resource not created yet: unknown during this preview.
    const preview = await workspace.ok(app, ["preview", "--diff"]);
    expect(preview).toMatch(/\+ 3 to create/);
    // Nothing asks for a cloud plugin: only rehost and @pulumi/pulumi are installed.
    const about = await workspace.ok(app, ["about", "--json"]);
    expect(JSON.stringify(JSON.parse(about).plugins ?? [])).not.toMatch(/alicloud|"command"/);

    await workspace.ok(app, ["up", "--yes"]);
    await until("the initial sync", async () => ((await client.get(disk.id)).state === "idle" ? true : undefined));
    expect((await digest(disk.target)).digest).toBe((await digest(disk.source)).digest);

    fs.mkdirSync(path.dirname(moved), { recursive: true });
    fs.renameSync(app, moved);
    await workspace.ok(moved, ["destroy", "--yes", "--stack", "dev"]);
    expect(await client.find(disk.id)).toBeUndefined();
  }, 300_000);
});
