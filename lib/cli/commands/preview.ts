/**
 * `rehost preview --stack NAME`: the offline preview of one stack (no cloud, no Pulumi CLI):
 * every resource it would declare, the pinned-IP table, and the policy verdicts. Exit 1 when a
 * mandatory policy fails, 2 on bad stack config.
 */
import type { Command } from "commander";
import { CheckFailed } from "../main";

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
    .action(async (flags: { stack: string; stacks?: string; project?: string; json?: boolean; md?: boolean }) => {
      // Pulumi's SDK is heavy to load: only this command's action pays for it.
      const { hasMandatoryViolation, runOfflinePreview } = require("../../preview") as typeof import("../../preview");
      const { renderJson, renderMarkdown, renderText } = require("../../preview/render") as typeof import("../../preview/render");
      // Progress goes to stderr, so stdout stays the report (or the JSON) alone.
      const result = await runOfflinePreview({
        stack: flags.stack,
        stacksDir: flags.stacks,
        projectDir: flags.project,
        onProgress: (p) =>
          process.stderr.write(p.state === "running" ? `preview: ${p.stack} …\n` : `preview: ${p.stack}: ${p.resources} resources (${((p.ms ?? 0) / 1000).toFixed(1)} s)\n`),
      });
      process.stdout.write(flags.json === true ? renderJson(result) : flags.md === true ? renderMarkdown(result) : renderText(result));
      if (hasMandatoryViolation(result)) {
        const count = result.policyViolations.filter((v) => v.level === "mandatory").length;
        throw new CheckFailed(`${count} mandatory policy violation(s) in stack ${result.stack}`);
      }
    });
}
