/**
 * The copier as the sync-gateway agent runs it: `sync()` / `verify()` in a process of their own.
 * The benchmark bundles this file (esbuild, packages external) so the process starts like an
 * installed package, without on-the-fly TypeScript compilation.
 *
 * `node replication-run.js sync SRC DST [CHANGED]` prints the SyncResult as JSON;
 * `node replication-run.js verify SRC DST` prints the VerifyResult as JSON.
 */
import { sync, verify, type ChangedSpec } from "../lib/replication";

async function run(): Promise<void> {
  const [mode, source, target, changed] = process.argv.slice(2);
  if (mode === "sync") {
    const result = await sync({ source, target, changed: (changed ?? "allocated") as ChangedSpec });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else if (mode === "verify") {
    const result = await verify(source, target);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    throw new Error(`unknown mode ${mode}: use sync or verify`);
  }
}

run().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
