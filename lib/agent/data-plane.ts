/**
 * The data plane the agent drives, typed with `lib/replication`'s own types: what a round asks
 * the copier (`SyncOptions`), what it reports (`SyncProgress`, `SyncResult`), where changed blocks
 * come from (`ChangedSpec`). `replicationDataPlane` is the production one; tests may pass another.
 */
import * as replication from "../replication";
import type { ChangedSpec, Extent, SyncOptions, SyncResult, TargetIdentity } from "../replication";
import { BASE_ALLOCATION } from "../replication/extents/allocation";
import { hashBlocks, type BlockHashes } from "../replication/block-hashes";
import { InputError, problem } from "../problems";
import type { Digest, RoundSource } from "./api";

/** What the agent asks the copier for one round: `SyncOptions` with the fields a round always sets. */
export interface RoundSyncOptions extends Pick<SyncOptions, "source" | "target" | "bandwidth" | "onProgress" | "signal"> {
  readonly changed: ChangedSpec;
  readonly journal: string;
  /** The journal stays, marked complete, until the agent has recorded the round. */
  readonly keepJournal: true;
  /** The opened target must be exactly this file or device. */
  readonly expectTarget: TargetIdentity;
}

/** The data plane the agent drives: `lib/replication` in production, the same in tests. */
export interface DataPlane {
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

/** Copier settings the agent passes through. */
export interface SyncTuning {
  /** Largest request in bytes. @default - the copier's (2 MiB) */
  readonly blockSize?: number;
  /** Connections per disk. @default - the copier's (4) */
  readonly connections?: number;
  /** Source bytes between journal checkpoints. @default - the copier's (256 MiB) */
  readonly checkpointInterval?: number;
  /** A source or target server that leaves requests unanswered this long fails the round, in ms. @default - the client's (120000) */
  readonly idleTimeoutMs?: number;
}

/**
 * The copier's name for the changed blocks of a round the agent reads. The API's schema admits
 * only these forms; anything else (a job file edited by hand) is refused as the copier refuses it.
 */
export function changedSpec(changed: RoundSource): ChangedSpec {
  if (typeof changed === "object" || changed === "full" || changed === "allocated" || changed === "hash" || isBitmap(changed)) return changed;
  throw new InputError(
    problem({
      field: "changed",
      received: JSON.stringify(changed),
      expected: "full, allocated, hash, bitmap:NAME or a list of extents",
      fix: "request the round again with one of these",
      message: `The extent source ${JSON.stringify(changed)} is not known`,
    }),
  );
}

function isBitmap(changed: string): changed is `bitmap:${string}` {
  return changed.startsWith("bitmap:") && changed.length > "bitmap:".length;
}

/** The production data plane: `lib/replication`'s `sync` and `digest`. */
export function replicationDataPlane(tuning: SyncTuning = {}): DataPlane {
  return {
    async sync(o: RoundSyncOptions): Promise<SyncResult> {
      return replication.sync({ ...tuning, ...o });
    },
    async digest(spec: string, length?: number): Promise<Digest> {
      const d = await replication.digest(spec, length === undefined ? {} : { length });
      return { algorithm: d.algorithm, digest: d.digest, size: d.size };
    },
    async changedExtents(source: string, changed: ChangedSpec): Promise<Extent[]> {
      const extentSource = replication.extentSourceFor(changed);
      const device = await replication.openDevice(source, { metaContexts: extentSource.requiredContexts, optionalMetaContexts: extentSource.optionalContexts });
      try {
        const extents: Extent[] = [];
        for await (const segment of extentSource.segments(device)) extents.push({ offset: segment.offset, length: segment.length });
        return replication.mergeExtents(extents);
      } finally {
        await device.close();
      }
    },
    async blockHashes(spec: string, length: number, blocks?: readonly number[], signal?: AbortSignal): Promise<BlockHashes> {
      const device = await replication.openDevice(spec, { optionalMetaContexts: [BASE_ALLOCATION] });
      try {
        return await hashBlocks(device, Math.min(length, device.size), blocks, signal);
      } finally {
        await device.close();
      }
    },
    async size(spec: string): Promise<number> {
      const device = await replication.openDevice(spec);
      try {
        return device.size;
      } finally {
        await device.close();
      }
    },
  };
}
