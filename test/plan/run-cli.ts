/**
 * Two ways to run the `rehost` command in tests: as a child process (`node bin/rehost.js`, what a
 * user runs) and in this process through the same `main` the binary calls, with standard output,
 * standard error and the exit code captured. A child process costs seconds to start on a loaded
 * machine, so each exit path keeps one child-process test and the rest run in-process.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { vi } from "vitest";
import { main } from "../../lib/cli/main";

/** What one run of `rehost` printed, and its exit code. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const root = path.resolve(__dirname, "../..");
const bin = path.join(root, "bin", "rehost.js");

/** Runs `node bin/rehost.js ...args` as a child process. */
export function rehostChild(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs `rehost ...args` in this process through `lib/cli/main`'s `main`, as `bin/rehost.js` does,
 * capturing what it writes to standard output and standard error and the exit code it sets.
 * Calls must not overlap (vitest runs the tests of a file one after another).
 */
export async function rehostInProcess(...args: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const capture = (append: (text: string) => void) => (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    append(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    callback?.();
    return true;
  };
  const out = vi.spyOn(process.stdout, "write").mockImplementation(capture((t) => (stdout += t)));
  const err = vi.spyOn(process.stderr, "write").mockImplementation(capture((t) => (stderr += t)));
  const previous = process.exitCode;
  process.exitCode = 0;
  try {
    await main(["node", bin, ...args]);
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.exitCode = previous;
    out.mockRestore();
    err.mockRestore();
  }
}
