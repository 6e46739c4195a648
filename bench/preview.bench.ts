/**
 * Offline preview of the largest exchange-centre wave at cutover (the most VMs, so the most
 * resources: gateways, disks, snapshots, images, hosts), target ≤ 15 s end to end.
 *
 * Figures: the `rehost preview` CLI end to end (a fresh process: TypeScript loading, the landing
 * zone's preview for its StackReference, then the wave), the same preview in-process once the
 * modules are loaded, and the peer: the Pulumi SDK's mock runtime registering the same resources
 * (same types, names, inputs) from a flat list, with no plan, no components and no stack program.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml, stringify } from "yaml";
import { loadWaves } from "../lib/inventory";
import { runOfflinePreview, runUnderMocks } from "../lib/preview";
import { tempDir } from "../test/helpers/tmp";

const ROOT = path.resolve(__dirname, "..");

/** A bare custom resource of any type, for the flat peer. */
class Flat extends pulumi.CustomResource {}
const TARGET_MS = 15_000;

async function main(): Promise<void> {
  const tmp = tempDir("rehost-bench-preview-");
  try {
    // The exchange-centre stack configs, with every wave at cutover: pick the one with the most resources.
    const configs = new Map<string, Record<string, unknown>>();
    for (const f of fs.readdirSync(path.join(ROOT, "stacks")).filter((f) => /^Pulumi\..+\.yaml$/.test(f))) {
      const doc = parseYaml(fs.readFileSync(path.join(ROOT, "stacks", f), "utf8")) as { config: Record<string, unknown> };
      if (doc.config["rehost:role"] === "wave") doc.config["rehost:phase"] = "cutover";
      configs.set(f, doc.config);
      fs.writeFileSync(path.join(tmp, f), stringify(doc));
    }
    const waves = fs
      .readdirSync(tmp)
      .flatMap((f) => /^Pulumi\.(wave-\d+)\.yaml$/.exec(f)?.[1] ?? [])
      .sort();
    const sizes: Array<{ stack: string; resources: number; vms: number }> = [];
    for (const stack of waves) {
      const r = await runOfflinePreview({ stack, stacksDir: tmp, projectDir: ROOT });
      sizes.push({ stack, resources: r.resources.length, vms: new Set(r.pinnedIps.map((p) => p.vm)).size });
    }
    const largest = sizes.reduce((a, b) => (b.resources > a.resources ? b : a));
    console.log(`waves at cutover: ${sizes.map((s) => `${s.stack} ${s.vms} VMs/${s.resources} resources`).join(", ")}`);
    // The policies judge a cutover against its change window: preview as of an hour into the window.
    const config = configs.get(`Pulumi.${largest.stack}.yaml`)!;
    const wave = (await loadWaves(path.join(ROOT, String(config["rehost:waves"])))).waves.find((w) => w.name === config["rehost:wave"]);
    if (wave?.window === undefined) throw new Error(`${largest.stack}: its wave ${String(config["rehost:wave"])} has no change window`);
    const at = new Date(Date.parse(wave.window.start) + 3600_000).toISOString();

    // The CLI in a fresh process, reporting its own CPU time on exit (wall time depends on the load).
    const wrapper = [
      "process.on('exit', () => { const u = process.cpuUsage(); require('fs').writeSync(2, `\\ncpu-ms ${((u.user + u.system) / 1000).toFixed(0)}\\n`); });",

      `require(${JSON.stringify(path.join(ROOT, "bin", "rehost.js"))});`,
    ].join("\n");
    const wrapperFile = path.join(tmp, "rehost-with-cpu.js");
    fs.writeFileSync(wrapperFile, wrapper);
    const t0 = performance.now();
    const cli = spawnSync(process.execPath, [wrapperFile, "preview", "--stack", largest.stack, "--stacks", tmp, "--json", "--at", at], {
      cwd: ROOT,
      encoding: "utf8",
      maxBuffer: 256 * 2 ** 20,
    });
    const cliMs = performance.now() - t0;
    if (cli.status !== 0) throw new Error(`rehost preview failed (${cli.status}): ${cli.stderr}`);
    const cliCpuMs = Number(/cpu-ms (\d+)/.exec(cli.stderr)?.[1] ?? NaN);
    // Peer of the fresh process: a process that only loads the Pulumi SDK and the alicloud package.
    const importsFile = path.join(tmp, "imports-only.js");
    fs.writeFileSync(
      importsFile,
      [
        "process.on('exit', () => { const u = process.cpuUsage(); require('fs').writeSync(2, `cpu-ms ${((u.user + u.system) / 1000).toFixed(0)}\\n`); });",
        `require(${JSON.stringify(path.join(ROOT, "node_modules", "@pulumi", "pulumi"))});`,
        `require(${JSON.stringify(path.join(ROOT, "node_modules", "@pulumi", "alicloud"))});`,
      ].join("\n"),
    );
    const t1 = performance.now();
    const imports = spawnSync(process.execPath, [importsFile], { encoding: "utf8" });
    const importsMs = performance.now() - t1;
    const importsCpuMs = Number(/cpu-ms (\d+)/.exec(imports.stderr)?.[1] ?? NaN);
    const printed = (JSON.parse(cli.stdout) as { resources: unknown[] }).resources.length;

    const warm: number[] = [];
    const warmCpu: number[] = [];
    let recorded: Awaited<ReturnType<typeof runOfflinePreview>>["recorded"] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const cpu = process.cpuUsage();
      const r = await runOfflinePreview({ stack: largest.stack, stacksDir: tmp, projectDir: ROOT });
      warm.push(performance.now() - t);
      const used = process.cpuUsage(cpu);
      warmCpu.push((used.user + used.system) / 1000);
      recorded = r.recorded;
    }
    const peer: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await runUnderMocks({ project: "rehost", stack: "peer" }, () => {
        for (const r of recorded) {
          if (r.custom) new Flat(r.type, r.name, { ...r.inputs });
          else new pulumi.ComponentResource(r.type, r.name);
        }
      });
      peer.push(performance.now() - t);
    }
    const best = (xs: number[]) => Math.min(...xs);
    const warmMs = best(warm);
    const peerMs = best(peer);
    console.log(`largest wave: ${largest.stack} (${largest.vms} VMs), ${printed} resources printed`);
    console.log(
      `rehost preview CLI, fresh process (incl. landing-zone preview): ${cliMs.toFixed(0)} ms wall, ${cliCpuMs} ms CPU (target ≤ ${TARGET_MS} ms wall: ${cliMs <= TARGET_MS ? "met" : "MISSED"})`,
    );
    console.log(
      `peer: a fresh process only loading @pulumi/pulumi and @pulumi/alicloud: ${importsMs.toFixed(0)} ms wall, ${importsCpuMs} ms CPU (CLI / peer CPU: ${(cliCpuMs / importsCpuMs).toFixed(2)}×)`,
    );
    console.log(`machine load while measuring: ${os.loadavg()[0]!.toFixed(1)} (1-min average) on ${os.cpus().length} cores`);
    console.log(`in-process preview, modules loaded (best of 3, incl. landing zone): ${warmMs.toFixed(0)} ms wall, ${best(warmCpu).toFixed(0)} ms CPU`);
    console.log(`peer: mock runtime registering the same ${recorded.length} resources flat (best of 3): ${peerMs.toFixed(0)} ms`);
    console.log(`ratio in-process preview / flat registration: ${(warmMs / peerMs).toFixed(2)}×`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
