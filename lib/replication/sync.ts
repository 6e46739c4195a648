/**
 * One sync round: open both disks, list the round's segments from the extent source, resume the
 * journal if there is one, copy, flush, and report the bytes moved.
 */
import { setMaxListeners } from "node:events";
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError, problem, type Problem } from "../problems";
import { copy, requestsOf, type CopyRequest } from "./copier";
import type { BlockDevice, Extent } from "./device";
import { extentSourceFor, type ChangedSpec } from "./extents";
import { completedAt, Journal } from "./journal";
import { isNbdUri, openDevice } from "./open";
import { ProgressMeter, type SyncProgress } from "./progress";
import { Throttle } from "./throttle";

/** Default request size. */
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
/** Default requests in flight, over all connections together (the pool of buffers). */
export const DEFAULT_DEPTH = 32;
/**
 * Default request size and depth when the target is an NBD server: smaller requests, more of
 * them (nbdcopy's own defaults). A server writing through its page cache keeps up better with
 * them (4 GiB to nbdkit's file plugin: 4.6-6.0 s against 7.6-7.7 s with 1 MiB × 32); a local file
 * target is written directly and prefers the larger requests.
 */
const DEFAULT_NBD_TARGET_BLOCK_SIZE = 256 * 1024;
const DEFAULT_NBD_TARGET_DEPTH = 64;
/** Default connections per disk when the server allows multi-conn. */
export const DEFAULT_CONNECTIONS = 4;
/** Default checkpoint interval: source bytes a crash may make a resumed round read again. */
export const DEFAULT_CHECKPOINT_INTERVAL = 256 * 1024 * 1024;
const MAXIMUM_CONNECTIONS = 16;

/** What `sync` copies and how. */
export interface SyncOptions {
  /** NBD URI or local path of the disk read. */
  readonly source: string;
  /** NBD URI or local path of the disk written; a missing local file is created at the source's size. */
  readonly target: string;
  /** Which ranges to copy. @default - "allocated" */
  readonly changed?: ChangedSpec;
  /** Journal file making the round resumable; removed when the round completes. @default - none */
  readonly journal?: string;
  /** Bandwidth limit of source reads: bytes/s, or a `Throttle` shared with other syncs. @default - unlimited */
  readonly bandwidth?: number | Throttle;
  /** Connections per disk, used when the server allows multi-conn. @default - 4 */
  readonly connections?: number;
  readonly onProgress?: (p: SyncProgress) => void;
  readonly signal?: AbortSignal;
  /** Largest read/write request in bytes; also the unit the journal records. @default - 1 MiB (256 KiB to an NBD target) */
  readonly blockSize?: number;
  /** Requests in flight over all connections together; each owns a buffer of `blockSize`. @default - 32 (64 to an NBD target) */
  readonly depth?: number;
  /** Source bytes read between checkpoints of the journal. @default - 256 MiB */
  readonly checkpointInterval?: number;
  /**
   * Leave the journal marked complete instead of removing it: a caller that records the round
   * afterwards (the agent: digest, job record) removes it then, and a crash before that resumes
   * the round with nothing left to copy. @default false
   */
  readonly keepJournal?: boolean;
  /** An NBD server that leaves requests unanswered this long fails the round (ms). @default 120000 */
  readonly idleTimeoutMs?: number;
  /** A local target must be exactly this file or device (checked on the opened handle). @default - any */
  readonly expectTarget?: TargetIdentity;
}

/** A local file (device and inode) or block device (`rdev`), as `fs.stat` reports them. */
export interface TargetIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly rdev: number;
  readonly blockDevice: boolean;
}

/** What a round moved. */
export interface SyncResult {
  /** Bytes read from the source. */
  readonly bytesRead: number;
  /** Bytes written to the target as data. */
  readonly bytesWritten: number;
  /** Bytes written to the target as zeroes. */
  readonly bytesZeroed: number;
  /** Bytes of the disk the round did not write: unchanged per the extent source, equal per `hash`, done before a resume. */
  readonly bytesSkipped: number;
  readonly seconds: number;
  /** Whether the round resumed a journal. */
  readonly resumed: boolean;
}

