/**
 * Replication benchmark: `rehost` against nbdcopy (and qemu-img convert) on a generated
 * 4 GiB image of mixed random data, written zeroes and holes, on this machine, in one run.
 *
 * - full copy nbd→file and nbd→nbd (source: nbdkit file plugin, multi-conn): target ≥ 1.2× nbdcopy;
 * - full copy over TLS-PSK: target ≥ 1.0× nbdcopy over TLS-PSK;
 * - incremental round with 1% dirty (qcow2 persistent bitmap via qemu-nbd -B): bytes moved
 *   ≤ 1.05× dirty bytes, time ≤ 5% of the full copy;
 * - peak RSS of the copier ≤ 200 MiB.
 *
 * Contenders run in turn, five rounds (peer, ours, floor, ...), so the machine's moods hit all of
 * them alike; rows give the best and the median run and both ratios. The floor
 * (`replication-floor.ts`) writes the image's data bytes to a new file with nothing read and no
 * protocol: peer time / floor is the largest ratio any copier could reach in that run.
 *
 * Every tool runs as a child process under /usr/bin/time (wall seconds, peak RSS), start-up
 * included, with the same durability: `sync()` flushes the target at the end, so nbdcopy runs with
 * `--flush` and qemu-img with `-t writeback`. The page cache is written back (`sync`) before each
 * run. nbdcopy and qemu-img get a sparse target file; `sync()` creates its own (and so knows it
 * reads as zeroes). The copier runs as the sync-gateway agent runs it, `sync()` in a Node process
 * (`replication-run.ts`, bundled by esbuild so it starts like an installed package). Images live
 * in a mkdtemp directory that is removed at the end. `REHOST_BENCH_GIB` changes the image size
 * (default 4).
 */
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { generateImage, dirtyImage } from "./replication-image";
import { tempDir } from "../test/helpers/tmp";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const REPO = path.join(__dirname, "..");
const size = Number(process.env.REHOST_BENCH_GIB ?? "4") * GiB;

interface Timed {
  readonly seconds: number;
  readonly rssMiB: number;
  readonly stdout: string;
}

/** Runs a command under /usr/bin/time; resolves with wall seconds and peak RSS. */
function timed(command: string, args: string[]): Promise<Timed> {
  return new Promise((resolve, reject) => {
    execFile("/usr/bin/time", ["-f", "TIME %e %M", command, ...args], { maxBuffer: 256 * MiB }, (err, stdout, stderr) => {
      const match = /TIME ([\d.]+) (\d+)/.exec(stderr);
      if (err !== null || match === null) {
        reject(new Error(`${command} ${args.join(" ")} failed: ${stderr}`));
        return;
      }
      resolve({ seconds: Number(match[1]), rssMiB: Math.round(Number(match[2]) / 1024), stdout });
    });
  });
}

/** Processes this benchmark started, stopped at the end by PID. */
const pids: number[] = [];

function startNbdkit(dir: string, name: string, args: string[]): string {
  const socket = path.join(dir, `${name}.sock`);
  const pidFile = path.join(dir, `${name}.pid`);
  fs.rmSync(socket, { force: true });
  fs.rmSync(pidFile, { force: true });
  execFileSync("nbdkit", ["-P", pidFile, "-U", socket, ...args]);
  pids.push(readPid(pidFile));
  return socket;
}

function startQemuNbd(dir: string, name: string, args: string[]): string {
  const socket = path.join(dir, `${name}.sock`);
  const pidFile = path.join(dir, `${name}.pid`);
  fs.rmSync(socket, { force: true });
  fs.rmSync(pidFile, { force: true });
  execFileSync("qemu-nbd", ["--fork", `--pid-file=${pidFile}`, "-k", socket, "--persistent", "--shared=16", ...args]);
  pids.push(readPid(pidFile));
  return socket;
}

/** Waits for a daemon's PID file (it may be written just after the parent exits) and its socket. */
function readPid(pidFile: string): number {
  for (let i = 0; i < 500; i++) {
    const text = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, "utf8").trim() : "";
    if (/^\d+$/.test(text)) return Number(text);
    execFileSync("sleep", ["0.01"]);
  }
  throw new Error(`no PID in ${pidFile}`);
}

