/**
 * `rehost inventory` against vcsim, through the CLI: the inventory `rehost plan` accepts, the
 * report, leftover snapshots, and one clear error (exit 2, nothing written) per bad setting.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../lib/cli/main";
import { runInventory } from "../../lib/cli/commands/inventory";
import { loadInventory } from "../../lib/inventory";
import { connectVSphere } from "../../lib/vsphere";
import { PASSWORD, rehost, STANDARD_ESTATE, startVcsim, USER, type Vcsim } from "./harness";
import { tempDir } from "../helpers/tmp";

let sim: Vcsim;
let work: string;

const NETWORKS = `networks:
  - { portgroup: web, cidr: 10.1.1.0/24, gateway: 10.1.1.1, vlan: 101 }
  - { portgroup: db, cidr: 10.1.2.0/24, gateway: 10.1.2.1, vlan: 102 }
`;

const WAVES = `settings:
  region: cn-shenzhen
  zones: [cn-shenzhen-e]
waves:
  - name: web
    members:
      tags: ["Migration:wave-1"]   # vSphere tags, read through vCenter's vAPI endpoint
  - name: rest
    after: [web]
    members:
      vms: [db-01, batch-01]
`;

beforeAll(async () => {
  sim = await startVcsim(STANDARD_ESTATE);
  work = tempDir("rehost-inventory-");
  fs.writeFileSync(path.join(work, "networks.yaml"), NETWORKS);
  fs.writeFileSync(path.join(work, "waves.yaml"), WAVES);
  // The first run on a machine builds the simulator (about 20 s, more on a loaded machine).
}, 300_000);

afterAll(async () => {
  await sim?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const env = () => ({ REHOST_VCENTER_PASSWORD: PASSWORD });

/** Runs `rehost ...args` through the CLI's `main` in this process, capturing stderr and the exit code. */
async function cliInProcess(args: readonly string[], env: Record<string, string | undefined>) {
  const saved = { ...process.env };
  const savedCode = process.exitCode;
  let stderr = "";
  const write = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    process.exitCode = 0;
    await main(["node", "rehost", ...args]);
    return { code: Number(process.exitCode ?? 0), stderr };
  } finally {
    write.mockRestore();
    process.exitCode = savedCode;
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** Runs the command in this process (the password from the environment), capturing its output. */
async function inventoryInProcess(options: Partial<Parameters<typeof runInventory>[0]>) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const saved = process.env.REHOST_VCENTER_PASSWORD;
  process.env.REHOST_VCENTER_PASSWORD = PASSWORD;
  try {
    const report = await runInventory(
      { vcenter: sim.url, user: USER, ca: sim.ca, ...options },
      { stdout: { write: (t: string) => stdout.push(t) }, stderr: { write: (t: string) => stderr.push(t) } },
    );
    return { report, stdout: stdout.join(""), stderr: stderr.join("") };
  } finally {
    if (saved === undefined) delete process.env.REHOST_VCENTER_PASSWORD;
    else process.env.REHOST_VCENTER_PASSWORD = saved;
  }
}

