/**
 * The source proxy's HTTPS API (bearer token, pinned certificate, as the agent's):
 *
 *   GET    /metrics                            Prometheus text: per VM and disk bytes, rounds, recovery point age, failures, prediction
 *   GET    /v1/health                          version and VMs
 *   GET    /v1/vms                             every VM's status
 *   GET    /v1/vms/:vm                         one VM: disks, rounds, recovery point age, cutover
 *   PUT    /v1/vms/:vm/disks/:key              replicate the disk to an agent job (DiskRegistration) → 200
 *   DELETE /v1/vms/:vm/disks/:key              stop replicating it → 200
 *   POST   /v1/vms/:vm/rounds                  a round now ({ mode: auto | resync }) → 202
 *   POST   /v1/vms/:vm/cutover                 shutdown, final round, verification (CutoverRequest) → 202
 *   POST   /v1/points                          a consistent point of several VMs (PointRequest) → 202
 *   GET    /v1/points/:name                    how it went
 *   DELETE /v1/points/:name                    thaw its jobs on their agents and forget it → 200
 *   POST   /v1/vms/:vm/rollback                power the source on again after a cutover → 200
 */
import type * as https from "node:https";
import { createServiceServer, HttpError, parseBody, readJson, send, type Route } from "../service/http";
import type { Logger } from "../service/log";
import { sendMetrics } from "../service/metrics";
import { CutoverRequestSchema, DiskRegistrationSchema, PointRequestSchema, RoundNowSchema } from "./api";
import type { ProxyManager } from "./manager";

/** What the proxy's HTTPS server needs. */
export interface ProxyServerOptions {
  readonly cert: string;
  readonly key: string;
  readonly token: string;
  readonly manager: ProxyManager;
  readonly logger: Logger;
  readonly info: Record<string, unknown>;
}

/** Creates the proxy's HTTPS server (not yet listening). */
export function createProxyServer(options: ProxyServerOptions): https.Server {
  return createServiceServer({ ...options, realm: "rehost-proxy", handle: (route) => handle(route, options) });
}

async function handle({ req, res, url, method, parts }: Route, options: ProxyServerOptions): Promise<void> {
  const m = options.manager;
  if (parts.length === 1 && parts[0] === "metrics" && method === "GET") return sendMetrics(res, m.metrics());
  if (parts[0] !== "v1") throw new HttpError(404, `No route ${url.pathname}.`);
  const [, area, name, sub, key] = parts.map(decodeURIComponent);
  if (area === "health" && parts.length === 2 && method === "GET") return send(res, 200, { ok: true, ...options.info, vms: m.list().length });
  if (area === "points") {
    if (parts.length === 2 && method === "POST") return send(res, 202, m.startPoint(parseBody(PointRequestSchema, await readJson(req), "point request")));
    if (parts.length === 3 && method === "GET") return send(res, 200, m.point(name));
    if (parts.length === 3 && method === "DELETE") return send(res, 200, await m.releasePoint(name));
  }
  if (area === "vms") {
    if (parts.length === 2 && method === "GET") return send(res, 200, { vms: m.list() });
    if (parts.length === 3 && method === "GET") return send(res, 200, m.get(name));
    if (parts.length === 5 && sub === "disks") {
      const diskKey = Number(key);
      if (!Number.isInteger(diskKey) || diskKey < 0) throw new HttpError(400, `Disk key ${JSON.stringify(key)} is not a disk key (2000, 2001, …).`);
      if (method === "PUT")
        return send(res, 200, await m.registerDisk(name, diskKey, parseBody(DiskRegistrationSchema, await readJson(req), "disk registration")));
      if (method === "DELETE") {
        await m.removeDisk(name, diskKey);
        return send(res, 200, { vm: name, disk: diskKey, removed: true });
      }
    }
    if (parts.length === 4 && method === "POST" && sub === "rounds")
      return send(res, 202, m.runNow(name, parseBody(RoundNowSchema, await readJson(req, true), "round request").mode));
    if (parts.length === 4 && method === "POST" && sub === "rollback") return send(res, 200, await m.rollback(name));
    if (parts.length === 4 && method === "POST" && sub === "cutover")
      return send(res, 202, m.startCutover(name, parseBody(CutoverRequestSchema, await readJson(req, true), "cutover request")));
  }
  throw new HttpError(404, `No route ${method} ${url.pathname}.`);
}
