/**
 * The cutover prediction (`lib/proxy/predict.ts`) on rounds the lab measured (`lab-rounds.ts`):
 * churn, throughput and fixed cost from the rounds, the final round and the verification they
 * predict against what the lab's cutovers took, and the budget's verdict.
 */
import { describe, expect, it } from "vitest";
import type { RoundSummary } from "../../lib/proxy/api";
import { checkBudget, describePrediction, initialSyncEta, measureRounds, predictCutover, roundSeconds } from "../../lib/proxy/predict";
import { LAB_APP_01, LAB_WEB_01 } from "./lab-rounds";

const MB = 1e6;

describe("measureRounds on the lab's rounds", () => {
  it("measures churn over the incremental rounds only, per second of wall time between snapshots", () => {
    const m = measureRounds(LAB_APP_01.rounds);
    // Rounds 1–6 of lab-app-01 (the rehearsal point's round 4 included; the initial round and the
    // full check left out): 61.2 MB changed in the 112.3 s from round 0's snapshot to round 6's.
    expect(m.churnRounds).toBe(6);
    expect(m.churnWindowSeconds).toBeCloseTo(112.339, 3);
    expect(m.churnBytesPerSecond).toBeCloseTo(56_295_424 / 112.339, 0);
  });

  it("separates each round's fixed cost from the bytes it pushed", () => {
    const app = measureRounds(LAB_APP_01.rounds);
    expect(app.throughputBasis).toBe("fit");
    expect(app.fitRounds).toBe(7);
    expect(app.fixedRoundSeconds).toBeGreaterThan(6.5);
    expect(app.fixedRoundSeconds).toBeLessThan(8);
    expect(app.throughputBytesPerSecond! / MB).toBeGreaterThan(5);
    expect(app.throughputBytesPerSecond! / MB).toBeLessThan(7);
    // Frames carry less than the changed bytes: CBT's zero areas go as zero frames.
    expect(app.linkBytesPerChangedByte).toBeGreaterThan(0.9);
    expect(app.linkBytesPerChangedByte).toBeLessThan(1);
    expect(app.lastFullCheckSeconds).toBe(13.841);
    expect(app.readBytesPerSecond! / MB).toBeGreaterThan(25);
  });

  it("predicts the lab's final round and verification from its final delta within 20 %", () => {
    for (const vm of [LAB_APP_01, LAB_WEB_01]) {
      const m = measureRounds(vm.rounds);
      const c = vm.cutover;
      const predicted = c.phases.shutdownSeconds + roundSeconds(m, c.finalDeltaBytes) + c.verifiedBytes / m.readBytesPerSecond!;
      // Measured: 10.44 s (lab-app-01) and 8.34 s (lab-web-01); predicted 9.6 s and 9.5 s.
      expect(Math.abs(predicted - c.downtimeSeconds) / c.downtimeSeconds).toBeLessThan(0.2);
    }
  });

  it("falls back to an average with one round, and says what it lacks with none", () => {
    const one = measureRounds(LAB_APP_01.rounds.slice(0, 1));
    expect(one.throughputBasis).toBe("average");
    expect(one.fixedRoundSeconds).toBe(0);
    expect(one.throughputBytesPerSecond).toBeCloseTo((72_746_709 + 30_082_325) / 23.743, 0);
    const none = predictCutover([], { now: Date.now(), diskSizes: [2 ** 30] });
    expect(none.known).toBe(false);
    expect(none.missing.join("; ")).toMatch(/no incremental round yet.*no round moved bytes yet/);
  });

  it("leaves skipped rounds out", () => {
    const skipped: RoundSummary = {
      ...LAB_APP_01.rounds[6],
      round: 7,
      snapshotAt: "2026-12-02T14:27:30.000Z",
      skipped: "frozen for a rehearsal point",
      disks: [],
    };
    const withSkip = measureRounds([...LAB_APP_01.rounds.slice(0, 7), skipped]);
    expect(withSkip).toEqual(measureRounds(LAB_APP_01.rounds.slice(0, 7)));
  });
});

