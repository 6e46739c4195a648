/**
 * The source proxy (`rehost proxy`): the on-prem service that takes rehost's rounds. Agentless
 * towards the VMs: it talks to vCenter (snapshots, changed-block tracking) and reads the frozen
 * disks locally, then pushes only the changed ranges to the sync gateways' agents over the link.
 * See docs/proxy.md.
 */
import type { AddressInfo } from "node:net";
import * as fs from "node:fs";
import * as path from "node:path";
import { AgentClient } from "../agent/client";
import { describeSchedule, LinkThrottles, type Bandwidth } from "../link/bandwidth";
import { checkLevel, DEFAULT_LEVEL, zstdVersion } from "../link/codec";
import { packageVersion } from "../service/package";
import { loadOrCreateToken } from "../service/auth";
import { jsonLogger, type Logger } from "../service/log";
import { ProcessGroup } from "../service/processes";
import { loadOrCreateCertificate } from "../service/tls";
import type { VSphereClient } from "../vsphere/client";
import { ProxyManager } from "./manager";
import type { ReaderSettings } from "./reader";
import type { LinkSettings } from "./push";
import { createProxyServer } from "./server";
import { keepSessionCookie, writePinnedCertificate } from "./session";
import { ProxyState } from "./state";

export type * from "./api";
export { ProxyClient, ProxyRequestError } from "./client";
export type { LinkSettings } from "./push";
export { curlArgs, vddkArgs, datastoreUrl, type ReaderKind, type ReaderSettings, type DiskSource } from "./reader";
export {
  checkBudget,
  describePrediction,
  initialSyncEta,
  measureRounds,
  predictCutover,
  roundKind,
  roundSeconds,
  type BudgetVerdict,
  type CutoverPlan,
  type CutoverPrediction,
  type RoundMeasures,
  type ThroughputBasis,
} from "./predict";

/** How the proxy reaches the agents it pushes to. */
export interface AgentAccess {
  readonly token: string;
  /** SHA-256 fingerprint(s) of the agents' certificates, comma-separated. */
  readonly fingerprint?: string;
  /** Or a PEM CA they chain to. */
  readonly ca?: string;
}

/** Options of `startProxy` (the `rehost proxy` flags). */
export interface ProxyOptions {
  readonly stateDir: string;
  /** @default "127.0.0.1" */
  readonly host?: string;
  readonly port: number;
  /** A logged-in vSphere client (`connectVSphere`). */
  readonly vc: VSphereClient;
  readonly agents: AgentAccess;
  /** How frozen disks are read. @default - curl over datastore HTTP, trusting the system's CAs */
  readonly reader?: Omit<ReaderSettings, "cookieFile"> & {
    /** Trust exactly vCenter's certificate with this SHA-256 (or SHA-1) fingerprint (curl). */
    readonly thumbprint?: string;
  };
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly tokenFile?: string;
  readonly logger?: Logger;
  /** First retry of a failed round, ms. @default 30000 */
  readonly retryDelayMs?: number;
  /** How long a new disk's first round waits for the VM's other registrations, ms. @default 2000 */
  readonly registrationSettleMs?: number;
  /** How long a round asked for waits for the VM's other disks' requests, ms. @default 500 */
  readonly requestSettleMs?: number;
  /** zstd level of the frames pushed (a disk's registration may name its own), or `off`. @default 1 */
  readonly compressionLevel?: number | "off";
  /** The bandwidth schedules of the proxy and its gateways (`lib/link/bandwidth.ts`). @default - no cap */
  readonly bandwidth?: Bandwidth;
  /** A schedule file to re-read whenever it changes (polled every second); its schedules apply at once. */
  readonly bandwidthFile?: string;
  /** The encoder of each push (`LinkSettings.encoder`). @default - zstd-napi's `BlockCompressor` */
  readonly encoder?: LinkSettings["encoder"];
}

/** A running proxy. */
export interface RunningProxy {
  readonly url: string;
  readonly port: number;
  readonly fingerprint: string;
  readonly tokenFile: string;
  readonly manager: ProxyManager;
  /** The bandwidth throttles every push takes from: replace their schedules with `set`. */
  readonly throttles: LinkThrottles;
  /** Stops listening and every round (an interrupted round goes on at the next start). */
  close(): Promise<void>;
}

