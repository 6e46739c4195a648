/**
 * The data plane the agent's jobs drive: copy a round, take a disk's digest or size, list the
 * ranges a round may change, hash a disk's 1 MiB blocks. `replicationDataPlane()` (`index.ts`)
 * is `lib/replication` behind it; tests put their own in its place.
 */
import type { Changed, Digest } from "./api";
import type { Extent as ReplicationExtent, SyncProgress, SyncResult, TargetIdentity } from "../replication";
import type { BlockHashes } from "../replication/block-hashes";

/** What a round reports while it runs, and what the copier reports when it ends: `lib/replication`'s own types. */
export type RoundProgress = SyncProgress;
export type CopyResult = SyncResult;

/** A byte range of a disk. */
export type Extent = ReplicationExtent;

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