describe("predictCutover", () => {
  const at = Date.parse(LAB_APP_01.cutover.requestedAt);

  it("predicts the lab's cutover (no full check first) from the churn since the last snapshot, erring long", () => {
    const p = predictCutover(LAB_APP_01.rounds, { now: at, fullCheckFirst: false, shutdownSeconds: 0.229, sampleBlocks: 16, diskSizes: LAB_APP_01.diskSizes });
    expect(p.known).toBe(true);
    // 18.5 s since round 7's snapshot, plus the shutdown, at the measured churn.
    expect(p.finalDeltaWindowSeconds).toBeCloseTo(18.493 + 0.229, 3);
    expect(p.finalDeltaBytes).toBe(Math.round(p.churnBytesPerSecond * p.finalDeltaWindowSeconds));
    // The lab paused the guests for its full check, so its final delta (2.1 MB) was smaller than the churn says.
    expect(p.finalDeltaBytes).toBeGreaterThan(LAB_APP_01.cutover.finalDeltaBytes);
    expect(p.downtimeSeconds).toBeGreaterThan(LAB_APP_01.cutover.downtimeSeconds);
    expect(p.downtimeSeconds).toBeLessThan(2 * LAB_APP_01.cutover.downtimeSeconds);
    expect(p.downtimeSeconds).toBeCloseTo(p.shutdownSeconds + p.finalDeltaSeconds + p.verifySeconds, 9);
  });

  it("with a full check first, the final delta holds the check's duration and the shutdown allowance", () => {
    const p = predictCutover(LAB_APP_01.rounds, { now: at, diskSizes: LAB_APP_01.diskSizes });
    expect(p.shutdownSeconds).toBe(60);
    expect(p.finalDeltaWindowSeconds).toBeCloseTo(13.841 + 60, 3);
    // A later moment changes nothing: the full check comes right before the shutdown.
    expect(predictCutover(LAB_APP_01.rounds, { now: at + 3600_000, diskSizes: LAB_APP_01.diskSizes }).downtimeSeconds).toBeCloseTo(p.downtimeSeconds, 9);
  });

  it("grows with the recovery point's age when no full check comes first", () => {
    const plan = { fullCheckFirst: false, diskSizes: LAB_APP_01.diskSizes };
    const soon = predictCutover(LAB_APP_01.rounds, { ...plan, now: at });
    const later = predictCutover(LAB_APP_01.rounds, { ...plan, now: at + 600_000 });
    expect(later.finalDeltaBytes).toBeGreaterThan(soon.finalDeltaBytes);
    expect(later.downtimeSeconds).toBeGreaterThan(soon.downtimeSeconds);
  });

  it("a full verification reads every block of every disk", () => {
    const p = predictCutover(LAB_APP_01.rounds, { now: at, verify: "full", diskSizes: LAB_APP_01.diskSizes });
    expect(p.verifyBytes).toBe(134217728 + 67108864);
  });

  it("describes itself with its numbers", () => {
    const text = describePrediction(
      predictCutover(LAB_APP_01.rounds, { now: at, fullCheckFirst: false, shutdownSeconds: 0.229, sampleBlocks: 16, diskSizes: LAB_APP_01.diskSizes }),
    );
    expect(text).toMatch(
      /^predicted downtime \d+\.\d s \(shutdown 0\.2 s, final delta \d+\.\d MiB in \d+\.\d s, verification \d+\.\d MiB in \d+\.\d s\); churn 0\.5 MiB\/s over 6 rounds, throughput 5\.\d MiB\/s, fixed 7\.\d s per round$/,
    );
  });
});

describe("checkBudget", () => {
  const now = Date.parse("2026-12-06T05:50:00+08:00");
  it("takes the tighter of the budget and the time left in the window", () => {
    expect(checkBudget(300, { downtimeBudgetSeconds: 900, changeWindowEnd: Date.parse("2026-12-06T06:00:00+08:00"), now })).toEqual({
      secondsLeft: 600,
      boundBy: "window",
      fits: true,
    });
    expect(checkBudget(300, { downtimeBudgetSeconds: 240, changeWindowEnd: Date.parse("2026-12-06T06:00:00+08:00"), now })).toEqual({
      secondsLeft: 240,
      boundBy: "budget",
      fits: false,
    });
    expect(checkBudget(1, { changeWindowEnd: Date.parse("2026-12-06T05:00:00+08:00"), now })).toEqual({ secondsLeft: 0, boundBy: "window", fits: false });
    expect(checkBudget(1, { now })).toBeUndefined();
  });
});

describe("initialSyncEta", () => {
  it("extrapolates the rate since the start", () => {
    expect(initialSyncEta({ bytesDone: 40 * MB, bytesTotal: 100 * MB, elapsedSeconds: 20 })).toEqual({ rateBytesPerSecond: 2 * MB, etaSeconds: 30 });
    expect(initialSyncEta({ bytesDone: 0, bytesTotal: 100 * MB, elapsedSeconds: 20 })).toBeUndefined();
  });
});
