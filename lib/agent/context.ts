/**
 * What the job manager is built with, and what its parts share: the options, the target-digest
 * cache, the retry settings, whether the agent is stopping, and the failed attempts counted for
 * `/metrics`.
 */
import type { Throttle } from "../replication";
import type { Logger } from "../service/log";
import type { DataPlane } from "./data-plane";
import type { DiskLookup } from "./disks";
import type { Scheduler } from "./scheduler";
import type { StateDir } from "./store";
import type { TargetDigests } from "./target-digests";

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
  /** Shared bandwidth limiter passed to every round. @default - unlimited */
  readonly bandwidth?: Throttle;
  /** Attempts per round before the job goes to `error`. @default 5 */
  readonly maxAttempts?: number;
  /** First retry delay, doubled per attempt. @default 1000 */
  readonly retryDelayMs?: number;
}

/** The job manager's state its rounds, pushes and verifications read and update. */
export interface JobContext {
  readonly options: JobManagerOptions;
  readonly digests: TargetDigests;
  readonly maxAttempts: number;
  readonly retryDelayMs: number;
  /** The agent is stopping: nothing new starts, and work in flight is not recorded. */
  closed: boolean;
  /** Failed round attempts (read or pushed) per job since the agent started, for `/metrics`. */
  readonly failures: Map<string, number>;
}

/** Counts a failed round attempt of job `id`. */
export function countFailure(ctx: JobContext, id: string): void {
  ctx.failures.set(id, (ctx.failures.get(id) ?? 0) + 1);
}
