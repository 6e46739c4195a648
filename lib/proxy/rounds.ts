/**
 * One round of a VM, as the source proxy takes it:
 *
 *   1. one vSphere snapshot of all its disks (quiesced where VMware Tools run and the VM asks for
 *      it), recorded in the state before and after it is created;
 *   2. per disk, `QueryChangedDiskAreas` since the disk's last changeId (`"*"` the first time);
 *   3. exactly those areas read from the frozen disk locally (`reader.ts`) and pushed to the
 *      disk's agent job as link frames, each with its hash — resumed where the agent is when the
 *      same snapshot is pushed again;
 *   4. the 1 MiB blocks the areas touch hashed (read whole, locally), so the proxy keeps every
 *      block's source-side hash as of this round without reading unchanged blocks;
 *   5. the snapshot removed, the new changeId and the round kept.
 *
 * A changeId vCenter no longer knows (a CBT reset after a storage migration or a host crash), or
 * a `resync` asked for, makes the disk's round a resync: every block is hashed locally, the
 * hashes are compared on the agent, and only the blocks that differ cross the link.
 *
 * This module holds the round; `manager.ts` decides when rounds run.
 */
import { randomInt } from "node:crypto";
import type { AgentClient } from "../agent/client";
import type { JobStatus, RoundRecord } from "../agent/api";
import type { LinkThrottles } from "../link/bandwidth";
import { BlockCompressor, DEFAULT_LEVEL, zstdVersion, type CodecStats } from "../link/codec";
import { Codec, dataFrame, endFrame, FRAME_HEADER_BYTES, zeroFrame, type PayloadEncoder } from "../link/frames";
import { takeAll, type ScheduledThrottle } from "../link/schedule";
import { BlockDigests, blockCount, blockRange, BLOCK_HASH_BYTES, blocksTouched, DIGEST_BLOCK, zeroBlockHash } from "../replication/block-digests";
import { hashBlocks } from "../replication/block-hashes";
import type { BlockDevice, Extent } from "../replication/device";
import { mergeExtents } from "../replication/extents/list";
import type { Logger } from "../service/log";
import type { ProcessGroup } from "../service/processes";
import { REHOST_SNAPSHOT_PREFIX } from "../vsphere/estate";
import { VSphereFault } from "../vsphere/soap";
import type { DiskFile, SnapshotHandle, VmHandle, VSphereClient } from "../vsphere/client";
import type { DiskCompression, DiskRoundSummary, RoundMode, RoundSummary } from "./api";
import { openReader, type Reader, type ReaderSettings } from "./reader";
import { ChangedBlocks, type DiskRecord, type ProxyState, type VmRecord } from "./state";

/** Largest range one DATA frame carries. */
const FRAME_BYTES = 4 * 1024 * 1024;
/** Bytes a throttled push hands to the link at a time. */
const PACE_BYTES = 256 * 1024;
/** Blocks compared per request during a resync: the agent reads them from the target (1 GiB). */
const COMPARE_WINDOW = 1024;
/** Times a push is tried again after the link or the agent failed. */
const PUSH_ATTEMPTS = 8;

/** What a round needs around it. */
export interface RoundContext {
  readonly vc: VSphereClient;
  readonly state: ProxyState;
  /** A client of the agent at a URL, with the proxy's agent credentials. */
  agent(url: string): AgentClient;
  readonly processes: ProcessGroup;
  /** Where readers' sockets and cookie files go. */
  readonly runDir: string;
  readonly reader: ReaderSettings;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** How frames cross the link: compression and bandwidth. @default - zstd at level 1, no cap */
  readonly link?: LinkSettings;
}

/** The link settings of a proxy's streams. */
export interface LinkSettings {
  /** zstd level of every stream (a disk's registration may name its own), or `off`. @default 1 */
  readonly compressionLevel?: number | "off";
  /** The proxy's and the gateways' bandwidth throttles. @default - no cap */
  readonly throttles?: LinkThrottles;
  /**
   * The encoder of one push of a disk at `level` (`attempt` counts the pushes of the round):
   * @default - a `BlockCompressor` at that level
   */
  readonly encoder?: (
    level: number,
    stream: { readonly vm: string; readonly disk: number; readonly round: number; readonly attempt: number },
  ) => PayloadEncoder & { readonly stats: CodecStats };
}

