import { existsSync, rmSync, writeFileSync } from "node:fs";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Command } from "commander";
import { buildProgram } from "../../lib/cli/main";
import { changedStacks } from "../../scripts/ci/changed-stacks";
import { rehostPolicies } from "../../policies/rules";
import { tempDir } from "../helpers/tmp";

const root = path.join(__dirname, "..", "..");
const workflows = ["examples/ci/github/preview.yml", "examples/ci/github/up.yml"];

interface Step {
  run?: string;
  uses?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  on: unknown;
  jobs: Record<string, { steps: Step[]; needs?: string }>;
}

function load(file: string): Workflow {
  return parse(readFileSync(path.join(root, file), "utf8")) as Workflow;
}
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);

describe.each(workflows)("%s", (file) => {
  const workflow = load(file);

  it("parses as a workflow with jobs and steps", () => {
    expect(workflow.on).toBeDefined();
    expect(Object.keys(workflow.jobs).length).toBeGreaterThan(0);
    for (const s of steps(workflow)) expect(s.run !== undefined || s.uses !== undefined).toBe(true);
  });

  it("references only paths that exist in the repository", () => {
    const referenced = steps(workflow).flatMap((s) =>
      [...(s.run ?? "").matchAll(/(?:^|[\s"'])((?:bin|scripts|policies|stacks|lib|examples)\/[\w./-]+)/g)].map((m) => m[1]!),
    );
    expect(referenced.length).toBeGreaterThan(0);
    for (const p of referenced) expect(existsSync(path.join(root, p)), `${file} runs ${p}`).toBe(true);
    for (const s of steps(workflow)) {
      const pack = s.with?.["policyPacks"];
      if (pack !== undefined) expect(existsSync(path.join(root, String(pack), "PulumiPolicy.yaml")), `${file} policy pack ${String(pack)}`).toBe(true);
      const config = s.with?.["policyPackConfigs"];
      if (config !== undefined) expect(existsSync(path.join(root, String(config))), `${file} policy pack config ${String(config)}`).toBe(true);
    }
  });

  it("calls only rehost commands and options that exist", () => {
    const program = buildProgram();
    const calls = steps(workflow).flatMap((s) => [...(s.run ?? "").matchAll(/node bin\/rehost\.js (\S+)([^\n|>]*)/g)]);
    expect(calls.length).toBeGreaterThan(0);
    for (const [, name, rest] of calls) {
      const command = program.commands.find((c: Command) => c.name() === name);
      expect(command, `${file} calls rehost ${name}`).toBeDefined();
      for (const flag of (rest ?? "").match(/--[a-z-]+/g) ?? []) {
        expect(
          command!.options.some((o) => o.long === flag),
          `${file}: rehost ${name} ${flag}`,
        ).toBe(true);
      }
    }
  });

  it("uses npm scripts and actions that exist, pinned to a major version", () => {
    for (const s of steps(workflow)) {
      if (s.uses !== undefined) expect(s.uses).toMatch(/^[\w-]+\/[\w-]+@v\d+$/);
      if (s.run?.includes("npm ci")) expect(existsSync(path.join(root, "package-lock.json"))).toBe(true);
    }
  });
});

describe("up.yml", () => {
  const workflow = load("examples/ci/github/up.yml");
  it("runs pulumi up on a runner inside the network, with the agents' pin and vCenter's settings", () => {
    const up = workflow.jobs.up as unknown as { "runs-on": unknown; steps: Array<Step & { env?: Record<string, string> }> };
    expect(up["runs-on"]).toContain("self-hosted");
    const env = up.steps.find((s) => s.uses?.startsWith("pulumi/actions"))!.env!;
    for (const name of ["REHOST_AGENT_TOKEN", "REHOST_AGENT_FINGERPRINT", "REHOST_VCENTER_URL", "REHOST_VCENTER_USER", "REHOST_VCENTER_PASSWORD"])
      expect(Object.keys(env)).toContain(name);
    expect(up.steps.some((s) => s.run === "npm run build")).toBe(true);
  });
});

describe("the pull-request policy config", () => {
  it("names only rules of the pack, with valid levels", () => {
    const names = new Set(rehostPolicies().map((p) => p.name));
    const config = JSON.parse(readFileSync(path.join(root, "examples/ci/github/pr-policy-config.json"), "utf8")) as Record<string, unknown>;
    for (const [rule, level] of Object.entries(config)) {
      expect(names.has(rule), rule).toBe(true);
      expect(["advisory", "mandatory", "disabled"]).toContain(level);
    }
  });
});

describe("changed-stacks", () => {
  const dir = tempDir("rehost-stacks-");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    path.join(dir, "Pulumi.landing-zone.yaml"),
    "config:\n  rehost:role: landing-zone\n  rehost:inventory: estate/inventory.yaml\n  rehost:waves: estate/waves.yaml\n",
  );
  writeFileSync(
    path.join(dir, "Pulumi.wave-1.yaml"),
    "config:\n  rehost:role: wave\n  rehost:inventory: estate/inventory.yaml\n  rehost:waves: estate/waves.yaml\n",
  );
  writeFileSync(path.join(dir, "Pulumi.other.yaml"), "config:\n  rehost:role: wave\n  rehost:inventory: other/rvtools\n  rehost:waves: other/waves.yaml\n");
  const rel = (f: string) => path.join(dir, f);

  it("selects a stack whose config changed", () => {
    expect(changedStacks([rel("Pulumi.wave-1.yaml")], dir)).toEqual(["wave-1"]);
  });
  it("selects the stacks whose input files changed, directories included", () => {
    expect(changedStacks(["estate/waves.yaml"], dir)).toEqual(["landing-zone", "wave-1"]);
    expect(changedStacks(["other/rvtools/RVTools_tabvInfo.csv"], dir)).toEqual(["other"]);
  });
  it("selects every stack when the program or the library changed, none for docs", () => {
    expect(changedStacks(["lib/plan/plan.ts"], dir)).toEqual(["landing-zone", "other", "wave-1"]);
    expect(changedStacks(["docs/plan.md"], dir)).toEqual([]);
  });
});
