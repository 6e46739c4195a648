import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadWaves, parseWaves } from "../../lib/inventory";
import { tempDirEachTest } from "../helpers/scopes";
import { INVENTORY_TMP, problemsOf, problemsOfSync, write } from "./helpers";

const repo = path.join(__dirname, "..", "..");

let dir: string;
tempDirEachTest((d) => (dir = d), INVENTORY_TMP);

const wave = (name: string, extra: Record<string, unknown> = {}) => ({ name, members: { vms: [`${name}-vm`] }, ...extra });

describe("loadWaves", () => {
  it("loads the lab waves with defaults for every setting left out", async () => {
    const waves = await loadWaves(path.join(repo, "examples/lab/waves.yaml"));
    expect(waves.waves).toHaveLength(1);
    expect(waves.waves[0]).toMatchObject({
      name: "lab",
      members: { folders: ["Lab/Web", "Lab/App"], vms: [], tags: [] },
      after: [],
      rehearsals: 1,
      overrides: {},
    });
    expect(waves.settings).toMatchObject({
      region: "cn-shenzhen",
      link: { bandwidthMbps: 100, efficiency: 0.7 },
      gateway: { maxDisks: 16 },
      dailyChangeRate: 0.02,
    });
  });

  it("loads the exchange-centre waves in order, with dependencies, windows and overrides", async () => {
    const waves = await loadWaves(path.join(repo, "examples/exchange-center/waves.yaml"));
    expect(waves.waves.map((w) => [w.name, w.after])).toEqual([
      ["wave-1-infra", []],
      ["wave-2-portal", ["wave-1-infra"]],
      ["wave-3-trading", ["wave-2-portal"]],
      ["wave-4-core", ["wave-3-trading"]],
    ]);
    expect(waves.waves.every((w) => w.window !== undefined)).toBe(true);
    expect(waves.waves[1]!.overrides["szx-web-ftpgw-01"]).toEqual({ keepIp: false });
  });

  it("reads JSON too", async () => {
    const file = write(dir, "waves.json", JSON.stringify({ waves: [wave("w1")] }));
    expect((await loadWaves(file)).waves[0]!.members.vms).toEqual(["w1-vm"]);
  });

  type Case = { name: string; doc: unknown; expected: Array<[string | undefined, string]> };
  const cases: Case[] = [
    { name: "no waves", doc: { settings: {} }, expected: [[undefined, "waves"]] },
    { name: "empty waves list", doc: { waves: [] }, expected: [[undefined, "waves"]] },
    { name: "a wave name with capitals", doc: { waves: [wave("Wave1")] }, expected: [[undefined, "waves[0].name"]] },
    { name: "a duplicate wave", doc: { waves: [wave("w1"), wave("w1")] }, expected: [[undefined, "waves[1].name"]] },
    { name: "after naming an unknown wave", doc: { waves: [wave("w1"), wave("w2", { after: ["w0"] })] }, expected: [[undefined, "waves[1].after[0]"]] },
    { name: "a wave after itself", doc: { waves: [wave("w1", { after: ["w1"] })] }, expected: [[undefined, "waves[0].after[0]"]] },
    {
      name: "a cycle",
      doc: { waves: [wave("w1", { after: ["w3"] }), wave("w2", { after: ["w1"] }), wave("w3", { after: ["w2"] })] },
      expected: [[undefined, "waves[1].after"]],
    },
    {
      name: "two cycles, each once",
      doc: { waves: [wave("w1", { after: ["w2"] }), wave("w2", { after: ["w1"] }), wave("w3", { after: ["w4"] }), wave("w4", { after: ["w3"] })] },
      expected: [
        [undefined, "waves[1].after"],
        [undefined, "waves[3].after"],
      ],
    },
    {
      name: "a window without offset",
      doc: { waves: [wave("w1", { window: { start: "2026-03-06T22:00:00", end: "2026-03-07T06:00:00+08:00" } })] },
      expected: [[undefined, "waves[0].window.start"]],
    },
    {
      name: "a window ending before it starts",
      doc: { waves: [wave("w1", { window: { start: "2026-03-07T06:00:00+08:00", end: "2026-03-06T22:00:00+08:00" } })] },
      expected: [[undefined, "waves[0].window.end"]],
    },
    {
      name: "a non-boolean keepIp",
      doc: { waves: [wave("w1", { overrides: { "db-01": { keepIp: "no" } } })] },
      expected: [["db-01", "waves[0].overrides.db-01.keepIp"]],
    },
    { name: "negative rehearsals", doc: { waves: [wave("w1", { rehearsals: -1 })] }, expected: [[undefined, "waves[0].rehearsals"]] },
    {
      name: "a malformed on-prem range",
      doc: { settings: { onPremRanges: ["10.0.0.0/8", "192.168.1.0/33"] }, waves: [wave("w1")] },
      expected: [[undefined, "settings.onPremRanges[1]"]],
    },
    {
      name: "a sync pool with host bits",
      doc: { settings: { sync: { pool: "172.30.1.0/16" } }, waves: [wave("w1")] },
      expected: [[undefined, "settings.sync.pool"]],
    },
    {
      name: "a sync subnet for an unknown wave",
      doc: { settings: { sync: { subnets: { w9: "172.30.9.0/27" } } }, waves: [wave("w1")] },
      expected: [[undefined, "settings.sync.subnets.w9"]],
    },
    {
      name: "an efficiency above 1",
      doc: { settings: { link: { efficiency: 1.5 } }, waves: [wave("w1")] },
      expected: [[undefined, "settings.link.efficiency"]],
    },
  ];
  it.each(cases)("reports $name", ({ doc, expected }) => {
    const problems = problemsOfSync(() => parseWaves(doc, "waves.yaml"));
    expect(problems.map((p) => [p.vm, p.field])).toEqual(expected);
    for (const p of problems) {
      expect(p.file).toBe("waves.yaml");
      expect(p.expected).toBeTruthy();
      expect(p.fix).toBeTruthy();
    }
  });

  it("names the file of a broken waves file", async () => {
    const file = write(dir, "waves.yaml", stringify({ waves: [wave("w1", { rehearsals: "three" })] }));
    const problems = await problemsOf(loadWaves(file));
    expect(problems).toMatchObject([{ file, field: "waves[0].rehearsals", received: '"three"', expected: "a number" }]);
  });
});

describe("unknown keys", () => {
  it("reports a misspelt override key with the key it resembles, naming the VM", () => {
    const problems = problemsOfSync(() =>
      parseWaves({ waves: [wave("w1", { overrides: { "db-01": { keepIP: false } } }), wave("w2", { afterr: ["w1"] })], setings: {} }, "waves.yaml"),
    );
    expect(problems.map((p) => [p.vm, p.field, p.message, p.fix])).toEqual([
      ["db-01", "waves[0].overrides.db-01.keepIP", "Unknown key keepIP in waves[0].overrides.db-01", "did you mean keepIp? Rename the key"],
      [undefined, "waves[1].afterr", "Unknown key afterr in waves[1]", "did you mean after? Rename the key"],
      [undefined, "setings", "Unknown key setings", "did you mean settings? Rename the key"],
    ]);
  });
});
