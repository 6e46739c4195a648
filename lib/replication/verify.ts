/**
 * Verification: the digest of a whole disk, and the comparison of two.
 *
 * The digest (`sha256-blocks-1MiB`) is SHA-256 over the concatenation of the SHA-256 (32 raw
 * bytes) of every 1 MiB block of the disk, in order; the last block is short when the size is not
 * a multiple of 1 MiB; an empty disk hashes nothing. `docs/replication.md` gives a ten-line
 * script that recomputes it from a file or from stdin (`nbdcopy URI - | script -`).
 * Blocks that `base:allocation` reports as reading zeroes are not read: their SHA-256 is known.
 */
import { createHash } from "node:crypto";
import type { BlockDevice } from "./device";
import { hashBlocks } from "./block-hashes";
import { BASE_ALLOCATION } from "./extents/block-status";
import { openDevice } from "./open";
import { ProgressMeter, type SyncProgress } from "./progress";

import { DIGEST_ALGORITHM, type DigestResult } from "./sha256-blocks";

export { DIGEST_ALGORITHM, DIGEST_BLOCK } from "./sha256-blocks";
export type { DigestResult } from "./sha256-blocks";

/** Options of `digest`. */
export interface DigestOptions {
  /** Digest only the first `length` bytes (e.g. a target larger than its source). @default - the whole disk */
  readonly length?: number;
  readonly onProgress?: (p: SyncProgress) => void;
  readonly signal?: AbortSignal;
}

/** The digest of a disk given by spec (NBD URI or path) or already open. */
export async function digest(disk: string | BlockDevice, options: DigestOptions = {}): Promise<DigestResult> {
  if (typeof disk !== "string") return digestDevice(disk, options);
  const device = await openDevice(disk, { optionalMetaContexts: [BASE_ALLOCATION] });
  try {
    return await digestDevice(device, options);
  } finally {
    await device.close();
  }
}

async function digestDevice(device: BlockDevice, options: DigestOptions): Promise<DigestResult> {
  const size = Math.min(options.length ?? device.size, device.size);
  const meter = new ProgressMeter(options.onProgress);
  meter.bytesTotal = size;
  meter.setPhase("digest");
  const { hashes } = await hashBlocks(device, size, undefined, options.signal, meter);
  meter.bytesDone = size;
  meter.setPhase("done");
  return { algorithm: DIGEST_ALGORITHM, digest: createHash("sha256").update(hashes).digest("hex"), size };
}

/** How two digests compare. */
export interface DigestComparison {
  readonly equal: boolean;
  /** Why they differ, one sentence; empty when equal. */
  readonly reason: string;
}

/** Compares two digests: equal only with the same algorithm, size and value. */
export function compareDigests(a: DigestResult, b: DigestResult): DigestComparison {
  if (a.algorithm !== b.algorithm) return { equal: false, reason: `The digests use different algorithms (${a.algorithm}, ${b.algorithm}).` };
  if (a.size !== b.size) return { equal: false, reason: `The disks differ in size (${a.size} and ${b.size} bytes).` };
  if (a.digest !== b.digest) return { equal: false, reason: "The disks' contents differ." };
  return { equal: true, reason: "" };
}

/** The result of verifying a copy. */
export interface VerifyResult {
  readonly source: DigestResult;
  /** The target's digest over the source's size. */
  readonly target: DigestResult;
  /** The target's full size (it may be larger than the source). */
  readonly targetSize: number;
  readonly equal: boolean;
  readonly reason: string;
}

/** Digests both disks (the target over the source's size) and compares them. */
export async function verify(
  source: string,
  target: string,
  options: { onProgress?: (p: SyncProgress) => void; signal?: AbortSignal } = {},
): Promise<VerifyResult> {
  const sourceDevice = await openDevice(source, { optionalMetaContexts: [BASE_ALLOCATION] });
  try {
    const targetDevice = await openDevice(target, { optionalMetaContexts: [BASE_ALLOCATION] });
    try {
      let sourceDone = 0;
      let targetDone = 0;
      const total = sourceDevice.size + Math.min(sourceDevice.size, targetDevice.size);
      const report =
        options.onProgress === undefined
          ? undefined
          : (which: "source" | "target") =>
              (p: SyncProgress): void => {
                if (which === "source") sourceDone = p.bytesDone;
                else targetDone = p.bytesDone;
                options.onProgress?.({ ...p, phase: "digest", bytesDone: sourceDone + targetDone, bytesTotal: total, etaSeconds: p.etaSeconds });
              };
      const [sourceDigest, targetDigest] = await Promise.all([
        digestDevice(sourceDevice, { onProgress: report?.("source"), signal: options.signal }),
        digestDevice(targetDevice, { length: sourceDevice.size, onProgress: report?.("target"), signal: options.signal }),
      ]);
      const comparison = compareDigests(sourceDigest, targetDigest);
      return { source: sourceDigest, target: targetDigest, targetSize: targetDevice.size, ...comparison };
    } finally {
      await targetDevice.close();
    }
  } finally {
    await sourceDevice.close();
  }
}
