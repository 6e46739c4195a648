/**
 * `rehost lab`: the whole lifecycle of the lab wave on this machine (see lib/lab/run.ts).
 * Exit 0 when every disk verified, 1 when a verification failed, 2 for bad input, 130 on Ctrl-C.
 * With `--json`, the last line of standard output is the report as one JSON object.
 */
import type { Command } from "commander";
import { withFieldNames, type FieldNames } from "../../problems";
import { CheckFailed } from "../errors";

/** `runLab`'s options as this command takes them. */
const LAB_FLAGS: FieldNames = {
  wave: "--wave",
  sizeFactor: "--size-factor",
};

interface LabCommandOptions {
  inventory?: string;
  waves?: string;
  stacks?: string;
  wave?: string;
  workdir?: string;
  keep?: boolean;
  report?: string;
  json?: boolean;
  sizeFactor: string;
  loopback?: boolean;
}

/** Registers `rehost lab`. */
export function register(program: Command): void {
  program
    .command("lab")
    .description(
      "Run a wave's whole lifecycle on this machine in the shape of a migration: VMs in a vCenter simulator, the source proxy on-prem, the agent in the cloud, a counted link, rounds, a rehearsal point, cutover and a report.",
    )
    .option("--inventory <file>", "inventory (default: examples/lab/inventory.yaml)")
    .option("--waves <file>", "waves file (default: examples/lab/waves.yaml)")
    .option("--stacks <dir>", "stack configs for the offline preview (default: examples/lab/stacks)")
    .option("--wave <name>", "the wave to run (default: the first)")
    .option("--workdir <dir>", "keep images, targets and the agent's state here (default: a temp dir, removed)")
    .option("--keep", "keep the temporary work directory")
    .option("--report <file>", "Markdown report (a .json twin is written beside it)", ".rehost/lab-report.md")
    .option("--json", "end standard output with the report as one JSON line (rounds[], cutover{}); progress goes to stderr")
    .option("--size-factor <n>", "every disk N times larger, with the same data and the same writes", "1")
    .option("--loopback", "run on 127.0.0.1 even as root (no network namespaces; link bytes as the proxy counts them)")
    .addHelpText(
      "after",
      "\nNetwork namespaces need root; without it the lab runs on 127.0.0.1 and says so.\nExit codes: 0 verified; 1 a verification failed; 2 bad input; 3 an unexpected failure; 130 interrupted.",
    )
    .action(async (opts: LabCommandOptions) => {
      const { runLab }: typeof import("../../lab") = require("../../lab");
      const controller = new AbortController();
      let interrupted = false;
      const onSignal = (): void => {
        interrupted = true;
        process.stderr.write("\nrehost lab: interrupted, stopping every process it started\n");
        controller.abort();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const tty = process.stderr.isTTY === true && opts.json !== true;
      let liveShown = false;
      const out = (line: string): void => {
        if (liveShown) process.stderr.write("\r\x1b[2K");
        liveShown = false;
        (opts.json === true ? process.stderr : process.stdout).write(`${line}\n`);
      };
      try {
        const report = await runLab({
          inventory: opts.inventory,
          waves: opts.waves,
          stacksDir: opts.stacks,
          wave: opts.wave,
          workdir: opts.workdir,
          keep: opts.keep,
          report: opts.report,
          sizeFactor: Number(opts.sizeFactor),
          loopback: opts.loopback,
          signal: controller.signal,
          progress: out,
          live: tty
            ? (jobs, step) => {
                const active = jobs.filter((j) => j.active !== undefined);
                const done = active.reduce((s, j) => s + (j.active?.bytesDone ?? 0), 0);
                const total = active.reduce((s, j) => s + (j.active?.bytesTotal ?? 0), 0);
                const rate = active.reduce((s, j) => s + (j.active?.rate ?? 0), 0);
                const queued = active.filter((j) => j.active?.queued === true).length;
                process.stderr.write(
                  `\r\x1b[2K  ${step}: ${jobs.length - active.length}/${jobs.length} disks done, ${(done / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MiB, ${(rate / 1e6).toFixed(1)} MB/s${queued > 0 ? `, ${queued} queued` : ""}`,
                );
                liveShown = true;
              }
            : undefined,
        });
        if (opts.json === true) process.stdout.write(`${JSON.stringify(report)}\n`);
        if (!report.ok)
          throw new CheckFailed(
            `rehost lab: the cutover of ${report.failures.map((f) => f.vm).join(", ") || "some disks"} failed verification; see ${report.reportFile}.`,
          );
      } catch (err) {
        if (interrupted) {
          process.exitCode = 130;
          return;
        }
        throw withFieldNames(err, LAB_FLAGS);
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        // Every process the lab started is stopped by now; provider calls still retrying the
        // stopped agent are abandoned.
        if (interrupted) process.exit(130);
      }
    });
}
