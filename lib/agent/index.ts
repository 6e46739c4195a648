/**
 * The sync-gateway agent: an HTTPS API over the replication engine, with jobs that survive the
 * agent being killed. `startAgent` is what `rehost agent` runs; tests and the lab start it
 * in-process or as a child process.
 */
import * as fs from "node:fs";
import type { AddressInfo } from "node:net";
import { packageVersion } from "../service/package";
import * as replication from "../replication";
import { BASE_ALLOCATION } from "../replication/extents/block-status";
import type { Digest } from "./api";
import { hashBlocks, type BlockHashes } from "../replication/block-hashes";
import { loadOrCreateToken } from "../service/auth";
import type { DataPlane } from "./data-plane";
import { JobManager } from "./jobs";
import { jsonLogger, type Logger } from "../service/log";
import { Scheduler } from "./scheduler";
import { createAgentServer } from "./server";
import { StateDir } from "./store";
import { isDiskId, type DiskLookup } from "./disks";
import { loadOrCreateCertificate } from "../service/tls";

export type { Changed, Digest, JobSpec, JobState, JobStatus, RegisterRequest, RoundRecord, Verification } from "./api";
export type { DataPlane } from "./data-plane";
export { AgentClient, AgentRequestError, type AgentClientOptions } from "./client";
export { findDisk, diskSerial, isDiskId, DiskNotFound, DEFAULT_BY_ID_DIR, DEFAULT_SYS_DEV_BLOCK_DIR, type DiskLookup, type FoundDisk } from "./disks";

/** Options of `startAgent` (the `rehost agent` flags). */
export interface AgentOptions {
  /** Directory holding job records, journals, the certificate and the token. */
  readonly stateDir: string;
  /** Address to listen on. @default "127.0.0.1" */
  readonly host?: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /**
   * What jobs may write to: cloud disk ids (`d-bp1abc…`, found through `/dev/disk/by-id` and
   * checked by their serial) and absolute paths of devices or files.
   */
  readonly allow: readonly string[];
  /** Where cloud disk ids are looked up. @default - `/dev/disk/by-id` and `/sys/dev/block` */
  readonly disks?: DiskLookup;
  /** PEM certificate and key files; when absent a self-signed certificate is created in the state directory. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** File holding the bearer token. @default - `<stateDir>/token`, created with a random token if missing */
  readonly tokenFile?: string;
  /** Directory of credentials files (PSK files) that jobs name by reference. */
  readonly credentialsDir?: string;
  /** Disks copied at once; the others queue. @default 4 */
  readonly maxConcurrent?: number;
  /** Total bandwidth cap across every job, bytes per second. @default - unlimited */
  readonly bandwidth?: number;
  /** Attempts per round before a job goes to `error`. @default 5 */
  readonly maxAttempts?: number;
  /** First retry delay in ms (doubled per attempt). @default 1000 */
  readonly retryDelayMs?: number;
  readonly logger?: Logger;
  /** The data plane; @default - `lib/replication` */
  readonly dataPlane?: DataPlane;
  /** Copier tuning passed to every round (see `lib/replication`'s `SyncOptions`). */
  readonly tuning?: SyncTuning;
}

/** Copier settings the agent passes through. */
export interface SyncTuning {
  /** Largest request in bytes. @default - the copier's (2 MiB) */
  readonly blockSize?: number;
  /** Connections per disk. @default - the copier's (4) */
  readonly connections?: number;
  /** Source bytes between journal checkpoints. @default - the copier's (256 MiB) */
  readonly checkpointInterval?: number;
  /** A source or target server that leaves requests unanswered this long fails the round, in ms. @default - the client's (120000) */
  readonly idleTimeoutMs?: number;
}

/** A running agent. */
export interface RunningAgent {
  /** `https://HOST:PORT`. */
  readonly url: string;
  readonly port: number;
  /** SHA-256 fingerprint of the certificate clients must pin. */
  readonly fingerprint: string;
  readonly certificate: string;
  readonly tokenFile: string;
  /** Stops listening and stops every round (journals stay for the next start). */
  close(): Promise<void>;
}

