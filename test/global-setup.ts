/**
 * Before any test file: the compiled package is brought up to date (`npm run build`, incremental),
 * because the tests run what ships — the `rehost` command, the providers as the Pulumi engine
 * loads them (by package name), the stacks program.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";

export default function setup(): void {
  const root = path.resolve(__dirname, "..");
  execFileSync(path.join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
}
