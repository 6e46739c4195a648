/**
 * A job as the agent holds it: the record saved in `jobs/<id>.json` and the in-memory state
 * around it (is it running, its progress, its abort handle), how a record is checked when loaded
 * and saved when it changes, and the status the API answers with.
 */
import {
  isPushed,
  RegisterRequestSchema,
  type ActiveRound,
  type JobSpec,
  type JobState,
  type JobStatus,
  type RoundRecord,
  type RoundSource,
  type Verification,
} from "./api";
import type { SyncProgress, TargetIdentity } from "../replication";
import type { Logger } from "../service/log";
import { HttpError } from "../service/http";
import type { StateDir } from "./store";

/** Raised for requests the current job state cannot accept; `status` is the HTTP status. */
export class JobRequestError extends HttpError {
  constructor(status: number, message: string, details: Record<string, unknown> = {}) {
    super(status, message, details);
    this.name = "JobRequestError";
  }
}

/** What is saved in `jobs/<id>.json`. */
export interface JobRecord {
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

export interface Job {
  record: JobRecord;
  /** A run is scheduled (waiting for a slot or copying). */
  running: boolean;
  /** The run holds a concurrency slot. */
  copying: boolean;
  startedAt?: string;
  progress?: SyncProgress;
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

/** Where records are saved and failures to save them reported. */
export interface RecordOptions {
  readonly state: StateDir;
  readonly logger: Logger;
}

/** A record as saved, checked: undefined when it is not one this agent wrote. */
export function checkRecord(raw: unknown): JobRecord | undefined {
  if (raw === null || typeof raw !== "object") return undefined;
  const r = raw as Partial<JobRecord>;
  const spec = RegisterRequestSchema.safeParse(r.spec);
  if (r.version !== 1 || !spec.success || typeof r.state !== "string" || !Array.isArray(r.rounds)) return undefined;
  return { ...(r as JobRecord), spec: spec.data };
}

/** The record kept for a job whose file cannot be read: in error, holding nothing. */
export function brokenRecord(id: string, reason: string): JobRecord {
  return { version: 1, spec: { id, source: { uri: "nbd://unknown/" }, target: "", initial: "allocated" }, state: "error", rounds: [], error: reason };
}

/**
 * Saves the job's record; a failure (a full state directory) is logged and the record saved
 * again every few seconds until it lands. Returns whether it was saved now.
 */
export function saveRecord(options: RecordOptions, job: Job): boolean {
  if (job.removed || job.broken !== undefined) return false;
  try {
    options.state.saveJob(job.record.spec.id, job.record);
    if (job.unsaved) options.logger.log("info", "job record saved again", { job: job.record.spec.id });
    job.unsaved = false;
    return true;
  } catch (err) {
    if (!job.unsaved) options.logger.log("error", "job record cannot be saved; trying again", { job: job.record.spec.id, error: String(err) });
    job.unsaved = true;
    return false;
  }
}

/** Saves `next` as the job's record, or refuses the request (503) leaving the job as it was. */
export function saveOrRefuse(options: RecordOptions, job: Job, next: JobRecord): void {
  try {
    options.state.saveJob(next.spec.id, next);
    job.unsaved = false;
  } catch (err) {
    throw new JobRequestError(
      503,
      `The agent cannot save job ${next.spec.id} in its state directory (${(err as NodeJS.ErrnoException).code ?? String(err)}); nothing changed. Free space there and ask again.`,
    );
  }
}

/**
 * Saves `next` and makes it the job's record, or refuses the request (503) leaving the job as it
 * was. The record is updated in place, never replaced: a round, a push or a verification in flight
 * holds it, and must record its end where the request's change is.
 */
export function updateRecord(options: RecordOptions, job: Job, next: JobRecord): void {
  saveOrRefuse(options, job, next);
  Object.assign(job.record, next);
}

/** The job as the API shows it. */
export function jobStatus(job: Job): JobStatus {
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

/** A round's changed blocks, for logs. */
export function describeChanged(changed: RoundSource): string {
  return typeof changed === "string" ? changed : `extents(${changed.extents.length})`;
}

/** Where a job's source comes from, for logs. */
export function describeSource(source: JobSpec["source"]): string {
  return isPushed(source) ? `pushed by ${source.pushedBy}` : source.uri;
}
