/** Runs the `rehost` CLI in a child process. */
import { execFile } from "node:child_process";
import * as path from "node:path";

export const REHOST = path.join(__dirname, "..", "..", "bin", "rehost.js");

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `rehost ...args`; never rejects on a non-zero exit. */
export function rehost(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [REHOST, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 99;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The parsed NDJSON lines of a `--json` run. */
export function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
