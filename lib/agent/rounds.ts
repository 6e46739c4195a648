/**
 * A round the agent reads itself: queued for a concurrency slot, copied by the data plane from
 * the source into the target, its digest taken, then recorded; a failed attempt is retried with
 * a doubling delay until the last one puts the job in `error`. A freeze asked while the round
 * copied holds the job once the round is recorded.
 */
import { isPushed, type RoundRecord } from "./api";
import type { ChangedSpec } from "../replication";
import { InputError } from "../problems";
import { countFailure, type JobContext } from "./context";
import { describeChanged, saveRecord, type Job } from "./records";
import { isTargetProblem, sourceSpec, TargetRefused, targetForRound } from "./targets";

/** Starts the job's active round when it can run (nothing else running, not failed, not pushed). */
export function kick(ctx: JobContext, job: Job): void {
  const r = job.record;
  if (ctx.closed || job.removed || job.broken !== undefined || job.running || r.active === undefined || r.state === "error" || r.state === "stalled") return;
  // A pushed round runs while its proxy pushes it.
  if (isPushed(r.spec.source)) return;
  job.running = true;
  job.runPromise = run(ctx, job).catch((err: unknown) => {
    ctx.options.logger.log("error", "job run failed unexpectedly", { job: job.record.spec.id, error: String(err) });
  });
}

/** Runs the job's active round once a slot is free, and records it, or its failure and the retry. */
async function run(ctx: JobContext, job: Job): Promise<void> {
  const release = await ctx.options.scheduler.acquire();
  const r = job.record;
  const active = r.active;
  try {
    if (ctx.closed || job.removed || active === undefined) return;
    const abort = new AbortController();
    job.abort = abort;
    job.copying = true;
    job.startedAt = new Date().toISOString();
    job.progress = undefined;
    r.state = active.round === 0 ? "initial-sync" : "syncing";
    const target = targetForRound(ctx.options, job.record);
    ctx.options.logger.log("info", "round started", { job: r.spec.id, round: active.round, changed: describeChanged(active.changed) });
    if (r.sourceSize === undefined) {
      r.sourceSize = await ctx.options.dataPlane.size(sourceSpec(ctx.options, r.spec));
      saveRecord(ctx.options, job);
    }
    const cached = ctx.digests.takeBlockDigests(job, active.attempts === 0 && !job.resumedRound);
    const result = await ctx.options.dataPlane.sync({
      source: sourceSpec(ctx.options, r.spec),
      target: target.path,
      // The API's `Changed` is what ChangedSchema admits: the copier's `ChangedSpec` (its `bitmap:NAME` a plain string to zod).
      changed: active.changed as ChangedSpec,
      journal: ctx.options.state.journalFile(r.spec.id, active.round),
      keepJournal: true,
      expectTarget: target.identity,
      bandwidth: ctx.options.bandwidth,
      onProgress: (p) => {
        job.progress = p;
      },
      signal: abort.signal,
    });
    if (job.removed || ctx.closed) return;
    ctx.options.logger.log("info", "round copied; taking the target's digest", { job: r.spec.id, round: active.round });
    const taken = await ctx.digests.targetDigest(job, target.path, active.round, active.changed as ChangedSpec, cached, result.resumed, abort.signal);
    if (job.removed || ctx.closed) return;
    const digest = taken.digest;
    const finishedAt = new Date().toISOString();
    const record: RoundRecord = {
      round: active.round,
      changed: active.changed,
      startedAt: job.startedAt,
      finishedAt,
      seconds: result.seconds,
      bytesRead: result.bytesRead,
      bytesWritten: result.bytesWritten,
      bytesZeroed: result.bytesZeroed,
      bytesSkipped: result.bytesSkipped,
      resumed: result.resumed,
      digest,
      digestMode: taken.mode,
      digestBytesRead: taken.bytesRead,
    };
    r.lastRound = record;
    const { changed: _changed, ...summary } = record;
    r.rounds.push(summary);
    r.active = undefined;
    r.error = undefined;
    job.resumedRound = false;
    if (r.freezePending !== undefined) {
      r.state = "frozen";
      r.frozenFor = r.freezePending;
      r.freezePending = undefined;
    } else {
      r.state = "idle";
    }
    // The journal goes only once the round is recorded: a crash before that resumes a round with nothing left to copy.
    if (saveRecord(ctx.options, job)) ctx.options.state.removeJournals(r.spec.id);
    ctx.options.logger.log("info", "round finished", {
      job: r.spec.id,
      round: record.round,
      seconds: record.seconds,
      bytesRead: record.bytesRead,
      bytesWritten: record.bytesWritten,
      bytesZeroed: record.bytesZeroed,
      resumed: record.resumed,
      digest: record.digest.digest,
      digestMode: record.digestMode,
      digestBytesRead: record.digestBytesRead,
      state: r.state,
    });
  } catch (err) {
    if (job.removed || ctx.closed || active === undefined) return;
    active.attempts++;
    countFailure(ctx, r.spec.id);
    r.error = err instanceof Error ? err.message : String(err);
    // A refused target is not retried: nothing may be written until an operator acts.
    const retry = active.attempts < ctx.maxAttempts && !(err instanceof TargetRefused) && !(err instanceof InputError && isTargetProblem(err));
    r.state = retry ? "stalled" : "error";
    ctx.options.logger.log(retry ? "warn" : "error", retry ? "round failed; will retry" : "round failed; giving up", {
      job: r.spec.id,
      round: active.round,
      attempt: active.attempts,
      error: r.error,
    });
    if (retry) {
      job.retryTimer = setTimeout(
        () => {
          job.retryTimer = undefined;
          if (r.state !== "stalled") return;
          r.state = active.round === 0 ? "initial-sync" : "syncing";
          kick(ctx, job);
        },
        ctx.retryDelayMs * 2 ** (active.attempts - 1),
      );
    }
    // Saved after the retry is set: a state directory that cannot be written delays only the record.
    saveRecord(ctx.options, job);
  } finally {
    job.running = false;
    job.copying = false;
    job.abort = undefined;
    release();
    kick(ctx, job);
  }
}