/** Requests of a round kept in memory between its plan pass and its copy (about 100 bytes each). */
const KEPT_REQUESTS = 100_000;

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

/** Runs one sync round. Bad input throws `InputError` before the target is written. */
export async function sync(options: SyncOptions): Promise<SyncResult> {
  const started = performance.now();
  const settings = validate(options);
  const extentSource = extentSourceFor(options.changed ?? "allocated");
  const meter = new ProgressMeter(options.onProgress);
  meter.setPhase("open");
  const devices: BlockDevice[] = [];
  // Aborting lets go of the disks at once: requests in flight fail instead of being waited for.
  const onAbort = (): void => {
    for (const d of devices) d.destroy("the round was stopped");
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  // Every request waiting on the throttle listens to the signal too: dozens at once are expected.
  if (options.signal !== undefined) setMaxListeners(0, options.signal);
  const connection = { signal: options.signal, idleTimeoutMs: options.idleTimeoutMs };
  try {
    options.signal?.throwIfAborted();
    const source = await openDevice(options.source, {
      ...connection,
      metaContexts: extentSource.requiredContexts,
      optionalMetaContexts: extentSource.optionalContexts,
    });
    devices.push(source);
    const missing = extentSource.requiredContexts.filter((c) => !source.caps.metaContexts.includes(c));
    if (missing.length > 0) {
      throw new InputError(
        missing.map((context) =>
          problem({
            file: options.source,
            field: "changed",
            received: extentSource.name,
            expected: `a source exporting the metadata context ${context}`,
            fix: isNbdUri(options.source)
              ? `export the bitmap (qemu-nbd -B ${context.replace(/^qemu:dirty-bitmap:/, "")}) or find the changed blocks by hash`
              : "read the disk over NBD from a server exporting the bitmap, or find the changed blocks by hash",
            message: `The source does not export ${context}`,
          }),
        ),
      );
    }
    const createSize = !isNbdUri(options.target) && !fs.existsSync(options.target) ? source.size : undefined;
    const target = await openDevice(options.target, { ...connection, write: true, createSize });
    devices.push(target);
    checkTarget(options, source, target);
    if (target.size < source.size) {
      throw new InputError(
        problem({
          file: options.target,
          received: `${target.size} bytes`,
          expected: `at least ${source.size} bytes (the size of ${options.source})`,
          fix: "resize the target disk or choose a larger one",
          message: "The target disk is smaller than the source disk",
        }),
      );
    }
    const align = Math.max(source.caps.minimumBlockSize, target.caps.minimumBlockSize, 1);
    const requestMax = Math.min(settings.blockSize, source.caps.maximumBlockSize, target.caps.maximumBlockSize);
    const blockSize = Math.max(align, Math.floor(requestMax / align) * align);

    const journal =
      options.journal === undefined
        ? undefined
        : Journal.open(options.journal, { source: options.source, target: options.target, size: source.size, changed: extentSource.name, blockSize });
    const isDone = completedAt(journal?.resumedFrom);

    // Extra connections are opened together: each handshake is a few round trips to the server.
    const extraSources = settings.connections > 1 && source.caps.canMultiConn && isNbdUri(options.source) ? settings.connections - 1 : 0;
    const extraTargets = settings.connections > 1 && target.caps.canMultiConn && isNbdUri(options.target) ? settings.connections - 1 : 0;
    // A server that accepts fewer connections than asked for is used with those it accepted.
    const opened = await Promise.allSettled([
      ...Array.from({ length: extraSources }, () => openDevice(options.source, { ...connection, metaContexts: [] })),
      ...Array.from({ length: extraTargets }, () => openDevice(options.target, { ...connection, write: true })),
    ]);
    const fulfilled = (results: typeof opened): BlockDevice[] => results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const extraSourceDevices = fulfilled(opened.slice(0, extraSources));
    const extraTargetDevices = fulfilled(opened.slice(extraSources));
    devices.push(...extraSourceDevices, ...extraTargetDevices);
    options.signal?.throwIfAborted();
    const sources = [source, ...extraSourceDevices];
    const targets = [target, ...extraTargetDevices];

    const roundRequests = (): AsyncGenerator<CopyRequest> => requestsOf(extentSource.segments(source), blockSize, align, source.size);
    async function* remaining(): AsyncGenerator<CopyRequest> {
      for await (const request of roundRequests()) if (!isDone(request.offset, request.length)) yield request;
    }

    // The plan pass counts the round's bytes for progress and keeps its requests when they are
    // few enough, so the copy does not ask the source for its block status a second time.
    meter.setPhase("plan");
    let planned = 0;
    let kept: CopyRequest[] | undefined = [];
    for await (const request of remaining()) {
      planned += request.length;
      kept?.push(request);
      if (kept !== undefined && kept.length > KEPT_REQUESTS) kept = undefined;
    }
    meter.bytesTotal = planned;
    meter.setPhase("copy");

    let workers = Math.max(settings.depth, sources.length, targets.length);
    const checkpointInterval = settings.checkpointInterval;
    if (journal !== undefined) workers = Math.max(1, Math.min(workers, Math.floor(checkpointInterval / (2 * blockSize))));
    const counters = await copyOrExplain(options, {
      sources,
      targets,
      requests: kept === undefined ? remaining() : fromArray(kept),
      workers,
      blockSize,
      throttle: settings.throttle,
      signal: options.signal,
      meter,
      // A target this round created is a sparse file of zeroes (a resumed round did not create it).
      targetIsZero: createSize !== undefined,
      checkpoint:
        journal === undefined
          ? undefined
          : {
              intervalBytes: checkpointInterval,
              write: (frontier: number, done: readonly Extent[], bytesDone: number) => journal.checkpoint(frontier, done, bytesDone),
            },
    });
    if (journal !== undefined) {
      if (options.keepJournal === true) await journal.checkpoint(source.size, [], planned);
      else await journal.remove();
    }
    const touched = counters.bytesWritten + counters.bytesZeroed;
    const result: SyncResult = {
      ...counters,
      bytesSkipped: Math.max(0, source.size - touched),
      seconds: Math.round((performance.now() - started) / 10) / 100,
      resumed: journal?.resumedFrom !== undefined,
    };
    meter.setPhase("done");
    return result;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await Promise.allSettled(devices.reverse().map((d) => d.close()));
  }
}

/** Refuses, before anything is written, a target that cannot take the round. */
function checkTarget(options: SyncOptions, source: BlockDevice, target: BlockDevice): void {
  if (target.caps.readOnly) {
    throw new InputError(
      problem({
        file: options.target,
        field: "target",
        received: "a read-only export",
        expected: "a writable disk",
        fix: "export it writable (without qemu-nbd -r / nbdkit -r) or choose another target",
        message: "The target disk is read-only",
      }),
    );
  }
  const tail = source.size % target.caps.minimumBlockSize;
  if (tail !== 0) {
    throw new InputError(
      problem({
        file: options.target,
        field: "target",
        received: `minimum block size ${target.caps.minimumBlockSize} bytes; the source is ${source.size} bytes, ${tail} past the last whole block`,
        expected: "a target whose minimum block size divides the source's size",
        fix: "export the target with a smaller minimum block size (nbdkit blocksize-policy, qemu-nbd without a 4 KiB block-size), or copy to a local file",
        message: "The source's last bytes cannot be written to the target in whole blocks",
      }),
    );
  }
  const expected = options.expectTarget;
  if (expected !== undefined) {
    const opened = (target as { identity?: TargetIdentity }).identity;
    const same =
      opened !== undefined &&
      opened.blockDevice === expected.blockDevice &&
      (expected.blockDevice ? opened.rdev === expected.rdev : opened.dev === expected.dev && opened.ino === expected.ino);
    if (!same) {
      throw new InputError(
        problem({
          file: options.target,
          field: "target",
          received: "another file or device than the one checked",
          expected: "the file or device that was allowed",
          fix: "do not swap the target while a round opens it",
          message: "The target changed between its check and its opening",
        }),
      );
    }
  }
}

/** Runs the copy; a target out of space is reported as such, with what to do. */
async function copyOrExplain(options: SyncOptions, copierOptions: Parameters<typeof copy>[0]): Promise<Awaited<ReturnType<typeof copy>>> {
  try {
    return await copy(copierOptions);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOSPC") {
      throw new InputError(
        problem({
          file: options.target,
          field: "target",
          received: "no space left (ENOSPC)",
          expected: "room for the source's data",
          fix: `free space where ${options.target} lives or choose a target with room for the source; ${options.journal !== undefined ? "the journal lets the round resume" : "with a journal the round can resume"}`,
          message: "The target ran out of space",
        }),
      );
    }
    throw err;
  }
}