/** Options of one round. */
export interface RoundOptions {
  /** `resync`: every disk is compared block by block (a full source-side check). */
  readonly mode?: "auto" | "resync";
  /** The consistent point the round belongs to. */
  readonly point?: string;
  /** Runs before the snapshot is removed, with each disk's reader (a cutover's sample check). */
  readonly beforeRemove?: (readers: ReadonlyMap<number, { reader: Reader; file: DiskFile; hashes: BlockDigests }>) => Promise<void>;
}

/** A snapshot made for a round: the VM, the handle, when, and how consistent. */
export interface RoundSnapshot {
  readonly handle: SnapshotHandle;
  /** When vCenter answered that the snapshot exists (the round's recovery point), and when it was asked for. */
  readonly at: string;
  readonly requestedAt?: string;
  readonly consistency: "quiesced" | "crash";
}

/** A failure of a round that names what to fix; the round is not retried by itself. */
export class RoundRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RoundRefused";
  }
}

/**
 * Takes the round's snapshot: quiesced when the VM asks for it and its tools run, else
 * crash-consistent; the snapshot is recorded in the state as soon as it exists.
 */
export async function takeSnapshot(ctx: RoundContext, record: VmRecord, vm: VmHandle, round: number, point?: string): Promise<RoundSnapshot> {
  const name = `${REHOST_SNAPSHOT_PREFIX}round-${round}`;
  record.inFlight = { round, snapshotName: name, startedAt: new Date().toISOString(), point };
  ctx.state.saveVm(record);
  const location = await ctx.vc.vmLocation(vm);
  let consistency: "quiesced" | "crash" = record.quiesce && location.toolsRunning && location.powerState === "poweredOn" ? "quiesced" : "crash";
  let handle: SnapshotHandle;
  const description = `round ${round}${point ? ` of point ${point}` : ""}`;
  let requestedAt = new Date().toISOString();
  try {
    handle = await ctx.vc.createSnapshot(vm, name, { quiesce: consistency === "quiesced", description });
  } catch (err) {
    if (consistency !== "quiesced" || !(err instanceof VSphereFault)) throw err;
    ctx.logger.log("warn", "quiesced snapshot refused; taking a crash-consistent one", { vm: record.vm, round, fault: err.faultName });
    consistency = "crash";
    requestedAt = new Date().toISOString();
    handle = await ctx.vc.createSnapshot(vm, name, { quiesce: false, description });
  }
  const at = new Date().toISOString();
  record.inFlight = { ...record.inFlight, snapshot: handle.moref, snapshotAt: at, consistency };
  ctx.state.saveVm(record);
  return { handle, at, requestedAt, consistency };
}

/** Removes the snapshots rehost created on this VM that the record does not name (left by a crash). */
export async function removeLeftovers(ctx: RoundContext, vm: VmHandle, keep?: string): Promise<number> {
  const left = (await ctx.vc.listSnapshots({ vm, onlyRehost: true })).filter((s) => s.moref !== keep);
  for (const s of [...left].reverse()) await ctx.vc.removeSnapshot(s.moref);
  if (left.length > 0) ctx.logger.log("info", "removed snapshots left by an interrupted round", { vm: vm.name, snapshots: left.map((s) => s.name) });
  return left.length;
}

/**
 * Runs round `record.inFlight.round` (or the next one) of the VM with `snapshot` (or its own),
 * and removes the snapshot whatever happens. The record is saved as each disk completes.
 */
