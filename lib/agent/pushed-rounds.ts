/**
 * A round pushed by the job's proxy: its frames applied to the target as they arrive (each
 * checked against its hash), the target's progress checkpointed in the job record so a dropped
 * link or a restart resumes where the target durably is, then its digest taken and the round
 * recorded.
 */
import { isPushed, type RoundRecord } from "./api";
import type { SyncProgress, TargetIdentity } from "../replication";
import type { BlockDevice } from "../replication/device";
import { openDevice } from "../replication/open";
import { zstdVersion } from "../link/codec";
import { countFailure, type JobContext } from "./context";
import { applyFrames } from "./push";
import { JobRequestError, saveRecord, updateRecord, type Job, type JobRecord } from "./records";
import { sameIdentity, TargetRefused, targetForRound } from "./targets";

/**
 * Applies a round pushed by the job's proxy: the frames of `stream` (see `lib/link/frames.ts`),
 * each checked against its hash, written to the target. Round `round` holds the proxy's
 * snapshot `snapshot`; pushed again with the same snapshot after a dropped link or a restart, it
 * resumes where the target's last checkpoint was (`active.pushedUpTo`), with another snapshot
 * it starts over. Answers once the round is recorded, with its record.
 */
export async function pushRound(ctx: JobContext, job: Job, round: number, snapshot: string, size: number, stream: AsyncIterable<Buffer>): Promise<RoundRecord> {
  const id = job.record.spec.id;
  const r = job.record;
  if (!isPushed(r.spec.source)) throw new JobRequestError(409, `Job ${id} reads its source itself; rounds cannot be pushed to it.`);
  if (r.lastRound !== undefined && r.lastRound.round >= round) {
    if (r.lastRound.round === round && r.lastRound.snapshot === snapshot) return r.lastRound;
    throw new JobRequestError(409, `Job ${id} has recorded round ${r.lastRound.round}; push a later round.`);
  }
  if (r.state === "frozen" || r.freezePending !== undefined) {
    throw new JobRequestError(409, `Job ${id} is frozen for rehearsal point ${r.frozenFor ?? r.freezePending}; push again after the thaw.`);
  }
  if (job.running) throw new JobRequestError(409, `Job ${id} is taking a pushed round already.`);
  if (r.sourceSize !== undefined && r.sourceSize !== size)
    throw new JobRequestError(409, `Job ${id}'s source was ${r.sourceSize} bytes; a push of ${size} bytes is another disk.`);
  const resumes = r.active !== undefined && r.active.round === round && r.active.snapshot === snapshot;
  const from = resumes ? (r.active!.pushedUpTo ?? 0) : 0;
  const update: JobRecord = {
    ...r,
    sourceSize: size,
    active: { round, changed: "push", requestedAt: new Date().toISOString(), attempts: 0, snapshot, pushedUpTo: from },
    state: round === 0 || r.lastRound === undefined ? "initial-sync" : "syncing",
    error: undefined,
  };
  updateRecord(ctx.options, job, update);
  const next = job.record;
  job.running = true;
  let finished: () => void = () => undefined;
  job.runPromise = new Promise<void>((resolve) => (finished = resolve));
  const release = await ctx.options.scheduler.acquire();
  const abort = new AbortController();
  job.abort = abort;
  job.copying = true;
  job.startedAt = new Date().toISOString();
  const active = next.active!;
  ctx.options.logger.log("info", resumes && from > 0 ? "pushed round resumed" : "pushed round started", { job: id, round, snapshot, from });
  let device: BlockDevice | undefined;
  try {
    const target = targetForRound(ctx.options, job.record);
    device = await openDevice(target.path, { write: true });
    const opened = (device as { identity?: TargetIdentity }).identity;
    if (opened === undefined || !sameIdentity(opened, target.identity))
      throw new TargetRefused(`Target ${r.spec.target} changed between its check and its opening; nothing was written.`);
    if (device.size < size) throw new JobRequestError(409, `Target ${r.spec.target} has ${device.size} bytes, fewer than the source's ${size}.`);
    const cached = ctx.digests.takeBlockDigests(job, !resumes && !job.resumedRound);
    const result = await applyFrames(stream, device, {
      from,
      size,
      checkpointBytes: 64 * 1024 * 1024,
      signal: abort.signal,
      onCheckpoint: (c) => {
        active.pushedUpTo = c.pushedUpTo;
        job.progress = { phase: "push", bytesDone: c.pushedUpTo, bytesTotal: size, rate: 0, etaSeconds: 0 } as SyncProgress;
        saveRecord(ctx.options, job);
      },
    });
    await device.close();
    device = undefined;
    const taken = await ctx.digests.targetDigestAfterPush(job, target.path, round, result.touched, cached, resumes, abort.signal);
    const record: RoundRecord = {
      round,
      changed: "push",
      snapshot,
      startedAt: job.startedAt,
      finishedAt: new Date().toISOString(),
      seconds: (Date.now() - Date.parse(job.startedAt)) / 1000,
      bytesRead: result.counters.bytesWritten,
      bytesWritten: result.counters.bytesWritten,
      bytesZeroed: result.counters.bytesZeroed,
      bytesSkipped: Math.max(0, size - result.counters.bytesWritten - result.counters.bytesZeroed),
      linkBytes: result.counters.linkBytes,
      frames: { zstd: result.counters.zstdFrames, raw: result.counters.rawFrames, zero: result.counters.zeroFrames },
      resumed: resumes && from > 0,
      digest: taken.digest,
      digestMode: taken.mode,
      digestBytesRead: taken.bytesRead,
    };
    next.lastRound = record;
    const { changed: _changed, ...summary } = record;
    next.rounds = [...next.rounds, summary];
    next.active = undefined;
    next.error = undefined;
    next.state = "idle";
    job.resumedRound = false;
    saveRecord(ctx.options, job);
    ctx.options.logger.log("info", "pushed round finished", {
      job: id,
      round,
      bytesWritten: record.bytesWritten,
      bytesZeroed: record.bytesZeroed,
      linkBytes: record.linkBytes,
      codec: codecOf(record.frames!),
      frames: record.frames,
      digest: record.digest.digest,
      digestMode: record.digestMode,
    });
    return record;
  } catch (err) {
    next.error = err instanceof Error ? err.message : String(err);
    countFailure(ctx, id);
    if (err instanceof TargetRefused) next.state = "error";
    saveRecord(ctx.options, job);
    ctx.options.logger.log("warn", "pushed round stopped; it resumes when pushed again", {
      job: id,
      round,
      pushedUpTo: active.pushedUpTo,
      error: next.error,
    });
    if (err instanceof JobRequestError) throw err;
    const name = (err as Error).name;
    if (name === "FrameHashError") {
      const { offset, length } = err as { offset: number; length: number };
      ctx.options.logger.log("warn", "a pushed frame was refused: its bytes do not match its hash; nothing of it was written", {
        job: id,
        round,
        offset,
        length,
        pushedUpTo: active.pushedUpTo,
      });
      throw new JobRequestError(422, (err as Error).message, { pushedUpTo: active.pushedUpTo, frameOffset: offset });
    }
    if (name === "LinkProtocolError") throw new JobRequestError(422, (err as Error).message, { pushedUpTo: active.pushedUpTo });
    if (err instanceof TargetRefused) throw new JobRequestError(403, (err as Error).message);
    throw err;
  } finally {
    await device?.close().catch(() => undefined);
    job.running = false;
    job.copying = false;
    job.abort = undefined;
    release();
    finished();
  }
}

/** The codec a pushed round's frames used, for logs: `zstd 1.5.7`, `none`, or both. */
function codecOf(frames: { zstd: number; raw: number }): string {
  const zstd = `zstd ${zstdVersion()}`;
  if (frames.zstd > 0 && frames.raw > 0) return `${zstd} (${frames.raw} frames as they are)`;
  return frames.zstd > 0 ? zstd : "none";
}
