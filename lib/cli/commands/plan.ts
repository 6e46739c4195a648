/**
 * `rehost plan`: read an inventory and a waves file, build the migration plan and print it as a
 * table, the JSON contract or Markdown. Every VM is planned or listed as blocked with its reasons;
 * a plan with errors is still printed (standard output or `--out`) so CI can read it, and the
 * command exits 2. Inputs that cannot be read at all print their problems and write no plan.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type Command, Option } from "commander";
import type { InventoryReading, WavesFile } from "../../inventory";
import { InputError, problem, type Problem } from "../../problems";
import { ExitWith } from "../errors";
import { colourFor, formatProblemsShort, widthOf, writeProblems } from "../report";

/** Options of `rehost plan`, as commander parses them. */
interface PlanCommandOptions {
  readonly inventory: string;
  readonly waves: string;
  readonly networks?: string;
  readonly format: "table" | "json" | "md";
  readonly out?: string;
  readonly start?: string;
}

const EXAMPLES = `
Examples:
  rehost plan --inventory RVTools_export_all.xlsx --networks networks.yaml --waves waves.yaml
  rehost plan --inventory rvtools/ --networks networks.yaml --waves waves.yaml --format json --out plan.json
  rehost plan --inventory inventory.yaml --waves waves.yaml --format md --start 2026-03-02 > plan.md

With errors the plan is still printed (VMs that cannot move are in "blocked", with every reason)
and the command exits 2; with --format json the output always parses.`;

/** Registers `rehost plan`. */
export function register(program: Command): void {
  program
    .command("plan")
    .description("Plan the migration: mirrored subnets, pinned IPs, sizing, sync gateways, time and cost per wave; every VM planned or listed as blocked.")
    .requiredOption("--inventory <path>", "inventory: YAML/JSON file, RVTools CSV directory or .xlsx workbook")
    .requiredOption("--waves <file>", "waves file (YAML/JSON)")
    .option("--networks <file>", "networks file: portgroup → CIDR, gateway, VLAN, aliases (needed for RVTools)")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json", "md"]).default("table"))
    .option("--out <file>", "write the plan to this file instead of standard output")
    .option(
      "--start <date>",
      "first day of the Markdown schedule (YYYY-MM-DD); default: today, or early enough for the first waves' sync and rehearsals before their change windows",
    )
    .addHelpText("after", EXAMPLES)
    .action(async (options: PlanCommandOptions) => {
      await runPlan(options);
    });
}

/**
 * Runs the command: reads the inputs (an `InputError` when a file cannot be used at all), builds
 * the plan and writes it. Ends with `ExitWith(2)` when the plan has errors, after writing it.
 */
async function runPlan(options: PlanCommandOptions): Promise<void> {
  if (options.start !== undefined && !isDate(options.start)) {
    throw new InputError(
      problem({
        field: "--start",
        message: "The start date is not a calendar date",
        received: options.start,
        expected: "YYYY-MM-DD",
        fix: "pass a date such as 2026-03-02",
      }),
    );
  }
  // Loaded here, not at start: `rehost --version` and the other commands need none of it.
  const { readInventory, loadWaves } = await import("../../inventory/index.js");
  const { buildPlan, renderJson, renderMarkdown, renderTable, scheduleStart } = await import("../../plan/index.js");
  const [inventoryResult, wavesResult] = await Promise.allSettled([
    readInventory(options.inventory, options.networks !== undefined ? { networks: options.networks } : {}),
    loadWaves(options.waves),
  ]);
  // Report the problems of every input file at once, not only of the first that fails.
  const failures = [inventoryResult, wavesResult].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    const unexpected = failures.find((f) => !(f instanceof InputError));
    if (unexpected !== undefined) throw unexpected;
    const problems = [
      ...(inventoryResult.status === "fulfilled" ? inventoryResult.value.problems : []),
      ...failures.flatMap((f) => (f as InputError).problems),
    ];
    // No plan can be made; `--format json` still answers with a document that parses.
    if (options.format === "json" && options.out === undefined) process.stdout.write(`${JSON.stringify({ version: 1, problems }, null, 2)}\n`);
    throw new InputError(problems);
  }
  const reading = (inventoryResult as PromiseFulfilledResult<InventoryReading>).value;
  const waves = (wavesResult as PromiseFulfilledResult<WavesFile>).value;
  const plan = buildPlan(
    reading.inventory,
    waves,
    {
      inventory: options.inventory,
      waves: options.waves,
      ...(options.networks !== undefined ? { networks: options.networks } : {}),
    },
    { rejected: reading.rejected, problems: reading.problems },
  );
  const failed = plan.problems.some((p) => p.severity === "error");

  const toTerminal = options.out === undefined && process.stdout.isTTY === true;
  const text =
    options.format === "json"
      ? renderJson(plan)
      : options.format === "md"
        ? renderMarkdown(plan, { start: options.start ?? scheduleStart(plan, new Date().toISOString().slice(0, 10)) })
        : toTerminal
          ? renderTable(plan, { problems: false }) + problemsBlock(plan.problems)
          : renderTable(plan);
  if (options.out !== undefined) {
    fs.mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
    const temp = `${options.out}.${process.pid}.tmp`;
    fs.writeFileSync(temp, text);
    fs.renameSync(temp, options.out);
  } else {
    process.stdout.write(text);
  }
  // The table lists its problems itself; other formats and files get them on stderr.
  if (options.format !== "table" || options.out !== undefined) writeProblems(process.stderr, plan.problems);
  if (options.format !== "table" || options.out !== undefined) {
    const planned = plan.waves.reduce((n, w) => n + w.vms.length, 0);
    const blocked = plan.blocked?.length ?? 0;
    const unassigned = plan.unassigned?.length ?? 0;
    process.stderr.write(
      `${options.out !== undefined ? `plan written to ${options.out}: ` : "plan: "}${planned} VM(s) planned, ${blocked} blocked${blocked > 0 ? " (see blocked[])" : ""}, ${unassigned} in no wave${failed ? "; the plan has errors (exit 2)" : ""}\n`,
    );
  }
  if (failed) throw new ExitWith(2);
}

/** The problems section of the table on a terminal: short lines grouped by VM. */
function problemsBlock(problems: readonly Problem[]): string {
  if (problems.length === 0) return "";
  return `\nProblems:\n${formatProblemsShort(problems, { width: widthOf(process.stdout), colour: colourFor(process.stdout) })}`;
}

/** Whether `text` is a calendar date written `YYYY-MM-DD` (not `2026-02-30`). */
function isDate(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`)) && new Date(`${text}T00:00:00Z`).toISOString().startsWith(text);
}