export async function runRound(ctx: RoundContext, record: VmRecord, vm: VmHandle, options: RoundOptions = {}, premade?: RoundSnapshot): Promise<RoundSummary> {
  const started = Date.now();
  let snapshot = premade;
  // An interrupted round whose snapshot still exists goes on with it.
  if (snapshot === undefined && record.inFlight?.snapshot !== undefined) {
    const existing = (await ctx.vc.listSnapshots({ vm, onlyRehost: true })).find((s) => s.moref === record.inFlight!.snapshot);
    if (existing !== undefined) {
      snapshot = {
        handle: { moref: existing.moref, name: existing.name, vm },
        at: record.inFlight.snapshotAt ?? existing.createTime ?? new Date().toISOString(),
        consistency: record.inFlight.consistency ?? "crash",
      };
      ctx.logger.log("info", "round resumed with its snapshot", { vm: record.vm, round: record.inFlight.round, snapshot: existing.moref });
    }
  }
  if (snapshot === undefined) {
    await removeLeftovers(ctx, vm);
    const round = await nextRoundNumber(ctx, record);
    snapshot = await takeSnapshot(ctx, record, vm, round, options.point);
  }
  const round = record.inFlight!.round;
  const readers = new Map<number, { reader: Reader; file: DiskFile; hashes: BlockDigests }>();
  const disks: DiskRoundSummary[] = [];
  try {
    const files = new Map((await ctx.vc.diskFiles(vm, snapshot.handle)).map((f) => [f.key, f]));
    for (const disk of Object.values(record.disks).sort((a, b) => a.key - b.key)) {
      const file = files.get(disk.key);
      if (file === undefined) throw new RoundRefused(`VM ${record.vm} has no disk ${disk.key} any more; unregister it from the proxy.`);
      // A disk done before an interruption keeps what it recorded.
      if ((disk.lastRound ?? -1) >= round && options.beforeRemove === undefined) continue;
      const summary = await diskRound(ctx, record, vm, disk, file, snapshot, round, options, readers);
      disks.push(summary);
      disk.lastRound = round;
      disk.lastRoundAt = snapshot.at;
      ctx.state.saveVm(record);
    }
    await options.beforeRemove?.(readers);
  } finally {
    for (const { reader } of readers.values()) await reader.close();
    await ctx.vc.removeSnapshot(snapshot.handle).catch((err: unknown) => {
      // Left for the next start to remove: the record still names it.
      ctx.logger.log("error", "snapshot could not be removed; it is removed at the next round or start", {
        vm: record.vm,
        snapshot: snapshot!.handle.moref,
        error: String(err),
      });
      throw err;
    });
  }
  const summary: RoundSummary = {
    round,
    snapshotAt: snapshot.at,
    finishedAt: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    consistency: snapshot.consistency,
    ...(options.point !== undefined ? { point: options.point } : {}),
    disks,
  };
  record.inFlight = undefined;
  record.nextRound = round + 1;
  record.rounds.push(summary);
  record.error = undefined;
  ctx.state.saveVm(record);
  return summary;
}

/** The next round number: after the proxy's own, and after any round an agent recorded (a crash may have lost one). */
async function nextRoundNumber(ctx: RoundContext, record: VmRecord): Promise<number> {
  let next = record.nextRound;
  for (const disk of Object.values(record.disks)) {
    const job = await ctx.agent(disk.agentUrl).find(disk.jobId);
    if (job?.lastRound !== undefined) next = Math.max(next, job.lastRound.round + 1);
    if (job?.active?.round !== undefined) next = Math.max(next, job.active.round);
  }
  return next;
}

