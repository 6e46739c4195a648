/**
 * The agent's HTTPS API. Every request needs `Authorization: Bearer <token>`; a request that is
 * unauthenticated (401), malformed (400), forbidden (403) or conflicting (409) changes nothing.
 *
 *   GET    /metrics                        Prometheus text: per job state, rounds, bytes, lag, failures
 *   GET    /v1/health                      agent version and limits
 *   GET    /v1/jobs                        every job's status
 *   POST   /v1/jobs                        register a job (RegisterRequest) → 201, or 200 if identical
 *   GET    /v1/jobs/:id                    one job's status
 *   PATCH  /v1/jobs/:id                    a new source URI or credentials for the job (UpdateRequest) → 200
 *   DELETE /v1/jobs/:id                    unregister (the target keeps its data) → 200, 404 if unknown
 *   POST   /v1/jobs/:id/rounds             request an incremental round ({ round, changed }) → 202
 *   POST   /v1/jobs/:id/freeze             hold a round boundary ({ point }) → 202 until frozen
 *   POST   /v1/jobs/:id/thaw               end the freeze ({ point } ends only that point's) → 200
 *   POST   /v1/jobs/:id/verify             compare source and target digests → 202
 *   POST   /v1/jobs/:id/push?round&snapshot&size   a pushed round: a stream of link frames → 200 and its record
 *   POST   /v1/jobs/:id/compare?first[&fresh=1]    source block hashes (binary) → the blocks that differ
 *   POST   /v1/jobs/:id/compare?list=1[&fresh=1]   (block u64 BE, hash) records → the blocks that differ
 */
import type * as https from "node:https";
import { FreezeRequestSchema, JobIdSchema, RegisterRequestSchema, RoundRequestSchema, ThawRequestSchema, UpdateRequestSchema } from "./api";
import type { JobManager } from "./jobs";
import type { Logger } from "../service/log";
import { createServiceServer, HttpError, integerParam, parseBody, readBody, readJson, send, type Route } from "../service/http";
import { BLOCK_HASH_BYTES } from "../replication/sha256-blocks";
import { sendMetrics } from "../service/metrics";
import { agentMetrics } from "./metrics";

/** What the agent's HTTPS server needs. */
export interface AgentServerOptions {
  readonly cert: string;
  readonly key: string;
  readonly token: string;
  readonly jobs: JobManager;
  readonly logger: Logger;
  /** Facts `GET /v1/health` returns. */
  readonly info: Record<string, unknown>;
}

/** Creates the agent's HTTPS server (not yet listening). */
export function createAgentServer(options: AgentServerOptions): https.Server {
  return createServiceServer({ ...options, realm: "rehost-agent", handle: (route) => handle(route, options) });
}

async function handle({ req, res, url, method, parts }: Route, options: AgentServerOptions): Promise<void> {
  const jobs = options.jobs;

  if (parts.length === 1 && parts[0] === "metrics" && method === "GET") return sendMetrics(res, agentMetrics(jobs.withFailures()));
  if (parts[0] !== "v1") throw new HttpError(404, `No route ${url.pathname}.`);
  if (parts.length === 2 && parts[1] === "health" && method === "GET") {
    return send(res, 200, { ok: true, ...options.info, jobs: jobs.list().length });
  }
  if (parts[1] !== "jobs") throw new HttpError(404, `No route ${url.pathname}.`);

  if (parts.length === 2) {
    if (method === "GET") return send(res, 200, { jobs: jobs.list() });
    if (method === "POST") {
      const spec = parseBody(RegisterRequestSchema, await readJson(req), "job registration");
      const { status, created } = jobs.register(spec);
      return send(res, created ? 201 : 200, status);
    }
    throw new HttpError(405, `Method ${method} is not allowed on /v1/jobs.`);
  }

  const id = parts[2];
  if (!JobIdSchema.safeParse(id).success) throw new HttpError(400, `Job id ${JSON.stringify(id)} is not valid.`);
  if (parts.length === 3) {
    if (method === "GET") return send(res, 200, jobs.get(id));
    if (method === "PATCH") {
      const body = parseBody(UpdateRequestSchema, await readJson(req), "job update");
      return send(res, 200, jobs.updateSource(id, body.source));
    }
    if (method === "DELETE") {
      // Answered once the job's round has stopped: no write reaches its target afterwards.
      await jobs.unregister(id);
      return send(res, 200, { id, unregistered: true });
    }
    throw new HttpError(405, `Method ${method} is not allowed on a job.`);
  }
  if (parts.length === 4 && method === "POST") {
    switch (parts[3]) {
      case "push": {
        // A stream of link frames, applied as it arrives: no body limit, no JSON.
        const round = integerParam(url, "round");
        const size = integerParam(url, "size");
        const snapshot = url.searchParams.get("snapshot") ?? "";
        if (!/^[A-Za-z0-9._:-]{1,200}$/.test(snapshot)) throw new HttpError(400, "The push names no snapshot (snapshot=ID).");
        return send(res, 200, await jobs.push(id, round, snapshot, size, req));
      }
      case "compare": {
        const fresh = url.searchParams.get("fresh") === "1";
        const body = await readBody(req);
        if (url.searchParams.get("list") !== "1") return send(res, 200, await jobs.compare(id, integerParam(url, "first"), body, fresh));
        const { blocks, hashes } = parseBlockList(body);
        return send(res, 200, await jobs.compare(id, blocks, hashes, fresh));
      }
      case "rounds": {
        const body = parseBody(RoundRequestSchema, await readJson(req), "round request");
        return send(res, 202, await jobs.requestRound(id, body.round, body.changed));
      }
      case "freeze": {
        const body = parseBody(FreezeRequestSchema, await readJson(req), "freeze request");
        const status = jobs.freeze(id, body.point);
        return send(res, status.state === "frozen" ? 200 : 202, status);
      }
      case "thaw": {
        const body = parseBody(ThawRequestSchema, await readJson(req, true), "thaw request");
        return send(res, 200, jobs.thaw(id, body.point));
      }
      case "verify":
        await readJson(req, true);
        return send(res, 202, jobs.verify(id));
    }
  }
  throw new HttpError(404, `No route ${method} ${url.pathname}.`);
}

/** A `compare?list=1` body: records of a block number (8 bytes, big-endian) and its 32-byte hash. */
function parseBlockList(body: Buffer): { blocks: number[]; hashes: Buffer } {
  const RECORD = 8 + BLOCK_HASH_BYTES;
  if (body.length % RECORD !== 0) throw new HttpError(400, `The body holds ${body.length} bytes, not a whole number of ${RECORD}-byte (block, hash) records.`);
  const blocks: number[] = [];
  const hashes = Buffer.alloc((body.length / RECORD) * BLOCK_HASH_BYTES);
  for (let i = 0; i * RECORD < body.length; i++) {
    blocks.push(Number(body.readBigUInt64BE(i * RECORD)));
    body.copy(hashes, i * BLOCK_HASH_BYTES, i * RECORD + 8, (i + 1) * RECORD);
  }
  return { blocks, hashes };
}
