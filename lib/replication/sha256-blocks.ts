/**
 * The `sha256-blocks-1MiB` digest's facts — its name, its 1 MiB blocks, the hash of one block (and
 * of a zero block), which blocks a range touches — and `BlockDigests`, a disk's list of block
 * hashes kept so its digest can be brought up to date by re-hashing only the blocks a round may
 * have changed. Reading a disk's block hashes is `hashBlocks` (`block-hashes.ts`).
 *
 * The digest is SHA-256 over the concatenated SHA-256 of every 1 MiB block (see `verify.ts`), so
 * with the list of block hashes at hand, replacing the hashes of the changed blocks and hashing
 * the list again gives the same digest as reading the whole disk.
 *
 * Serialized form: one JSON header line (format, identity, block count, SHA-256 of the hash list),
 * a newline, then the raw 32-byte hashes in block order. `parseBlockDigests` refuses a file whose
 * identity differs from the expected one, whose length is wrong or whose checksum does not match.
 */
import { createHash } from "node:crypto";
import type { Extent } from "./device";

/** The name of the digest algorithm. */
export const DIGEST_ALGORITHM = "sha256-blocks-1MiB";
/** The block size of the digest. */
export const DIGEST_BLOCK = 1024 * 1024;

/** A disk's digest. */
export interface DigestResult {
  readonly algorithm: string;
  /** Lowercase hex. */
  readonly digest: string;
  /** Bytes digested. */
  readonly size: number;
}

/** The serialized format's name. */
const BLOCK_DIGESTS_FORMAT = "rehost-block-digests-1";
/** Bytes of one block hash. */
export const BLOCK_HASH_BYTES = 32;

/** What a list of block hashes belongs to; a cached list is used only when all of it matches. */
export interface BlockDigestIdentity {
  /** The disk's spec (path or URI). */
  readonly target: string;
  /** Bytes covered (the digest's `size`). */
  readonly size: number;
  readonly algorithm: string;
  readonly block: number;
  /** Free-form facts the owner checks too (the round it was taken after, the file's stat...). */
  readonly stamp: string;
}

/** The SHA-256 of one block's bytes. */
export function hashBlock(data: Buffer): Buffer {
  return createHash("sha256").update(data).digest();
}

const zeroHashes = new Map<number, Buffer>();
/** The SHA-256 of a block of `length` zero bytes. */
export function zeroBlockHash(length: number): Buffer {
  let hash = zeroHashes.get(length);
  if (hash === undefined) {
    hash = hashBlock(Buffer.alloc(length));
    zeroHashes.set(length, hash);
  }
  return hash;
}

/** Number of blocks of a disk of `size` bytes. */
export function blockCount(size: number): number {
  return Math.ceil(size / DIGEST_BLOCK);
}

/** Offset and length of block `index` of a disk of `size` bytes (the last one may be short). */
export function blockRange(index: number, size: number): Extent {
  const offset = index * DIGEST_BLOCK;
  return { offset, length: Math.min(DIGEST_BLOCK, size - offset) };
}

/** The sorted, distinct indices of the blocks that `extents` touch, clipped to `size` bytes. */
export function blocksTouched(extents: Iterable<Extent>, size: number): number[] {
  const blocks = new Set<number>();
  for (const extent of extents) {
    const end = Math.min(extent.offset + extent.length, size);
    if (extent.length <= 0 || extent.offset >= end) continue;
    for (let b = Math.floor(extent.offset / DIGEST_BLOCK); b * DIGEST_BLOCK < end; b++) blocks.add(b);
  }
  return [...blocks].sort((a, b) => a - b);
}

/** A disk's block hashes with their identity. */
export class BlockDigests {
  /**
   * @param identity What the hashes belong to.
   * @param hashes `blockCount(identity.size)` hashes of 32 bytes, in block order.
   */
  constructor(
    readonly identity: BlockDigestIdentity,
    readonly hashes: Buffer,
  ) {
    if (identity.algorithm !== DIGEST_ALGORITHM || identity.block !== DIGEST_BLOCK) {
      throw new Error(`Block digests of ${identity.algorithm} with ${identity.block}-byte blocks are not ${DIGEST_ALGORITHM}.`);
    }
    if (hashes.length !== blockCount(identity.size) * BLOCK_HASH_BYTES) {
      throw new Error(`Expected ${blockCount(identity.size)} block hashes for ${identity.size} bytes, got ${hashes.length / BLOCK_HASH_BYTES}.`);
    }
  }

  /** Replaces the hash of block `index`. */
  set(index: number, hash: Buffer): void {
    if (index < 0 || index >= blockCount(this.identity.size) || hash.length !== BLOCK_HASH_BYTES) throw new Error(`No block ${index} or not a SHA-256.`);
    hash.copy(this.hashes, index * BLOCK_HASH_BYTES);
  }

  /** The same hashes under another identity (e.g. a new stamp after a round). */
  withIdentity(identity: BlockDigestIdentity): BlockDigests {
    return new BlockDigests(identity, this.hashes);
  }

  /** The disk's digest, as `digest()` of `verify.ts` computes it from the disk. */
  digest(): DigestResult {
    return { algorithm: DIGEST_ALGORITHM, digest: createHash("sha256").update(this.hashes).digest("hex"), size: this.identity.size };
  }

  /** The serialized form (see the module comment). */
  serialize(): Buffer {
    const header = {
      format: BLOCK_DIGESTS_FORMAT,
      ...this.identity,
      blocks: blockCount(this.identity.size),
      checksum: createHash("sha256").update(this.hashes).digest("hex"),
    };
    return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, "utf8"), this.hashes]);
  }
}

/** The result of `parseBlockDigests`: the hashes, or why they cannot be used. */
export type ParsedBlockDigests = { readonly ok: true; readonly digests: BlockDigests } | { readonly ok: false; readonly reason: string };

/** Parses a serialized list and checks it belongs to `expected`; never throws. */
export function parseBlockDigests(data: Buffer, expected: BlockDigestIdentity): ParsedBlockDigests {
  const newline = data.indexOf(0x0a);
  if (newline < 0) return { ok: false, reason: "no header line" };
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(data.subarray(0, newline).toString("utf8")) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: "the header is not JSON" };
  }
  if (header.format !== BLOCK_DIGESTS_FORMAT) return { ok: false, reason: `format ${String(header.format)} is not ${BLOCK_DIGESTS_FORMAT}` };
  for (const key of ["target", "size", "algorithm", "block", "stamp"] as const) {
    if (header[key] !== expected[key]) return { ok: false, reason: `${key} is ${JSON.stringify(header[key])}, expected ${JSON.stringify(expected[key])}` };
  }
  const hashes = data.subarray(newline + 1);
  const blocks = blockCount(expected.size);
  if (header.blocks !== blocks || hashes.length !== blocks * BLOCK_HASH_BYTES) {
    return { ok: false, reason: `holds ${hashes.length} bytes of hashes, expected ${blocks * BLOCK_HASH_BYTES}` };
  }
  if (createHash("sha256").update(hashes).digest("hex") !== header.checksum) return { ok: false, reason: "the checksum does not match" };
  return { ok: true, digests: new BlockDigests(expected, Buffer.from(hashes)) };
}
