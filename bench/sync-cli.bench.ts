/**
 * `rehost sync` as a whole process — start to exit, the installed command (compiled CLI) — against
 * nbdcopy on loopback, no link in between: a 2 GiB image, its first half random data and its
 * second half zeroes, served by nbdkit's file plugin on a unix socket, copied to a file. Both get
 * the same durability (the data on disk when the process exits: nbdcopy `--flush`, rehost's file
 * target `fdatasync`s) and a fresh target each run; the page cache is written back before each
 * run. Contenders run in turn, five rounds; the target is rehost ≥ 1.0× nbdcopy (median).
 * The last line is one JSON object.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tempDir } from "../test/helpers/tmp";

const ROOT = path.resolve(__dirname, "..");
const BIN = path.join(ROOT, "bin", "rehost.js");
const GiB = 1024 * 1024 * 1024;
const ROUNDS = 5;

const dir = tempDir("rehost-bench-sync-cli-");
const image = path.join(dir, "image.raw");
const socket = path.join(dir, "nbd.sock");
const pidFile = path.join(dir, "nbdkit.pid");
const target = path.join(dir, "target.raw");

function makeImage(): void {
  const fd = fs.openSync(image, "w");
  const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
  for (let at = 0; at < GiB; at += chunk.length) {
    randomFillSync(chunk);
    fs.writeSync(fd, chunk, 0, chunk.length, at);
  }
  fs.ftruncateSync(fd, 2 * GiB);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

function timed(command: string, args: string[]): number {
  fs.rmSync(target, { force: true });
  if (command === "nbdcopy") execFileSync("truncate", ["-s", String(2 * GiB), target]);
  execFileSync("sync");
  const start = process.hrtime.bigint();
  const r = spawnSync(command, args, { encoding: "utf8" });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return seconds;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let nbdkitPid: number | undefined;
try {
  makeImage();
  execFileSync("nbdkit", ["-P", pidFile, "-U", socket, "file", image]);
  nbdkitPid = Number(fs.readFileSync(pidFile, "utf8").trim());
  const uri = `nbd+unix:///?socket=${socket}`;
  const times: Record<string, number[]> = { nbdcopy: [], "rehost sync": [] };
  for (let round = 0; round < ROUNDS; round++) {
    times.nbdcopy.push(timed("nbdcopy", ["--flush", uri, target]));
    times["rehost sync"].push(timed(process.execPath, [BIN, "sync", uri, target]));
  }
  const digest = (file: string): string => execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];
  const identical = digest(image) === digest(target);
  for (const [name, xs] of Object.entries(times))
    console.log(`${name.padEnd(12)} median ${median(xs).toFixed(2)} s, best ${Math.min(...xs).toFixed(2)} s, all ${xs.map((x) => x.toFixed(2)).join(" ")}`);
  const ratio = median(times.nbdcopy) / median(times["rehost sync"]);
  const best = Math.min(...times.nbdcopy) / Math.min(...times["rehost sync"]);
  console.log(
    `rehost sync / nbdcopy: ${ratio.toFixed(2)}× median, ${best.toFixed(2)}× best (target ≥ 1.0×); target identical to the image: ${identical}; load ${os.loadavg()[0].toFixed(1)}`,
  );
  console.log(JSON.stringify({ bench: "sync-cli", vsNbdcopy: Number(ratio.toFixed(3)), vsNbdcopyBest: Number(best.toFixed(3)), identical }));
} finally {
  if (nbdkitPid !== undefined) process.kill(nbdkitPid, "SIGTERM");
  fs.rmSync(dir, { recursive: true, force: true });
}