/** Sends SIGTERM and waits until the process is gone. */
function stopPid(pid: number): void {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    execFileSync("sleep", ["0.01"]);
  }
}

function stopAll(): void {
  for (const pid of pids.splice(0)) stopPid(pid);
}

/** A fresh sparse target file of the image's size (nbdcopy and qemu-img need one to exist). */
function freshTarget(file: string): string {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, "");
  fs.truncateSync(file, size);
  settle();
  return file;
}

/** No target file: `sync()` creates it. */
function noTarget(file: string): string {
  fs.rmSync(file, { force: true });
  settle();
  return file;
}

/** Writes back the page cache, so no run pays for the previous run's dirty pages. */
function settle(): void {
  execFileSync("sync");
}

function gbps(seconds: number): string {
  return `${(size / seconds / 1e9).toFixed(2)} GB/s`;
}

function row(label: string, t: Timed, peer?: Timed): string {
  const ratio = peer === undefined ? "" : `  ${(peer.seconds / t.seconds).toFixed(2)}× nbdcopy`;
  return `${label.padEnd(40)} ${t.seconds.toFixed(2).padStart(7)} s  ${gbps(t.seconds).padStart(11)}  RSS ${String(t.rssMiB).padStart(4)} MiB${ratio}`;
}

/** All runs of one contender, fastest first. */
type Runs = readonly Timed[];

function fastest(runs: Runs): Timed {
  return runs[0];
}

/** The runs sorted fastest first (a copy). */
function fastestFirst(runs: readonly Timed[]): Timed[] {
  return [...runs].sort((a, b) => a.seconds - b.seconds);
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function median(runs: Runs): number {
  return medianOf(runs.map((r) => r.seconds));
}

/** The JSON object a runner printed last (the SyncResult of `replication-run.ts`). */
function lastJson<T>(t: Timed): T {
  return JSON.parse(t.stdout.trim().split("\n").pop() as string) as T;
}

/** A row for a contender run several times: best and median, and both ratios against the peer. */
function rowOf(label: string, runs: Runs, peer?: Runs): string {
  const best = fastest(runs);
  const spread = `  (median ${median(runs).toFixed(2)} s, ${runs.length} runs: ${runs.map((r) => r.seconds.toFixed(2)).join(" ")})`;
  const ratio =
    peer === undefined ? "" : `  best ${(fastest(peer).seconds / best.seconds).toFixed(2)}×, median ${(median(peer) / median(runs)).toFixed(2)}× nbdcopy`;
  return `${row(label, best)}${ratio}${spread}`;
}

/** The bundled runner (`replication-run.ts`) and floor (`replication-floor.ts`), set by `main`. */
let runner = "";
let floorScript = "";

/** Bundles `bench/NAME.ts` into `dir`; its packages resolve from the repository (NODE_PATH). */
function bundle(dir: string, name: string): string {
  const out = path.join(dir, `${name}.js`);
  execFileSync(path.join(REPO, "node_modules", ".bin", "esbuild"), [
    path.join(__dirname, `${name}.ts`),
    "--bundle",
    "--platform=node",
    "--format=cjs",
    "--packages=external",
    `--outfile=${out}`,
    "--log-level=warning",
  ]);
  process.env.NODE_PATH = path.join(REPO, "node_modules");
  return out;
}

/**
 * The disk's floor for `bytes` of data (see `replication-floor.ts`), as a Timed whose seconds
 * are the script's own measure (process start not counted, so the floor errs low).
 */
async function floor(mode: "direct" | "buffered", bytes: number, file: string): Promise<Timed> {
  const env = { ...process.env, UV_THREADPOOL_SIZE: "16" };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [floorScript, mode, String(bytes), file], { env }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`floor ${mode} failed: ${stderr}`));
        return;
      }
      resolve({ seconds: (JSON.parse(stdout) as { seconds: number }).seconds, rssMiB: 0, stdout });
    });
  });
}

