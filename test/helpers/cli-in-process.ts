/** `rehost` run in this process, through the same `main` the binary calls (see cli.ts). */
import { vi } from "vitest";
import { main } from "../../lib/cli/main";
import { REHOST_BIN, type Run } from "./cli";

/**
 * Runs `rehost ...args` in this process through `lib/cli/main`'s `main`, as `bin/rehost.js` does,
 * capturing what it writes to standard output and standard error and the exit code it sets.
 * Calls must not overlap (vitest runs the tests of a file one after another). The modules a
 * command loads with `require` inside its action are a second copy of the ones this test loaded,
 * so an `InputError` thrown from one of them is not an `InputError` here (exit 3, not 2): run such
 * a command as a child ({@link rehostChild}).
 */
export async function rehostInProcess(...args: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const capture =
    (append: (text: string) => void) =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
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
    await main(["node", REHOST_BIN, ...args]);
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.exitCode = previous;
    out.mockRestore();
    err.mockRestore();
  }
}
