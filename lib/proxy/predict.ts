/**
 * PURE: what a VM's recent rounds say about its cutover. The one home of the prediction that the
 * proxy's status, `rehost status`, the `Cutover` provider and the policy pack use.
 *
 * From the rounds the proxy keeps:
 * - **churn**: bytes the guest changes per second of wall time — each incremental round's
 *   `changedBytes` over the time between its snapshot and the previous round's;
 * - **throughput and fixed cost**: a round's `seconds` fitted (least squares) as
 *   `fixedSeconds + linkBytes / throughput` over its recent non-resync rounds, so the snapshot,
 *   CBT query and removal (the fixed part) are told apart from the bytes pushed;
 * - **link bytes per changed byte** (frame headers, compression);
 * - **read rate**: bytes a full source-side check (a resync round: both sides read, hashed and
 *   compared, as the cutover's verification does) read per second beyond its fixed cost.
 *
 * The final delta is the churn over the time from the last snapshot before the shutdown to the
 * final round's snapshot: the full check's duration (when the cutover runs one first) or the
 * recovery point's age, plus the shutdown. Churn is taken as linear in time, which overestimates
 * a guest that rewrites the same blocks: the prediction errs on the long side.
 */
import { DIGEST_BLOCK } from "../replication/sha256-blocks";
import type { CutoverPrediction, RoundMeasures, RoundMode, RoundSummary, ThroughputBasis } from "./api";

export type { CutoverPrediction, RoundMeasures, ThroughputBasis } from "./api";

/** Incremental rounds the churn is measured over. */
const CHURN_ROUNDS = 10;
/** Rounds the throughput and the fixed cost are fitted over. */
const FIT_ROUNDS = 20;
/** CBT's granularity in the estimate of the 1 MiB blocks a cutover verifies again (one block per 64 KiB changed, at worst). */
const CBT_BLOCK = 64 * 1024;

/** What the cutover will do, as its prediction needs it. */
export interface CutoverPlan {
  /** The moment the prediction is made for (ms since the epoch). */
  readonly now: number;
  /** Whether the cutover takes a full source-side check before the shutdown. @default true */
  readonly fullCheckFirst?: boolean;
  /** Seconds the guest is expected to take to shut down. @default 60 */
  readonly shutdownSeconds?: number;
  /** `changed` verifies the blocks written since the full check and a sample; `full` every block. @default "changed" */
  readonly verify?: "changed" | "full";
  /** Random blocks read again per disk. @default 64 */
  readonly sampleBlocks?: number;
  /** The VM's disks' sizes in bytes. */
  readonly diskSizes: readonly number[];
}

/** A round's kind from its disks: `resync` when any disk resynced, `initial` when all were initial. */
export function roundKind(round: RoundSummary): RoundMode {
  if (round.disks.some((d) => d.mode === "resync")) return "resync";
  if (round.disks.length > 0 && round.disks.every((d) => d.mode === "initial")) return "initial";
  return "incremental";
}

const sum = (round: RoundSummary, field: "changedBytes" | "linkBytes" | "hashBytes" | "bytesRead"): number => round.disks.reduce((n, d) => n + d[field], 0);