interface Settings {
  readonly blockSize: number;
  readonly depth: number;
  readonly connections: number;
  readonly checkpointInterval: number;
  readonly throttle?: Throttle;
}

/** The integer options `validate` checks, as its messages name them. */
const INTEGER_LABELS = {
  blockSize: "The block size",
  depth: "The depth",
  connections: "The number of connections",
  checkpointInterval: "The checkpoint interval",
} as const;

function validate(options: SyncOptions): Settings {
  const problems: Problem[] = [];
  const integer = (field: keyof typeof INTEGER_LABELS, fallback: number, min: number, max: number, expected: string): number => {
    const value = options[field];
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(problem({ field, received: String(value), expected, fix: `give ${expected}`, message: `${INTEGER_LABELS[field]} is out of range` }));
      return fallback;
    }
    return value;
  };
  const nbdTarget = typeof options.target === "string" && isNbdUri(options.target);
  const blockSize = integer(
    "blockSize",
    nbdTarget ? DEFAULT_NBD_TARGET_BLOCK_SIZE : DEFAULT_BLOCK_SIZE,
    4096,
    32 * 1024 * 1024,
    "an integer from 4096 to 33554432 bytes",
  );
  const depth = integer("depth", nbdTarget ? DEFAULT_NBD_TARGET_DEPTH : DEFAULT_DEPTH, 1, 256, "an integer from 1 to 256");
  const connections = integer("connections", DEFAULT_CONNECTIONS, 1, MAXIMUM_CONNECTIONS, `an integer from 1 to ${MAXIMUM_CONNECTIONS}`);
  const checkpointInterval = integer(
    "checkpointInterval",
    DEFAULT_CHECKPOINT_INTERVAL,
    2 * blockSize,
    Number.MAX_SAFE_INTEGER,
    `at least twice the block size (${2 * blockSize} bytes)`,
  );
  let throttle: Throttle | undefined;
  if (options.bandwidth instanceof Throttle) throttle = options.bandwidth;
  else if (options.bandwidth !== undefined) {
    if (!(options.bandwidth > 0) || !Number.isFinite(options.bandwidth)) {
      problems.push(
        problem({
          field: "bandwidth",
          received: String(options.bandwidth),
          expected: "a positive number of bytes per second",
          fix: "give a rate such as 200M",
          message: "The bandwidth limit is not a positive rate",
        }),
      );
    } else throttle = new Throttle(options.bandwidth);
  }
  for (const [field, spec] of [
    ["source", options.source],
    ["target", options.target],
  ] as const) {
    if (typeof spec !== "string" || spec.length === 0)
      problems.push(
        problem({
          field,
          received: JSON.stringify(spec),
          expected: "an NBD URI or a local path",
          fix: `give the ${field} disk`,
          message: `The ${field} disk is missing`,
        }),
      );
  }
  if (options.journal !== undefined && !fs.existsSync(path.dirname(path.resolve(options.journal)))) {
    problems.push(
      problem({
        file: options.journal,
        field: "journal",
        received: path.dirname(path.resolve(options.journal)),
        expected: "an existing directory",
        fix: "create the directory or choose another journal path",
        message: "The journal's directory does not exist",
      }),
    );
  }
  if (problems.length > 0) throw new InputError(problems);
  return { blockSize, depth, connections, checkpointInterval, throttle };
}