/** One disk of a round: its changed areas (or a resync), pushed, and its source-side hashes brought up to date. */
async function diskRound(
  ctx: RoundContext,
  record: VmRecord,
  vm: VmHandle,
  disk: DiskRecord,
  file: DiskFile,
  snapshot: RoundSnapshot,
  round: number,
  options: RoundOptions,
  readers: Map<number, { reader: Reader; file: DiskFile; hashes: BlockDigests }>,
): Promise<DiskRoundSummary> {
  const size = file.capacityBytes;
  let mode: RoundMode = disk.changeId === undefined ? "initial" : "incremental";
  let changed: Extent[] = [];
  let changeId = file.changeId;
  if (options.mode === "resync") mode = "resync";
  else {
    try {
      const areas = await ctx.vc.queryChangedDiskAreas(vm, snapshot.handle, disk.key, disk.changeId ?? "*");
      changed = mergeExtents(areas.extents);
      changeId = areas.changeId;
    } catch (err) {
      if (!(err instanceof VSphereFault) || err.faultName !== "InvalidArgument" || disk.changeId === undefined) throw err;
      ctx.logger.log("warn", "changeId no longer valid (CBT was reset); resyncing by block hashes", { vm: record.vm, disk: disk.key, changeId: disk.changeId });
      mode = "resync";
    }
  }
  const location = await ctx.vc.vmLocation(vm);
  const reader = await openReader(
    ctx.processes,
    ctx.runDir,
    {
      baseUrl: ctx.vc.baseUrl,
      datacenter: location.datacenter,
      datastore: file.datastore,
      flatPath: file.flatPath,
      fileName: file.fileName,
      vmMoref: vm.moref,
      snapshotMoref: snapshot.handle.moref,
    },
    ctx.reader,
  );
  const device = reader.device;
  const agent = ctx.agent(disk.agentUrl);
  let bytesRead = 0;
  let hashBytes = 0;
  // The source-side hashes as of this round: the last round's with the touched blocks re-hashed, or all of them.
  let hashes = disk.lastRound !== undefined && mode !== "resync" ? ctx.state.loadHashes(record.vm, disk.key, size, disk.lastRound) : undefined;
  const identity = ctx.state.hashIdentity(record.vm, disk.key, size, round);
  if (mode === "resync") {
    const all = await hashBlocks(device, size, undefined, ctx.signal);
    bytesRead += all.bytesRead;
    hashes = new BlockDigests(identity, all.hashes);
    const differing = await compareOnAgent(agent, disk.jobId, all.hashes, size);
    hashBytes = all.hashes.length;
    changed = mergeExtents(differing.map((b) => blockRange(b, size)));
  } else {
    if (hashes === undefined) {
      // No hashes kept (the first round, or they were lost): unchanged blocks are hashed now too,
      // except where CBT's "*" says nothing was ever written (zeroes).
      const base = mode === "initial" ? zeroHashes(size) : (await hashBlocks(device, size, undefined, ctx.signal)).hashes;
      if (mode !== "initial") bytesRead += size;
      hashes = new BlockDigests(identity, base);
    }
    const touched = blocksTouched(changed, size);
    const read = await hashBlocks(device, size, touched, ctx.signal);
    bytesRead += read.bytesRead;
    read.blocks?.forEach((b, i) => hashes!.set(b, read.hashes.subarray(i * BLOCK_HASH_BYTES, (i + 1) * BLOCK_HASH_BYTES)));
    hashes = hashes.withIdentity(identity);
  }
  const changedBytes = changed.reduce((n, e) => n + e.length, 0);
  readers.set(disk.key, { reader, file, hashes });
  const { record: pushed, compression } = await pushWithResume(ctx, agent, record.vm, disk, snapshot.handle.moref, round, size, device, changed);
  bytesRead += changedBytes;
  disk.sizeBytes = size;
  disk.changeId = changeId;
  // The blocks written since the last full check: none after one, else these added (saved before
  // the hashes, so a crash in between leaves a superset).
  let sinceCheck: ChangedBlocks;
  if (mode === "resync") {
    sinceCheck = ChangedBlocks.all(size, false);
    disk.fullCheckRound = round;
    disk.fullCheckAt = snapshot.at;
  } else {
    sinceCheck = ctx.state.loadChanged(record.vm, disk.key, size) ?? ChangedBlocks.all(size, true);
    sinceCheck.add(blocksTouched(changed, size));
  }
  ctx.state.saveChanged(record.vm, disk.key, sinceCheck);
  ctx.state.saveHashes(record.vm, disk.key, hashes);
  const sourceDigest = hashes.digest().digest;
  const agrees = sourceDigest === pushed.digest.digest;
  if (!agrees)
    ctx.logger.log("warn", "the target's digest differs from the source-side hashes; the next round compares every block", {
      vm: record.vm,
      disk: disk.key,
      round,
      source: sourceDigest,
      target: pushed.digest.digest,
    });
  ctx.logger.log("info", "disk round pushed", {
    vm: record.vm,
    disk: disk.key,
    round,
    mode,
    changedBytes,
    linkBytes: pushed.linkBytes,
    hashBytes,
    codec: compression.codec,
    compressionRatio: compression.ratio,
    refusedFrames: compression.refusedFrames,
  });
  return {
    key: disk.key,
    jobId: disk.jobId,
    mode,
    changedBytes,
    linkBytes: pushed.linkBytes ?? 0,
    hashBytes,
    bytesRead,
    targetDigest: pushed.digest.digest,
    digestsAgree: agrees,
    compression,
  };
}

