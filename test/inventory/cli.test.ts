/**
 * `rehost plan` on broken inventories, run in-process through the CLI's `main` (the child-process
 * runs of each exit path are in `test/plan/cli.test.ts`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { EXAMPLES, exampleInputs } from "../helpers/cli";
import { rehostInProcess } from "../helpers/cli-in-process";
import { tempDirEachTest } from "../helpers/scopes";
import { dropCsvColumn, INVENTORY_TMP } from "./helpers";

const exchange = path.join(EXAMPLES, "exchange-center");

/** Runs `rehost plan` and returns its exit code and standard error. */
async function plan(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return rehostInProcess("plan", ...args);
}

let dir: string;
tempDirEachTest((d) => (dir = d), INVENTORY_TMP);

describe("rehost plan on broken inventories", () => {
  it("exits 2 naming the RVTools file and the missing column, and writes nothing", async () => {
    const exportDir = path.join(dir, "rvtools");
    fs.cpSync(path.join(exchange, "rvtools"), exportDir, { recursive: true });
    const diskFile = path.join(exportDir, "RVTools_tabvDisk.csv");
    // No cell before the dropped column holds a quoted comma in this file.
    dropCsvColumn(diskFile, "vDiskCapacityMiB", "\r\n");
    const out = path.join(dir, "plan.json");
    const { code, stderr } = await plan([...exampleInputs("exchange-center", { inventory: exportDir }), "--format", "json", "--out", out]);
    expect(code).toBe(2);
    expect(stderr).toContain(`error: ${diskFile}, field Capacity MiB: The vDisk tab has no "Capacity MiB" column`);
    expect(fs.existsSync(out)).toBe(false);
  });

  it("exits 2 naming the VM and field of a negative disk size", async () => {
    const inventory = path.join(dir, "inventory.yaml");
    fs.writeFileSync(
      inventory,
      fs.readFileSync(path.join(exchange, "inventory.yaml"), "utf8").replace("capacityBytes: 322122547200", "capacityBytes: -322122547200"),
    );
    const { code, stdout } = await plan(exampleInputs("exchange-center", { inventory, networks: false }));
    expect(code).toBe(2);
    // The plan is printed with the VM blocked; the table's problems name the file, VM and field.
    expect(stdout).toMatch(
      new RegExp(
        `^  error: ${inventory.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, VM szx-[a-z0-9-]+, field disks\\[\\d\\]\\.capacityBytes: .*received -322122547200`,
        "m",
      ),
    );
    expect(stdout).toMatch(/^Blocked: 1 VM cannot move as they are/m);
    expect(stdout).toMatch(/^Plan for cn-shenzhen: 4 waves, 119 VMs/);
  });
});
