/**
 * `rehost status`, `/metrics` and the Cutover's downtime budget against a real proxy, a real
 * agent and the vCenter simulator, the guests writing between rounds: every disk shows its
 * recovery point age and rate, the VMs their predicted downtime, grouped by a plan's waves; bad
 * input exits 2; `--watch` refreshes until SIGINT (exit 130); both services' `/metrics` parse as
 * Prometheus text behind the token; a Cutover whose budget the prediction exceeds is refused
 * before any shutdown, and cuts over with `ignoreDowntimeBudget`.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import type { WaveStatusReport } from "../../lib/cli/status";
import { ProxyClient, startProxy, type RunningProxy } from "../../lib/proxy";
import { configure, operations, ProviderCredentials, type CutoverOutputs } from "../../lib/providers/runtime";
import { silentLogger } from "../../lib/service/log";
import { connectVSphere, type VSphereClient } from "../../lib/vsphere";
import { MiB, makeTarget, startTestAgent, until } from "../agent/fixtures";
import { tempDir } from "../helpers/nbd-servers";
import { guestWrite, PASSWORD, rehost, startVcsim, USER, type Vcsim } from "../vsphere/harness";
import { stopSite } from "../helpers/site";
import { spawnRehostWith } from "../helpers/cli";

/** A metric family as parsed from the text format. */
interface Family {
  help?: string;
  type?: string;
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

/** A small parser of the Prometheus text format (0.0.4): fails on any line it does not know. */
function parseMetrics(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { samples: [] }));
    return f;
  };
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta !== null) {
      const f = family(meta[2]);
      if (meta[1] === "HELP") f.help = meta[3];
      else {
        expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(meta[3]);
        expect(f.samples).toEqual([]); // TYPE comes before the samples
        f.type = meta[3];
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample === null) throw new Error(`Not a line of the Prometheus text format: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = sample[2] ?? "";
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    for (let at = 0; at < body.length;) {
      label.lastIndex = at;
      const m = label.exec(body);
      if (m === null) throw new Error(`Bad labels in ${JSON.stringify(line)}`);
      labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      at = label.lastIndex;
    }
    const value = Number(sample[3]);
    if (Number.isNaN(value) && sample[3] !== "NaN") throw new Error(`Bad value in ${JSON.stringify(line)}`);
    const f = families.get(sample[1]);
    if (f?.type === undefined) throw new Error(`Sample of ${sample[1]} before its TYPE line`);
    f.samples.push({ labels, value });
  }
  for (const [name, f] of families) {
    expect(f.help, `HELP of ${name}`).toBeTruthy();
    expect(f.type, `TYPE of ${name}`).toBeTruthy();
  }
  return families;
}

const VMS = [
  { name: "app-01", disks: [2000, 2001] },
  { name: "web-01", disks: [2000] },
];

describe("rehost status, /metrics and the downtime budget", () => {
  const dir = tempDir("rehost-status-");
  const target = (vm: string, key: number) => path.join(dir, `${vm}-${key}.raw`);
  const jobId = (vm: string, key: number) => `${vm}-disk-${key}`;
  let sim: Vcsim;
  let vc: VSphereClient;
  let agent: RunningAgent;
  let client: AgentClient;
  let agentToken: string;
  let proxy: RunningProxy;
  let env: Record<string, string>;
  const agentTokenFile = path.join(dir, "agent-token");

  const roundsDone = (vm: string, n: number) =>
    until(
      `round ${n} of ${vm}`,
      async () => {
        const s = proxy.manager.get(vm);
        if (s.state === "error") throw new Error(`round failed: ${s.error}`);
        return s.lastRound !== undefined && s.lastRound.round >= n && s.state === "idle" ? s : undefined;
      },
      90_000,
    );

  beforeAll(async () => {
    sim = await startVcsim({ vms: VMS.map((vm) => ({ name: vm.name, disks: vm.disks.map(() => ({ capacityMiB: 16 })) })) });
    vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    const targets = VMS.flatMap((vm) => vm.disks.map((key) => target(vm.name, key)));
    for (const t of targets) makeTarget(t, 16);
    ({ agent, client, token: agentToken } = await startTestAgent(path.join(dir, "agent"), targets));
    fs.writeFileSync(agentTokenFile, `${agentToken}\n`);
    for (const vm of VMS)
      for (const key of vm.disks)
        await client.register({ id: jobId(vm.name, key), source: { pushedBy: `rehost proxy (test), VM ${vm.name}` }, target: target(vm.name, key) });
    proxy = await startProxy({
      stateDir: path.join(dir, "proxy"),
      port: 0,
      vc,
      agents: { token: agentToken, fingerprint: agent.fingerprint },
      reader: { kind: "curl", caFile: sim.ca },
      logger: silentLogger,
      registrationSettleMs: 200,
    });
    env = { REHOST_PROXY_URL: proxy.url, REHOST_PROXY_TOKEN_FILE: proxy.tokenFile, REHOST_PROXY_FINGERPRINT: proxy.fingerprint };
    for (const vm of VMS) for (const key of vm.disks) await guestWrite(sim, vm.name, key, 0, crypto.randomBytes(3 * MiB));
    for (const vm of VMS)
      await Promise.all(
        vm.disks.map((key) =>
          proxy.manager.registerDisk(vm.name, key, { agentUrl: agent.url, jobId: jobId(vm.name, key), rpoSeconds: 0, fullCheckSeconds: 0 }),
        ),
      );
    for (const vm of VMS) await roundsDone(vm.name, 0);
    // Incremental rounds with the guests writing in between: churn and throughput become known.
    for (let round = 1; round <= 3; round++) {
      for (const vm of VMS) for (const key of vm.disks) await guestWrite(sim, vm.name, key, (4 + round) * MiB, crypto.randomBytes(round * 256 * 1024));
      for (const vm of VMS) proxy.manager.runNow(vm.name, "auto");
      for (const vm of VMS) await roundsDone(vm.name, round);
    }
  }, 300_000);

  afterAll(async () => {
    configure(new ProviderCredentials());
    await stopSite({ proxy, agent, vc, sim, dir });
  });

  it("--json shows every disk with its recovery point age and rate, every VM with its predicted downtime", async () => {
    const run = await rehost(["status", "--json"], env);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as WaveStatusReport;
    expect(report.proxy).toBe(proxy.url);
    expect(report.agents).toBe(false);
    const vms = report.waves.flatMap((w) => w.vms);
    expect(vms.map((v) => v.vm).sort()).toEqual(["app-01", "web-01"]);
    const disks = vms.flatMap((v) => v.disks);
    expect(disks.map((d) => d.job).sort()).toEqual(["app-01-disk-2000", "app-01-disk-2001", "web-01-disk-2000"]);
    for (const d of disks) {
      expect(d.lastRound).toBe(3);
      expect(d.recoveryPointAgeSeconds).toBeGreaterThanOrEqual(0);
      expect(d.recoveryPointAgeSeconds).toBeLessThan(120);
      expect(d.rateBytesPerSecond).toBeGreaterThan(0);
      // At least the 3 MiB written before the initial round crossed the link.
      expect(d.bytesMoved).toBeGreaterThan(3 * MiB);
    }
    for (const v of vms) {
      expect(v.prediction!.known).toBe(true);
      expect(v.prediction!.churnRounds).toBe(3);
      expect(v.predictedDowntimeSeconds).toBeGreaterThan(60); // the 60 s shutdown allowance and more
      expect(v.predictedDowntimeSeconds).toBeCloseTo(v.prediction!.downtimeSeconds, 9);
    }
  });

  it("with the agents' credentials, shows each job's state and every round's bytes; with a plan, groups by wave", async () => {
    const planFile = path.join(dir, "plan.json");
    const end = new Date(Date.now() + 30_000).toISOString();
    fs.writeFileSync(
      planFile,
      JSON.stringify({
        version: 1,
        waves: [
          {
            name: "wave-1",
            window: { start: new Date(Date.now() - 3600_000).toISOString(), end },
            vms: [{ name: "app-01", uuid: "4211aaaa-0000-0000-0000-000000000001" }],
          },
        ],
      }),
    );
    const run = await rehost(["status", "--json", "--plan", planFile, "--agent-token-file", agentTokenFile, "--agent-fingerprint", agent.fingerprint], env);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as WaveStatusReport;
    expect(report.agents).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.waves.map((w) => [w.wave, w.vms.map((v) => v.vm)])).toEqual([
      ["wave-1", ["app-01"]],
      [undefined, ["web-01"]],
    ]);
    const app = report.waves[0].vms[0];
    // 30 s left in the window, more than a minute predicted.
    expect(app.windowLeftSeconds).toBeLessThanOrEqual(30);
    expect(app.fitsWindow).toBe(false);
    for (const d of app.disks) {
      expect(d.state).toBe("idle");
      expect(d.bytesMovedOf).toBe("every round");
    }
    const table = await rehost(["status", "--plan", planFile], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^wave wave-1 — change window /);
    expect(table.stdout).toMatch(/VM \/ disk\s+state\s+point age\s+rate\s+moved\s+initial sync\s+downtime/);
    expect(table.stdout).toMatch(/\n {2}2001 app-01-disk-2001\s+idle\s+\d+(\.\d)? s\s+[\d.]+ [KM]iB\/s\s+[\d.]+ MiB\s+done/);
    expect(table.stdout).toMatch(/app-01 .*~\d+ (s|min) > window left/);
    expect(table.stdout).toMatch(/\nnot in any wave of the plan\n/);
  });

  it("--policy-config gives the policy pack every VM's predicted downtime", async () => {
    const run = await rehost(["status", "--policy-config"], env);
    expect(run.code).toBe(0);
    const config = JSON.parse(run.stdout) as Record<string, { predictions: Record<string, number> }>;
    expect(Object.keys(config)).toEqual(["cutover-within-downtime-budget", "cutover-downtime-predicted"]);
    for (const vm of ["app-01", "web-01"])
      expect(config["cutover-within-downtime-budget"].predictions[vm]).toBeCloseTo(proxy.manager.get(vm).prediction!.downtimeSeconds, 0);
  });

  it("refuses bad input with exit 2, naming the flag and the fix", async () => {
    const none = await rehost(["status"], {
      REHOST_PROXY_URL: undefined,
      REHOST_PROXY_TOKEN: undefined,
      REHOST_PROXY_TOKEN_FILE: undefined,
      REHOST_PROXY_FINGERPRINT: undefined,
      REHOST_PROXY_CA_FILE: undefined,
    });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--proxy[\s\S]*No source proxy was given[\s\S]*--token-file[\s\S]*--fingerprint/);
    const badUrl = await rehost(["status", "--proxy", "http://10.0.0.5:8444"], env);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/not https:\/\/HOST:PORT/);
    const wrongToken = path.join(dir, "wrong-token");
    fs.writeFileSync(wrongToken, "not-the-token-of-this-proxy\n");
    const token = await rehost(["status", "--token-file", wrongToken], env);
    expect(token.code).toBe(2);
    expect(token.stderr).toMatch(/--token-file[\s\S]*answered 401/);
    const pin = await rehost(["status", "--fingerprint", agent.fingerprint], env);
    expect(pin.code).toBe(2);
    expect(pin.stderr).toMatch(/--fingerprint[\s\S]*not the pinned/);
    const watch = await rehost(["status", "--watch", "often"], env);
    expect(watch.code).toBe(2);
    expect(watch.stderr).toMatch(/--watch[\s\S]*received often/);
    const plan = await rehost(["status", "--plan", path.join(dir, "no-plan.json")], env);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(/--plan[\s\S]*cannot be read \(ENOENT\)/);
  });

  it("--watch refreshes until SIGINT, then exits 130", async () => {
    const watch = spawnRehostWith({ env }, "status", "--json", "--watch", "0.5");
    try {
      await until("three refreshes", async () => (watch.stdout.split("\n").filter((l) => l.startsWith("{")).length >= 3 ? true : undefined), 30_000);
    } finally {
      process.kill(watch.child.pid!, "SIGINT");
    }
    expect(await watch.exited).toBe(130);
    const lines = watch.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as WaveStatusReport);
    expect(new Set(lines.map((l) => l.at)).size).toBe(lines.length);
  });

  it("/metrics on the proxy and the agent parse as Prometheus text, behind the token", async () => {
    const proxyMetrics = parseMetrics(
      await new ProxyClient({ url: proxy.url, token: fs.readFileSync(proxy.tokenFile, "utf8").trim(), fingerprint: proxy.fingerprint }).metrics(),
    );
    const link = proxyMetrics.get("rehost_proxy_link_bytes_total")!;
    expect(link.type).toBe("counter");
    expect(link.samples.map((s) => `${s.labels.vm}/${s.labels.disk}`).sort()).toEqual(["app-01/2000", "app-01/2001", "web-01/2000"]);
    for (const s of link.samples) expect(s.value).toBeGreaterThan(3 * MiB);
    for (const s of proxyMetrics.get("rehost_proxy_rounds_total")!.samples) expect(s.value).toBe(4);
    const age = proxyMetrics.get("rehost_proxy_disk_recovery_point_age_seconds")!;
    expect(age.type).toBe("gauge");
    expect(age.samples).toHaveLength(3);
    expect(proxyMetrics.get("rehost_proxy_round_failures_total")!.samples.map((s) => s.value)).toEqual([0, 0]);
    expect(proxyMetrics.get("rehost_proxy_predicted_downtime_seconds")!.samples).toHaveLength(2);
    expect(
      proxyMetrics
        .get("rehost_proxy_vm_state")!
        .samples.filter((s) => s.value === 1)
        .map((s) => s.labels.state),
    ).toEqual(["idle", "idle"]);

    const agentMetrics = parseMetrics(await client.metrics());
    expect(
      agentMetrics
        .get("rehost_agent_rounds_total")!
        .samples.map((s) => [s.labels.job, s.value])
        .sort(),
    ).toEqual([
      ["app-01-disk-2000", 4],
      ["app-01-disk-2001", 4],
      ["web-01-disk-2000", 4],
    ]);
    for (const s of agentMetrics.get("rehost_agent_link_bytes_total")!.samples) expect(s.value).toBeGreaterThan(3 * MiB);
    expect(agentMetrics.get("rehost_agent_lag_seconds")!.samples).toHaveLength(3);
    expect(agentMetrics.get("rehost_agent_round_failures_total")!.samples.map((s) => s.value)).toEqual([0, 0, 0]);

    // Without the token: 401, no metrics.
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(proxy.url);
      https
        .get({ host: u.hostname, port: u.port, path: "/metrics", rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on("error", reject);
    });
    expect(status).toBe(401);
  });

  it("a Cutover whose prediction exceeds its budget is refused before the shutdown; ignoreDowntimeBudget cuts over", async () => {
    // A 10 s shutdown allowance alone exceeds a 5 s budget, whatever this machine's rounds take.
    const creds = new Map([
      ["rehost:agentToken", agentToken],
      ["rehost:agentFingerprint", agent.fingerprint],
      ["rehost:proxyToken", fs.readFileSync(proxy.tokenFile, "utf8").trim()],
      ["rehost:proxyFingerprint", proxy.fingerprint],
    ]);
    configure(new ProviderCredentials({ get: (k) => creds.get(k) }, {}));
    const inputs = async (extra: Record<string, unknown>) => {
      const checked = await operations.cutover.check(
        {},
        {
          agentUrl: agent.url,
          vm: "web-01",
          jobIds: [jobId("web-01", 2000)],
          round: 99,
          proxy: { url: proxy.url, sampleBlocks: 4 },
          downtimeBudget: "5s",
          expectedShutdown: "10s",
          pollSeconds: 0.2,
          timeoutSeconds: 120,
          ...extra,
        },
      );
      expect(checked.failures).toEqual([]);
      return checked.inputs;
    };
    const predicted = proxy.manager.get("web-01").prediction!;
    expect(predicted.known).toBe(true);
    await expect(operations.cutover.create!(await inputs({}))).rejects.toThrow(
      /^Cutover of web-01 refused before the shutdown: predicted downtime \d+\.\d s \(shutdown 10\.0 s, final delta [\d.]+ MiB in [\d.]+ s, verification [\d.]+ MiB in [\d.]+ s\); churn [\d.]+ MiB\/s over 3 rounds, throughput [\d.]+ MiB\/s, fixed [\d.]+ s per round: that exceeds the downtime budget of 5 s\. Nothing was shut down/,
    );
    expect(await vc.powerState("web-01")).toBe("poweredOn");
    expect(proxy.manager.get("web-01").cutover).toBeUndefined();

    const { outs } = await operations.cutover.create!(await inputs({ ignoreDowntimeBudget: true }));
    const cutover = outs as CutoverOutputs;
    expect(cutover.verified).toBe(true);
    expect(cutover.predictedDowntimeSeconds).toBeGreaterThan(10);
    expect(cutover.downtimeBudgetOverridden).toMatch(/exceeds the downtime budget of 5 s/);
    expect(await vc.powerState("web-01")).not.toBe("poweredOn");
  });
});
