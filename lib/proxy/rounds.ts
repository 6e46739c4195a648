/**
 * One round of a VM, as the source proxy takes it:
 *
 *   1. one vSphere snapshot of all its disks (quiesced where VMware Tools run and the VM asks for
 *      it), recorded in the state before and after it is created;
 *   2. per disk, `QueryChangedDiskAreas` since the disk's last changeId (`"*"` the first time);
 *   3. the 1 MiB blocks those areas touch read once from the frozen disk locally (`reader.ts`),
 *      each hashed whole — so the proxy keeps every block's source-side hash as of this round
 *      without reading unchanged blocks — and the areas inside them pushed to the disk's agent
 *      job as link frames, each with its hash, resumed where the agent is when the same snapshot
 *      is pushed again (`push.ts`);
 *   4. the snapshot removed, the new changeId and the round kept.
 *
 * A changeId vCenter no longer knows (a CBT reset after a storage migration or a host crash), or
 * a `resync` asked for, makes the disk's round a resync: every block is hashed locally, the
 * hashes are compared on the agent, and only the blocks that differ cross the link.
 *
 * This module holds the round; `manager.ts` decides when rounds run.
 */
import { randomInt } from "node:crypto";
import type { AgentClient } from "../agent/client";
import { BlockDigests, blockCount, blockRange, BLOCK_HASH_BYTES, blocksTouched, zeroBlockHash } from "../replication/sha256-blocks";
import { hashBlocks } from "../replication/block-hashes";
import type { Extent } from "../replication/device";
import { mergeExtents } from "../replication/extents/list";
import type { Logger } from "../service/log";
import type { ProcessGroup } from "../service/processes";
import { REHOST_SNAPSHOT_PREFIX } from "../vsphere/estate";
import { VSphereFault } from "../vsphere/soap";
import type { DiskFile, SnapshotHandle, VmHandle, VSphereClient } from "../vsphere/client";
import type { DiskRoundSummary, RoundMode, RoundSummary } from "./api";
import { pushRound, type LinkSettings } from "./push";
import { openReader, type Reader, type ReaderSettings } from "./reader";
import { ChangedBlocks, type DiskRecord, type ProxyState, type VmRecord } from "./state";

/** Blocks compared per request during a resync: the agent reads them from the target (1 GiB). */
const COMPARE_WINDOW = 1024;

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
    hashes = hashes.withIdentity(identity);
  }
  const changedBytes = changed.reduce((n, e) => n + e.length, 0);
  readers.set(disk.key, { reader, file, hashes });
  // The push reads every touched block whole and hashes it; blocks it did not read (the agent had
  // them from an interrupted push of this snapshot) are hashed here.
  const digests = hashes;
  const {
    record: pushed,
    compression,
    bytesRead: pushRead,
    unread,
  } = await pushRound(ctx, agent, {
    vm: record.vm,
    disk,
    snapshot: snapshot.handle.moref,
    round,
    size,
    device,
    ranges: changed,
    onBlock: (block, hash) => digests.set(block, hash),
  });
  bytesRead += pushRead;
  if (unread.length > 0) {
    const read = await hashBlocks(device, size, unread, ctx.signal);
    bytesRead += read.bytesRead;
    read.blocks?.forEach((b, i) => digests.set(b, read.hashes.subarray(i * BLOCK_HASH_BYTES, (i + 1) * BLOCK_HASH_BYTES)));
  }
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

/** `count` distinct random blocks of a disk of `size` bytes (all when there are fewer). */
export function sampleBlocks(size: number, count: number): number[] {
  const total = blockCount(size);
  if (count >= total) return Array.from({ length: total }, (_, b) => b);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(randomInt(total));
  return [...picked].sort((a, b) => a - b);
}
