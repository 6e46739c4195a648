/**
 * The benchmarks run under plain Node (`node --import tsx bench/NAME.bench.ts`), not vitest: every
 * test module they import must load without vitest, which refuses to be loaded by `require`.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../helpers/cli";

describe("the benchmarks' imports from test/", () => {
  it("load in a plain Node process, as bench/run.sh runs them", () => {
    const benchDir = path.join(REPO_ROOT, "bench");
    const modules = new Set<string>();
    for (const file of fs.readdirSync(benchDir).filter((f) => f.endsWith(".ts"))) {
      const text = fs.readFileSync(path.join(benchDir, file), "utf8");
      for (const m of text.matchAll(/from "(\.\.\/test\/[^"]+)"/g)) modules.add(path.resolve(benchDir, m[1]!));
    }
    expect(modules.size).toBeGreaterThan(0);
    const script = [...modules].map((m) => `require(${JSON.stringify(m)});`).join("\n");
    const run = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: REPO_ROOT, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  });
});
