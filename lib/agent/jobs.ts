/**
 * The agent's jobs: one per source disk, each a small state machine driven by the controller's
 * requests and persisted after every transition, so an agent killed at any moment and restarted
 * resumes every round from the copier's journal.
 *
 *   register ─▶ initial-sync ─▶ idle ◀──▶ syncing            (round requested / finished)
 *                                 │  ▲
 *                        freeze   ▼  │ thaw                   (at a round boundary)
 *                               frozen
 *   a failed round ─▶ stalled ─(retry with backoff)─▶ syncing, or ─▶ error after the last attempt
 *
 * A round is "done" only once the copier returned, the target was flushed and its digest taken;
 * until then the job record keeps the round as `active` and a restart runs it again.
 *
 * `JobManager` takes the API's requests; the work lives beside it: `rounds.ts` (a round the agent
 * reads), `pushed-rounds.ts` (a round a proxy pushes), `target-digests.ts` (the target's digest
 * after a round and the block hashes kept for it), `freeze.ts`, `verification.ts`, `targets.ts`
 * (what a job may read and write) and `records.ts` (the saved record and the status).
 */
import { isPushed, type Changed, type JobSpec, type JobStatus, type RoundRecord } from "./api";
import type { JobContext, JobManagerOptions } from "./context";
import type { Extent } from "../replication";
import { freeze, thaw } from "./freeze";
import { pushRound } from "./pushed-rounds";
import {
  brokenRecord,
  checkRecord,
  describeChanged,
  describeSource,
  jobStatus,
  JobRequestError,
  saveOrRefuse,
  saveRecord,
  updateRecord,
  type Job,
  type JobRecord,
} from "./records";
import { kick } from "./rounds";
import { TargetDigests, type BlockComparison } from "./target-digests";
import { checkSourceUri, credentialsFile, resolveTarget, sourceSpec } from "./targets";
import { startVerification, verify } from "./verification";

/** Every job of an agent: requests from the API, runs under the scheduler, persistence. */
export class JobManager {
  private readonly jobs = new Map<string, Job>();
  /** What the rounds, pushes and verifications share with the manager. */
  private readonly ctx: JobContext;
  /** Saves records that could not be saved when they changed (a state directory briefly full). */
  private readonly saver: NodeJS.Timeout;

  constructor(private readonly options: JobManagerOptions) {
    this.ctx = {
      options,
      digests: new TargetDigests(options),
      maxAttempts: options.maxAttempts ?? 5,
      retryDelayMs: options.retryDelayMs ?? 1000,
      closed: false,
      failures: new Map(),
    };
    this.saver = setInterval(() => this.saveUnsaved(), 2000);
    this.saver.unref();
  }
  /** Loads saved jobs and resumes every unfinished round and verification. */
  resume(): void {
    const loaded = this.options.state.loadJobs((file, err) =>
      this.options.logger.log("error", "job file unreadable; kept, in error, until it is repaired or the job deleted", { file, error: String(err) }),
    );
    for (const entry of loaded) {
      const record = checkRecord(entry.record);
      if (record === undefined) {
        const reason = `the job file ${entry.file} is ${entry.record === undefined ? "unreadable" : "not a job record"}${entry.error !== undefined ? ` (${entry.error})` : ""}; restore it (its previous version may be in ${entry.file}.bak) or delete the job`;
        this.jobs.set(entry.id, { record: brokenRecord(entry.id, reason), running: false, copying: false, removed: false, broken: reason });
        this.options.logger.log("error", "job file is not a job record; the job is kept in error", { job: entry.id, file: entry.file });
        continue;
      }
      if (entry.fromBackup) this.options.logger.log("warn", "job file unreadable; its previous version was loaded", { job: record.spec.id, file: entry.file });
      const job: Job = { record, running: false, copying: false, removed: false };
      this.jobs.set(record.spec.id, job);
      if (record.active !== undefined) {
        job.resumedRound = true;
        record.active.attempts = 0;
        record.state = record.active.round === 0 ? "initial-sync" : "syncing";
        this.options.logger.log("info", "job resumed", { job: record.spec.id, round: record.active.round });
      } else {
        // A round recorded just before a crash leaves its (complete) journal behind.
        this.options.state.removeJournals(record.spec.id);
      }
      if (record.verification?.state === "running") startVerification(this.ctx, job, record.verification.requestedAt);
      kick(this.ctx, job);
    }
  }

  list(): JobStatus[] {
    return [...this.jobs.values()].filter((j) => !j.removed).map((j) => jobStatus(j));
  }

  get(id: string): JobStatus {
    return jobStatus(this.find(id));
  }

  /** Every job's status with its failed round attempts since the agent started. */
  withFailures(): Array<{ status: JobStatus; failures: number }> {
    return this.list().map((status) => ({ status, failures: this.ctx.failures.get(status.id) ?? 0 }));
  }