/** Starts a proxy: loads its state, goes on with interrupted rounds, listens. */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const logger = options.logger ?? jsonLogger();
  const host = options.host ?? "127.0.0.1";
  const state = new ProxyState(options.stateDir);
  state.ensure();
  const runDir = path.join(options.stateDir, "run");
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const tokenFile = options.tokenFile ?? state.tokenFile;
  const { token } = loadOrCreateToken(tokenFile);
  const certificate = loadOrCreateCertificate({ certFile: options.certFile, keyFile: options.keyFile, tlsDir: state.tlsDir, hosts: [host] });
  const processes = new ProcessGroup();
  const { thumbprint, ...readerOptions } = options.reader ?? { kind: "curl" as const };
  const reader: ReaderSettings = { ...readerOptions, cookieFile: path.join(runDir, "vcenter.cookie") };
  if (thumbprint !== undefined && reader.kind === "curl") {
    const pinned = path.join(runDir, "vcenter-pinned.pem");
    await writePinnedCertificate(options.vc.baseUrl, thumbprint, pinned);
    Object.assign(reader, { caFile: pinned });
  }
  const session = keepSessionCookie(options.vc, reader.cookieFile!, logger);
  const agents = new Map<string, AgentClient>();
  const compressionLevel = options.compressionLevel === "off" ? "off" : checkLevel(options.compressionLevel ?? DEFAULT_LEVEL, "compressionLevel");
  const throttles = new LinkThrottles(options.bandwidth);
  const logBandwidth = (what: string, b: Bandwidth): void =>
    logger.log("info", what, {
      proxy: describeSchedule(b.proxy),
      gateways: Object.fromEntries([...b.gateways].map(([url, s]) => [url, describeSchedule(s)])),
      ...(options.bandwidthFile !== undefined ? { file: options.bandwidthFile } : {}),
    });
  if (options.bandwidthFile !== undefined) {
    throttles.watch(options.bandwidthFile, (event) => {
      if (event.applied) logBandwidth("bandwidth schedule changed; applied to the rounds in flight", event.bandwidth);
      else
        logger.log("error", "the bandwidth file does not parse; the schedules in force are kept", { file: options.bandwidthFile, error: event.error.message });
    });
  }
  const manager = new ProxyManager({
    state,
    vc: options.vc,
    agent: (url) => {
      let client = agents.get(url);
      if (client === undefined) {
        client = new AgentClient({ url: url.replace(/\/$/, ""), token: options.agents.token, fingerprint: options.agents.fingerprint, ca: options.agents.ca });
        agents.set(url, client);
      }
      return client;
    },
    processes,
    runDir,
    reader,
    logger,
    retryDelayMs: options.retryDelayMs,
    registrationSettleMs: options.registrationSettleMs,
    requestSettleMs: options.requestSettleMs,
    link: { compressionLevel, throttles, encoder: options.encoder },
  });
  await manager.start();
  const server = createProxyServer({
    cert: certificate.cert,
    key: certificate.key,
    token,
    manager,
    logger,
    info: { service: "rehost-proxy", version: packageVersion(), reader: reader.kind },
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error): void => {
      session.stop();
      throttles.unwatch();
      void manager.close().then(() => processes.stopAll());
      reject(err);
    };
    server.once("error", failed);
    server.listen(options.port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  logger.log("info", "proxy listening", {
    url,
    fingerprint: certificate.fingerprint,
    tokenFile,
    vcenter: options.vc.baseUrl,
    reader: reader.kind,
    compression: compressionLevel === "off" ? "off" : `zstd ${zstdVersion()} level ${compressionLevel}`,
  });
  logBandwidth("bandwidth schedule", throttles.bandwidth);
  return {
    url,
    port,
    fingerprint: certificate.fingerprint,
    tokenFile,
    manager,
    throttles,
    async close() {
      throttles.unwatch();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await manager.close();
      await processes.stopAll();
      session.stop();
      await closed;
      logger.log("info", "proxy stopped");
    },
  };
}
