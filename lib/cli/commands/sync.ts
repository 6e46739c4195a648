/**
 * `rehost sync SRC DST`: one replication round from a source disk to a target disk.
 *
 * A progress bar on a TTY; with `--json`, newline-delimited JSON events on stdout
 * (`{"event":"progress",...}`) ending with `{"event":"done", bytesRead, bytesWritten, bytesZeroed,
 * bytesSkipped, seconds, resumed}`.
 */
import type { Command } from "commander";
import { InputError, problem, withFieldNames } from "../../problems";
import { SYNC_FLAGS } from "../flags";
import { formatBytes } from "../format";
import type { SyncProgress } from "../../replication/progress";
import type { SyncOptions } from "../../replication/sync";

interface SyncFlags {
  changed: string;
  journal?: string;
  bandwidth?: string;
  connections?: string;
  blockSize?: string;
  checkpointInterval?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("sync")
    .description("Copy the changed blocks of a source disk to a target disk (NBD URIs or local paths), resumably.")
    .argument("<source>", "source disk: nbd://, nbds://, nbd+unix://, nbds+unix:// URI or a local path")
    .argument("<target>", "target disk: NBD URI or local path (a missing file is created at the source's size)")
    .option("--changed <source>", "which ranges: full, allocated, bitmap:NAME, extents:FILE, hash", "allocated")
    .option("--journal <file>", "checkpoint file making the round resumable after a crash (removed when done)")
    .option("--bandwidth <rate>", "limit source reads, bytes/s: 200M = 200×10^6, 50Mi = 50×2^20")
    .option("--connections <n>", "connections per disk when the server allows multi-conn (default 4)")
    .option("--block-size <size>", "largest request, e.g. 2Mi (default 1 MiB to a file, 256 KiB to an NBD target)")
    .option("--checkpoint-interval <size>", "source bytes read between journal checkpoints (default 256Mi)")
    .option("--json", "newline-delimited JSON events on stdout; the last line is the result")
    .action(async (source: string, target: string, flags: SyncFlags) => {
      // The data plane loads only when the command runs.
      const { sync }: typeof import("../../replication/sync") = require("../../replication/sync");
      const { parseRate, parseSize }: typeof import("../../replication/throttle") = require("../../replication/throttle");
      let connections: number | undefined;
      if (flags.connections !== undefined) {
        connections = Number(flags.connections);
        if (!/^\d+$/.test(flags.connections)) {
          throw new InputError(
            problem({
              field: "--connections",
              received: JSON.stringify(flags.connections),
              expected: "a whole number from 1 to 16",
              fix: "give e.g. --connections 4",
              message: "The number of connections is not a whole number",
            }),
          );
        }
      }
      const options: SyncOptions = {
        source,
        target,
        changed: flags.changed as SyncOptions["changed"],
        journal: flags.journal,
        bandwidth: flags.bandwidth === undefined ? undefined : parseRate(flags.bandwidth, "--bandwidth"),
        connections,
        blockSize: flags.blockSize === undefined ? undefined : parseSize(flags.blockSize, "--block-size"),
        checkpointInterval: flags.checkpointInterval === undefined ? undefined : parseSize(flags.checkpointInterval, "--checkpoint-interval"),
      };
      const controller = new AbortController();
      const stop = (): void => controller.abort(new Error("interrupted"));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const view = progressView(flags.json === true);
      try {
        const result = await sync({ ...options, signal: controller.signal, onProgress: view.update }).catch((err: unknown) => {
          if (!controller.signal.aborted) throw withFieldNames(err, SYNC_FLAGS);
          view.stop();
          const resume = flags.journal === undefined ? "run it again to start over" : `run the same command again to resume from ${flags.journal}`;
          process.stderr.write(`rehost sync: interrupted; ${resume}\n`);
          process.exitCode = 130;
          return undefined;
        });
        if (result === undefined) return;
        view.stop();
        if (flags.json === true) {
          process.stdout.write(`${JSON.stringify({ event: "done", ...result })}\n`);
        } else {
          process.stdout.write(
            `synced ${source} -> ${target}: read ${formatBytes(result.bytesRead, "tenths")}, wrote ${formatBytes(result.bytesWritten, "tenths")}, zeroed ${formatBytes(result.bytesZeroed, "tenths")}, skipped ${formatBytes(result.bytesSkipped, "tenths")} in ${result.seconds} s${result.resumed ? " (resumed)" : ""}\n`,
          );
        }
      } finally {
        view.stop();
        process.removeListener("SIGINT", stop);
        process.removeListener("SIGTERM", stop);
      }
    });
}

/** Progress as a bar on a TTY (stderr), NDJSON events with --json, nothing otherwise. */
export function progressView(json: boolean): { update: (p: SyncProgress) => void; stop: () => void } {
  if (json) {
    return { update: (p) => process.stdout.write(`${JSON.stringify({ event: "progress", ...p })}\n`), stop: () => undefined };
  }
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const { SingleBar }: typeof import("cli-progress") = require("cli-progress");
  const bar = new SingleBar({
    format: "{phase} [{bar}] {percentage}% {doneBytes}/{totalBytes} {speed}/s ETA {etaText}",
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: false,
  });
  let started = false;
  let stopped = false;
  return {
    update: (p) => {
      if (stopped) return;
      const payload = {
        phase: p.phase.padEnd(6),
        doneBytes: formatBytes(p.bytesDone, "tenths"),
        totalBytes: formatBytes(p.bytesTotal, "tenths"),
        speed: formatBytes(p.rate, "tenths"),
        etaText: `${Math.ceil(p.etaSeconds)} s`,
      };
      if (!started) {
        bar.start(Math.max(1, p.bytesTotal), p.bytesDone, payload);
        started = true;
      }
      bar.setTotal(Math.max(1, p.bytesTotal));
      bar.update(p.bytesDone, payload);
    },
    stop: () => {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