/** Churn, throughput, fixed cost, link ratio and read rate from a VM's rounds (oldest first). */
export function measureRounds(rounds: readonly RoundSummary[]): RoundMeasures {
  const done = rounds.filter((r) => r.skipped === undefined && r.disks.length > 0);

  // Churn: each incremental round's changes over the wall time since the previous snapshot.
  let churnBytes = 0;
  let churnSeconds = 0;
  let churnRounds = 0;
  for (let i = done.length - 1; i > 0 && churnRounds < CHURN_ROUNDS; i--) {
    if (roundKind(done[i]) !== "incremental") continue;
    const seconds = (Date.parse(done[i].snapshotAt) - Date.parse(done[i - 1].snapshotAt)) / 1000;
    if (!(seconds > 0)) continue;
    churnBytes += sum(done[i], "changedBytes");
    churnSeconds += seconds;
    churnRounds++;
  }

  // Throughput and fixed cost: seconds = fixed + linkBytes / throughput, least squares.
  const pushed = done.filter((r) => roundKind(r) !== "resync").slice(-FIT_ROUNDS);
  const xs = pushed.map((r) => sum(r, "linkBytes"));
  const ys = pushed.map((r) => r.seconds);
  let throughput: number | undefined;
  let fixed = 0;
  let basis: ThroughputBasis = "none";
  const n = pushed.length;
  const totalLink = xs.reduce((a, b) => a + b, 0);
  const totalSeconds = ys.reduce((a, b) => a + b, 0);
  if (n >= 2) {
    const mx = totalLink / n;
    const my = totalSeconds / n;
    const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
    const sxy = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0);
    const slope = sxx > 0 ? sxy / sxx : 0;
    const intercept = my - slope * mx;
    if (slope > 0 && intercept >= 0) {
      throughput = 1 / slope;
      fixed = intercept;
      basis = "fit";
    }
  }
  if (basis === "none" && totalLink > 0 && totalSeconds > 0) {
    // Too few rounds, or sizes that do not separate the two: all of the time counted as transfer.
    throughput = totalLink / totalSeconds;
    fixed = 0;
    basis = "average";
  }

  const incremental = done.filter((r) => roundKind(r) === "incremental" && sum(r, "changedBytes") > 0);
  const changed = incremental.reduce((a, r) => a + sum(r, "changedBytes"), 0);
  const link = incremental.reduce((a, r) => a + sum(r, "linkBytes"), 0);

  // A full check reads and hashes both sides and compares, as a cutover's verification does;
  // its rate leaves the round's fixed cost out.
  const resyncs = done.filter((r) => roundKind(r) === "resync");
  const lastResync = resyncs.at(-1);
  const readBytes = resyncs.reduce((a, r) => a + sum(r, "bytesRead"), 0);
  const readSeconds = resyncs.reduce((a, r) => a + Math.max(r.seconds - fixed, r.seconds / 10), 0);

  return {
    churnRounds,
    churnWindowSeconds: churnSeconds,
    churnBytesPerSecond: churnSeconds > 0 ? churnBytes / churnSeconds : 0,
    ...(throughput !== undefined ? { throughputBytesPerSecond: throughput } : {}),
    fixedRoundSeconds: fixed,
    throughputBasis: basis,
    fitRounds: basis === "none" ? 0 : n,
    linkBytesPerChangedByte: changed > 0 && link > 0 ? link / changed : 1,
    ...(readBytes > 0 && readSeconds > 0 ? { readBytesPerSecond: readBytes / readSeconds } : {}),
    ...(lastResync !== undefined ? { lastFullCheckSeconds: lastResync.seconds } : {}),
  };
}

/** Seconds a round that finds `changedBytes` takes: the fixed cost and its link bytes at the throughput. */
export function roundSeconds(m: RoundMeasures, changedBytes: number): number {
  const throughput = m.throughputBytesPerSecond;
  return m.fixedRoundSeconds + (throughput !== undefined && throughput > 0 ? (changedBytes * m.linkBytesPerChangedByte) / throughput : 0);
}

/** The predicted final delta and downtime of a VM's cutover from its rounds (oldest first). */
export function predictCutover(rounds: readonly RoundSummary[], plan: CutoverPlan): CutoverPrediction {
  const m = measureRounds(rounds);
  const missing: string[] = [];
  if (m.churnRounds === 0) missing.push("no incremental round yet, so no churn");
  if (m.throughputBytesPerSecond === undefined) missing.push("no round moved bytes yet, so no throughput");
  const fullCheckFirst = plan.fullCheckFirst ?? true;
  const verify = plan.verify ?? "changed";
  const shutdownSeconds = plan.shutdownSeconds ?? 60;
  const last = rounds.filter((r) => r.skipped === undefined).at(-1);
  const age = last !== undefined ? Math.max(0, (plan.now - Date.parse(last.snapshotAt)) / 1000) : 0;

  // The final delta holds the writes since the last snapshot before the shutdown.
  let before: number;
  if (fullCheckFirst && verify === "changed") {
    if (m.lastFullCheckSeconds !== undefined) before = m.lastFullCheckSeconds;
    else {
      const total = plan.diskSizes.reduce((a, b) => a + b, 0);
      before =
        m.fixedRoundSeconds +
        (m.readBytesPerSecond !== undefined ? total / m.readBytesPerSecond : m.throughputBytesPerSecond !== undefined ? total / m.throughputBytesPerSecond : 0);
      if (m.readBytesPerSecond === undefined) missing.push("no full source-side check yet, so its duration is estimated from the throughput");
    }
  } else before = age;
  const window = before + shutdownSeconds;
  const finalDeltaBytes = Math.round(m.churnBytesPerSecond * window);
  const finalDeltaSeconds = roundSeconds(m, finalDeltaBytes);

  // The verification reads its blocks again on both sides and compares their hashes.
  const sizes = plan.diskSizes;
  const sample = Math.min(plan.sampleBlocks ?? 64, ...sizes.map((s) => Math.ceil(s / DIGEST_BLOCK)));
  const totalSize = sizes.reduce((a, b) => a + b, 0);
  const verifyBytes =
    verify === "full" ? totalSize : Math.min(totalSize, finalDeltaBytes * (DIGEST_BLOCK / CBT_BLOCK) + sizes.length * Math.max(0, sample) * DIGEST_BLOCK);
  const readRate = m.readBytesPerSecond ?? m.throughputBytesPerSecond;
  const verifySeconds = readRate !== undefined && readRate > 0 ? verifyBytes / readRate : 0;
  if (m.readBytesPerSecond === undefined && verifyBytes > 0)
    missing.push("no full source-side check yet, so the verification's read rate is the link's throughput");

  return {
    ...m,
    at: new Date(plan.now).toISOString(),
    finalDeltaWindowSeconds: window,
    finalDeltaBytes,
    finalDeltaSeconds,
    verifyBytes,
    verifySeconds,
    shutdownSeconds,
    downtimeSeconds: shutdownSeconds + finalDeltaSeconds + verifySeconds,
    known: m.churnRounds > 0 && m.throughputBytesPerSecond !== undefined,
    missing,
  };
}

