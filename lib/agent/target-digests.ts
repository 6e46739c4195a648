/**
 * The target's digest after a round, and the block hashes the agent keeps to take it cheaply.
 *
 * The agent keeps the target's 1 MiB block hashes in `digests/<id>.blocks`, stamped with the
 * round they were taken after and the target file's stat. A `bitmap:NAME` or explicit-extents
 * round re-hashes only the blocks its changed ranges touch (the copier aligns requests to the
 * disks' minimum block size, at most 64 KiB in NBD, so its writes never leave those blocks); a
 * pushed round re-hashes the blocks its frames wrote; a `full`, `allocated` or `hash` round, a
 * resumed or retried round, and a missing, stale or foreign hash file read the whole target and
 * rebuild the file. The file is removed when a round starts, so a round interrupted at any point
 * leaves no hashes to trust. Verification (`verify`) always reads both disks in full; a compare
 * (a proxy's check, a cutover's) reads the kept hashes or, when asked, the target itself.
 */
import * as fs from "node:fs";
import type { Digest } from "./api";
import type { ChangedSpec, Extent } from "../replication";
import { BLOCK_HASH_BYTES, BlockDigests, blocksTouched, parseBlockDigests, type BlockDigestIdentity } from "../replication/sha256-blocks";
import { DIGEST_ALGORITHM, DIGEST_BLOCK } from "../replication/verify";
import { writeFileAtomic } from "../service/files";
import type { DataPlane } from "./data-plane";
import { JobRequestError, type Job, type RecordOptions } from "./records";
import { sourceSpec, targetForRound, type TargetOptions } from "./targets";

/** What the digests are taken with and kept in. */
export interface TargetDigestOptions extends RecordOptions, TargetOptions {
  readonly dataPlane: DataPlane;
}

/** A digest of the target after a round, how it was taken and what it read. */
export interface TakenDigest {
  digest: Digest;
  mode: "full" | "incremental";
  bytesRead: number;
}

/** What a compare found: the blocks whose target hash differs, how many were compared, the target bytes read. */
export interface BlockComparison {
  differing: number[];
  compared: number;
  bytesRead: number;
}

/** The target-digest cache of every job: `digests/<id>.blocks` in the state directory. */
export class TargetDigests {
  constructor(private readonly options: TargetDigestOptions) {}

  /**
   * Compares the source's 1 MiB block hashes with the target's after the last round: of the
   * blocks from `first` on (`blocks` a number), or of the listed blocks; from the hashes the agent
   * keeps, or read from the target now (`fresh`, as a cutover's check does). Returns the blocks
   * that differ.
   */
  async compare(job: Job, blocksOrFirst: number | readonly number[], sourceHashes: Buffer, fresh: boolean): Promise<BlockComparison> {
    const r = job.record;
    const id = r.spec.id;
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
      const read = await plane.blockHashes(targetForRound(this.options, job.record).path, r.sourceSize, blocks);
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
  takeBlockDigests(job: Job, trusted: boolean): BlockDigests | undefined {
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
  async targetDigestAfterPush(
    job: Job,
    target: string,
    round: number,
    touched: readonly Extent[],
    cached: BlockDigests | undefined,
    resumed: boolean,
    signal: AbortSignal,
  ): Promise<TakenDigest> {
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
  async targetDigest(
    job: Job,
    target: string,
    round: number,
    changed: ChangedSpec,
    cached: BlockDigests | undefined,
    resumed: boolean,
    signal: AbortSignal,
  ): Promise<TakenDigest> {
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
        const extents = await plane.changedExtents(sourceSpec(this.options, r.spec), changed);
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
}
