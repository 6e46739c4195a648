/**
 * The Cutover's downtime budget on the rounds the lab measured (`test/proxy/lab-rounds.ts`): the
 * refusal names its numbers, `ignoreDowntimeBudget` overrides it, a budget the prediction fits
 * lets the cutover go on; `check` refuses a budget without a proxy.
 */
import { describe, expect, it } from "vitest";
import type { VmStatus } from "../../lib/proxy/api";
import { CutoverInputsSchema } from "../../lib/providers/inputs";
import { budgetDecision } from "../../lib/providers/operations/proxied";
import { operations } from "../../lib/providers/runtime";
import { LAB_APP_01 } from "../proxy/lab-rounds";

const status: VmStatus = {
  vm: "lab-app-01",
  rpoSeconds: 0,
  quiesce: true,
  state: "idle",
  disks: LAB_APP_01.diskSizes.map((sizeBytes, i) => ({
    key: 2000 + i,
    agentUrl: "https://198.19.227.226:42673",
    jobId: `lab-app-01-disk-${2000 + i}`,
    sizeBytes,
  })),
  rounds: LAB_APP_01.rounds,
};
const inputs = (extra: Record<string, unknown>) =>
  CutoverInputsSchema.parse({
    agentUrl: "https://198.19.227.226:42673",
    vm: "lab-app-01",
    jobIds: ["lab-app-01-disk-2000", "lab-app-01-disk-2001"],
    round: 9,
    proxy: { url: "https://198.19.227.225:39177", fullCheckFirst: false, sampleBlocks: 16 },
    ...extra,
  });
// The moment the lab asked for the cutover: 18.5 s after the last snapshot.
const now = Date.parse(LAB_APP_01.cutover.requestedAt);

describe("the Cutover's downtime budget, on the lab's rounds", () => {
  it("refuses a budget below the prediction, with the numbers, before any shutdown", () => {
    const d = budgetDecision(inputs({ downtimeBudget: "10s", expectedShutdown: 1 }), status, now)!;
    // Churn 0.50 MB/s over 6 rounds, throughput 5.9 MB/s, 7.2 s fixed per round: about 15 s predicted.
    expect(d.prediction.downtimeSeconds).toBeGreaterThan(10);
    expect(d.refusal).toMatch(
      /^Cutover of lab-app-01 refused before the shutdown: predicted downtime 1\d\.\d s \(shutdown 1\.0 s, final delta \d+\.\d MiB in \d+\.\d s, verification \d+\.\d MiB in \d\.\d s\); churn 0\.5 MiB\/s over 6 rounds, throughput 5\.\d MiB\/s, fixed 7\.\d s per round: that exceeds the downtime budget of 10 s\. Nothing was shut down/,
    );
    expect(d.refusal).toMatch(/set ignoreDowntimeBudget: true/);
  });

  it("refuses when the change window ends before the predicted downtime", () => {
    const end = new Date(now + 12_000).toISOString();
    const d = budgetDecision(inputs({ changeWindowEnd: end, downtimeBudget: "1h", expectedShutdown: 1 }), status, now)!;
    expect(d.verdict).toEqual({ secondsLeft: 12, boundBy: "window", fits: false });
    expect(d.refusal).toContain(`that exceeds the 12 s left until the change window ends at ${end}`);
  });

  it("lets the cutover go on when the prediction fits, and records an override", () => {
    const fits = budgetDecision(inputs({ downtimeBudget: "1m", expectedShutdown: 1 }), status, now)!;
    expect(fits.refusal).toBeUndefined();
    expect(fits.verdict).toEqual({ secondsLeft: 60, boundBy: "budget", fits: true });
    const overridden = budgetDecision(inputs({ downtimeBudget: "10s", expectedShutdown: 1, ignoreDowntimeBudget: true }), status, now)!;
    expect(overridden.refusal).toBeUndefined();
    expect(overridden.overridden).toMatch(/exceeds the downtime budget of 10 s/);
    expect(budgetDecision(inputs({}), status, now)).toBeUndefined();
  });

  it("refuses a budget it cannot check: no incremental round yet", () => {
    const d = budgetDecision(inputs({ downtimeBudget: "1h" }), { ...status, rounds: LAB_APP_01.rounds.slice(0, 1) }, now)!;
    expect(d.refusal).toMatch(
      /its downtime cannot be predicted yet \(no incremental round yet, so no churn; .*\), so it cannot be checked against the downtime budget of 3600 s\./,
    );
  });

  it("check refuses a budget without a proxy, and a window end that is no ISO time", async () => {
    const base = { agentUrl: "https://10.0.0.1:8443", vm: "web-01", jobIds: ["web-01-disk-2000"], round: 2, manualConfirmation: true };
    const noProxy = await operations.cutover.check({}, { ...base, downtimeBudget: "15m" });
    expect(noProxy.failures).toEqual([{ property: "downtimeBudget", reason: expect.stringContaining("needs proxy") }]);
    const badEnd = await operations.cutover.check({}, { ...base, proxy: { url: "https://10.0.0.3:8444" }, changeWindowEnd: "Saturday 6am" });
    expect(badEnd.failures!.map((f) => f.property)).toEqual(["changeWindowEnd"]);
  });
});
