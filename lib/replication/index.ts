/**
 * The data plane: open disks, copy the changed blocks of a round resumably, verify.
 *
 * ```ts
 * const result = await sync({ source: "nbd+unix:///?socket=/run/src.sock", target: "/dev/vdb", changed: "bitmap:bitmap0", journal: "/var/lib/rehost/vdb.journal" });
 * const check = await verify("nbd+unix:///?socket=/run/src.sock", "/dev/vdb");
 * ```
 */
export type { BlockDevice, DeviceCaps, Extent, StatusExtent } from "./device";
export { openDevice, isNbdUri, type OpenDeviceOptions } from "./open";
export { FileDevice, openFileDevice } from "./file-device";
export {
  sync,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_CHECKPOINT_INTERVAL,
  DEFAULT_CONNECTIONS,
  DEFAULT_DEPTH,
  type SyncOptions,
  type SyncResult,
  type TargetIdentity,
} from "./sync";
export type { SyncProgress } from "./progress";
export { Throttle, parseRate, parseSize, parseByteCount } from "./throttle";
export {
  digest,
  compareDigests,
  verify,
  DIGEST_ALGORITHM,
  DIGEST_BLOCK,
  type DigestResult,
  type DigestComparison,
  type DigestOptions,
  type VerifyResult,
} from "./verify";
export {
  extentSourceFor,
  parseExtents,
  mergeExtents,
  readExtentsFile,
  bitmapContext,
  type ChangedSpec,
  type ExtentSource,
  type Segment,
  type SegmentKind,
} from "./extents";
export { Journal, JOURNAL_FORMAT, type JournalIdentity, type JournalState } from "./journal";
export { copy, requestsOf, isZero, type CopyCounters, type CopyRequest, type CopierOptions } from "./copier";
