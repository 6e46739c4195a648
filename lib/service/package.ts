/**
 * Where this package is installed, and its version: the same answer from the TypeScript sources
 * of a checkout (`lib/…`) and from the compiled files (`dist/lib/…`), whose depths differ.
 */
import * as fs from "node:fs";
import * as path from "node:path";

let root: string | undefined;

/** The directory holding rehost's package.json (the checkout, or `node_modules/rehost`). */
export function packageRoot(): string {
  if (root !== undefined) return root;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file) && (JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string }).name === "rehost") return (root = dir);
    if (path.dirname(dir) === dir) throw new Error(`rehost's package.json was not found above ${__dirname}.`);
  }
}

/** A path inside the installed package (`examples/lab/inventory.yaml`). */
export function packagePath(...parts: string[]): string {
  return path.join(packageRoot(), ...parts);
}

/** rehost's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(packagePath("package.json"), "utf8")) as { version: string }).version;
}