/** Seconds until an initial sync ends, from the bytes done since it started; undefined before any progress. */
export function initialSyncEta(progress: {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly elapsedSeconds: number;
}): { rateBytesPerSecond: number; etaSeconds: number } | undefined {
  const { bytesDone, bytesTotal, elapsedSeconds } = progress;
  if (!(bytesDone > 0) || !(elapsedSeconds > 0) || !(bytesTotal > 0)) return undefined;
  const rate = bytesDone / elapsedSeconds;
  return { rateBytesPerSecond: rate, etaSeconds: Math.max(0, bytesTotal - bytesDone) / rate };
}

/** A downtime budget's verdict: what is left of it and whether the predicted downtime fits. */
export interface BudgetVerdict {
  /** Seconds left: the budget, or the time to the change window's end, whichever is less. */
  readonly secondsLeft: number;
  /** What bounds it: `budget` or `window`. */
  readonly boundBy: "budget" | "window";
  readonly fits: boolean;
}

/**
 * Whether a predicted downtime fits the budget (seconds) and/or what is left of the change window
 * (`changeWindowEnd`, ms since the epoch) at `now`; undefined when neither is given.
 */
export function checkBudget(
  downtimeSeconds: number,
  limits: { readonly downtimeBudgetSeconds?: number; readonly changeWindowEnd?: number; readonly now: number },
): BudgetVerdict | undefined {
  const candidates: Array<{ secondsLeft: number; boundBy: "budget" | "window" }> = [];
  if (limits.downtimeBudgetSeconds !== undefined) candidates.push({ secondsLeft: limits.downtimeBudgetSeconds, boundBy: "budget" });
  if (limits.changeWindowEnd !== undefined) candidates.push({ secondsLeft: Math.max(0, (limits.changeWindowEnd - limits.now) / 1000), boundBy: "window" });
  if (candidates.length === 0) return undefined;
  const tightest = candidates.reduce((a, b) => (b.secondsLeft < a.secondsLeft ? b : a));
  return { ...tightest, fits: downtimeSeconds <= tightest.secondsLeft };
}

/** One sentence with the prediction's numbers, for refusals and reports. */
export function describePrediction(p: CutoverPrediction): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const rate = (b: number | undefined) => (b === undefined ? "unmeasured" : `${(b / 2 ** 20).toFixed(1)} MiB/s`);
  return (
    `predicted downtime ${p.downtimeSeconds.toFixed(1)} s (shutdown ${p.shutdownSeconds.toFixed(1)} s, final delta ${mib(p.finalDeltaBytes)} in ${p.finalDeltaSeconds.toFixed(1)} s, ` +
    `verification ${mib(p.verifyBytes)} in ${p.verifySeconds.toFixed(1)} s); churn ${rate(p.churnBytesPerSecond)} over ${p.churnRounds} rounds, ` +
    `throughput ${rate(p.throughputBytesPerSecond)}, fixed ${p.fixedRoundSeconds.toFixed(1)} s per round`
  );
}
