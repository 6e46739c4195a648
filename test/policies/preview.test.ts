/**
 * The whole pack over offline previews: the example waves are clean, and a wave program with
 * every mistake the pack guards against is reported rule by rule, with `rehost preview` exiting 1.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runOfflinePreview } from "../../lib/preview";
import { rehostSync } from "../helpers/cli";
import { tempDir } from "../helpers/tmp";

const ROOT = path.join(__dirname, "..", "..");
const BROKEN = path.join(__dirname, "broken-wave");
const tmp = tempDir("rehost-policies-");
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function rehost(args: string[]) {
  return rehostSync(args, { timeout: 120_000 });
}

/** A stack of the broken program declaring only `cases`. */
function stackWith(cases: string[]): string {
  const dir = tempDir("stacks-", tmp);
  fs.writeFileSync(path.join(dir, "Pulumi.case.yaml"), `config:\n  broken:cases: ${JSON.stringify(cases)}\n`);
  return dir;
}

describe("rehost-guard over the example waves", () => {
  it.each(["landing-zone", "wave-2", "wave-1-rehearsal-1"])("%s: no violation at all", async (stack) => {
    const result = await runOfflinePreview({ stack, projectDir: ROOT });
    expect(result.resources.length).toBeGreaterThan(10);
    expect(result.policyViolations).toEqual([]);
  });

  it("wave-1 cuts over: clean inside its change window, a mandatory violation per cutover outside it", async () => {
    const inside = await runOfflinePreview({
      stack: "wave-1",
      projectDir: ROOT,
      policyConfig: { "cutover-in-change-window": { now: "2026-03-07T01:00:00+08:00" } },
    });
    expect(inside.policyViolations).toEqual([]);
    const after = await runOfflinePreview({
      stack: "wave-1",
      projectDir: ROOT,
      policyConfig: { "cutover-in-change-window": { now: "2026-03-09T10:00:00+08:00" } },
    });
    const cutovers = inside.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/rehost:Cutover");
    expect(cutovers.length).toBeGreaterThan(0);
    expect(after.policyViolations.map((v) => [v.policy, v.level])).toEqual(cutovers.map(() => ["cutover-in-change-window", "mandatory"]));
    expect(after.policyViolations[0]!.message).toContain("outside the wave's change window 2026-03-06T22:00:00+08:00 to 2026-03-07T06:00:00+08:00");
  });
});

describe("rehost-guard over a broken wave", () => {
  const expected: Record<string, [string, string]> = {
    "reserved-ip": ["no-reserved-private-ip", "web-01-instance"],
    "rehearsal-on-cen": ["rehearsal-vpc-not-on-cen", "cen-attach-rehearsal"],
    "gateway-20-disks": ["gateway-disk-limit", "wave-1-gw-1-instance"],
    "open-ssh": ["no-open-admin-ports", "prod-hosts-ssh"],
    "public-ip": ["no-public-ip", "web-01-instance"],
  };

  it.each(Object.entries(expected))("%s is reported by its rule, and only by it", async (mistake, [policy, resource]) => {
    const result = await runOfflinePreview({ stack: "case", projectDir: BROKEN, stacksDir: stackWith([mistake]) });
    expect(result.policyViolations.map((v) => [v.policy, v.resource, v.level])).toEqual([[policy, resource, "mandatory"]]);
  });

  it("the program without mistakes is clean", async () => {
    const result = await runOfflinePreview({ stack: "case", projectDir: BROKEN, stacksDir: stackWith([]) });
    expect(result.policyViolations).toEqual([]);
  });

  it("rehost preview reports all five and exits 1", () => {
    const cli = rehost(["preview", "--project", BROKEN, "--stack", "broken", "--json"]);
    expect(cli.status, cli.stderr).toBe(1);
    expect(cli.stderr).toContain("5 mandatory policy violation(s) in stack broken");
    const json = JSON.parse(cli.stdout) as { policyViolations: Array<{ policy: string; resource: string; message: string }> };
    expect(json.policyViolations.map((v) => v.policy).sort()).toEqual(
      Object.values(expected)
        .map(([p]) => p)
        .sort(),
    );
    for (const v of json.policyViolations) expect(v.message).toMatch(new RegExp(`^.*${v.resource}.*\\.$`));
  });

  it("a bad --policy-config or --at is bad input: exit 2, nothing printed on stdout", () => {
    const bad = path.join(tmp, "bad.json");
    fs.writeFileSync(bad, "{ not json");
    const config = rehost(["preview", "--project", BROKEN, "--stack", "broken", "--policy-config", bad]);
    expect(config.status).toBe(2);
    expect(config.stderr).toContain("field --policy-config: The policy config file is not valid JSON.");
    expect(config.stdout).toBe("");
    const at = rehost(["preview", "--project", BROKEN, "--stack", "broken", "--at", "next friday"]);
    expect(at.status).toBe(2);
    expect(at.stderr).toContain("field --at: The --at time is not a date. (received next friday;");
  });
});
