/**
 * The lab's inputs and its work directory: the `rehost lab` options with their defaults, the wave
 * planned from the inventory and checked, the work directory, the site and its processes, and the
 * interruption that every step of a run races (`openLab`), then everything stopped and removed
 * again (`closeLab`).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JobStatus } from "../agent/api";
import { loadInventory, loadWaves } from "../inventory";
import { buildPlan } from "../plan";
import type { PlannedDisk, PlannedVm, PlannedWave } from "../plan/types";
import { packagePath } from "../service/package";
import { InputError, problem } from "../problems";
import { ProcessGroup } from "../service/processes";
import type { BusinessWriter } from "./business";
import { openSite, type LabSite } from "./site";
import type { Vcsim } from "./vcsim";

/** Options of `runLab` (the `rehost lab` flags). */
export interface LabOptions {
  /** @default examples/lab/inventory.yaml of this package */
  readonly inventory?: string;
  /** @default examples/lab/waves.yaml of this package */
  readonly waves?: string;
  /** Stack configs for the offline preview. @default examples/lab/stacks of this package */
  readonly stacksDir?: string;
  /** The stack whose resources the report lists. @default "lab-cutover" */
  readonly previewStack?: string;
  /** The wave to run. @default - the first wave of the waves file */
  readonly wave?: string;
  /** Where images, targets and the services' state go. @default - a new directory under the system temp dir, removed at the end */
  readonly workdir?: string;
  /** Keep the work directory. @default false (kept anyway when it was given) */
  readonly keep?: boolean;
  /** Markdown report path (a `.json` twin is written next to it). @default .rehost/lab-report.md */
  readonly report?: string;
  /** Incremental rounds before the rehearsal point. @default 2 */
  readonly roundsBeforeRehearsal?: number;
  /** Seconds the business writes between two rounds. @default 1 */
  readonly businessSeconds?: number;
  /** Every disk this many times larger, with the same data and the same writes. @default 1 */
  readonly sizeFactor?: number;
  /** 64 KiB writes per disk between the full check and the shutdown: the final delta. @default 16 */
  readonly finalWrites?: number;
  /** Run on 127.0.0.1 even as root (no namespaces). @default false */
  readonly loopback?: boolean;
  /** Progress lines. @default - none */
  readonly progress?: (line: string) => void;
  /** Live status of running rounds (called about twice a second while a step waits). */
  readonly live?: (jobs: readonly JobStatus[], step: string) => void;
  /** Aborting stops every process and fails the run. */
  readonly signal?: AbortSignal;
}

/** One source disk of the lab. */
export interface LabDisk {
  readonly vm: PlannedVm;
  readonly planned: PlannedDisk;
  readonly jobId: string;
  readonly sizeBytes: number;
  readonly target: string;
  writer?: BusinessWriter;
  outs?: Record<string, any>;
}

export const MiB = 2 ** 20;
export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** The options checked, with their defaults, and the wave to run. */
export interface LabInputs {
  readonly options: LabOptions;
  /** When the run started (ms since the epoch). */
  readonly started: number;
  /** A progress line, stamped with the seconds since the start. */
  readonly say: (line: string) => void;
  readonly reportFile: string;
  /** `sizeFactor`, checked. */
  readonly factor: number;
  readonly businessMs: number;
  readonly wave: PlannedWave;
}

