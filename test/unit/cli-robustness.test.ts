/**
 * The `rehost` command at its edges: a reader that closes the pipe early, `--help`, a YAML alias
 * bomb, credentials in a vCenter URL, and problems laid out for a person at a terminal.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colourFor, formatProblemsShort, widthOf, wrap } from "../../lib/cli/report";
import type { Problem } from "../../lib/problems";
import { exampleInputs, rehostChild, spawnRehost } from "../helpers/cli";
import { rehostInProcess } from "../helpers/cli-in-process";
import { removeDir, tempDir } from "../helpers/tmp";

let dir: string;
beforeAll(() => {
  dir = tempDir("rehost-cli-");
});
afterAll(() => removeDir(dir));

describe("rehost as a user runs it", () => {
  it("ends quietly with its own exit code when the reader closes the pipe (rehost plan --format json | head -c 200)", async () => {
    const rehost = spawnRehost("plan", ...exampleInputs("exchange-center"), "--format", "json");
    let head = "";
    rehost.child.stdout.once("data", (d: Buffer) => {
      head = d.toString().slice(0, 200);
      rehost.child.stdout.destroy(); // the reader goes away, as `head` does
    });
    const code = await rehost.closed;
    const { stderr } = rehost;
    expect(head.startsWith("{")).toBe(true);
    expect(stderr).not.toMatch(/EPIPE|Error:|\n\s+at \S+ \(/);
    expect(code).toBe(0);
  });

  it("marks required options in --help and shows examples and exit codes", async () => {
    const run = await rehostInProcess("plan", "--help");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/--inventory <path>\s+inventory: [^-]*\(required\)/);
    expect(run.stdout).toMatch(/--waves <file>\s+waves file \(YAML\/JSON\) \(required\)/);
    expect(run.stdout).not.toMatch(/--networks <file>.*\(required\)/);
    expect(run.stdout).toContain("Examples:\n  rehost plan --inventory RVTools_export_all.xlsx");
    expect(run.stdout).toMatch(/Exit codes:\n  0  success\n  1 .*\n  2  bad input/);
    const top = await rehostInProcess("--help");
    expect(top.stdout).toContain("Exit codes:");
    for (const command of ["preview", "agent", "status", "sync", "verify", "lab", "adapt", "inventory"]) {
      const help = await rehostInProcess(command, "--help");
      expect(help.stdout, command).toMatch(/Examples:\n  (REHOST_VCENTER_PASSWORD=… )?rehost /);
      expect(help.stdout, command).toContain("Exit codes:");
    }
    expect((await rehostInProcess("agent", "--help")).stdout).toMatch(/--state <dir>\s+[^-]*\(required\)/);
  });

  it("refuses a YAML alias bomb as bad input (exit 2, one problem, no stack trace)", async () => {
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x, x]",
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
      "waves: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
    ].join("\n");
    const waves = path.join(dir, "bomb.yaml");
    fs.writeFileSync(waves, bomb);
    const run = await rehostInProcess("plan", ...exampleInputs("exchange-center", { networks: false, waves }));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: ${waves}: The YAML document expands its aliases (*name) more than 1000 times`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses a vCenter URL with a password in it, and never prints the password", async () => {
    const run = await rehostChild("inventory", "--vcenter", "https://admin:S3cret!@vc.example.com/sdk", "--user", "admin", "--json");
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("The vCenter URL carries credentials");
    expect(run.stderr + run.stdout).not.toContain("S3cret");
    expect(run.stderr).toContain("https://vc.example.com/sdk");
  });

  it("answers --format json with a document that parses when the inputs cannot be read at all", async () => {
    const run = await rehostInProcess(
      "plan",
      ...exampleInputs("exchange-center", { inventory: path.join(dir, "missing.yaml"), networks: false }),
      "--format",
      "json",
    );
    expect(run.code).toBe(2);
    const doc = JSON.parse(run.stdout) as { version: number; problems: Problem[] };
    expect(doc.problems[0]).toMatchObject({ severity: "error", message: "The file does not exist" });
  });
});

describe("problems for a person at a terminal", () => {
  const long: Problem = {
    severity: "error",
    file: "networks.yaml",
    field: "nics[].portgroup",
    message: `12 portgroup(s) have no subnet: ${Array.from({ length: 12 }, (_, i) => `PG-${i} (VMs ${Array.from({ length: 8 }, (_, j) => `vm-${i}-${j}`).join(", ")})`).join("; ")}`,
    fix: "add these portgroups to networks.yaml with their CIDR and gateway",
  };
  const problems: Problem[] = [
    {
      severity: "warning",
      vm: "db-01",
      field: "disks[1].backing",
      message: "The independent disk Hard disk 2 is left out of VM snapshots",
      fix: "convert the disk",
    },
    long,
    {
      severity: "error",
      vm: "db-01",
      field: "disks[0].capacityBytes",
      message: "The system disk is 600 GiB, larger than a system disk of cloud_essd can be",
      fix: "shrink it",
    },
    { severity: "error", vm: "web-01", field: "nics[0].ipv4[0]", message: "The address 10.1.1.255 is reserved", fix: "readdress" },
  ];

  it("groups by VM, wraps to the width, cuts long problems with a pointer to the full text", () => {
    const text = formatProblemsShort(problems, { width: 80 });
    const lines = text.trimEnd().split("\n");
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    // The problem about no VM first, then each VM's problems under its name.
    expect(lines[0]).toMatch(/^error nics\[\]\.portgroup in networks\.yaml: 12 portgroup/);
    expect(lines[2]).toMatch(/… \(full text: --format json\)$/);
    expect(lines.slice(3)).toEqual([
      "VM db-01",
      "  warning disks[1].backing: The independent disk Hard disk 2 is left out of VM",
      "      snapshots. Fix: convert the disk",
      "  error disks[0].capacityBytes: The system disk is 600 GiB, larger than a system",
      "      disk of cloud_essd can be. Fix: shrink it",
      "VM web-01",
      "  error nics[0].ipv4[0]: The address 10.1.1.255 is reserved. Fix: readdress",
      "3 error(s), 1 warning(s)",
    ]);
  });

  it("colours severities only for a terminal without NO_COLOR", () => {
    const coloured = formatProblemsShort(problems.slice(3), { colour: true });
    expect(coloured).toContain("\u001b[31merror\u001b[39m");
    expect(colourFor({ write: () => true, isTTY: true }, { TERM: "xterm" })).toBe(true);
    expect(colourFor({ write: () => true, isTTY: true }, { TERM: "xterm", NO_COLOR: "1" })).toBe(false);
    expect(colourFor({ write: () => true, isTTY: false }, {})).toBe(false);
    expect(colourFor({ write: () => true, isTTY: false }, { FORCE_COLOR: "1" })).toBe(true);
  });

  it("wraps at the terminal's width, else COLUMNS, else 100", () => {
    expect(widthOf({ write: () => true, columns: 132 }, {})).toBe(132);
    expect(widthOf({ write: () => true, columns: 0 }, { COLUMNS: "90" })).toBe(90);
    expect(widthOf({ write: () => true }, {})).toBe(100);
  });

  it("wraps words with a hanging indent", () => {
    expect(wrap("one two three four five six", 10, "  ")).toEqual(["one two", "  three", "  four", "  five six"]);
  });
});
