/**
 * `rehost plan`: load an inventory and a waves file, build the migration plan and print it as a
 * table, the JSON contract or Markdown. A plan with errors prints every problem and exits 2
 * without writing `--out`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type Command, Option } from "commander";
import type { Inventory, WavesFile } from "../../inventory";
import { InputError, formatProblem, problem } from "../../problems";

/** Options of `rehost plan`, as commander parses them. */
export interface PlanCommandOptions {
  readonly inventory: string;
  readonly waves: string;
  readonly networks?: string;
  readonly format: "table" | "json" | "md";
  readonly out?: string;
  readonly start?: string;
}

/** Registers `rehost plan`. */
export function register(program: Command): void {
  program
    .command("plan")
    .description("Plan the migration: mirrored subnets, pinned IPs, sizing, sync gateways, time and cost per wave.")
    .requiredOption("--inventory <path>", "inventory: YAML/JSON file, RVTools CSV directory or .xlsx")
    .requiredOption("--waves <file>", "waves file (YAML/JSON)")
    .option("--networks <file>", "networks file: portgroup → CIDR, gateway, VLAN (needed for RVTools)")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json", "md"]).default("table"))
    .option("--out <file>", "write the plan to this file instead of standard output")
    .option("--start <date>", "first day of the Markdown schedule (YYYY-MM-DD); default: today, or early enough for the first waves' sync and rehearsals before their change windows")
    .action(async (options: PlanCommandOptions) => {
      await runPlan(options);
    });
}

/**
 * Runs the command: loads the inputs (an `InputError` on bad files), builds the plan, and writes
 * it. Throws `InputError` carrying the plan's problems when it has errors; warnings go to stderr.
 */
export async function runPlan(options: PlanCommandOptions): Promise<void> {
  if (options.start !== undefined && !isDate(options.start)) {
    throw new InputError(problem({ field: "--start", message: "The start date is not a calendar date", received: options.start, expected: "YYYY-MM-DD", fix: "pass a date such as 2026-03-02" }));
  }
  // Loaded here, not at start: `rehost --version` and the other commands need none of it.
  const { loadInventory, loadWaves } = await import("../../inventory/index.js");
  const { buildPlan, renderJson, renderMarkdown, renderTable, scheduleStart } = await import("../../plan/index.js");
  const [inventoryResult, wavesResult] = await Promise.allSettled([
    loadInventory(options.inventory, options.networks !== undefined ? { networks: options.networks } : {}),
    loadWaves(options.waves),
  ]);
  // Report the problems of every input file at once, not only of the first that fails.
  const failures = [inventoryResult, wavesResult].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    const unexpected = failures.find((f) => !(f instanceof InputError));
    if (unexpected !== undefined) throw unexpected;
    throw new InputError(failures.flatMap((f) => (f as InputError).problems));
  }
  const inventory = (inventoryResult as PromiseFulfilledResult<Inventory>).value;
  const waves = (wavesResult as PromiseFulfilledResult<WavesFile>).value;
  const plan = buildPlan(inventory, waves, {
    inventory: options.inventory,
    waves: options.waves,
    ...(options.networks !== undefined ? { networks: options.networks } : {}),
  });
  if (plan.problems.some((p) => p.severity === "error")) throw new InputError(plan.problems);
  // The table lists its warnings itself; other formats and files get them on stderr.
  if (options.format !== "table" || options.out !== undefined) {
    for (const p of plan.problems) process.stderr.write(`${formatProblem(p)}\n`);
  }

  const text =
    options.format === "json"
      ? renderJson(plan)
      : options.format === "md"
        ? renderMarkdown(plan, { start: options.start ?? scheduleStart(plan, new Date().toISOString().slice(0, 10)) })
        : renderTable(plan);
  if (options.out !== undefined) {
    fs.mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
    fs.writeFileSync(options.out, text);
    process.stderr.write(`plan written to ${options.out}\n`);
  } else {
    process.stdout.write(text);
  }
}

/** Whether `text` is a calendar date written `YYYY-MM-DD` (not `2026-02-30`). */
function isDate(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`)) && new Date(`${text}T00:00:00Z`).toISOString().startsWith(text);
}