/** Resolves the options and plans the wave; fails with an `InputError` before anything starts. */
export async function resolveInputs(options: LabOptions): Promise<LabInputs> {
  const started = Date.now();
  const say = (line: string): void => options.progress?.(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const inventoryFile = options.inventory ?? packagePath("examples", "lab", "inventory.yaml");
  const wavesFile = options.waves ?? packagePath("examples", "lab", "waves.yaml");
  const reportFile = path.resolve(options.report ?? path.join(".rehost", "lab-report.md"));
  const factor = options.sizeFactor ?? 1;
  if (!Number.isInteger(factor) || factor < 1 || factor > 64) {
    throw new InputError(
      problem({
        field: "sizeFactor",
        received: String(options.sizeFactor),
        expected: "an integer from 1 to 64",
        fix: "give `sizeFactor` a whole number from 1 to 64, e.g. 4",
        message: "The size factor is not an integer from 1 to 64.",
      }),
    );
  }
  const businessMs = (options.businessSeconds ?? 1) * 1000;

  const plan = buildPlan(await loadInventory(inventoryFile), await loadWaves(wavesFile), { inventory: inventoryFile, waves: wavesFile });
  const errors = plan.problems.filter((p) => p.severity === "error");
  if (errors.length > 0) throw new InputError(errors);
  const wave: PlannedWave | undefined = options.wave === undefined ? plan.waves[0] : plan.waves.find((w) => w.name === options.wave);
  if (wave === undefined) {
    throw new InputError(
      problem({
        file: wavesFile,
        field: "wave",
        received: options.wave,
        expected: plan.waves.map((w) => w.name).join(", "),
        fix: "give `wave` the name of a wave of the waves file",
        message: `There is no wave ${options.wave}.`,
      }),
    );
  }
  return { options, started, say, reportFile, factor, businessMs, wave };
}

/** An open lab: its work directory, its site and the disks; what every phase of the run reads. */
export interface Lab extends LabInputs {
  readonly workdir: string;
  /** The work directory was given (so it is kept). */
  readonly givenWorkdir: boolean;
  readonly site: LabSite;
  readonly disks: LabDisk[];
  /** Rejects when the run is aborted; everything the lab awaits races it. */
  readonly interrupted: Promise<never>;
  /** Throws when the run has been aborted. */
  readonly checkAbort: () => void;
  /** Closes the site and stops the lab's processes. */
  readonly stopAll: () => Promise<void>;
  /** The abort listener that stops everything. */
  readonly abort: () => void;
  /** The simulator, once it runs. */
  simulator?: Vcsim;
}

/** Makes the work directory, opens the site and lists the wave's disks. */
export async function openLab(inputs: LabInputs): Promise<Lab> {
  const { options, wave, factor } = inputs;
  const givenWorkdir = options.workdir !== undefined;
  const workdir = givenWorkdir ? path.resolve(options.workdir as string) : fs.mkdtempSync(path.join(os.tmpdir(), "rehost-lab-"));
  for (const sub of ["targets", "snapshots", "scratch", "frozen"]) fs.mkdirSync(path.join(workdir, sub), { recursive: true });
  const group = new ProcessGroup();
  const site = await openSite(group, { loopback: options.loopback });
  const stopAll = async (): Promise<void> => {
    await site.close().catch(() => undefined);
    await group.stopAll();
  };
  const abort = (): void => void stopAll();
  options.signal?.addEventListener("abort", abort, { once: true });
  const checkAbort = (): void => {
    if (options.signal?.aborted) throw new Error("The lab was interrupted.");
  };
  const disks: LabDisk[] = wave.vms.flatMap((vm) =>
    vm.disks.map((planned) => ({
      vm,
      planned,
      jobId: planned.id,
      sizeBytes: planned.sizeBytes * factor,
      target: path.join(workdir, "targets", `${planned.id}.raw`),
    })),
  );

  // Everything the lab awaits races the interruption: a request to a side whose namespace is gone
  // would otherwise wait for TCP to give up.
  const interrupted = new Promise<never>((_, reject) => {
    const fail = (): void => reject(new Error("The lab was interrupted."));
    if (options.signal?.aborted) fail();
    else options.signal?.addEventListener("abort", fail, { once: true });
  });
  interrupted.catch(() => undefined);
  return { ...inputs, workdir, givenWorkdir, site, disks, interrupted, checkAbort, stopAll, abort };
}

/** Stops the writers, the simulator and every process, and removes the work directory unless it is kept. */
export async function closeLab(lab: Lab): Promise<void> {
  const { options } = lab;
  options.signal?.removeEventListener("abort", lab.abort);
  for (const d of lab.disks) await d.writer?.pause().catch(() => undefined);
  await lab.simulator?.stop().catch(() => undefined);
  await lab.stopAll();
  if (!lab.givenWorkdir && options.keep !== true) fs.rmSync(lab.workdir, { recursive: true, force: true });
}
