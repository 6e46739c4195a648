/** The `rehost` CLI in a child process for the replication tests (test/helpers/cli.ts), and the NDJSON of a `--json` run. */
export { REHOST_BIN as REHOST, rehostChild as rehost, type Run as CliResult } from "../helpers/cli";

/** The parsed NDJSON lines of a `--json` run. */
export function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
