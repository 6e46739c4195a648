/**
 * A VM's cutover on the proxy: the full source-side check while the VM still runs, the shutdown,
 * the final round, and the verification of every disk against its replica before the final
 * snapshot is removed, comparing hashes only.
 */
import type { VmHandle } from "../vsphere/client";
import { hashBlocks } from "../replication/block-hashes";
import { blockCount, BLOCK_HASH_BYTES, type BlockDigests } from "../replication/sha256-blocks";
import type { BlockDevice } from "../replication/device";
import type { CutoverDiskCheck, CutoverRequest } from "./api";
import { runRound, sampleBlocks, type RoundContext } from "./rounds";
import type { DiskRecord, VmRecord } from "./state";

/** Blocks compared per request at a cutover (2.5 MiB of block numbers and hashes). */
const COMPARE_LIST = 65_536;

/**
 * The cutover: a full source-side check while the VM still runs (unless asked not to), the
 * shutdown, the final round, and before its snapshot is removed the verification: per disk, the
 * blocks written since the last full check and a random sample (or every block) hashed again on
 * the proxy from the frozen disk and on the agent from the target, compared; only hashes cross
 * the link.
 */
export async function cutover(ctx: RoundContext, record: VmRecord, handle: VmHandle, request: CutoverRequest): Promise<void> {
  let fullCheckRound: number | undefined;
  if (request.fullCheckFirst && request.verify === "changed") {
    ctx.logger.log("info", "cutover: a full source-side check before the shutdown", { vm: record.vm });
    fullCheckRound = (await runRound(ctx, record, handle, { mode: "resync" })).round;
  }
  const started = Date.now();
  const shutdown = request.shutdown === "guest" ? await ctx.vc.shutdownGuest(handle, { timeoutMs: request.shutdownTimeoutSeconds * 1000 }) : "none";
  const shutdownAt = Date.now();
  let verifyStarted = 0;
  let verifyEnded = 0;
  const checks: CutoverDiskCheck[] = [];
  let verifiedBytes = 0;
  let hashBytes = 0;
  const summary = await runRound(ctx, record, handle, {
    beforeRemove: async (readers) => {
      verifyStarted = Date.now();
      for (const disk of Object.values(record.disks).sort((x, y) => x.key - y.key)) {
        const entry = readers.get(disk.key);
        if (entry === undefined) continue;
        const check = await verifyDisk(ctx, record.vm, disk, entry.reader.device, entry.file.capacityBytes, entry.hashes, request);
        checks.push(check.result);
        verifiedBytes += check.verifiedBytes;
        hashBytes += check.hashBytes;
      }
      verifyEnded = Date.now();
    },
  });
  const ended = Date.now();
  const bad = checks.filter((d) => d.sourceDigest !== d.targetDigest || d.differingBlocks.length > 0);
  record.cutover = {
    state: bad.length === 0 ? "verified" : "failed",
    requestedAt: record.cutover!.requestedAt,
    finishedAt: new Date().toISOString(),
    shutdown,
    verify: request.verify,
    ...(fullCheckRound !== undefined ? { fullCheckRound } : {}),
    round: summary.round,
    downtimeSeconds: (ended - started) / 1000,
    phases: {
      shutdownSeconds: (shutdownAt - started) / 1000,
      finalRoundSeconds: (verifyStarted - shutdownAt) / 1000,
      verifySeconds: (verifyEnded - verifyStarted) / 1000,
      snapshotRemovalSeconds: (ended - verifyEnded) / 1000,
    },
    finalDeltaBytes: summary.disks.reduce((n, d) => n + d.changedBytes, 0),
    sourceBytesReadOverLink: summary.disks.reduce((n, d) => n + d.linkBytes, 0),
    hashBytesOverLink: hashBytes,
    verifiedBytes,
    disks: checks,
    ...(bad.length === 0
      ? {}
      : {
          error: `Source and target of VM ${record.vm} differ: ${bad.map((d) => `disk ${d.key}: source digest ${d.sourceDigest}, target ${d.targetDigest}, differing blocks ${d.differingBlocks.slice(0, 20).join(", ") || "none"}${d.differingBlocks.length > 20 ? ` and ${d.differingBlocks.length - 20} more` : ""}`).join("; ")}. Nothing may be launched; the source stays off.`,
        }),
  };
  ctx.state.saveVm(record);
  ctx.logger.log(bad.length === 0 ? "info" : "error", bad.length === 0 ? "cutover verified" : "cutover verification failed", {
    vm: record.vm,
    downtimeSeconds: record.cutover.downtimeSeconds,
    phases: record.cutover.phases,
    finalDeltaBytes: record.cutover.finalDeltaBytes,
    verifiedBytes,
  });
}

/** One disk's verification at a cutover, from the final round's frozen disk. */
async function verifyDisk(ctx: RoundContext, vm: string, disk: DiskRecord, device: BlockDevice, size: number, hashes: BlockDigests, request: CutoverRequest) {
  const agent = ctx.agent(disk.agentUrl);
  const job = await agent.get(disk.jobId);
  const total = blockCount(size);
  const changed = request.verify === "full" ? [] : (ctx.state.loadChanged(vm, disk.key, size)?.list() ?? Array.from({ length: total }, (_, b) => b));
  const sample = request.verify === "full" ? [] : sampleBlocks(size, request.sampleBlocks);
  const blocks = request.verify === "full" ? Array.from({ length: total }, (_, b) => b) : [...new Set([...changed, ...sample])].sort((x, y) => x - y);
  // The source side read again now, from the frozen disk.
  const fresh = await hashBlocks(device, size, blocks, ctx.signal);
  const recorded = Buffer.concat(blocks.map((b) => hashes.hashes.subarray(b * BLOCK_HASH_BYTES, (b + 1) * BLOCK_HASH_BYTES)));
  const differing = new Set<number>();
  // A block whose fresh hash is not the one the rounds recorded changed without CBT saying so.
  blocks.forEach((b, i) => {
    if (!fresh.hashes.subarray(i * BLOCK_HASH_BYTES, (i + 1) * BLOCK_HASH_BYTES).equals(recorded.subarray(i * BLOCK_HASH_BYTES, (i + 1) * BLOCK_HASH_BYTES)))
      differing.add(b);
  });
  let targetRead = 0;
  for (let at = 0; at < blocks.length; at += COMPARE_LIST) {
    const part = blocks.slice(at, at + COMPARE_LIST);
    const reply = await agent.compareBlocks(disk.jobId, part, fresh.hashes.subarray(at * BLOCK_HASH_BYTES, (at + part.length) * BLOCK_HASH_BYTES), true);
    reply.differing.forEach((b) => differing.add(b));
    targetRead += reply.bytesRead;
  }
  return {
    result: {
      key: disk.key,
      jobId: disk.jobId,
      sizeBytes: size,
      sourceDigest: hashes.digest().digest,
      targetDigest: job.lastRound?.digest.digest ?? "",
      changedBlocks: changed.length,
      sampleBlocks: sample.length,
      comparedBlocks: blocks.length,
      differingBlocks: [...differing].sort((x, y) => x - y),
    },
    verifiedBytes: Math.min(fresh.bytesRead, targetRead),
    hashBytes: blocks.length * (8 + BLOCK_HASH_BYTES),
  };
}