  /** Registers a job and queues its initial sync; registering the same spec again is a no-op. */
  register(spec: JobSpec): { status: JobStatus; created: boolean } {
    const existing = this.jobs.get(spec.id);
    if (existing !== undefined) {
      if (existing.removed) throw new JobRequestError(409, `Job ${spec.id} is being unregistered; register it again once that is done.`);
      if (JSON.stringify(existing.record.spec) === JSON.stringify(spec)) return { status: jobStatus(existing), created: false };
      throw new JobRequestError(409, `Job ${spec.id} exists with a different source or target; unregister it first.`);
    }
    if (!isPushed(spec.source)) checkSourceUri(spec.source.uri);
    const resolved = resolveTarget(this.options, spec.target);
    for (const other of this.jobs.values()) {
      if (other.broken !== undefined) {
        throw new JobRequestError(
          409,
          `No job can be registered while job ${other.record.spec.id} cannot be read: its target is unknown, so it may be ${spec.target}. ${other.broken}.`,
        );
      }
      if (other.record.resolved?.path === resolved.path || other.record.spec.target === spec.target) {
        throw new JobRequestError(
          409,
          `Target ${spec.target} is already used by job ${other.record.spec.id}${other.removed ? ", which is being unregistered" : ""}.`,
        );
      }
    }
    if (!isPushed(spec.source) && spec.source.credentials !== undefined) credentialsFile(this.options, spec.source.credentials);
    const record: JobRecord = {
      version: 1,
      spec,
      resolved,
      state: "initial-sync",
      // A pushed job waits for its proxy's first round; another copies its initial sync now.
      active: isPushed(spec.source) ? undefined : { round: 0, changed: spec.initial, requestedAt: new Date().toISOString(), attempts: 0 },
      rounds: [],
    };
    const job: Job = { record, running: false, copying: false, removed: false };
    saveOrRefuse(this.options, job, record);
    this.jobs.set(spec.id, job);
    this.options.logger.log("info", "job registered", {
      job: spec.id,
      source: describeSource(spec.source),
      target: spec.target,
      resolvedTarget: resolved.path,
    });
    kick(this.ctx, job);
    return { status: jobStatus(job), created: true };
  }

  /**
   * Requests round `round`; a round already requested or done is acknowledged without a new copy.
   * An explicit extent list is checked against the source's size first. A round that failed (in
   * `error`, or `stalled` between attempts) can be asked for again with other changed blocks.
   * Nothing changes unless the new state is saved.
   */
  async requestRound(id: string, round: number, changed: Changed): Promise<JobStatus> {
    const job = this.find(id);
    const r = job.record;
    if (isPushed(r.spec.source)) throw new JobRequestError(409, `Job ${id}'s rounds are pushed by ${r.spec.source.pushedBy}; ask it for a round.`);
    if (r.lastRound !== undefined && r.lastRound.round >= round) return jobStatus(job);
    if (r.active !== undefined) {
      const failed = r.state === "error" || r.state === "stalled";
      if (r.active.round === round && !failed) return jobStatus(job);
      if (!failed || round < r.active.round) {
        throw new JobRequestError(409, `Job ${id} is busy with round ${r.active.round}; wait for it before asking for round ${round}.`);
      }
    } else {
      if (r.state === "frozen" || r.freezePending !== undefined) {
        throw new JobRequestError(409, `Job ${id} is frozen for rehearsal point ${r.frozenFor ?? r.freezePending}; thaw it before a new round.`);
      }
      if (r.verification?.state === "running") throw new JobRequestError(409, `Job ${id} is being verified; wait for the verification to end.`);
    }
    if (typeof changed === "object") await this.checkExtents(job, changed.extents);
    if (job.removed) throw new JobRequestError(404, `No job ${id} on this agent.`);
    const retried = r.active !== undefined;
    const next: JobRecord = {
      ...r,
      active: { round, changed, requestedAt: new Date().toISOString(), attempts: 0 },
      state: round === 0 ? "initial-sync" : "syncing",
      error: undefined,
    };
    updateRecord(this.options, job, next);
    if (job.retryTimer !== undefined) clearTimeout(job.retryTimer);
    job.retryTimer = undefined;
    this.options.logger.log("info", retried ? "failed round requested again" : "round requested", { job: id, round, changed: describeChanged(changed) });
    kick(this.ctx, job);
    return jobStatus(job);
  }

  /**
   * Applies a round pushed by the job's proxy (`pushed-rounds.ts`); answers once the round is
   * recorded, with its record.
   */
  async push(id: string, round: number, snapshot: string, size: number, stream: AsyncIterable<Buffer>): Promise<RoundRecord> {
    return pushRound(this.ctx, this.find(id), round, snapshot, size, stream);
  }

