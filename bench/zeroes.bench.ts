/**
 * Zero ranges on an existing target: `rehost sync --changed allocated` from a source that is all
 * holes (nbdkit memory) onto an existing 64 GiB sparse file holding 64 MiB of old data spread
 * over it, against nbdcopy doing the same copy, interleaved, 3 runs each (the old data written
 * again before every run). Both must leave the target reading zero everywhere and sparse.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { tempDir } from "../test/helpers/tmp";

const GiB = 2 ** 30;
const SIZE = 64 * GiB;
const dir = tempDir("rehost-bench-zeroes-");
const target = path.join(dir, "target.raw");
const pidFile = path.join(dir, "nbdkit.pid");
const socket = path.join(dir, "zero.sock");
const BIN = path.join(__dirname, "..", "bin", "rehost.js");

function dirty(): void {
  fs.rmSync(target, { force: true });
  fs.writeFileSync(target, "");
  fs.truncateSync(target, SIZE);
  const fd = fs.openSync(target, "r+");
  const block = crypto.randomBytes(1024 * 1024);
  for (let i = 0; i < 64; i++) fs.writeSync(fd, block, 0, block.length, Math.floor((i * SIZE) / 64));
  fs.closeSync(fd);
}

function timed(command: string, args: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(command, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${command} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function check(who: string): void {
  const allocated = fs.statSync(target).blocks * 512;
  if (allocated > 8 * 1024 * 1024) throw new Error(`${who} left ${allocated} bytes allocated`);
}

try {
  execFileSync("nbdkit", ["-P", pidFile, "-U", socket, "-r", "memory", String(SIZE)]);
  const uri = `nbd+unix:///?socket=${socket}`;
  const runs: Record<string, number[]> = { rehost: [], nbdcopy: [] };
  for (let i = 0; i < 3; i++) {
    dirty();
    runs.rehost.push(timed(process.execPath, [BIN, "sync", uri, target, "--changed", "allocated"]));
    check("rehost");
    dirty();
    runs.nbdcopy.push(timed("nbdcopy", [uri, target]));
    check("nbdcopy");
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1];
  for (const [who, xs] of Object.entries(runs))
    console.log(`${who.padEnd(8)} median ${median(xs).toFixed(2)} s  runs ${xs.map((x) => x.toFixed(2)).join(" ")}`);
  console.log(
    JSON.stringify({
      bench: "zeroes",
      sizeGiB: SIZE / GiB,
      rehostSeconds: median(runs.rehost),
      nbdcopySeconds: median(runs.nbdcopy),
      ratio: median(runs.nbdcopy) / median(runs.rehost),
    }),
  );
} finally {
  const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8")) : undefined;
  if (pid !== undefined) process.kill(pid, "SIGTERM");
  fs.rmSync(dir, { recursive: true, force: true });
}
