import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rehostSync } from "../helpers/cli";
import { removeDir, tempDir } from "../helpers/tmp";

describe("rehost agent command line", () => {
  const dir = tempDir("rehost-agent-cli-");
  afterAll(() => removeDir(dir));

  it("reports every bad option on its own line, exits 2 and writes nothing", () => {
    const state = path.join(dir, "state");
    const run = rehostSync([
      "agent",
      "--state",
      state,
      "--listen",
      "localhost",
      "--allow",
      "dev/vdb",
      "--max-concurrent",
      "0",
      "--bandwidth",
      "fast",
      "--cert",
      "c.pem",
      "--credentials",
      path.join(dir, "none"),
    ]);
    expect(run.status).toBe(2);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(7);
    for (const field of ["--listen", "--allow", "--max-concurrent", "--bandwidth", "--key", "--cert", "--credentials"])
      expect(lines.some((l) => l.includes(`field ${field}`))).toBe(true);
    expect(fs.existsSync(state)).toBe(false);
  });

  it("takes cloud disk ids in --allow, and refuses an entry that is neither an id nor a path", () => {
    const state = path.join(dir, "state-ids");
    const run = rehostSync([
      "agent",
      "--state",
      state,
      "--listen",
      "127.0.0.1:0",
      "--allow",
      "d-wz9aaaaaaaaaaaaaaaa1,D-UPPER,disk-1",
      "--disk-by-id",
      path.join(dir, "no-by-id"),
    ]);
    expect(run.status).toBe(2);
    const lines = run.stderr.trim().split("\n");
    expect(lines.filter((l) => l.includes("field --allow")).map((l) => /received "?([^";)]+)/.exec(l)?.[1])).toEqual(["D-UPPER", "disk-1"]);
    expect(lines.some((l) => l.includes("field --disk-by-id"))).toBe(true);
    expect(lines.some((l) => l.includes("d-wz9aaaaaaaaaaaaaaaa1"))).toBe(false);
    expect(fs.existsSync(state)).toBe(false);
  });
});
