/**
 * `rehost lab`: the whole lifecycle of the lab wave on this machine (see lib/lab/run.ts).
 * Exit 0 when every disk verified, 1 when a cutover verification failed, 130 on Ctrl-C.
 */
import type { Command } from "commander";
import { CheckFailed } from "../main";

interface LabCommandOptions {
  inventory?: string;
  waves?: string;
  stacks?: string;
  wave?: string;
  workdir?: string;
  keep?: boolean;
  report?: string;
  json?: boolean;
}

/** Registers `rehost lab`. */
export function register(program: Command): void {
  program
    .command("lab")
    .description("Run a wave's whole lifecycle on this machine: real images, qemu-nbd, the agent, the providers, cutover and a report.")
    .option("--inventory <file>", "inventory (default: examples/lab/inventory.yaml)")
    .option("--waves <file>", "waves file (default: examples/lab/waves.yaml)")
    .option("--stacks <dir>", "stack configs for the offline preview (default: examples/lab/stacks)")
    .option("--wave <name>", "the wave to run (default: the first)")
    .option("--workdir <dir>", "keep images, targets and the agent's state here (default: a temp dir, removed)")
    .option("--keep", "keep the temporary work directory")
    .option("--report <file>", "Markdown report (a .json twin is written beside it)", ".rehost/lab-report.md")
    .option("--json", "print the report as JSON on stdout; progress goes to stderr")
    .action(async (opts: LabCommandOptions) => {
      const { runLab } = require("../../lab") as typeof import("../../lab");
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
          signal: controller.signal,
          progress: out,
          live: tty
            ? (jobs, step) => {
                const active = jobs.filter((j) => j.active !== undefined);
                const done = active.reduce((s, j) => s + (j.active?.bytesDone ?? 0), 0);
                const total = active.reduce((s, j) => s + (j.active?.bytesTotal ?? 0), 0);
                const rate = active.reduce((s, j) => s + (j.active?.rate ?? 0), 0);
                const queued = active.filter((j) => j.active?.queued === true).length;
                process.stderr.write(`\r\x1b[2K  ${step}: ${jobs.length - active.length}/${jobs.length} disks done, ${(done / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MiB, ${(rate / 1e6).toFixed(1)} MB/s${queued > 0 ? `, ${queued} queued` : ""}`);
                liveShown = true;
              }
            : undefined,
        });
        if (opts.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        if (!report.ok) throw new CheckFailed(`rehost lab: the cutover of ${report.failures.map((f) => f.vm).join(", ") || "some disks"} failed verification; see ${report.reportFile}.`);
      } catch (err) {
        if (interrupted) {
          process.exitCode = 130;
          return;
        }
        throw err;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        // Every process the lab started is stopped by now; provider calls still retrying the
        // stopped agent are abandoned.
        if (interrupted) process.exit(130);
      }
    });
}