  /** Compares the source's 1 MiB block hashes with the target's after the last round (`TargetDigests.compare`). */
  async compare(id: string, blocksOrFirst: number | readonly number[], sourceHashes: Buffer, fresh: boolean): Promise<BlockComparison> {
    return this.ctx.digests.compare(this.find(id), blocksOrFirst, sourceHashes, fresh);
  }

  /** Freezes the job at the next round boundary (now, when no round is active). */
  freeze(id: string, point: string): JobStatus {
    return freeze(this.ctx, this.find(id), point);
  }

  /**
   * Points the job at another way to reach its source (a new proxy address, another PSK). The
   * target keeps its data; a round already copying finishes with the source it opened.
   */
  updateSource(id: string, source: JobSpec["source"]): JobStatus {
    const job = this.find(id);
    if (isPushed(source) !== isPushed(job.record.spec.source)) {
      throw new JobRequestError(
        409,
        `Job ${id} ${isPushed(job.record.spec.source) ? "is pushed by a proxy" : "reads its source itself"}; register another job to change that.`,
      );
    }
    if (!isPushed(source)) {
      checkSourceUri(source.uri);
      if (source.credentials !== undefined) credentialsFile(this.options, source.credentials);
    }
    if (JSON.stringify(job.record.spec.source) === JSON.stringify(source)) return jobStatus(job);
    const previous = job.record.spec.source;
    const next: JobRecord = { ...job.record, spec: { ...job.record.spec, source } };
    updateRecord(this.options, job, next);
    this.options.logger.log("info", "job source updated", { job: id, from: describeSource(previous), to: describeSource(source) });
    return jobStatus(job);
  }

  /**
   * Ends a freeze; thawing a job that is not frozen is a no-op. With `point`, a freeze held for
   * another point is left alone (destroying one rehearsal never ends another's freeze).
   */
  thaw(id: string, point?: string): JobStatus {
    return thaw(this.ctx, this.find(id), point);
  }

  /** Starts comparing the source's digest with the target's (no round may be active). */
  verify(id: string): JobStatus {
    return verify(this.ctx, this.find(id));
  }

  /**
   * Stops the job's work and forgets it; its target keeps every byte written. Resolves once the
   * round in progress has stopped: no write reaches the target after that, so the target may be
   * given to another job at once.
   */
  async unregister(id: string): Promise<void> {
    const job = this.find(id);
    job.removed = true;
    job.abort?.abort(new Error("job unregistered"));
    if (job.retryTimer !== undefined) clearTimeout(job.retryTimer);
    await job.runPromise;
    this.jobs.delete(id);
    this.options.state.removeJob(id);
    this.options.logger.log("info", "job unregistered", { job: id });
  }

  /** Stops every running round and waits until each has let go of its disks (journals stay for the next start). */
  async close(): Promise<void> {
    this.ctx.closed = true;
    clearInterval(this.saver);
    for (const job of this.jobs.values()) {
      job.abort?.abort(new Error("agent stopping"));
      if (job.retryTimer !== undefined) clearTimeout(job.retryTimer);
    }
    await Promise.allSettled([...this.jobs.values()].map((j) => j.runPromise));
    this.saveUnsaved();
  }

  private find(id: string): Job {
    const job = this.jobs.get(id);
    if (job === undefined || job.removed) throw new JobRequestError(404, `No job ${id} on this agent.`);
    return job;
  }

  /** Refuses an extent list that reaches past the end of the source, naming the first bad extents. */
  private async checkExtents(job: Job, extents: readonly Extent[]): Promise<void> {
    let size = job.record.sourceSize;
    if (size === undefined) {
      try {
        size = await this.options.dataPlane.size(sourceSpec(this.options, job.record.spec));
      } catch (err) {
        throw new JobRequestError(409, `The source of job ${job.record.spec.id} cannot be opened to check the extents: ${(err as Error).message}`);
      }
    }
    const bad = extents.flatMap((e, index) => (e.offset + e.length > size ? [{ index, offset: e.offset, length: e.length }] : []));
    if (bad.length > 0) {
      throw new JobRequestError(
        400,
        `${bad.length} of the round's extents end past the end of the source disk (${size} bytes), the first at index ${bad[0].index}.`,
        {
          problems: bad.slice(0, 20).map((b) => ({
            severity: "error",
            field: `changed.extents[${b.index}]`,
            received: `offset ${b.offset}, length ${b.length}`,
            expected: `a range inside ${size} bytes`,
            fix: "send the changed areas of this disk",
            message: "An extent ends past the end of the source disk",
          })),
        },
      );
    }
  }

  private saveUnsaved(): void {
    for (const job of this.jobs.values()) {
      if (job.unsaved && saveRecord(this.options, job) && job.record.active === undefined) this.options.state.removeJournals(job.record.spec.id);
    }
  }
}
