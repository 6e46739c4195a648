/** Temporary directories for tests: the one `mkdtemp` of the suite (no vitest import, so the benchmarks can use it too). */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** A fresh, empty directory named `<prefix>XXXXXX` under `parent`; the caller removes it ({@link removeDir}). */
export function tempDir(prefix = "rehost-test-", parent = os.tmpdir()): string {
  return fs.mkdtempSync(path.join(parent, prefix));
}

/** Removes a directory made by {@link tempDir} and everything in it; a missing one is fine. */
export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