/** Hashes of a disk that reads zeroes everywhere. */
function zeroHashes(size: number): Buffer {
  const count = blockCount(size);
  const out = Buffer.alloc(count * BLOCK_HASH_BYTES);
  for (let b = 0; b < count; b++) zeroBlockHash(blockRange(b, size).length).copy(out, b * BLOCK_HASH_BYTES);
  return out;
}

/**
 * The blocks whose target hashes differ from `hashes`, the target read again by the agent (a full
 * check proves both sides, not only what the agent recorded writing).
 */
async function compareOnAgent(agent: AgentClient, jobId: string, hashes: Buffer, size: number): Promise<number[]> {
  const job = await agent.get(jobId);
  // Nothing recorded on the target yet: every block is sent.
  if (job.lastRound === undefined) return Array.from({ length: blockCount(size) }, (_, b) => b);
  const differing: number[] = [];
  for (let first = 0; first * BLOCK_HASH_BYTES < hashes.length; first += COMPARE_WINDOW) {
    const window = hashes.subarray(first * BLOCK_HASH_BYTES, (first + COMPARE_WINDOW) * BLOCK_HASH_BYTES);
    differing.push(...(await agent.compare(jobId, first, window, true)).differing);
  }
  return differing;
}

/** What one disk's pushes put on the link, over every attempt of the round. */
interface SendCounters {
  /** Bytes of DATA ranges sent (before compression), and of their payloads on the link. */
  dataBytes: number;
  payloadBytes: number;
  zstdFrames: number;
  rawFrames: number;
  zeroFrames: number;
  /** DATA frames the agent refused (their bytes did not match their hash): sent again uncompressed. */
  refusedFrames: number;
}

/** One push of a disk's round: how its frames are encoded and paced. */
interface PushStream {
  /** Undefined: compression is off. */
  readonly encoder?: PayloadEncoder;
  /** Offsets of DATA frames the agent refused: sent raw from now on. */
  readonly rawAt: ReadonlySet<number>;
  readonly throttles: readonly ScheduledThrottle[];
  readonly counters: SendCounters;
  readonly signal?: AbortSignal;
}

/**
 * The frames of `ranges` read from `device`: data (compressed by the stream's encoder where it
 * pays), or ZERO where a piece reads zeroes; each frame passes the stream's throttles whole
 * before it is handed to the link.
 */
async function* framesOf(device: BlockDevice, ranges: readonly Extent[], from: number, size: number, stream: PushStream): AsyncGenerator<Buffer> {
  const buffer = Buffer.allocUnsafe(FRAME_BYTES);
  const c = stream.counters;
  for (const r of ranges) {
    for (let at = r.offset; at < r.offset + r.length; at += FRAME_BYTES) {
      const length = Math.min(FRAME_BYTES, r.offset + r.length - at);
      // Ranges the agent applied before an interruption are not read again.
      if (at + length <= from) continue;
      const data = await device.read(at, length, buffer);
      let frame: Buffer[];
      if (isZero(data)) {
        frame = [zeroFrame(at, length)];
        c.zeroFrames++;
      } else {
        frame = dataFrame(at, Buffer.from(data), undefined, stream.rawAt.has(at) ? undefined : stream.encoder);
        c.dataBytes += length;
        c.payloadBytes += frame[1].length;
        if (frame[0].readUInt8(5) === Codec.None) c.rawFrames++;
        else c.zstdFrames++;
      }
      if (stream.throttles.length === 0) yield* frame;
      // Paced in slices, so a capped link carries a steady flow rather than a frame's burst.
      else
        for (const part of frame) {
          for (let i = 0; i < part.length; i += PACE_BYTES) {
            const slice = part.subarray(i, i + PACE_BYTES);
            await takeAll(stream.throttles, slice.length, stream.signal);
            yield slice;
          }
        }
    }
  }
  yield endFrame(size, { ranges: ranges.length });
}

const ZERO = Buffer.alloc(FRAME_BYTES);
function isZero(data: Buffer): boolean {
  return data.equals(ZERO.subarray(0, data.length));
}

/** What a disk's push did: the agent's record, and how its frames were encoded. */
interface Pushed {
  readonly record: RoundRecord;
  readonly compression: DiskCompression;
}

