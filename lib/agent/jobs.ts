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
import {
  isPushed,
  RegisterRequestSchema,
  type ActiveRound,
  type Changed,
  type Digest,
  type JobSpec,
  type JobState,
  type JobStatus,
  type RoundRecord,
  type RoundSource,
  type Verification,
} from "./api";
import type { Logger } from "../service/log";
import type { Scheduler } from "./scheduler";
import type { Extent as ReplicationExtent, SyncProgress, SyncResult, TargetIdentity } from "../replication";
import type { BlockDevice } from "../replication/device";
import { parseNbdUri } from "../replication/nbd/uri";
import { openDevice } from "../replication/open";
import { zstdVersion } from "../link/codec";
import { applyFrames } from "./push";
import { InputError } from "../problems";
import { BLOCK_HASH_BYTES, BlockDigests, blocksTouched, parseBlockDigests, type BlockDigestIdentity } from "../replication/sha256-blocks";
import { DIGEST_ALGORITHM, DIGEST_BLOCK } from "../replication/verify";
import type { BlockHashes } from "../replication/block-hashes";
import { writeFileAtomic } from "../service/files";
import { DiskNotFound, findDisk, isDiskId, type DiskLookup } from "./disks";
import { HttpError } from "../service/http";
import type { StateDir } from "./store";

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
    /** The journal stays, marked complete, until the agent has recorded the round. */
    keepJournal: true;
    /** The opened target must be exactly this file or device. */
    expectTarget: TargetIdentity;
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
export class JobRequestError extends HttpError {
  constructor(status: number, message: string, details: Record<string, unknown> = {}) {
    super(status, message, details);
    this.name = "JobRequestError";
  }
}

/** What the job manager works with. */
export interface JobManagerOptions {
  readonly state: StateDir;
  readonly scheduler: Scheduler;
  readonly dataPlane: DataPlane;
  readonly logger: Logger;
  /** Cloud disk ids, devices or files jobs may write to; anything else is refused. */
  readonly allow: readonly string[];
  /** Where cloud disk ids are looked up. @default - `/dev/disk/by-id` and `/sys/dev/block` */
  readonly disks?: DiskLookup;
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
  /** The target as registered: its real path (symbolic links and `..` resolved) and what it is. */
  resolved?: { path: string; identity: TargetIdentity };
  state: JobState;
  active?: {
    round: number;
    changed: RoundSource;
    requestedAt: string;
    attempts: number;
    /** A pushed round: the proxy's snapshot it holds, and how far it is durably on the target. */
    snapshot?: string;
    pushedUpTo?: number;
  };
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
  /** The record changed in memory but could not be saved (a full state directory): saved again later. */
  unsaved?: boolean;
  /** The job file could not be read: the job is kept, in error, until an operator repairs or deletes it. */
  broken?: string;
}

/** Every job of an agent: requests from the API, runs under the scheduler, persistence. */
export class JobManager {
  private readonly jobs = new Map<string, Job>();
  /** Failed round attempts (read or pushed) per job since the agent started, for `/metrics`. */
  private readonly failures = new Map<string, number>();
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private closed = false;
  /** Saves records that could not be saved when they changed (a state directory briefly full). */
  private readonly saver: NodeJS.Timeout;

