/**
 * Freezes for rehearsal points: a frozen job takes no round until it is thawed. A freeze asked
 * while a round is active is pending until that round is recorded (`rounds.ts`), then holds.
 */
import type { JobStatus } from "./api";
import type { JobContext } from "./context";
import { jobStatus, JobRequestError, updateRecord, type Job, type JobRecord } from "./records";
import { kick } from "./rounds";

/** Freezes the job at the next round boundary (now, when no round is active). */
export function freeze(ctx: JobContext, job: Job, point: string): JobStatus {
  const id = job.record.spec.id;
  const r = job.record;
  if (r.state === "frozen") {
    if (r.frozenFor === point) return jobStatus(job);
    throw new JobRequestError(409, `Job ${id} is already frozen for rehearsal point ${r.frozenFor}.`);
  }
  if (r.state === "error") throw new JobRequestError(409, `Job ${id} is in error (${r.error}); request its round again before freezing.`);
  const next: JobRecord = r.active === undefined ? { ...r, state: "frozen", frozenFor: point, freezePending: undefined } : { ...r, freezePending: point };
  updateRecord(ctx.options, job, next);
  ctx.options.logger.log("info", next.state === "frozen" ? "job frozen" : "freeze pending round end", { job: id, point });
  return jobStatus(job);
}

/**
 * Ends a freeze; thawing a job that is not frozen is a no-op. With `point`, a freeze held for
 * another point is left alone (destroying one rehearsal never ends another's freeze).
 */
export function thaw(ctx: JobContext, job: Job, point?: string): JobStatus {
  const id = job.record.spec.id;
  const r = job.record;
  const held = r.frozenFor ?? r.freezePending;
  if (held === undefined || (point !== undefined && held !== point)) return jobStatus(job);
  const wasFrozen = r.state === "frozen";
  const next: JobRecord = { ...r, freezePending: undefined, ...(wasFrozen ? { state: "idle" as const, frozenFor: undefined } : {}) };
  updateRecord(ctx.options, job, next);
  if (wasFrozen) ctx.options.logger.log("info", "job thawed", { job: id, point: held });
  kick(ctx, job);
  return jobStatus(job);
}