/** Starts an agent: loads its state, resumes unfinished rounds and listens. */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const logger = options.logger ?? jsonLogger();
  const host = options.host ?? "127.0.0.1";
  const state = new StateDir(options.stateDir);
  state.ensure();
  const tokenFile = options.tokenFile ?? state.tokenFile;
  const { token, created: tokenCreated } = loadOrCreateToken(tokenFile);
  const certificate = loadOrCreateCertificate({ certFile: options.certFile, keyFile: options.keyFile, tlsDir: state.tlsDir, hosts: [host] });
  for (const target of options.allow) {
    if (!target.startsWith("/") && !isDiskId(target)) throw new Error(`Allowed target ${target} is neither a cloud disk id (d-…) nor an absolute path.`);
  }
  const bandwidth = options.bandwidth !== undefined ? new replication.Throttle(options.bandwidth) : undefined;
  const scheduler = new Scheduler(options.maxConcurrent ?? 4);
  const jobs = new JobManager({
    state,
    scheduler,
    dataPlane: options.dataPlane ?? replicationDataPlane(options.tuning),
    logger,
    allow: options.allow,
    disks: options.disks,
    credentialsDir: options.credentialsDir,
    bandwidth,
    maxAttempts: options.maxAttempts,
    retryDelayMs: options.retryDelayMs,
  });
  jobs.resume();
  const server = createAgentServer({
    cert: certificate.cert,
    key: certificate.key,
    token,
    jobs,
    logger,
    info: { service: "rehost-agent", version: packageVersion(), maxConcurrent: scheduler.limit, bandwidth: options.bandwidth ?? null },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  logger.log("info", "agent listening", {
    url,
    fingerprint: certificate.fingerprint,
    certificateCreated: certificate.created,
    tokenFile,
    tokenCreated,
    allow: options.allow,
    maxConcurrent: scheduler.limit,
    bandwidth: options.bandwidth ?? null,
  });
  return {
    url,
    port,
    fingerprint: certificate.fingerprint,
    certificate: certificate.cert,
    tokenFile,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await jobs.close();
      await closed;
      logger.log("info", "agent stopped");
    },
  };
}

/** The production data plane: `lib/replication`'s `sync` and `digest`, loaded on first use. */
export function replicationDataPlane(tuning: SyncTuning = {}): DataPlane {
  return {
    async sync(o): Promise<replication.SyncResult> {
      return replication.sync({
        ...tuning,
        source: o.source,
        target: o.target,
        changed: o.changed,
        journal: o.journal,
        keepJournal: o.keepJournal,
        expectTarget: o.expectTarget,
        bandwidth: o.bandwidth,
        onProgress: o.onProgress,
        signal: o.signal,
      });
    },
    async digest(spec: string, length?: number): Promise<Digest> {
      const d = await replication.digest(spec, length === undefined ? {} : { length });
      return { algorithm: d.algorithm, digest: d.digest, size: d.size };
    },
    async changedExtents(source: string, changed: replication.ChangedSpec): Promise<replication.Extent[]> {
      const extentSource = replication.extentSourceFor(changed);
      const device = await replication.openDevice(source, { metaContexts: extentSource.requiredContexts, optionalMetaContexts: extentSource.optionalContexts });
      try {
        const extents: replication.Extent[] = [];
        for await (const segment of extentSource.segments(device)) extents.push({ offset: segment.offset, length: segment.length });
        return replication.mergeExtents(extents);
      } finally {
        await device.close();
      }
    },
    async blockHashes(spec: string, length: number, blocks?: readonly number[], signal?: AbortSignal): Promise<BlockHashes> {
      const device = await replication.openDevice(spec, { optionalMetaContexts: [BASE_ALLOCATION] });
      try {
        return await hashBlocks(device, Math.min(length, device.size), blocks, signal);
      } finally {
        await device.close();
      }
    },
    async size(spec: string): Promise<number> {
      const device = await replication.openDevice(spec);
      try {
        return device.size;
      } finally {
        await device.close();
      }
    },
  };
}

/** Reads a token file the way the agent does (trimmed). */
export function readToken(file: string): string {
  return fs.readFileSync(file, "utf8").trim();
}