/** Runs the copier on `source` → `target` (child process, timed). */
function ours(source: string, target: string, changed = "allocated"): Promise<Timed> {
  return timed(process.execPath, [runner, "sync", source, target, changed]);
}

function sameDigest(a: string, b: string): boolean {
  const out = execFileSync(process.execPath, [runner, "verify", a, b], { encoding: "utf8" });
  return (JSON.parse(out) as { equal: boolean }).equal;
}

/** Best of `n` runs (each with a fresh target): the machine is shared, the minimum is the least disturbed. */
async function best(n: number, prepare: () => void, run: () => Promise<Timed>): Promise<Timed> {
  let bestRun: Timed | undefined;
  for (let i = 0; i < n; i++) {
    prepare();
    const t = await run();
    if (bestRun === undefined || t.seconds < bestRun.seconds) bestRun = t;
  }
  return bestRun as Timed;
}

/** One contender of an interleaved comparison: what to prepare before a run, and the run. */
type Contender = readonly [prepare: () => void, run: () => Promise<Timed>];

/**
 * `n` rounds of every contender in turn (peer, ours, floor, ...), so load drift and the machine's
 * moods hit all of them alike. Returns each contender's runs, fastest first.
 */
async function interleaved(n: number, contenders: readonly Contender[]): Promise<Timed[][]> {
  const runs: Timed[][] = contenders.map(() => []);
  for (let i = 0; i < n; i++) {
    for (const [index, [prepare, run]] of contenders.entries()) {
      prepare();
      runs[index].push(await run());
    }
  }
  return runs.map(fastestFirst);
}