  constructor(private readonly options: JobManagerOptions) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
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
      if (record.verification?.state === "running") this.startVerification(job, record.verification.requestedAt);
      this.kick(job);
    }
  }

  list(): JobStatus[] {
    return [...this.jobs.values()].filter((j) => !j.removed).map((j) => this.status(j));
  }

  get(id: string): JobStatus {
    return this.status(this.find(id));
  }

  /** Every job's status with its failed round attempts since the agent started. */
  withFailures(): Array<{ status: JobStatus; failures: number }> {
    return this.list().map((status) => ({ status, failures: this.failures.get(status.id) ?? 0 }));
  }

  private countFailure(id: string): void {
    this.failures.set(id, (this.failures.get(id) ?? 0) + 1);
  }

  /** Registers a job and queues its initial sync; registering the same spec again is a no-op. */
  register(spec: JobSpec): { status: JobStatus; created: boolean } {
    const existing = this.jobs.get(spec.id);
    if (existing !== undefined) {
      if (existing.removed) throw new JobRequestError(409, `Job ${spec.id} is being unregistered; register it again once that is done.`);
      if (JSON.stringify(existing.record.spec) === JSON.stringify(spec)) return { status: this.status(existing), created: false };
      throw new JobRequestError(409, `Job ${spec.id} exists with a different source or target; unregister it first.`);
    }
    if (!isPushed(spec.source)) checkSourceUri(spec.source.uri);
    const resolved = this.resolveTarget(spec.target);
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
    if (!isPushed(spec.source) && spec.source.credentials !== undefined) this.credentialsFile(spec.source.credentials);
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
    this.saveOrRefuse(job, record);
    this.jobs.set(spec.id, job);
    this.options.logger.log("info", "job registered", {
      job: spec.id,
      source: describeSource(spec.source),
      target: spec.target,
      resolvedTarget: resolved.path,
    });
    this.kick(job);
    return { status: this.status(job), created: true };
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
    if (r.lastRound !== undefined && r.lastRound.round >= round) return this.status(job);
    if (r.active !== undefined) {
      const failed = r.state === "error" || r.state === "stalled";
      if (r.active.round === round && !failed) return this.status(job);
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
    this.saveOrRefuse(job, next);
    if (job.retryTimer !== undefined) clearTimeout(job.retryTimer);
    job.retryTimer = undefined;
    job.record = next;
    this.options.logger.log("info", retried ? "failed round requested again" : "round requested", { job: id, round, changed: describeChanged(changed) });
    this.kick(job);
    return this.status(job);
  }

  /**
   * Applies a round pushed by the job's proxy: the frames of `stream` (see `lib/link/frames.ts`),
   * each checked against its hash, written to the target. Round `round` holds the proxy's
   * snapshot `snapshot`; pushed again with the same snapshot after a dropped link or a restart, it
   * resumes where the target's last checkpoint was (`active.pushedUpTo`), with another snapshot
   * it starts over. Answers once the round is recorded, with its record.
   */
  async push(id: string, round: number, snapshot: string, size: number, stream: AsyncIterable<Buffer>): Promise<RoundRecord> {
    const job = this.find(id);
    const r = job.record;
    if (!isPushed(r.spec.source)) throw new JobRequestError(409, `Job ${id} reads its source itself; rounds cannot be pushed to it.`);
    if (r.lastRound !== undefined && r.lastRound.round >= round) {
      if (r.lastRound.round === round && r.lastRound.snapshot === snapshot) return r.lastRound;
      throw new JobRequestError(409, `Job ${id} has recorded round ${r.lastRound.round}; push a later round.`);
    }
    if (r.state === "frozen" || r.freezePending !== undefined) {
      throw new JobRequestError(409, `Job ${id} is frozen for rehearsal point ${r.frozenFor ?? r.freezePending}; push again after the thaw.`);
    }
    if (job.running) throw new JobRequestError(409, `Job ${id} is taking a pushed round already.`);
    if (r.sourceSize !== undefined && r.sourceSize !== size)
      throw new JobRequestError(409, `Job ${id}'s source was ${r.sourceSize} bytes; a push of ${size} bytes is another disk.`);
    const resumes = r.active !== undefined && r.active.round === round && r.active.snapshot === snapshot;
    const from = resumes ? (r.active!.pushedUpTo ?? 0) : 0;
    const next: JobRecord = {
      ...r,
      sourceSize: size,
      active: { round, changed: "push", requestedAt: new Date().toISOString(), attempts: 0, snapshot, pushedUpTo: from },
      state: round === 0 || r.lastRound === undefined ? "initial-sync" : "syncing",
      error: undefined,
    };
    this.saveOrRefuse(job, next);
    job.record = next;
    job.running = true;
    let finished: () => void = () => undefined;
    job.runPromise = new Promise<void>((resolve) => (finished = resolve));
    const release = await this.options.scheduler.acquire();
    const abort = new AbortController();
    job.abort = abort;
    job.copying = true;
    job.startedAt = new Date().toISOString();
    const active = next.active!;
    this.options.logger.log("info", resumes && from > 0 ? "pushed round resumed" : "pushed round started", { job: id, round, snapshot, from });
    let device: BlockDevice | undefined;
    try {
      const target = this.targetForRound(job);
      device = await openDevice(target.path, { write: true });
      const opened = (device as { identity?: TargetIdentity }).identity;
      if (opened === undefined || !sameIdentity(opened, target.identity))
        throw new TargetRefused(`Target ${r.spec.target} changed between its check and its opening; nothing was written.`);
      if (device.size < size) throw new JobRequestError(409, `Target ${r.spec.target} has ${device.size} bytes, fewer than the source's ${size}.`);
      const cached = this.takeBlockDigests(job, !resumes && !job.resumedRound);
      const result = await applyFrames(stream, device, {
        from,
        size,
        checkpointBytes: 64 * 1024 * 1024,
        signal: abort.signal,
        onCheckpoint: (c) => {
          active.pushedUpTo = c.pushedUpTo;
          job.progress = { phase: "push", bytesDone: c.pushedUpTo, bytesTotal: size, rate: 0, etaSeconds: 0 } as RoundProgress;
          this.save(job);
        },
      });
      await device.close();
      device = undefined;
      const taken = await this.targetDigestAfterPush(job, target.path, round, result.touched, cached, resumes, abort.signal);
      const record: RoundRecord = {
        round,
        changed: "push",
        snapshot,
        startedAt: job.startedAt,
        finishedAt: new Date().toISOString(),
        seconds: (Date.now() - Date.parse(job.startedAt)) / 1000,
        bytesRead: result.counters.bytesWritten,
        bytesWritten: result.counters.bytesWritten,
        bytesZeroed: result.counters.bytesZeroed,
        bytesSkipped: Math.max(0, size - result.counters.bytesWritten - result.counters.bytesZeroed),
        linkBytes: result.counters.linkBytes,
        frames: { zstd: result.counters.zstdFrames, raw: result.counters.rawFrames, zero: result.counters.zeroFrames },
        resumed: resumes && from > 0,
        digest: taken.digest,
        digestMode: taken.mode,
        digestBytesRead: taken.bytesRead,
      };
      next.lastRound = record;
      const { changed: _changed, ...summary } = record;
      next.rounds = [...next.rounds, summary];
      next.active = undefined;
      next.error = undefined;
      next.state = "idle";
      job.resumedRound = false;
      this.save(job);
      this.options.logger.log("info", "pushed round finished", {
        job: id,
        round,
        bytesWritten: record.bytesWritten,
        bytesZeroed: record.bytesZeroed,
        linkBytes: record.linkBytes,
        codec: codecOf(record.frames!),
        frames: record.frames,
        digest: record.digest.digest,
        digestMode: record.digestMode,
      });
      return record;
    } catch (err) {
      next.error = err instanceof Error ? err.message : String(err);
      this.countFailure(id);
      if (err instanceof TargetRefused) next.state = "error";
      this.save(job);
      this.options.logger.log("warn", "pushed round stopped; it resumes when pushed again", {
        job: id,
        round,
        pushedUpTo: active.pushedUpTo,
        error: next.error,
      });
      if (err instanceof JobRequestError) throw err;
      const name = (err as Error).name;
      if (name === "FrameHashError") {
        const { offset, length } = err as { offset: number; length: number };
        this.options.logger.log("warn", "a pushed frame was refused: its bytes do not match its hash; nothing of it was written", {
          job: id,
          round,
          offset,
          length,
          pushedUpTo: active.pushedUpTo,
        });
        throw new JobRequestError(422, (err as Error).message, { pushedUpTo: active.pushedUpTo, frameOffset: offset });
      }
      if (name === "LinkProtocolError") throw new JobRequestError(422, (err as Error).message, { pushedUpTo: active.pushedUpTo });
      if (err instanceof TargetRefused) throw new JobRequestError(403, (err as Error).message);
      throw err;
    } finally {
      await device?.close().catch(() => undefined);
      job.running = false;
      job.copying = false;
      job.abort = undefined;
      release();
      finished();
    }
  }

  /**
   * Compares the source's 1 MiB block hashes with the target's after the last round: of the
   * blocks from `first` on (`blocks` a number), or of the listed blocks; from the hashes the agent
   * keeps, or read from the target now (`fresh`, as a cutover's check does). Returns the blocks
   * that differ.
   */
  async compare(
    id: string,
    blocksOrFirst: number | readonly number[],
    sourceHashes: Buffer,
    fresh: boolean,
  ): Promise<{ differing: number[]; compared: number; bytesRead: number }> {
    const job = this.find(id);
    const r = job.record;
    if (r.lastRound === undefined || r.sourceSize === undefined) throw new JobRequestError(409, `Job ${id} has no finished round to compare with.`);
    if (r.active !== undefined || job.running) throw new JobRequestError(409, `Job ${id} is taking round ${r.active?.round ?? "?"}; compare once it is idle.`);
    if (sourceHashes.length % BLOCK_HASH_BYTES !== 0)
      throw new JobRequestError(400, `The body holds ${sourceHashes.length} bytes, not a whole number of 32-byte block hashes.`);
    const count = sourceHashes.length / BLOCK_HASH_BYTES;
    const total = Math.ceil(r.sourceSize / DIGEST_BLOCK);
    const blocks = typeof blocksOrFirst === "number" ? Array.from({ length: count }, (_, i) => blocksOrFirst + i) : [...blocksOrFirst];
    if (blocks.length !== count) throw new JobRequestError(400, `${blocks.length} blocks are listed with ${count} hashes.`);
    const outside = blocks.find((b, i) => !Number.isInteger(b) || b < 0 || b >= total || (i > 0 && b <= blocks[i - 1]));
    if (outside !== undefined)
      throw new JobRequestError(400, `Block ${outside} is outside the disk's ${total} blocks or out of order (blocks are listed in increasing order).`);
    let target: Buffer | undefined;
    let bytesRead = 0;
    if (!fresh) {
      const kept = this.keptBlockDigests(job);
      if (kept !== undefined) target = Buffer.concat(blocks.map((b) => kept.hashes.subarray(b * BLOCK_HASH_BYTES, (b + 1) * BLOCK_HASH_BYTES)));
    }
    if (target === undefined) {
      const plane = this.options.dataPlane;
      if (plane.blockHashes === undefined) throw new JobRequestError(501, "This agent's data plane cannot hash blocks.");
      const read = await plane.blockHashes(this.targetForRound(job).path, r.sourceSize, blocks);
      target = read.hashes;
      bytesRead = read.bytesRead;
    }
    const differing: number[] = [];
    for (let i = 0; i < count; i++) {
      if (!target.subarray(i * BLOCK_HASH_BYTES, (i + 1) * BLOCK_HASH_BYTES).equals(sourceHashes.subarray(i * BLOCK_HASH_BYTES, (i + 1) * BLOCK_HASH_BYTES)))
        differing.push(blocks[i]);
    }
    return { differing, compared: count, bytesRead };
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
    const next: JobRecord = r.active === undefined ? { ...r, state: "frozen", frozenFor: point, freezePending: undefined } : { ...r, freezePending: point };
    this.saveOrRefuse(job, next);
    job.record = next;
    this.options.logger.log("info", next.state === "frozen" ? "job frozen" : "freeze pending round end", { job: id, point });
    return this.status(job);
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
      if (source.credentials !== undefined) this.credentialsFile(source.credentials);
    }
    if (JSON.stringify(job.record.spec.source) === JSON.stringify(source)) return this.status(job);
    const previous = job.record.spec.source;
    const next: JobRecord = { ...job.record, spec: { ...job.record.spec, source } };
    this.saveOrRefuse(job, next);
    job.record = next;
    this.options.logger.log("info", "job source updated", { job: id, from: describeSource(previous), to: describeSource(source) });
    return this.status(job);
  }

  /**
   * Ends a freeze; thawing a job that is not frozen is a no-op. With `point`, a freeze held for
   * another point is left alone (destroying one rehearsal never ends another's freeze).
   */
  thaw(id: string, point?: string): JobStatus {
    const job = this.find(id);
    const r = job.record;
    const held = r.frozenFor ?? r.freezePending;
    if (held === undefined || (point !== undefined && held !== point)) return this.status(job);
    const next: JobRecord = { ...r, freezePending: undefined, ...(r.state === "frozen" ? { state: "idle" as const, frozenFor: undefined } : {}) };
    this.saveOrRefuse(job, next);
    job.record = next;
    if (r.state === "frozen") this.options.logger.log("info", "job thawed", { job: id, point: held });
    this.kick(job);
    return this.status(job);
  }

  /** Starts comparing the source's digest with the target's (no round may be active). */
  verify(id: string): JobStatus {
    const job = this.find(id);
    const r = job.record;
    if (isPushed(r.spec.source))
      throw new JobRequestError(
        409,
        `Job ${id} does not read its source; ${r.spec.source.pushedBy} verifies it by block hashes (POST /v1/jobs/${id}/compare).`,
      );
    if (r.active !== undefined) throw new JobRequestError(409, `Job ${id} is copying round ${r.active.round}; verify once it is idle.`);
    if (r.verification?.state !== "running") this.startVerification(job, new Date().toISOString());
    return this.status(job);
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
    this.closed = true;
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

  /** The allowed targets now: each `--allow` entry's real path (devices may appear after the start). */
  private allowedTargets(): Map<string, string> {
    const allowed = new Map<string, string>();
    for (const entry of this.options.allow) {
      // A cloud disk id allows that disk only when a job names it by its id.
      if (isDiskId(entry)) continue;
      try {
        allowed.set(fs.realpathSync.native(entry), entry);
      } catch {
        // An entry that does not exist (yet) allows nothing.
      }
    }
    return allowed;
  }

  /**
   * The target's real path — symbolic links and `..` resolved as the kernel resolves them when
   * the copier opens it — if that is an allowed file or block device; refused otherwise.
   */
  private resolveTarget(target: string): { path: string; identity: TargetIdentity } {
    if (isDiskId(target)) return this.resolveDisk(target);
    let real: string;
    try {
      real = fs.realpathSync.native(target);
    } catch {
      throw new JobRequestError(400, `Target ${target} does not exist on the gateway.`);
    }
    if (!this.allowedTargets().has(real)) {
      throw new JobRequestError(403, `Target ${target} is not in the agent's allow-list${real !== target ? ` (it resolves to ${real})` : ""}.`, {
        allow: [...this.options.allow],
      });
    }
    const st = fs.statSync(real);
    if (!st.isFile() && !st.isBlockDevice()) throw new JobRequestError(400, `Target ${target} is neither a file nor a block device.`);
    return { path: real, identity: { dev: st.dev, ino: st.ino, rdev: st.rdev, blockDevice: st.isBlockDevice() } };
  }

  /**
   * A cloud disk id: allowed by that id, found through its by-id link, and the device the link
   * resolves to must report the disk's serial.
   */
  private resolveDisk(diskId: string): { path: string; identity: TargetIdentity } {
    if (!this.options.allow.includes(diskId)) {
      throw new JobRequestError(403, `Disk ${diskId} is not in the agent's allow-list.`, { allow: [...this.options.allow] });
    }
    let found: ReturnType<typeof findDisk>;
    try {
      found = findDisk(diskId, this.options.disks);
    } catch (err) {
      if (err instanceof DiskNotFound) throw new JobRequestError(err.kind === "mismatch" ? 403 : 400, err.message);
      throw err;
    }
    const st = fs.statSync(found.path);
    return { path: found.path, identity: { dev: st.dev, ino: st.ino, rdev: st.rdev, blockDevice: true } };
  }

  /**
   * Checks, before each round, that the target still resolves to what was registered and is
   * still allowed; the copier then opens exactly that path and checks the handle it opened. A
   * cloud disk may come back under another device name (a reboot, a re-attachment): its serial
   * is what identifies it, so the job follows it there.
   */
  private targetForRound(job: Job): { path: string; identity: TargetIdentity } {
    const r = job.record;
    let now: { path: string; identity: TargetIdentity };
    try {
      now = this.resolveTarget(r.spec.target);
    } catch (err) {
      throw new TargetRefused(
        `${(err as Error).message} The job's rounds are refused until its target is allowed again (rehost agent --allow) or the job is unregistered.`,
      );
    }
    const registered = r.resolved;
    if (isDiskId(r.spec.target)) {
      if (registered === undefined || registered.path !== now.path || !sameIdentity(registered.identity, now.identity)) {
        this.options.logger.log("info", "disk found under another device name", { job: r.spec.id, disk: r.spec.target, was: registered?.path, now: now.path });
        r.resolved = now;
      }
      return now;
    }
    if (registered !== undefined && (registered.path !== now.path || !sameIdentity(registered.identity, now.identity))) {
      throw new TargetRefused(
        `Target ${r.spec.target} now resolves to ${now.path}, not the ${registered.path} it was registered with; nothing was written. Unregister the job and register it again if the change is intended.`,
      );
    }
    return registered ?? now;
  }

  private credentialsFile(name: string): string {
    const dir = this.options.credentialsDir;
    if (dir === undefined)
      throw new JobRequestError(400, `The agent has no credentials directory, so credentials ${name} cannot be used; start it with --credentials DIR.`);
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) throw new JobRequestError(400, `No credentials file ${name} in the agent's credentials directory.`);
    return file;
  }

  /** Refuses an extent list that reaches past the end of the source, naming the first bad extents. */
  private async checkExtents(job: Job, extents: readonly Extent[]): Promise<void> {
    let size = job.record.sourceSize;
    if (size === undefined) {
      try {
        size = await this.options.dataPlane.size(this.sourceSpec(job.record.spec));
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

  /** The source spec handed to the copier: the URI plus the PSK file it references. */
  private sourceSpec(spec: JobSpec): string {
    const source = spec.source;
    if (isPushed(source)) throw new JobRequestError(409, `Job ${spec.id} does not read its source: ${source.pushedBy} pushes it.`);
    if (source.credentials === undefined) return source.uri;
    const file = this.credentialsFile(source.credentials);
    return `${source.uri}${source.uri.includes("?") ? "&" : "?"}tls-psk-file=${encodeURIComponent(file)}`;
  }

  private kick(job: Job): void {
    const r = job.record;
    if (this.closed || job.removed || job.broken !== undefined || job.running || r.active === undefined || r.state === "error" || r.state === "stalled") return;
    // A pushed round runs while its proxy pushes it.
    if (isPushed(r.spec.source)) return;
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
      const target = this.targetForRound(job);
      this.options.logger.log("info", "round started", { job: r.spec.id, round: active.round, changed: describeChanged(active.changed) });
      if (r.sourceSize === undefined) {
        r.sourceSize = await this.options.dataPlane.size(this.sourceSpec(r.spec));
        this.save(job);
      }
      const cached = this.takeBlockDigests(job, active.attempts === 0 && !job.resumedRound);
      const result = await this.options.dataPlane.sync({
        source: this.sourceSpec(r.spec),
        target: target.path,
        changed: active.changed,
        journal: this.options.state.journalFile(r.spec.id, active.round),
        keepJournal: true,
        expectTarget: target.identity,
        bandwidth: this.options.bandwidth,
        onProgress: (p) => {
          job.progress = p;
        },
        signal: abort.signal,
      });
      if (job.removed || this.closed) return;
      this.options.logger.log("info", "round copied; taking the target's digest", { job: r.spec.id, round: active.round });
      const taken = await this.targetDigest(job, target.path, active.round, active.changed, cached, result.resumed, abort.signal);
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
      // The journal goes only once the round is recorded: a crash before that resumes a round with nothing left to copy.
      if (this.save(job)) this.options.state.removeJournals(r.spec.id);
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
      this.countFailure(r.spec.id);
      r.error = err instanceof Error ? err.message : String(err);
      // A refused target is not retried: nothing may be written until an operator acts.
      const retry = active.attempts < this.maxAttempts && !(err instanceof TargetRefused) && !(err instanceof InputError && isTargetProblem(err));
      r.state = retry ? "stalled" : "error";
      this.options.logger.log(retry ? "warn" : "error", retry ? "round failed; will retry" : "round failed; giving up", {
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
            this.kick(job);
          },
          this.retryDelayMs * 2 ** (active.attempts - 1),
        );
      }
      // Saved after the retry is set: a state directory that cannot be written delays only the record.
      this.save(job);
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
      const st = fs.statSync(r.resolved?.path ?? r.spec.target);
      stat = st.isFile() ? `file:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}` : `device:${st.rdev}`;
    } catch {
      // A target that cannot be stat'ed never matches saved hashes.
    }
    return {
      target: r.spec.target,
      size: r.sourceSize ?? -1,
      algorithm: DIGEST_ALGORITHM,
      block: DIGEST_BLOCK,
      stamp: `after-round:${round ?? "none"};${stat}`,
    };
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

  /** The target's block hashes as kept after the last round, when they still hold; the file stays. */
  private keptBlockDigests(job: Job): BlockDigests | undefined {
    let data: Buffer;
    try {
      data = fs.readFileSync(this.options.state.blockDigestsFile(job.record.spec.id));
    } catch {
      return undefined;
    }
    const parsed = parseBlockDigests(data, this.blockIdentity(job, job.record.lastRound?.round));
    return parsed.ok ? parsed.digests : undefined;
  }

  /** The target's digest after a pushed round: the kept hashes with the blocks it wrote re-hashed, or a full read. */
  private async targetDigestAfterPush(
    job: Job,
    target: string,
    round: number,
    touched: readonly Extent[],
    cached: BlockDigests | undefined,
    resumed: boolean,
    signal: AbortSignal,
  ): Promise<{ digest: Digest; mode: "full" | "incremental"; bytesRead: number }> {
    const plane = this.options.dataPlane;
    const size = job.record.sourceSize as number;
    if (plane.blockHashes === undefined) {
      const digest = await plane.digest(target, size);
      return { digest, mode: "full", bytesRead: digest.size };
    }
    let digests: BlockDigests;
    let bytesRead: number;
    let mode: "full" | "incremental";
    if (cached !== undefined && !resumed && cached.identity.size === size) {
      const read = await plane.blockHashes(target, size, blocksTouched(touched, size), signal);
      read.blocks?.forEach((block, i) => cached.set(block, read.hashes.subarray(i * BLOCK_HASH_BYTES, (i + 1) * BLOCK_HASH_BYTES)));
      digests = cached;
      bytesRead = read.bytesRead;
      mode = "incremental";
    } else {
      const read = await plane.blockHashes(target, size, undefined, signal);
      digests = new BlockDigests(this.blockIdentity(job, round), read.hashes);
      bytesRead = read.bytesRead;
      mode = "full";
    }
    const stamped = digests.withIdentity(this.blockIdentity(job, round));
    writeFileAtomic(this.options.state.blockDigestsFile(job.record.spec.id), stamped.serialize());
    return { digest: stamped.digest(), mode, bytesRead };
  }

  /**
   * The target's digest after round `round`: the saved block hashes with the blocks the round may
   * have changed re-hashed, or a full read; saves the hashes for the next round.
   */
  private async targetDigest(
    job: Job,
    target: string,
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
      const digest = await plane.digest(target, size);
      return { digest, mode: "full", bytesRead: digest.size };
    }
    let digests: BlockDigests | undefined;
    let bytesRead = 0;
    let mode: "full" | "incremental" = "full";
    const rangesKnown = typeof changed === "object" || changed.startsWith("bitmap:");
    if (cached !== undefined && !resumed && rangesKnown && plane.changedExtents !== undefined) {
      try {
        const extents = await plane.changedExtents(this.sourceSpec(r.spec), changed);
        const read = await plane.blockHashes(target, size, blocksTouched(extents, cached.identity.size), signal);
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
      const read = await plane.blockHashes(target, size, undefined, signal);
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
        const targetPath = this.targetForRound(job).path;
        const source = await this.options.dataPlane.digest(this.sourceSpec(r.spec));
        const target = await this.options.dataPlane.digest(targetPath, source.size);
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

  /**
   * Saves the job's record; a failure (a full state directory) is logged and the record saved
   * again every few seconds until it lands. Returns whether it was saved now.
   */
  private save(job: Job): boolean {
    if (job.removed || job.broken !== undefined) return false;
    try {
      this.options.state.saveJob(job.record.spec.id, job.record);
      if (job.unsaved) this.options.logger.log("info", "job record saved again", { job: job.record.spec.id });
      job.unsaved = false;
      return true;
    } catch (err) {
      if (!job.unsaved) this.options.logger.log("error", "job record cannot be saved; trying again", { job: job.record.spec.id, error: String(err) });
      job.unsaved = true;
      return false;
    }
  }

  /** Saves `next` as the job's record, or refuses the request (503) leaving the job as it was. */
  private saveOrRefuse(job: Job, next: JobRecord): void {
    try {
      this.options.state.saveJob(next.spec.id, next);
      job.unsaved = false;
    } catch (err) {
      throw new JobRequestError(
        503,
        `The agent cannot save job ${next.spec.id} in its state directory (${(err as NodeJS.ErrnoException).code ?? String(err)}); nothing changed. Free space there and ask again.`,
      );
    }
  }

  private saveUnsaved(): void {
    for (const job of this.jobs.values()) {
      if (job.unsaved && this.save(job) && job.record.active === undefined) this.options.state.removeJournals(job.record.spec.id);
    }
  }

  private status(job: Job): JobStatus {
    const r = job.record;
    const active: ActiveRound | undefined =
      r.active === undefined
        ? undefined
        : {
            round: r.active.round,
            changed: r.active.changed,
            ...(r.active.snapshot !== undefined ? { snapshot: r.active.snapshot, pushedUpTo: r.active.pushedUpTo ?? 0 } : {}),
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

/** A round refused because its target is no longer what was registered and allowed. */
class TargetRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetRefused";
  }
}

/** Whether the data plane refused the target itself (swapped, read-only, too small): not worth a retry. */
function isTargetProblem(err: InputError): boolean {
  return err.problems.some((p) => p.field === "target");
}

function sameIdentity(a: TargetIdentity, b: TargetIdentity): boolean {
  return a.blockDevice === b.blockDevice && (a.blockDevice ? a.rdev === b.rdev : a.dev === b.dev && a.ino === b.ino);
}

/**
 * Refuses a source URI the agent would not follow: one it cannot parse (checked as the copier
 * parses it, after percent-decoding), or one naming key files or turning certificate checks off —
 * the agent runs as root, and key material is its own (`credentials`).
 */
function checkSourceUri(uri: string): void {
  let parsed: ReturnType<typeof parseNbdUri>;
  try {
    parsed = parseNbdUri(uri);
  } catch (err) {
    if (err instanceof InputError)
      throw new JobRequestError(400, `The source URI is not valid: ${err.problems.map((p) => p.message).join("; ")}.`, { problems: err.problems });
    throw err;
  }
  const refused = [
    parsed.tlsPskFile !== undefined ? "tls-psk-file" : undefined,
    parsed.tlsCertificates !== undefined ? "tls-certificates" : undefined,
    parsed.tlsVerifyPeer === false ? "tls-verify-peer=false" : undefined,
  ].filter((p): p is string => p !== undefined);
  if (refused.length > 0) {
    throw new JobRequestError(
      400,
      `The source URI sets ${refused.join(" and ")}: the agent's key files and certificate checks are its own; name a PSK file of its credentials directory with \`credentials\` instead.`,
    );
  }
}

/** A record as saved, checked: undefined when it is not one this agent wrote. */
function checkRecord(raw: unknown): JobRecord | undefined {
  if (raw === null || typeof raw !== "object") return undefined;
  const r = raw as Partial<JobRecord>;
  const spec = RegisterRequestSchema.safeParse(r.spec);
  if (r.version !== 1 || !spec.success || typeof r.state !== "string" || !Array.isArray(r.rounds)) return undefined;
  return { ...(r as JobRecord), spec: spec.data };
}

/** The record kept for a job whose file cannot be read: in error, holding nothing. */
function brokenRecord(id: string, reason: string): JobRecord {
  return { version: 1, spec: { id, source: { uri: "nbd://unknown/" }, target: "", initial: "allocated" }, state: "error", rounds: [], error: reason };
}

function describeChanged(changed: RoundSource): string {
  return typeof changed === "string" ? changed : `extents(${changed.extents.length})`;
}

function describeSource(source: JobSpec["source"]): string {
  return isPushed(source) ? `pushed by ${source.pushedBy}` : source.uri;
}

/** The codec a pushed round's frames used, for logs: `zstd 1.5.7`, `none`, or both. */
function codecOf(frames: { zstd: number; raw: number }): string {
  const zstd = `zstd ${zstdVersion()}`;
  if (frames.zstd > 0 && frames.raw > 0) return `${zstd} (${frames.raw} frames as they are)`;
  return frames.zstd > 0 ? zstd : "none";
}
