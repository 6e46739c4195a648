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
 * The target's digest after a round: the agent keeps the target's 1 MiB block hashes in
 * `digests/<id>.blocks`, stamped with the round they were taken after and the target file's
 * stat. A `bitmap:NAME` or explicit-extents round re-hashes only the blocks its changed ranges
 * touch (the copier aligns requests to the disks' minimum block size, at most 64 KiB in NBD, so
 * its writes never leave those blocks); a `full`, `allocated` or `hash` round, a resumed or retried round, and a missing, stale
 * or foreign hash file read the whole target and rebuild the file. The file is removed when a
 * round starts, so a round interrupted at any point leaves no hashes to trust. Verification
 * (`verify`) always reads both disks in full.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ActiveRound, Changed, Digest, JobSpec, JobState, JobStatus, RoundRecord, Verification } from "./api";
import type { Logger } from "./log";
import type { Scheduler } from "./scheduler";
import type { Extent as ReplicationExtent, SyncProgress, SyncResult } from "../replication";
import { BLOCK_HASH_BYTES, BlockDigests, blocksTouched, parseBlockDigests, type BlockDigestIdentity } from "../replication/block-digests";
import { DIGEST_ALGORITHM, DIGEST_BLOCK } from "../replication/verify";
import type { BlockHashes } from "./block-hashes";
import { writeFileAtomic, type StateDir } from "./store";

/** What a round reports while it runs, and what the copier reports when it ends: `lib/replication`'s own types. */
export type RoundProgress = SyncProgress;
export type CopyResult = SyncResult;

/** The data plane the agent drives: `lib/replication` in production, the same in tests. */
export interface DataPlane {
  sync(options: {
    source: string;
    target: string;
    changed: Changed;
    journal: string;
    bandwidth?: unknown;
    onProgress?: (p: RoundProgress) => void;
    signal?: AbortSignal;
  }): Promise<CopyResult>;
  /** Digest of a disk, of its first `length` bytes when given (a target larger than its source). */
  digest(spec: string, length?: number): Promise<Digest>;
  /** Size of a disk in bytes. */
  size(spec: string): Promise<number>;
  /**
   * The byte ranges a round with `changed` (`bitmap:NAME` or explicit extents) may write on the
   * target, as the copier's extent source yields them. Without it every digest reads the whole target.
   */
  changedExtents?(source: string, changed: Changed): Promise<Extent[]>;
  /** The 1 MiB block hashes of the first `length` bytes of a disk: of `blocks` (sorted) only, or of all. */
  blockHashes?(spec: string, length: number, blocks?: readonly number[], signal?: AbortSignal): Promise<BlockHashes>;
}

/** A byte range of a disk. */
export type Extent = ReplicationExtent;

/** Raised for requests the current job state cannot accept; `status` is the HTTP status. */
export class JobRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "JobRequestError";
  }
}

/** What the job manager works with. */
export interface JobManagerOptions {
  readonly state: StateDir;
  readonly scheduler: Scheduler;
  readonly dataPlane: DataPlane;
  readonly logger: Logger;
  /** Devices or files jobs may write to; anything else is refused. */
  readonly allow: readonly string[];
  /** Directory the credentials references name files in. */
  readonly credentialsDir?: string;
  /** Shared bandwidth limiter passed to every round (a `Throttle`). */
  readonly bandwidth?: unknown;
  /** Attempts per round before the job goes to `error`. @default 5 */
  readonly maxAttempts?: number;
  /** First retry delay, doubled per attempt. @default 1000 */
  readonly retryDelayMs?: number;
}

/** What is saved in `jobs/<id>.json`. */
interface JobRecord {
  readonly version: 1;
  spec: JobSpec;
  state: JobState;
  active?: { round: number; changed: Changed; requestedAt: string; attempts: number };
  lastRound?: RoundRecord;
  rounds: Omit<RoundRecord, "changed">[];
  /** The source's size, learnt at the first round: digests of the target cover this many bytes. */
  sourceSize?: number;
  frozenFor?: string;
  freezePending?: string;
  verification?: Verification;
  error?: string;
}

interface Job {
  record: JobRecord;
  /** A run is scheduled (waiting for a slot or copying). */
  running: boolean;
  /** The run holds a concurrency slot. */
  copying: boolean;
  startedAt?: string;
  progress?: RoundProgress;
  abort?: AbortController;
  retryTimer?: NodeJS.Timeout;
  /** The scheduled run, settled once its round ended or was aborted. */
  runPromise?: Promise<void>;
  /** The active round was loaded from disk after a restart: its target hashes are not trusted. */
  resumedRound?: boolean;
  removed: boolean;
}

