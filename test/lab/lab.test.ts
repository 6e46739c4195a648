import "tsx/cjs";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runLab } from "../../lib/lab";
import { rehostChild, spawnRehost } from "../helpers/cli";
import { removeDir, tempDir } from "../helpers/tmp";

/** PIDs of processes whose command line mentions `dir` (qemu-nbd sockets and the agent's state live there). */
function processesUsing(dir: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((line) => line.includes(dir) && !line.includes("ps -eo"))
    .map((line) => line.trim());
}

/** Which of `names` still exist as network namespaces. */
function namespacesLeft(names: readonly string[]): string[] {
  const now = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0]);
  return names.filter((n) => now.includes(n));
}

describe("rehost lab", () => {
  const dirs: string[] = [];
  const tmp = (prefix: string): string => {
    const dir = tempDir(prefix);
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) removeDir(dir);
  });

  it("runs the lab wave in the real shape: rounds that move only what changed, a rehearsal equal to the frozen disks, a cutover that reads only the final delta, nothing left running", async () => {
    const workdir = tmp("rehost-lab-e2e-");
    const report = path.join(workdir, "report.md");
    const lines: string[] = [];
    const result = await runLab({ workdir, report, businessSeconds: 0.5, roundsBeforeRehearsal: 1, progress: (l) => lines.push(l) });

    expect(result.ok).toBe(true);
    // As root the lab runs in namespaces joined by a counted link.
    expect(result.link).toBe(process.getuid?.() === 0 ? "namespaces" : "loopback");
    expect(result.disks).toHaveLength(6);
    expect(result.rounds.map((r) => r.kind)).toEqual(["initial", "incremental", "rehearsal point", "incremental", "full check"]);
    const initial = result.rounds[0];
    for (const r of result.rounds.filter((x) => x.kind === "incremental" || x.kind === "rehearsal point")) {
      // The guests wrote during every round, and each round moved about what changed.
      expect(r.changedBytes).toBeGreaterThan(0);
      expect(r.changedBytes).toBeLessThan(initial.changedBytes / 3);
      expect(r.linkBytes).toBeLessThanOrEqual(1.05 * r.changedBytes + r.hashBytes);
    }
    const check = result.rounds.find((r) => r.kind === "full check")!;
    // A full check: every block's hash crosses the link, and only the blocks that differ.
    expect(check.hashBytes).toBeGreaterThan(0);
    expect(check.linkBytes).toBeLessThanOrEqual(1.05 * check.changedBytes + check.hashBytes);
    for (const disk of result.disks) {
      expect(disk.verified).toBe(true);
      expect(disk.sourceDigest).toMatch(/^[0-9a-f]{64}$/);
      expect(disk.targetDigest).toBe(disk.sourceDigest);
      // The rehearsal disk is the VM's disk as the simulator froze it at the point's snapshot.
      expect(disk.rehearsalDigest).toBe(disk.frozenDigest);
      expect(disk.rehearsalDigest).not.toBe(disk.targetDigest);
      expect(disk.businessBytes).toBeGreaterThan(0);
    }
    expect(result.rehearsalSkewSeconds).toBeLessThan(60);
    const c = result.cutover;
    expect(c.vms.every((v) => v.verified)).toBe(true);
    expect(c.finalDeltaBytes).toBeGreaterThan(0);
    expect(c.sourceBytesReadOverLink).toBeLessThanOrEqual(1.05 * c.finalDeltaBytes);
    expect(c.verifiedBytes).toBeGreaterThan(0);
    expect(c.downtimeSeconds).toBeGreaterThan(0);

    const markdown = fs.readFileSync(report, "utf8");
    for (const disk of result.disks) expect(markdown).toContain(disk.targetDigest.slice(0, 16));
    expect(markdown).toContain("Cutover verified");
    expect(JSON.parse(fs.readFileSync(path.join(workdir, "report.json"), "utf8")).ok).toBe(true);
    expect(lines.some((l) => l.includes("rehearsal point"))).toBe(true);
    expect(processesUsing(workdir)).toEqual([]);
    expect(result.namespaces).toHaveLength(result.link === "namespaces" ? 2 : 0);
    expect(namespacesLeft(result.namespaces)).toEqual([]);
  }, 240_000);

  it("refuses a bad size factor or an unknown wave by its flag, with exit code 2, before anything starts", async () => {
    const workdir = tmp("rehost-lab-input-");
    const report = path.join(workdir, "r.md");
    const [size, wave] = await Promise.all([
      rehostChild("lab", "--workdir", workdir, "--report", report, "--size-factor", "0"),
      rehostChild("lab", "--workdir", workdir, "--report", report, "--wave", "no-such-wave"),
    ]);
    expect(size.code).toBe(2);
    expect(size.stderr).toContain("field --size-factor");
    expect(size.stderr).toContain("received 0; expected an integer from 1 to 64");
    expect(size.stderr).toContain("give --size-factor a whole number");
    expect(wave.code).toBe(2);
    expect(wave.stderr).toContain("field --wave");
    expect(wave.stderr).toContain("There is no wave no-such-wave.");
    expect(fs.readdirSync(workdir)).toEqual([]);
    expect(processesUsing(workdir)).toEqual([]);
  });

  it("stops every process it started on Ctrl-C", async () => {
    const workdir = tmp("rehost-lab-int-");
    // A one-VM estate reaches the initial sync quickly.
    const inventory = path.join(workdir, "inventory.yaml");
    fs.writeFileSync(
      inventory,
      [
        "networks: [{ portgroup: lab-web, cidr: 10.10.1.0/24, gateway: 10.10.1.1 }]",
        "vms:",
        "  - { name: one-01, uuid: 4210a1b2-0009-4c3d-8e5f-000000000109, cpus: 1, memoryMiB: 1024, folder: Lab/Web,",
        "      guestOs: { family: linux, id: debian12_64Guest },",
        "      disks: [{ key: 2000, label: Hard disk 1, capacityBytes: 67108864, allocatedBytes: 50331648 }],",
        '      nics: [{ mac: "00:50:56:8a:09:01", portgroup: lab-web, ipv4: [10.10.1.41] }] }',
        "",
      ].join("\n"),
    );
    const waves = path.join(workdir, "waves.yaml");
    fs.writeFileSync(waves, "waves:\n  - { name: one, members: { vms: [one-01] } }\n");
    const args = ["lab", "--inventory", inventory, "--waves", waves, "--workdir", workdir, "--report", path.join(workdir, "r.md")];
    const rehost = spawnRehost(...args);
    try {
      await rehost.waitFor("initial rounds", "the initial sync", 60_000);
      expect(processesUsing(workdir).length).toBeGreaterThan(0);
      rehost.child.kill("SIGINT");
      expect(await rehost.exited).toBe(130);
      expect(processesUsing(workdir)).toEqual([]);
      const created = /network namespaces (\S+) and (\S+) joined/.exec(rehost.output);
      if (process.getuid?.() === 0) expect(created).not.toBeNull();
      expect(namespacesLeft(created === null ? [] : [created[1], created[2]])).toEqual([]);
    } finally {
      rehost.kill();
    }
  }, 90_000);

  it("rehost status --json during a run shows every disk with its recovery point age and rate", async () => {
    const workdir = tmp("rehost-lab-status-");
    const lab = spawnRehost("lab", "--workdir", workdir, "--report", path.join(workdir, "r.md"));
    // The first line of each service's log names its URL and certificate fingerprint (docs/status.md).
    const first = (log: string): { url: string; fingerprint: string } | undefined => {
      const line = fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n")[0] : "";
      return line.includes("fingerprint") ? (JSON.parse(line) as { url: string; fingerprint: string }) : undefined;
    };
    type Disk = { job: string; recoveryPointAgeSeconds?: number; rateBytesPerSecond?: number };
    let seen: Disk[] = [];
    try {
      const deadline = Date.now() + 120_000;
      for (;;) {
        if (lab.child.exitCode !== null) throw new Error(`the lab ended before every disk had a round: ${lab.output}`);
        if (Date.now() > deadline) throw new Error(`no status with every disk's recovery point and rate within 120 s; last: ${JSON.stringify(seen)}`);
        const proxy = first(path.join(workdir, "proxy.log"));
        const agent = first(path.join(workdir, "agent.log"));
        if (proxy !== undefined && agent !== undefined) {
          const args = [
            "status",
            "--json",
            "--proxy",
            proxy.url,
            "--token-file",
            path.join(workdir, "proxy", "token"),
            "--fingerprint",
            proxy.fingerprint,
            "--agent-token-file",
            path.join(workdir, "agent", "token"),
            "--agent-fingerprint",
            agent.fingerprint,
          ];
          const run = await rehostChild(...args);
          if (run.code === 0) {
            const report = JSON.parse(run.stdout) as { waves: Array<{ vms: Array<{ disks: Disk[] }> }> };
            seen = report.waves.flatMap((w) => w.vms.flatMap((v) => v.disks));
            if (seen.length === 6 && seen.every((d) => d.recoveryPointAgeSeconds !== undefined && d.rateBytesPerSecond !== undefined)) break;
          }
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      for (const d of seen) {
        expect(d.recoveryPointAgeSeconds).toBeGreaterThanOrEqual(0);
        expect(d.recoveryPointAgeSeconds).toBeLessThan(120);
        expect(d.rateBytesPerSecond).toBeGreaterThan(0);
      }
      lab.child.kill("SIGINT");
      expect(await lab.exited).toBe(130);
      expect(processesUsing(workdir)).toEqual([]);
      const created = /network namespaces (\S+) and (\S+) joined/.exec(lab.output);
      expect(namespacesLeft(created === null ? [] : [created[1], created[2]])).toEqual([]);
    } finally {
      lab.kill();
    }
  }, 180_000);
});