/**
 * Pushes the round to the disk's job; after a dropped link or an agent restart, asks where the
 * job is and goes on from there with the same snapshot. A frame the agent refuses because its
 * bytes do not match its hash (a payload corrupted on the way, or decoded wrongly) is sent again
 * uncompressed from the agent's acknowledged offset.
 */
async function pushWithResume(
  ctx: RoundContext,
  agent: AgentClient,
  vm: string,
  disk: DiskRecord,
  snapshot: string,
  round: number,
  size: number,
  device: BlockDevice,
  ranges: readonly Extent[],
): Promise<Pushed> {
  const level = disk.compressionLevel ?? ctx.link?.compressionLevel ?? DEFAULT_LEVEL;
  const counters: SendCounters = { dataBytes: 0, payloadBytes: 0, zstdFrames: 0, rawFrames: 0, zeroFrames: 0, refusedFrames: 0 };
  const rawAt = new Set<number>();
  const throttles = ctx.link?.throttles?.throttlesFor(disk.agentUrl) ?? [];
  const compression = (): DiskCompression => ({
    codec: level === "off" ? "none" : `zstd ${zstdVersion()}`,
    ...(level !== "off" ? { level } : {}),
    dataBytes: counters.dataBytes,
    payloadBytes: counters.payloadBytes,
    ratio: counters.payloadBytes > 0 ? Number((counters.dataBytes / counters.payloadBytes).toFixed(3)) : 1,
    zstdFrames: counters.zstdFrames,
    rawFrames: counters.rawFrames,
    zeroFrames: counters.zeroFrames,
    refusedFrames: counters.refusedFrames,
  });
  let lastError: unknown;
  for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
    ctx.signal?.throwIfAborted();
    let job: JobStatus | undefined;
    try {
      job = await agent.get(disk.jobId);
    } catch (err) {
      lastError = err;
      await backoff(attempt, ctx.signal);
      continue;
    }
    if (job.lastRound?.round === round && job.lastRound.snapshot === snapshot) return { record: job.lastRound, compression: compression() };
    const from = job.active?.round === round && job.active.snapshot === snapshot ? (job.active.pushedUpTo ?? 0) : 0;
    const encoder = level === "off" ? undefined : (ctx.link?.encoder?.(level, { vm, disk: disk.key, round, attempt }) ?? new BlockCompressor({ level }));
    try {
      const record = await agent.push(
        disk.jobId,
        { round, snapshot, size },
        framesOf(device, ranges, from, size, { encoder, rawAt, throttles, counters, signal: ctx.signal }),
      );
      return { record, compression: compression() };
    } catch (err) {
      lastError = err;
      const status = (err as { status?: number }).status ?? 0;
      // Refusals other than a bad frame (422) or an agent in trouble (5xx, unreachable) are final.
      if (status !== 0 && status !== 422 && status < 500) throw err;
      const refused = (err as { body?: { frameOffset?: unknown } }).body?.frameOffset;
      if (status === 422 && typeof refused === "number") {
        counters.refusedFrames++;
        rawAt.add(refused);
        ctx.logger.log("warn", "the agent refused a frame whose bytes do not match its hash; it is sent again uncompressed", {
          job: disk.jobId,
          round,
          offset: refused,
          attempt,
        });
      } else ctx.logger.log("warn", "push interrupted; resuming", { job: disk.jobId, round, attempt, error: String(err) });
      // A refused frame is sent again at once; a link or agent failure waits first.
      if (!(status === 422 && typeof refused === "number")) await backoff(attempt, ctx.signal);
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, Math.min(30_000, 500 * 2 ** (attempt - 1)));
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason ?? new Error("aborted"));
      },
      { once: true },
    );
  });
}

/** `count` distinct random blocks of a disk of `size` bytes (all when there are fewer). */
export function sampleBlocks(size: number, count: number): number[] {
  const total = blockCount(size);
  if (count >= total) return Array.from({ length: total }, (_, b) => b);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(randomInt(total));
  return [...picked].sort((a, b) => a - b);
}

/** Bytes a link frame adds per range (its header). */
export const FRAME_OVERHEAD = FRAME_HEADER_BYTES;
export { DIGEST_BLOCK };
