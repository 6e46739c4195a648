/**
 * Verification of a job that reads its source: the source's digest and the target's taken in
 * full under a concurrency slot, compared, and the outcome kept in the job record.
 */
import { isPushed, type JobStatus } from "./api";
import type { JobContext } from "./context";
import { jobStatus, JobRequestError, saveRecord, type Job } from "./records";
import { sourceSpec, targetForRound } from "./targets";

/** Starts comparing the source's digest with the target's (no round may be active). */
export function verify(ctx: JobContext, job: Job): JobStatus {
  const id = job.record.spec.id;
  const r = job.record;
  if (isPushed(r.spec.source))
    throw new JobRequestError(409, `Job ${id} does not read its source; ${r.spec.source.pushedBy} verifies it by block hashes (POST /v1/jobs/${id}/compare).`);
  if (r.active !== undefined) throw new JobRequestError(409, `Job ${id} is copying round ${r.active.round}; verify once it is idle.`);
  if (r.verification?.state !== "running") startVerification(ctx, job, new Date().toISOString());
  return jobStatus(job);
}

/** Starts comparing the digests, in the background; the outcome lands in the record's `verification`. */
export function startVerification(ctx: JobContext, job: Job, requestedAt: string): void {
  const r = job.record;
  r.verification = { state: "running", requestedAt };
  saveRecord(ctx.options, job);
  void (async () => {
    const release = await ctx.options.scheduler.acquire();
    try {
      if (job.removed || ctx.closed) return;
      const targetPath = targetForRound(ctx.options, job.record).path;
      const source = await ctx.options.dataPlane.digest(sourceSpec(ctx.options, r.spec));
      const target = await ctx.options.dataPlane.digest(targetPath, source.size);
      const equal = source.algorithm === target.algorithm && source.digest === target.digest && source.size === target.size;
      r.verification = { state: "done", requestedAt, finishedAt: new Date().toISOString(), source, target, equal };
      ctx.options.logger.log(equal ? "info" : "error", equal ? "verified: digests equal" : "verification failed: digests differ", {
        job: r.spec.id,
        source: source.digest,
        target: target.digest,
      });
    } catch (err) {
      if (job.removed || ctx.closed) return;
      r.verification = { state: "failed", requestedAt, finishedAt: new Date().toISOString(), error: err instanceof Error ? err.message : String(err) };
      ctx.options.logger.log("error", "verification could not run", { job: r.spec.id, error: r.verification.error });
    } finally {
      release();
    }
    if (!job.removed && !ctx.closed) saveRecord(ctx.options, job);
  })();
}