/** Every job of an agent: requests from the API, runs under the scheduler, persistence. */
export class JobManager {
  private readonly jobs = new Map<string, Job>();
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly allowed: ReadonlyMap<string, string>;
  private closed = false;

  constructor(private readonly options: JobManagerOptions) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.allowed = new Map(options.allow.map((p) => [canonical(p), p]));
  }

  /** Loads saved jobs and resumes every unfinished round and verification. */
  resume(): void {
    const records = this.options.state.loadJobs<JobRecord>((file, err) =>
      this.options.logger.log("error", "job file unreadable; left in place", { file, error: String(err) }),
    );
    for (const record of records) {
      const job: Job = { record, running: false, copying: false, removed: false };
      this.jobs.set(record.spec.id, job);
      if (record.active !== undefined) {
        job.resumedRound = true;
        record.active.attempts = 0;
        record.state = record.active.round === 0 ? "initial-sync" : "syncing";
        this.options.logger.log("info", "job resumed", { job: record.spec.id, round: record.active.round });
      }
      if (record.verification?.state === "running") this.startVerification(job, record.verification.requestedAt);
      this.kick(job);
    }
  }

  list(): JobStatus[] {
    return [...this.jobs.values()].map((j) => this.status(j));
  }

  get(id: string): JobStatus {
    return this.status(this.find(id));
  }

  /** Registers a job and queues its initial sync; registering the same spec again is a no-op. */
  register(spec: JobSpec): { status: JobStatus; created: boolean } {
    const existing = this.jobs.get(spec.id);
    if (existing !== undefined) {
      if (JSON.stringify(existing.record.spec) === JSON.stringify(spec)) return { status: this.status(existing), created: false };
      throw new JobRequestError(409, `Job ${spec.id} exists with a different source or target; unregister it first.`);
    }
    if (!this.allowed.has(canonical(spec.target))) {
      throw new JobRequestError(403, `Target ${spec.target} is not in the agent's allow-list.`, { allow: [...this.allowed.values()] });
    }
    for (const other of this.jobs.values()) {
      if (canonical(other.record.spec.target) === canonical(spec.target)) {
        throw new JobRequestError(409, `Target ${spec.target} is already used by job ${other.record.spec.id}.`);
      }
    }
    if (!fs.existsSync(spec.target)) throw new JobRequestError(400, `Target ${spec.target} does not exist on the gateway.`);
    if (spec.source.credentials !== undefined) this.credentialsFile(spec.source.credentials);
    const record: JobRecord = {
      version: 1,
      spec,
      state: "initial-sync",
      active: { round: 0, changed: spec.initial, requestedAt: new Date().toISOString(), attempts: 0 },
      rounds: [],
    };
    const job: Job = { record, running: false, copying: false, removed: false };
    this.save(job);
    this.jobs.set(spec.id, job);
    this.options.logger.log("info", "job registered", { job: spec.id, source: spec.source.uri, target: spec.target });
    this.kick(job);
    return { status: this.status(job), created: true };
  }

  /** Requests round `round`; a round already requested or done is acknowledged without a new copy. */
  requestRound(id: string, round: number, changed: Changed): JobStatus {
    const job = this.find(id);
    const r = job.record;
    if (r.lastRound !== undefined && r.lastRound.round >= round) return this.status(job);
    if (r.active !== undefined) {
      if (r.active.round !== round) {
        throw new JobRequestError(409, `Job ${id} is busy with round ${r.active.round}; wait for it before asking for round ${round}.`);
      }
      if (r.state === "error") {
        r.active.attempts = 0;
        r.error = undefined;
        r.state = round === 0 ? "initial-sync" : "syncing";
        this.save(job);
        this.kick(job);
      }
      return this.status(job);
    }
    if (r.state === "frozen" || r.freezePending !== undefined) {
      throw new JobRequestError(409, `Job ${id} is frozen for rehearsal point ${r.frozenFor ?? r.freezePending}; thaw it before a new round.`);
    }
    if (r.verification?.state === "running") throw new JobRequestError(409, `Job ${id} is being verified; wait for the verification to end.`);
    r.active = { round, changed, requestedAt: new Date().toISOString(), attempts: 0 };
    r.state = "syncing";
    r.error = undefined;
    this.save(job);
    this.options.logger.log("info", "round requested", { job: id, round, changed: describeChanged(changed) });
    this.kick(job);
    return this.status(job);
  }

  /** Freezes the job at the next round boundary (now, when no round is active). */
  freeze(id: string, point: string): JobStatus {
    const job = this.find(id);
    const r = job.record;
    if (r.state === "frozen") {
      if (r.frozenFor === point) return this.status(job);
      throw new JobRequestError(409, `Job ${id} is already frozen for rehearsal point ${r.frozenFor}.`);
    }
    if (r.state === "error") throw new JobRequestError(409, `Job ${id} is in error (${r.error}); request its round again before freezing.`);
    if (r.active === undefined) {
      r.state = "frozen";
      r.frozenFor = point;
      r.freezePending = undefined;
    } else {
      r.freezePending = point;
    }
    this.save(job);
    this.options.logger.log("info", r.state === "frozen" ? "job frozen" : "freeze pending round end", { job: id, point });
    return this.status(job);
  }

  /**
   * Points the job at another way to reach its source (a new proxy address, another PSK). The
   * target keeps its data; a round already copying finishes with the source it opened.
   */
  updateSource(id: string, source: JobSpec["source"]): JobStatus {
    const job = this.find(id);
    if (source.credentials !== undefined) this.credentialsFile(source.credentials);
    if (JSON.stringify(job.record.spec.source) === JSON.stringify(source)) return this.status(job);
    const previous = job.record.spec.source;
    job.record.spec = { ...job.record.spec, source };
    this.save(job);
    this.options.logger.log("info", "job source updated", { job: id, from: previous.uri, to: source.uri });
    return this.status(job);
  }

  /**
   * Ends a freeze; thawing a job that is not frozen is a no-op. With `point`, a freeze held for
   * another point is left alone (destroying one rehearsal never ends another's freeze).
   */
  thaw(id: string, point?: string): JobStatus {
    const job = this.find(id);
    const r = job.record;
    if (point !== undefined && (r.frozenFor ?? r.freezePending) !== undefined && (r.frozenFor ?? r.freezePending) !== point) return this.status(job);
    r.freezePending = undefined;
    if (r.state === "frozen") {
      r.state = "idle";
      this.options.logger.log("info", "job thawed", { job: id, point: r.frozenFor });
      r.frozenFor = undefined;
    }
    this.save(job);
    return this.status(job);
  }

  /** Starts comparing the source's digest with the target's (no round may be active). */
  verify(id: string): JobStatus {
    const job = this.find(id);
    const r = job.record;
    if (r.active !== undefined) throw new JobRequestError(409, `Job ${id} is copying round ${r.active.round}; verify once it is idle.`);
    if (r.verification?.state !== "running") this.startVerification(job, new Date().toISOString());
    return this.status(job);
  }

  /** Stops the job's work and forgets it; its target keeps every byte written. */
  unregister(id: string): void {
    const job = this.find(id);
    job.removed = true;
    job.abort?.abort(new Error("job unregistered"));
    if (job.retryTimer !== undefined) clearTimeout(job.retryTimer);
    this.jobs.delete(id);
    this.options.state.removeJob(id);
    this.options.logger.log("info", "job unregistered", { job: id });
  }

  /** Stops every running round and waits until each has let go of its disks (journals stay for the next start). */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.jobs.values()) {
      job.abort?.abort(new Error("agent stopping"));
      if (job.retryTimer !== undefined) clearTimeout(job.retryTimer);
    }
    await Promise.allSettled([...this.jobs.values()].map((j) => j.runPromise));
  }

  private find(id: string): Job {
    const job = this.jobs.get(id);
    if (job === undefined) throw new JobRequestError(404, `No job ${id} on this agent.`);
    return job;
  }

  private credentialsFile(name: string): string {
    const dir = this.options.credentialsDir;
    if (dir === undefined) throw new JobRequestError(400, `The agent has no credentials directory, so credentials ${name} cannot be used; start it with --credentials DIR.`);
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) throw new JobRequestError(400, `No credentials file ${name} in the agent's credentials directory.`);
    return file;
  }

  /** The source spec handed to the copier: the URI plus the PSK file it references. */
  private sourceSpec(spec: JobSpec): string {
    if (spec.source.credentials === undefined) return spec.source.uri;
    const file = this.credentialsFile(spec.source.credentials);
    return `${spec.source.uri}${spec.source.uri.includes("?") ? "&" : "?"}tls-psk-file=${encodeURIComponent(file)}`;
  }

  private kick(job: Job): void {
    const r = job.record;
    if (this.closed || job.removed || job.running || r.active === undefined || r.state === "error" || r.state === "stalled") return;
    job.running = true;
    job.runPromise = this.run(job).catch((err: unknown) => {
      this.options.logger.log("error", "job run failed unexpectedly", { job: job.record.spec.id, error: String(err) });
    });
  }

  private async run(job: Job): Promise<void> {
    const release = await this.options.scheduler.acquire();
    const r = job.record;
    const active = r.active;
    try {
      if (this.closed || job.removed || active === undefined) return;
      const abort = new AbortController();
      job.abort = abort;
      job.copying = true;
      job.startedAt = new Date().toISOString();
      job.progress = undefined;
      r.state = active.round === 0 ? "initial-sync" : "syncing";
      this.options.logger.log("info", "round started", { job: r.spec.id, round: active.round, changed: describeChanged(active.changed) });
      if (r.sourceSize === undefined) {
        r.sourceSize = await this.options.dataPlane.size(this.sourceSpec(r.spec));
        this.save(job);
      }
      const cached = this.takeBlockDigests(job, active.attempts === 0 && !job.resumedRound);
      const result = await this.options.dataPlane.sync({
        source: this.sourceSpec(r.spec),
        target: r.spec.target,
        changed: active.changed,
        journal: this.options.state.journalFile(r.spec.id, active.round),
        bandwidth: this.options.bandwidth,
        onProgress: (p) => {
          job.progress = p;
        },
        signal: abort.signal,
      });
      if (job.removed || this.closed) return;
      const taken = await this.targetDigest(job, active.round, active.changed, cached, result.resumed, abort.signal);
      if (job.removed || this.closed) return;
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
      this.save(job);
      this.options.state.removeJournals(r.spec.id);
      this.options.logger.log("info", "round finished", {
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
      if (job.removed || this.closed || active === undefined) return;
      active.attempts++;
      r.error = err instanceof Error ? err.message : String(err);
      const retry = active.attempts < this.maxAttempts;
      r.state = retry ? "stalled" : "error";
      this.save(job);
      this.options.logger.log(retry ? "warn" : "error", retry ? "round failed; will retry" : "round failed; giving up", {
        job: r.spec.id,
        round: active.round,
        attempt: active.attempts,
        error: r.error,
      });
      if (retry) {
        job.retryTimer = setTimeout(() => {
          job.retryTimer = undefined;
          if (r.state !== "stalled") return;
          r.state = active.round === 0 ? "initial-sync" : "syncing";
          this.kick(job);
        }, this.retryDelayMs * 2 ** (active.attempts - 1));
      }
    } finally {
      job.running = false;
      job.copying = false;
      job.abort = undefined;
      release();
      this.kick(job);
    }
  }

  /** The identity the target's block hashes must have after round `round` (undefined: none yet). */
  private blockIdentity(job: Job, round: number | undefined): BlockDigestIdentity {
    const r = job.record;
    let stat = "missing";
    try {
      const st = fs.statSync(r.spec.target);
      stat = st.isFile() ? `file:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}` : `device:${st.rdev}`;
    } catch {
      // A target that cannot be stat'ed never matches saved hashes.
    }
    return { target: r.spec.target, size: r.sourceSize ?? -1, algorithm: DIGEST_ALGORITHM, block: DIGEST_BLOCK, stamp: `after-round:${round ?? "none"};${stat}` };
  }

  /**
   * Loads the target's saved block hashes when `trusted` and they match the job's last round and
   * the target as it is now, then removes the file (a round is about to write the target).
   */
  private takeBlockDigests(job: Job, trusted: boolean): BlockDigests | undefined {
    const file = this.options.state.blockDigestsFile(job.record.spec.id);
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch {
      return undefined;
    }
    fs.rmSync(file, { force: true });
    if (!trusted) {
      this.options.logger.log("info", "target block hashes not used: the round was resumed or retried", { job: job.record.spec.id });
      return undefined;
    }
    const parsed = parseBlockDigests(data, this.blockIdentity(job, job.record.lastRound?.round));
    if (parsed.ok) return parsed.digests;
    this.options.logger.log("warn", "target block hashes not used", { job: job.record.spec.id, reason: parsed.reason });
    return undefined;
  }

  /**
   * The target's digest after round `round`: the saved block hashes with the blocks the round may
   * have changed re-hashed, or a full read; saves the hashes for the next round.
   */
  private async targetDigest(
    job: Job,
    round: number,
    changed: Changed,
    cached: BlockDigests | undefined,
    resumed: boolean,
    signal: AbortSignal,
  ): Promise<{ digest: Digest; mode: "full" | "incremental"; bytesRead: number }> {
    const r = job.record;
    const plane = this.options.dataPlane;
    const size = r.sourceSize as number;
    if (plane.blockHashes === undefined) {
      const digest = await plane.digest(r.spec.target, size);
      return { digest, mode: "full", bytesRead: digest.size };
    }
    let digests: BlockDigests | undefined;
    let bytesRead = 0;
    let mode: "full" | "incremental" = "full";
    const rangesKnown = typeof changed === "object" || changed.startsWith("bitmap:");
    if (cached !== undefined && !resumed && rangesKnown && plane.changedExtents !== undefined) {
      try {
        const extents = await plane.changedExtents(this.sourceSpec(r.spec), changed);
        const read = await plane.blockHashes(r.spec.target, size, blocksTouched(extents, cached.identity.size), signal);
        if (read.size === cached.identity.size && read.blocks !== undefined) {
          read.blocks.forEach((block, i) => cached.set(block, read.hashes.subarray(i * BLOCK_HASH_BYTES, (i + 1) * BLOCK_HASH_BYTES)));
          digests = cached;
          bytesRead = read.bytesRead;
          mode = "incremental";
        }
      } catch (err) {
        if (signal.aborted) throw err;
        this.options.logger.log("warn", "incremental target digest failed; reading the whole target", { job: r.spec.id, error: String(err) });
      }
    }
    if (digests === undefined) {
      const read = await plane.blockHashes(r.spec.target, size, undefined, signal);
      bytesRead = read.bytesRead;
      if (read.size !== size) {
        const digest = new BlockDigests({ ...this.blockIdentity(job, round), size: read.size }, read.hashes).digest();
        return { digest, mode, bytesRead };
      }
      digests = new BlockDigests(this.blockIdentity(job, round), read.hashes);
    }
    const stamped = digests.withIdentity(this.blockIdentity(job, round));
    writeFileAtomic(this.options.state.blockDigestsFile(r.spec.id), stamped.serialize());
    return { digest: stamped.digest(), mode, bytesRead };
  }

  private startVerification(job: Job, requestedAt: string): void {
    const r = job.record;
    r.verification = { state: "running", requestedAt };
    this.save(job);
    void (async () => {
      const release = await this.options.scheduler.acquire();
      try {
        if (job.removed || this.closed) return;
        const source = await this.options.dataPlane.digest(this.sourceSpec(r.spec));
        const target = await this.options.dataPlane.digest(r.spec.target, source.size);
        const equal = source.algorithm === target.algorithm && source.digest === target.digest && source.size === target.size;
        r.verification = { state: "done", requestedAt, finishedAt: new Date().toISOString(), source, target, equal };
        this.options.logger.log(equal ? "info" : "error", equal ? "verified: digests equal" : "verification failed: digests differ", {
          job: r.spec.id,
          source: source.digest,
          target: target.digest,
        });
      } catch (err) {
        if (job.removed || this.closed) return;
        r.verification = { state: "failed", requestedAt, finishedAt: new Date().toISOString(), error: err instanceof Error ? err.message : String(err) };
        this.options.logger.log("error", "verification could not run", { job: r.spec.id, error: r.verification.error });
      } finally {
        release();
      }
      if (!job.removed && !this.closed) this.save(job);
    })();
  }

  private save(job: Job): void {
    if (job.removed) return;
    this.options.state.saveJob(job.record.spec.id, job.record);
  }

  private status(job: Job): JobStatus {
    const r = job.record;
    const active: ActiveRound | undefined =
      r.active === undefined
        ? undefined
        : {
            round: r.active.round,
            changed: r.active.changed,
            requestedAt: r.active.requestedAt,
            startedAt: job.copying ? job.startedAt : undefined,
            queued: !job.copying && r.state !== "error" && r.state !== "stalled",
            attempts: r.active.attempts,
            phase: job.progress?.phase,
            bytesDone: job.progress?.bytesDone ?? 0,
            bytesTotal: job.progress?.bytesTotal ?? 0,
            rate: job.progress?.rate ?? 0,
            etaSeconds: job.progress?.etaSeconds ?? 0,
          };
    return {
      id: r.spec.id,
      source: r.spec.source,
      target: r.spec.target,
      state: r.state,
      active,
      lastRound: r.lastRound,
      rounds: r.rounds,
      lagSeconds: r.lastRound === undefined ? undefined : Math.max(0, (Date.now() - Date.parse(r.lastRound.startedAt)) / 1000),
      frozenFor: r.frozenFor,
      verification: r.verification,
      error: r.error,
    };
  }
}

/** A path with `..` and symlinks of existing parents resolved, so two spellings of one device compare equal. */
function canonical(p: string): string {
  const resolved = path.resolve(p);
  try {
    return fs.realpathSync(resolved);
  } catch {
    return resolved;
  }
}

function describeChanged(changed: Changed): string {
  return typeof changed === "string" ? changed : `extents(${changed.extents.length})`;
}
