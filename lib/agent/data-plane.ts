/**
 * The data plane the agent's jobs drive: copy a round, take a disk's digest or size, list the
 * ranges a round may change, hash a disk's 1 MiB blocks. It speaks `lib/replication`'s own types
 * (`SyncOptions`, `ChangedSpec`, `Throttle`, `SyncProgress`, `SyncResult`); `replicationDataPlane()`
 * (`index.ts`) is `lib/replication` behind it, and tests put their own in its place.
 */
import type { Digest } from "./api";
import type { ChangedSpec, Extent, SyncOptions, SyncResult } from "../replication";
import type { BlockHashes } from "../replication/block-hashes";

/** What the agent hands the copier for a round: `SyncOptions` with the fields every round sets required. */
type RoundSyncOptions = Required<Pick<SyncOptions, "source" | "target" | "changed" | "journal" | "expectTarget">> &
  Pick<SyncOptions, "bandwidth" | "onProgress" | "signal"> & {
    /** The journal stays, marked complete, until the agent has recorded the round. */
    readonly keepJournal: true;
  };

/** The data plane the agent drives: `lib/replication` in production, the same in tests. */
export interface DataPlane {
  /** Copies a round; the opened target must be exactly `expectTarget`. */
  sync(options: RoundSyncOptions): Promise<SyncResult>;
  /** Digest of a disk, of its first `length` bytes when given (a target larger than its source). */
  digest(spec: string, length?: number): Promise<Digest>;
  /** Size of a disk in bytes. */
  size(spec: string): Promise<number>;
  /**
   * The byte ranges a round with `changed` (`bitmap:NAME` or explicit extents) may write on the
   * target, as the copier's extent source yields them. Without it every digest reads the whole target.
   */
  changedExtents?(source: string, changed: ChangedSpec): Promise<Extent[]>;
  /** The 1 MiB block hashes of the first `length` bytes of a disk: of `blocks` (sorted) only, or of all. */
  blockHashes?(spec: string, length: number, blocks?: readonly number[], signal?: AbortSignal): Promise<BlockHashes>;
}
