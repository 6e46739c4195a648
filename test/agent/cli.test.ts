import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repo = path.resolve(__dirname, "..", "..");

describe("rehost agent command line", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehost-agent-cli-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reports every bad option on its own line, exits 2 and writes nothing", () => {
    const state = path.join(dir, "state");
    const run = spawnSync(process.execPath, [path.join(repo, "bin", "rehost.js"), "agent", "--state", state, "--listen", "localhost", "--allow", "dev/vdb", "--max-concurrent", "0", "--bandwidth", "fast", "--cert", "c.pem", "--credentials", path.join(dir, "none")], {
      encoding: "utf8",
    });
    expect(run.status).toBe(2);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(7);
    for (const field of ["--listen", "--allow", "--max-concurrent", "--bandwidth", "--key", "--cert", "--credentials"]) expect(lines.some((l) => l.includes(`field ${field}`))).toBe(true);
    expect(fs.existsSync(state)).toBe(false);
  });
});
