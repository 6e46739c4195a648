import "tsx/cjs";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { roundTotals, runLab } from "../../lib/lab";

const repo = path.resolve(__dirname, "..", "..");

/** PIDs of processes whose command line mentions `dir` (qemu-nbd sockets and the agent's state live there). */
function processesUsing(dir: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((line) => line.includes(dir) && !line.includes("ps -eo"))
    .map((line) => line.trim());
}

describe("rehost lab", () => {
  const dirs: string[] = [];
  const tmp = (prefix: string): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs the lab wave end to end: identical digests after cutover, small incremental rounds, nothing left running", async () => {
    const workdir = tmp("rehost-lab-e2e-");
    const report = path.join(workdir, "report.md");
    const lines: string[] = [];
    const result = await runLab({ workdir, report, businessSeconds: 0.5, roundsBeforeRehearsal: 1, progress: (l) => lines.push(l) });

    expect(result.ok).toBe(true);
    expect(result.disks).toHaveLength(6);
    for (const disk of result.disks) {
      expect(disk.verified).toBe(true);
      expect(disk.sourceDigest).toMatch(/^[0-9a-f]{64}$/);
      expect(disk.targetDigest).toBe(disk.sourceDigest);
      expect(disk.rounds.map((r) => r.round)).toEqual([0, 1, 2, 3]);
      // The business really wrote to the source while replication ran.
      expect(disk.businessBytes).toBeGreaterThan(0);
      expect(disk.rehearsalDigest).not.toBe(disk.targetDigest);
    }
    // Incremental rounds move far fewer bytes than the initial sync.
    const totals = roundTotals(result);
    expect(totals.map((t) => t.round)).toEqual([0, 1, 2, 3]);
    for (const t of totals.slice(1)) expect(t.bytesRead).toBeLessThan(totals[0].bytesRead / 3);
    const markdown = fs.readFileSync(report, "utf8");
    for (const disk of result.disks) expect(markdown).toContain(disk.sourceDigest);
    expect(markdown).toContain("Cutover verified");
    expect(JSON.parse(fs.readFileSync(path.join(workdir, "report.json"), "utf8")).ok).toBe(true);
    expect(lines.some((l) => l.includes("rehearsal point"))).toBe(true);
    expect(processesUsing(workdir)).toEqual([]);
    // The sources are real partitioned disks with an ext4 filesystem in partition 1.
    const image = path.join(workdir, "sources", `${result.disks[0].disk}.qcow2`);
    const raw = path.join(workdir, "first.raw");
    execFileSync("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", image, raw]);
    const head = Buffer.alloc(2048);
    const fd = fs.openSync(raw, "r");
    fs.readSync(fd, head, 0, 512, 0);
    fs.readSync(fd, head, 512, 1024, 1024 * 1024 + 1024);
    fs.closeSync(fd);
    expect(head.readUInt16LE(510)).toBe(0xaa55);
    expect(head[446 + 4]).toBe(0x83);
    expect(head.readUInt16LE(512 + 0x38)).toBe(0xef53); // ext4 superblock magic
  }, 150_000);

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
    const child = spawn(process.execPath, [path.join(repo, "bin", "rehost.js"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the lab did not reach the initial sync: ${output}`)), 60_000);
        child.stderr.on("data", (d: Buffer) => (output += d.toString()));
        child.once("exit", () => reject(new Error(`the lab exited before the initial sync: ${output}`)));
        child.stdout.on("data", (d: Buffer) => {
          output += d.toString();
          if (output.includes("initial sync")) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      expect(processesUsing(workdir).length).toBeGreaterThan(0);
      child.kill("SIGINT");
      expect(await exited).toBe(130);
      expect(processesUsing(workdir)).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 90_000);
});
