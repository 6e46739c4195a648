/**
 * Prints, as a JSON array, the stacks a change touches, for CI matrices:
 * a stack whose config file changed; a stack whose inputs (inventory, networks, waves files named
 * in its config) changed; every stack when the program, the library, the policy pack or the
 * dependencies changed.
 *
 *   node --import tsx scripts/ci/changed-stacks.ts BASE_REF [STACKS_DIR]
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

/** Paths whose change affects every stack. */
const EVERY_STACK = [/^stacks\/[^/]+\.ts$/, /^lib\//, /^policies\//, /^package(-lock)?\.json$/, /^Pulumi\.yaml$/];
/** Config keys that name input files. */
const INPUT_KEYS = ["rehost:inventory", "rehost:networks", "rehost:waves"];

export function changedStacks(changedFiles: readonly string[], stacksDir: string): string[] {
  const stacks = readdirSync(stacksDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
  if (changedFiles.some((f) => EVERY_STACK.some((re) => re.test(f)))) return stacks;
  return stacks.filter((stack) => {
    const file = path.join(stacksDir, `Pulumi.${stack}.yaml`);
    if (changedFiles.includes(path.normalize(file))) return true;
    const config = (parse(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null)?.config ?? {};
    const inputs = INPUT_KEYS.map((k) => config[k])
      .filter((v): v is string => typeof v === "string")
      .map((p) => path.normalize(p));
    return changedFiles.some((f) => inputs.some((input) => f === input || f.startsWith(`${input}/`)));
  });
}

if (require.main === module) {
  const [base, stacksDir = "stacks"] = process.argv.slice(2);
  if (base === undefined) {
    process.stderr.write("usage: changed-stacks.ts BASE_REF [STACKS_DIR]\n");
    process.exit(2);
  }
  const files = execFileSync("git", ["diff", "--name-only", `${base}...HEAD`], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean);
  process.stdout.write(`${JSON.stringify(changedStacks(files, stacksDir))}\n`);
}
