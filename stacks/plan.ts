/** Loads the migration plan a stack works from: inventory + waves file → `buildPlan`. */
import * as fs from "node:fs";
import * as path from "node:path";
import { loadInventory, loadWaves } from "../lib/inventory";
import { buildPlan } from "../lib/plan/build";
import type { Plan, PlannedWave } from "../lib/plan/types";
import type { WavesFile } from "../lib/inventory/waves";
import { InputError, problem, throwIfErrors } from "../lib/problems";
import { stackFile, type StackConfig } from "./config";

/** A plan and the waves file it was made from (its settings hold the limits the planner used). */
export interface Planning {
  readonly plan: Plan;
  readonly waves: WavesFile;
}

const plans = new Map<string, Promise<Planning>>();

/**
 * The plan of the configured inventory and waves file, with the waves file; fails with every
 * planning error. Plans are kept per files and modification times, so previewing a wave and the
 * landing zone it references in one process plans once.
 */
export async function loadPlanning(config: StackConfig, projectDir: string): Promise<Planning> {
  const projectPath = (p: string): string => path.resolve(projectDir, p);
  const file = stackFile();
  const missing = (["inventory", "waves", "networks"] as const).filter((key) => config[key] !== undefined && !fs.existsSync(projectPath(config[key]!)));
  if (missing.length > 0) {
    throw new InputError(
      missing.map((key) =>
        problem({
          file,
          field: `rehost:${key}`,
          received: config[key],
          expected: "a file relative to the project directory",
          fix: `pulumi config set rehost:${key} <path>`,
          message: `The ${key} file ${config[key]} does not exist.`,
        }),
      ),
    );
  }
  const inventoryPath = projectPath(config.inventory);
  const wavesPath = projectPath(config.waves);
  const networksPath = config.networks !== undefined ? projectPath(config.networks) : undefined;
  const key = JSON.stringify([inventoryPath, wavesPath, networksPath].map((p) => (p === undefined ? null : [p, fs.statSync(p).mtimeMs])));
  let plan = plans.get(key);
  if (plan === undefined) {
    plan = buildFromFiles(config, inventoryPath, wavesPath, networksPath);
    plans.set(key, plan);
    plan.catch(() => plans.delete(key));
  }
  return plan;
}

async function buildFromFiles(config: StackConfig, inventoryPath: string, wavesPath: string, networksPath: string | undefined): Promise<Planning> {
  const [inventory, waves] = await Promise.all([loadInventory(inventoryPath, { networks: networksPath }), loadWaves(wavesPath)]);
  const plan = buildPlan(inventory, waves, { inventory: config.inventory, waves: config.waves, networks: config.networks });
  throwIfErrors(plan.problems);
  return { plan, waves };
}

/** The planned wave named by `rehost:wave`, or an input error listing the plan's waves. */
export function planWave(plan: Plan, name: string): PlannedWave {
  const wave = plan.waves.find((w) => w.name === name);
  if (wave === undefined) {
    throw new InputError(
      problem({
        file: stackFile(),
        field: "rehost:wave",
        received: JSON.stringify(name),
        expected: `one of the plan's waves: ${plan.waves.map((w) => w.name).join(", ")}`,
        fix: "pulumi config set rehost:wave <wave name from the waves file>",
        message: `Wave ${name} is not in the plan.`,
      }),
    );
  }
  return wave;
}