describe("rehost inventory", () => {
  it("writes an inventory of every VM that `rehost plan` accepts with the networks file", async () => {
    const out = path.join(work, "inventory.yaml");
    const run = await rehost(
      ["inventory", "--vcenter", sim.url, "--user", USER, "--ca", sim.ca, "--networks", path.join(work, "networks.yaml"), "--out", out],
      env(),
    );
    expect(run.stderr).not.toContain("error:");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("4 VMs (7 disks, 5 NICs)");
    // The unreplicable disks are reported as warnings, the inventory is still written.
    expect(run.stderr).toMatch(/warning: VM db-01, field disks\[key=2001\]: Disk Hard disk 2 cannot be replicated/);

    const inventory = await loadInventory(out);
    expect(inventory.vms.map((v) => v.name)).toEqual(["batch-01", "db-01", "web-01", "web-02"]);
    expect(inventory.vms.find((v) => v.name === "web-01")?.nics.flatMap((n) => n.ipv4)).toEqual(["10.1.1.10", "10.1.2.10", "10.1.2.11"]);
    expect(inventory.vms.find((v) => v.name === "web-01")?.tags).toEqual(["Migration:wave-1", "Tier:gold", "gold", "wave-1"]);
    expect(inventory.networks.map((n) => n.portgroup)).toEqual(["web", "db"]);

    const plan = await rehost(["plan", "--inventory", out, "--waves", path.join(work, "waves.yaml"), "--format", "json"]);
    expect(plan.stderr).not.toContain("error:");
    expect(plan.code).toBe(0);
    const planned = JSON.parse(plan.stdout) as { waves: Array<{ name: string; vms: Array<{ name: string; ips: string[] }> }> };
    expect(planned.waves.map((w) => [w.name, w.vms.map((v) => v.name).sort()])).toEqual([
      ["web", ["web-01", "web-02"]],
      ["rest", ["batch-01", "db-01"]],
    ]);
    expect(planned.waves[0]?.vms.find((v) => v.name === "web-01")?.ips).toEqual(["10.1.1.10", "10.1.2.10", "10.1.2.11"]);
  });

  it("writes JSON to standard output without --out, and plan takes the networks file later", async () => {
    const run = await inventoryInProcess({ format: "json" });
    const document = JSON.parse(run.stdout) as { vms: unknown[]; networks: unknown[] };
    expect(document.vms).toHaveLength(4);
    expect(document.networks).toEqual([]);
    expect(run.stderr).toContain("4 VMs (7 disks, 5 NICs)");
    const file = path.join(work, "bare.json");
    fs.writeFileSync(file, run.stdout);
    const plan = await rehost([
      "plan",
      "--inventory",
      file,
      "--waves",
      path.join(work, "waves.yaml"),
      "--networks",
      path.join(work, "networks.yaml"),
      "--format",
      "json",
    ]);
    expect(plan.stderr).not.toContain("error:");
    expect(plan.code).toBe(0);
  });

  it("reports leftover rehost snapshots, and removes them when asked", async () => {
    const vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    const snap = await vc.createSnapshot("web-02", "rehost-round-3");
    await vc.logout();

    const out = path.join(work, "with-snapshots.yaml");
    const listed = await inventoryInProcess({ out, json: true });
    const report = JSON.parse(listed.stdout.trim()) as {
      vms: number;
      leftoverSnapshots: Array<{ moref: string; vm: string }>;
      unreplicable: Array<{ vm: string; diskKey: number }>;
    };
    expect(report.vms).toBe(4);
    expect(report.leftoverSnapshots.map((s) => [s.vm, s.moref])).toEqual([["web-02", snap.moref]]);
    expect(report.unreplicable.map((d) => [d.vm, d.diskKey])).toEqual([
      ["db-01", 2001],
      ["db-01", 2002],
    ]);

    const removed = await inventoryInProcess({ out, removeLeftoverSnapshots: true });
    expect(removed.stderr).toContain("removed leftover snapshot rehost-round-3 of web-02");
    expect(removed.report.removedSnapshots.map((s) => s.moref)).toEqual([snap.moref]);
    const again = await inventoryInProcess({ out });
    expect(again.report.leftoverSnapshots).toEqual([]);
    expect(again.stderr).not.toContain("left behind");
  });

  it("connects with --insecure and warns about it", async () => {
    const run = await inventoryInProcess({ ca: undefined, insecure: true, out: path.join(work, "insecure.yaml") });
    expect(run.report.vms).toBe(4);
    expect(run.stderr).toContain("warning: TLS certificate verification is off");
  });

  describe("one clear error each, exit 2, nothing written", () => {
    const cases: Array<[string, () => Promise<{ args: string[]; env: Record<string, string | undefined> }>, RegExp]> = [
      [
        "a wrong password",
        async () => ({ args: ["--vcenter", sim.url, "--ca", sim.ca], env: { REHOST_VCENTER_PASSWORD: "not-the-password" } }),
        /field --user: vCenter 127\.0\.0\.1:\d+ refused the login: wrong user name or password/,
      ],
      [
        "an unreachable vCenter",
        async () => {
          const server = net.createServer();
          await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
          const port = (server.address() as net.AddressInfo).port;
          await new Promise<void>((r) => server.close(() => r()));
          return { args: ["--vcenter", `https://127.0.0.1:${port}`, "--ca", sim.ca], env: env() };
        },
        /field --vcenter: vCenter cannot be reached at 127\.0\.0\.1:\d+ \(received https:\/\/127\.0\.0\.1:\d+\/sdk \(ECONNREFUSED\)/,
      ],
      [
        "an untrusted certificate without --ca or --insecure",
        async () => ({ args: ["--vcenter", sim.url], env: env() }),
        /field --ca: The TLS certificate of 127\.0\.0\.1:\d+ is not trusted .*Fix: pass --ca FILE/,
      ],
      [
        "no password and no terminal",
        async () => ({ args: ["--vcenter", sim.url, "--ca", sim.ca], env: { REHOST_VCENTER_PASSWORD: undefined } }),
        /field REHOST_VCENTER_PASSWORD: No vCenter password was given/,
      ],
      [
        "a bad networks file, found before vCenter is contacted",
        async () => {
          const bad = path.join(work, "bad-networks.yaml");
          fs.writeFileSync(bad, "networks:\n  - { portgroup: web, cidr: 10.1.1.0/33 }\n");
          return { args: ["--vcenter", "https://127.0.0.1:1", "--networks", bad], env: env() };
        },
        /bad-networks\.yaml.*field networks\[0\]\.cidr/,
      ],
      [
        "a CA file that is not PEM",
        async () => ({ args: ["--vcenter", sim.url, "--ca", path.join(work, "waves.yaml")], env: env() }),
        /field --ca: The CA file holds no PEM certificate/,
      ],
    ];
    it("for each of them, through the CLI's exit code path", async () => {
      for (const [name, setup, message] of cases) {
        const { args, env: extra } = await setup();
        const out = path.join(work, `never-${name.replace(/\W+/g, "-")}.yaml`);
        const run = await cliInProcess(["inventory", "--user", USER, "--out", out, ...args], extra);
        expect([name, run.code]).toEqual([name, 2]);
        const errors = run.stderr.split("\n").filter((l) => l.startsWith("error:"));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(message);
        expect(fs.existsSync(out)).toBe(false);
      }
    });

    it("as a separate process, for a wrong password", async () => {
      const out = path.join(work, "never-process.yaml");
      const run = await rehost(["inventory", "--vcenter", sim.url, "--user", USER, "--ca", sim.ca, "--out", out], {
        REHOST_VCENTER_PASSWORD: "not-the-password",
      });
      expect(run.code).toBe(2);
      expect(run.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^error: field --user: vCenter 127\.0\.0\.1:\d+ refused the login/)]);
      expect(fs.existsSync(out)).toBe(false);
    });
  });
});
