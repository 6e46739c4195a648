/**
 * The one reader of a disk's 1 MiB block hashes — every block, or the listed ones — behind the
 * `sha256-blocks-1MiB` digest (`verify.ts`), the agent's per-round target digests and the
 * proxy's source-side hashes. Blocks that `base:allocation` reports as reading zeroes are not
 * read. Memory: DEPTH 1 MiB buffers, plus the 32-byte hashes asked for (32 MiB per TB).
 */
import { blockCount, blockRange, BLOCK_HASH_BYTES, DIGEST_BLOCK, hashBlock, zeroBlockHash } from "./sha256-blocks";
import type { BlockDevice } from "./device";
import { AllocationMap } from "./extents/block-status";
import type { ProgressMeter } from "./progress";

/** Reads in flight while hashing blocks. */
const DEPTH = 16;

/** Block hashes read from a disk. */
export interface BlockHashes {
  /** Bytes covered: the disk's size or the length asked for, whichever is smaller. */
  readonly size: number;
  /** The blocks hashed, in increasing order; absent when every block was. */
  readonly blocks?: readonly number[];
  /** Their 32-byte hashes, concatenated in the order of `blocks`. */
  readonly hashes: Buffer;
  /** Bytes read from the disk (blocks known to read as zeroes are not read). */
  readonly bytesRead: number;
}

/** Hashes the blocks `blocks` (sorted; all when absent) of the first `size` bytes of `device`. */
export async function hashBlocks(
  device: BlockDevice,
  size: number,
  blocks?: readonly number[],
  signal?: AbortSignal,
  meter?: ProgressMeter,
): Promise<BlockHashes> {
  const wanted = blocks?.filter((b) => b >= 0 && b * DIGEST_BLOCK < size);
  const count = wanted?.length ?? blockCount(size);
  const blockAt = (i: number): number => (wanted === undefined ? i : wanted[i]);
  const hashes = Buffer.alloc(count * BLOCK_HASH_BYTES);
  // Scattered blocks ask the allocation of their own range only: a window to the end of the disk
  // would cost what the disk holds, not what is hashed.
  const allocation = new AllocationMap(device, wanted === undefined ? undefined : DIGEST_BLOCK);
  const buffers = Array.from({ length: Math.min(DEPTH, count) }, () => Buffer.allocUnsafe(DIGEST_BLOCK));
  let bytesRead = 0;
  for (let start = 0; start < count; start += DEPTH) {
    if (signal?.aborted) throw signal.reason ?? new Error("aborted");
    const reads: Array<Promise<void>> = [];
    for (let i = 0; i < DEPTH && start + i < count; i++) {
      const { offset, length } = blockRange(blockAt(start + i), size);
      let zero = false;
      for await (const range of allocation.ranges(offset, length)) {
        zero = range.zero && range.offset === offset && range.length === length;
        break;
      }
      const at = (start + i) * BLOCK_HASH_BYTES;
      if (zero) {
        zeroBlockHash(length).copy(hashes, at);
        continue;
      }
      bytesRead += length;
      reads.push(device.read(offset, length, buffers[i]).then((data) => void hashBlock(data).copy(hashes, at)));
    }
    await Promise.all(reads);
    meter?.add(Math.min(DEPTH, count - start) * DIGEST_BLOCK);
  }
  return { size, blocks: wanted, hashes, bytesRead };
}