async function main(): Promise<void> {
  const dir = tempDir("rehost-bench-replication-");
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  console.log(`image ${size / GiB} GiB in ${dir}; ${os.cpus().length} cores; load average at start ${load}`);
  const results: string[] = [];
  const checks: Array<[string, boolean]> = [];
  try {
    runner = bundle(dir, "replication-run");
    floorScript = bundle(dir, "replication-floor");
    const image = path.join(dir, "source.img");
    const layout = generateImage(image, size);
    console.log(
      `source: ${(layout.dataBytes / GiB).toFixed(2)} GiB random data, ${(layout.zeroBytes / GiB).toFixed(2)} GiB written zeroes, ${(layout.holeBytes / GiB).toFixed(2)} GiB holes`,
    );

    const sourceSocket = startNbdkit(dir, "source", ["-r", "file", image]);
    const source = `nbd+unix:///?socket=${sourceSocket}`;
    const targetFile = path.join(dir, "target.img");
    const runs = 5;
    const floorFile = path.join(dir, "floor.img");
    const direct: Contender = [() => noTarget(floorFile), () => floor("direct", layout.dataBytes, floorFile)];
    const buffered: Contender = [() => noTarget(floorFile), () => floor("buffered", layout.dataBytes, floorFile)];
    /**
     * The copy split in two halves that run side by side and share nothing: nbdcopy reading the
     * source into `null:`, and a writer of the same data (`write`). A copier also has to hand
     * every block from one half to the other, so it cannot finish before both halves would.
     */
    const split = async (write: () => Promise<Timed>): Promise<Timed> => {
      const [reader, writer] = await Promise.all([timed("nbdcopy", [source, "null:"]), write()]);
      return reader.seconds >= writer.seconds ? reader : writer;
    };
    /** The largest ratio against the peer that a copier as fast as the floor could reach. */
    const ceiling = (peer: Runs, floors: Runs): string =>
      `${(fastest(peer).seconds / fastest(floors).seconds).toFixed(2)}× best, ${(median(peer) / median(floors)).toFixed(2)}× median`;

    // nbd → file, with the disk's floor for the data bytes in the same rounds
    const convert = await best(
      1,
      () => freshTarget(targetFile),
      () => timed("qemu-img", ["convert", "-n", "-t", "writeback", "-f", "raw", "-O", "raw", source, targetFile]),
    );
    const [copyFile, oursFile, directFloor, bufferedFloor, fileSplit] = await interleaved(runs, [
      [() => freshTarget(targetFile), () => timed("nbdcopy", ["--flush", source, targetFile])],
      [() => noTarget(targetFile), () => ours(source, targetFile)],
      direct,
      buffered,
      [() => noTarget(floorFile), () => split(() => floor("direct", layout.dataBytes, floorFile))],
    ]);
    fs.rmSync(floorFile, { force: true });
    checks.push(["nbd→file copy is identical", sameDigest(source, targetFile)]);
    const diskFloor = fastestFirst([...directFloor, ...bufferedFloor]);
    results.push(
      rowOf("nbdcopy nbd→file", copyFile),
      row("qemu-img convert nbd→file", convert),
      rowOf("rehost nbd→file", oursFile, copyFile),
      rowOf("floor: write the data, O_DIRECT", directFloor),
      rowOf("floor: write the data, page cache", bufferedFloor),
      `  ceiling: nbdcopy nbd→file / the faster floor = ${ceiling(copyFile, diskFloor)} (no copier can exceed it)`,
      rowOf("split: read to null: ‖ write O_DIRECT", fileSplit),
      `  ceiling: nbdcopy nbd→file / the split = ${ceiling(copyFile, fileSplit)}`,
    );
    checks.push(["nbd→file ≥ 1.2× nbdcopy (best)", fastest(copyFile).seconds / fastest(oursFile).seconds >= 1.2]);

    // nbd → nbd (target: nbdkit file plugin over a fresh sparse file, multi-conn)
    let targetSocket = "";
    let targetPid: number | undefined;
    const stopTarget = (): void => {
      if (targetPid === undefined) return;
      pids.splice(pids.indexOf(targetPid), 1);
      stopPid(targetPid);
      targetPid = undefined;
    };
    const startTarget = (): void => {
      stopTarget();
      freshTarget(targetFile);
      targetSocket = startNbdkit(dir, "target", ["file", targetFile]);
      targetPid = pids[pids.length - 1];
    };
    const targetUri = (): string => `nbd+unix:///?socket=${targetSocket}`;
    // rehost runs last in each round, so the target checked below holds its copy.
    const [copyNbd, serverFloor, nbdSplit, oursNbd] = await interleaved(runs, [
      [startTarget, () => timed("nbdcopy", ["--flush", source, targetUri()])],
      buffered,
      // The writing half: nbdcopy sends the image from the local file to a fresh target server.
      [startTarget, () => split(() => timed("nbdcopy", ["--flush", image, targetUri()]))],
      [startTarget, () => ours(source, targetUri())],
    ]);
    fs.rmSync(floorFile, { force: true });
    checks.push(["nbd→nbd copy is identical", sameDigest(source, targetUri())]);
    stopTarget();
    results.push(
      rowOf("nbdcopy nbd→nbd", copyNbd),
      rowOf("rehost nbd→nbd", oursNbd, copyNbd),
      rowOf("floor: write the data, page cache", serverFloor),
      `  ceiling: nbdcopy nbd→nbd / the target server's own writes = ${ceiling(copyNbd, serverFloor)}`,
      rowOf("split: read to null: ‖ local file → target", nbdSplit),
      `  ceiling: nbdcopy nbd→nbd / the split = ${ceiling(copyNbd, nbdSplit)}`,
    );
    checks.push(["nbd→nbd ≥ 1.2× nbdcopy (best)", fastest(copyNbd).seconds / fastest(oursNbd).seconds >= 1.2]);

    // TLS-PSK, nbd → file
    const keys = path.join(dir, "keys.psk");
    execFileSync("psktool", ["-u", "rehost", "-p", keys]);
    const tlsSocket = startNbdkit(dir, "tls", ["-r", "--tls=require", `--tls-psk=${keys}`, "file", image]);
    const tlsSource = `nbds+unix://rehost@/?socket=${tlsSocket}&tls-psk-file=${keys}`;
    const [copyTls, oursTls] = await interleaved(runs, [
      [() => freshTarget(targetFile), () => timed("nbdcopy", ["--flush", tlsSource, targetFile])],
      [() => noTarget(targetFile), () => ours(tlsSource, targetFile)],
    ]);
    checks.push(["TLS-PSK copy is identical", sameDigest(source, targetFile)]);
    results.push(rowOf("nbdcopy TLS-PSK nbd→file", copyTls), rowOf("rehost TLS-PSK nbd→file", oursTls, copyTls));
    checks.push(["TLS-PSK ≥ 1.0× nbdcopy (best)", fastest(copyTls).seconds / fastest(oursTls).seconds >= 1.0]);

    // Incremental round, 1% dirty, from a qcow2 persistent bitmap.
    const qcow2 = path.join(dir, "source.qcow2");
    execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", image, qcow2]);
    fs.rmSync(image, { force: true });
    let qemuSocket = startQemuNbd(dir, "qcow2-full", ["-r", "-f", "qcow2", qcow2]);
    const inSync = (t: Timed): number => lastJson<{ seconds: number }>(t).seconds;
    const fullRuns: Timed[] = [];
    for (let i = 0; i < 3; i++) {
      freshTarget(targetFile);
      fullRuns.push(await ours(`nbd+unix:///?socket=${qemuSocket}`, targetFile));
    }
    stopPid(pids.pop() as number);
    execFileSync("qemu-img", ["bitmap", "--add", qcow2, "bitmap0"]);
    const dirty = dirtyImage(qcow2, size, 0.01);
    qemuSocket = startQemuNbd(dir, "qcow2-bitmap", ["-r", "-f", "qcow2", "-B", "bitmap0", qcow2]);
    // Every run of the round reads the same bitmap and writes the same ranges again.
    const incrementalRuns: Timed[] = [];
    for (let i = 0; i < runs; i++) {
      settle();
      incrementalRuns.push(await ours(`nbd+unix:///?socket=${qemuSocket}`, targetFile, "bitmap:bitmap0"));
    }
    const result = lastJson<{ bytesRead: number; bytesZeroed: number }>(incrementalRuns[0]);
    const moved = result.bytesRead + result.bytesZeroed;
    checks.push(["incremental copy is identical", sameDigest(`nbd+unix:///?socket=${qemuSocket}`, targetFile)]);
    const fullSeconds = medianOf(fullRuns.map(inSync));
    const incrementalSeconds = medianOf(incrementalRuns.map(inSync));
    results.push(
      rowOf("rehost qcow2 full", fastestFirst(fullRuns)),
      `rehost qcow2 incremental 1%: median ${incrementalSeconds.toFixed(2)} s in sync of ${runs} runs (${incrementalRuns.map(inSync).join(" ")}), full: median ${fullSeconds.toFixed(2)} s in sync (${fullRuns.map(inSync).join(" ")}); moved ${(moved / MiB).toFixed(1)} MiB for ${(dirty / MiB).toFixed(1)} MiB dirty = ${(moved / dirty).toFixed(3)}×; time ${((100 * incrementalSeconds) / fullSeconds).toFixed(1)}% of full`,
    );
    checks.push(["incremental bytes ≤ 1.05× dirty", moved <= 1.05 * dirty]);
    checks.push(["incremental time ≤ 5% of full (medians, time in sync)", incrementalSeconds <= 0.05 * fullSeconds]);

    const peak = Math.max(...[...oursFile, ...oursNbd, ...oursTls, ...fullRuns, ...incrementalRuns].map((t) => t.rssMiB));
    checks.push([`peak RSS ${peak} MiB ≤ 200 MiB`, peak <= 200]);
  } finally {
    stopAll();
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    } catch (err) {
      console.error(`could not remove ${dir}: ${(err as Error).message}`);
    }
  }
  console.log(results.join("\n"));
  for (const [name, ok] of checks) console.log(`${ok ? "PASS" : "FAIL"} ${name}`);
  console.log(
    `load average at end ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
}

main().catch((err: unknown) => {
  stopAll();
  console.error(err);
  process.exitCode = 1;
});
