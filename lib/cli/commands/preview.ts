/**
 * `rehost preview --stack NAME`: the offline preview of one stack (no cloud, no Pulumi CLI):
 * every resource it would declare, the pinned-IP table, and the verdicts of the `rehost-guard`
 * policy pack. Exit 1 when a mandatory policy fails, 2 on bad stack config.
 */
import * as fs from "node:fs";
import type { Command } from "commander";
import { InputError, problem } from "../../problems";
import { CheckFailed } from "../errors";

interface PreviewFlags {
  stack: string;
  stacks?: string;
  project?: string;
  json?: boolean;
  md?: boolean;
  policyConfig?: string;
  at?: string;
}

/** Adds `rehost preview` to the program. */
export function register(program: Command): void {
  program
    .command("preview")
    .description("Preview a stack offline under Pulumi's mock runtime: resources, pinned IPs, policy verdicts.")
    .requiredOption("--stack <name>", "stack to preview (its config is <stacks>/Pulumi.<name>.yaml)")
    .option("--stacks <dir>", "directory of the stack config files (default: the project's stackConfigDir)")
    .option("--project <dir>", "directory holding Pulumi.yaml (default: the nearest one above the working directory)")
    .option("--json", "print the JSON contract { stack, resources, policyViolations }")
    .option("--md", "print Markdown for a pull-request comment")
    .option("--policy-config <file>", "policy pack config (JSON, as for pulumi --policy-pack-config): levels and rule settings")
    .option("--at <time>", "judge time-bound rules (the cutover change window, the time left for the downtime budget) as of this ISO 8601 time instead of now")
    .action(async (flags: PreviewFlags) => {
      const policyConfig = readPolicyConfig(flags);
      // Pulumi's SDK is heavy to load: only this command's action pays for it.
      const { hasMandatoryViolation, runOfflinePreview }: typeof import("../../preview") = require("../../preview");
      const { renderJson, renderMarkdown, renderText }: typeof import("../../preview/render") = require("../../preview/render");
      // Progress goes to stderr, so stdout stays the report (or the JSON) alone.
      const result = await runOfflinePreview({
        stack: flags.stack,
        stacksDir: flags.stacks,
        projectDir: flags.project,
        policyConfig,
        onProgress: (p) =>
          process.stderr.write(
            p.state === "running" ? `preview: ${p.stack} …\n` : `preview: ${p.stack}: ${p.resources} resources (${((p.ms ?? 0) / 1000).toFixed(1)} s)\n`,
          ),
      });
      process.stdout.write(flags.json === true ? renderJson(result) : flags.md === true ? renderMarkdown(result) : renderText(result));
      if (hasMandatoryViolation(result)) {
        const count = result.policyViolations.filter((v) => v.level === "mandatory").length;
        throw new CheckFailed(`${count} mandatory policy violation(s) in stack ${result.stack}`);
      }
    });
}

/** The pack config from `--policy-config`, with `--at` applied to the change-window and downtime-budget rules. */
function readPolicyConfig(flags: PreviewFlags): import("../../preview").OfflinePolicyConfig {
  let config: Record<string, unknown> = {};
  if (flags.policyConfig !== undefined) {
    const where = { field: "--policy-config", fix: "give a JSON object of rule name → level or settings, as for pulumi --policy-pack-config" };
    let text: string;
    try {
      text = fs.readFileSync(flags.policyConfig, "utf8");
    } catch (err) {
      throw new InputError(
        problem({
          ...where,
          file: flags.policyConfig,
          received: (err as NodeJS.ErrnoException).code ?? String(err),
          expected: "a readable file",
          message: "The policy config file cannot be read.",
        }),
      );
    }
    try {
      config = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new InputError(
        problem({
          ...where,
          file: flags.policyConfig,
          received: (err as Error).message,
          expected: "JSON",
          message: "The policy config file is not valid JSON.",
        }),
      );
    }
    if (config === null || typeof config !== "object" || Array.isArray(config)) {
      throw new InputError(
        problem({
          ...where,
          file: flags.policyConfig,
          received: JSON.stringify(config),
          expected: "a JSON object",
          message: "The policy config must be an object keyed by rule name.",
        }),
      );
    }
  }
  if (flags.at !== undefined) {
    if (Number.isNaN(Date.parse(flags.at))) {
      throw new InputError(
        problem({
          field: "--at",
          received: flags.at,
          expected: "an ISO 8601 time such as 2026-12-05T23:00:00+08:00",
          fix: "correct the time",
          message: "The --at time is not a date.",
        }),
      );
    }
    for (const rule of ["cutover-in-change-window", "cutover-within-downtime-budget"]) {
      const given = config[rule];
      config[rule] = typeof given === "string" ? { enforcementLevel: given, now: flags.at } : { ...(given as object | undefined), now: flags.at };
    }
  }
  return config as import("../../preview").OfflinePolicyConfig;
}
