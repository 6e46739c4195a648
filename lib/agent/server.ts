/**
 * The agent's HTTPS API. Every request needs `Authorization: Bearer <token>`; a request that is
 * unauthenticated (401), malformed (400), forbidden (403) or conflicting (409) changes nothing.
 *
 *   GET    /v1/health                      agent version and limits
 *   GET    /v1/jobs                        every job's status
 *   POST   /v1/jobs                        register a job (RegisterRequest) → 201, or 200 if identical
 *   GET    /v1/jobs/:id                    one job's status
 *   PATCH  /v1/jobs/:id                    a new source URI or credentials for the job (UpdateRequest) → 200
 *   DELETE /v1/jobs/:id                    unregister (the target keeps its data) → 200, 404 if unknown
 *   POST   /v1/jobs/:id/rounds             request an incremental round (RoundRequest) → 202
 *   POST   /v1/jobs/:id/freeze             hold a round boundary ({ point }) → 202 until frozen
 *   POST   /v1/jobs/:id/thaw               end the freeze ({ point } ends only that point's) → 200
 *   POST   /v1/jobs/:id/verify             compare source and target digests → 202
 */
import * as https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { FreezeRequestSchema, JobIdSchema, RegisterRequestSchema, RoundRequestSchema, ThawRequestSchema, UpdateRequestSchema, zodProblems } from "./api";
import { authorized } from "./auth";
import { JobRequestError, type JobManager } from "./jobs";
import type { Logger } from "./log";

/**
 * The largest request body accepted: a round's explicit extent list may hold 1,000,000 extents
 * (the schema's limit), about 45 bytes of JSON each at the largest offsets.
 */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Connections held at once; more are refused until some close. */
export const MAX_CONNECTIONS = 256;
/** Seconds a connection may take for its TLS handshake and its request headers. */
const HANDSHAKE_SECONDS = 10;

/** What the HTTPS server needs. */
export interface ServerOptions {
  readonly cert: string;
  readonly key: string;
  readonly token: string;
  readonly jobs: JobManager;
  readonly logger: Logger;
  /** Facts `GET /v1/health` returns. */
  readonly info: Record<string, unknown>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Creates the HTTPS server (not yet listening). */
export function createAgentServer(options: ServerOptions): https.Server {
  const server = https.createServer(
    {
      cert: options.cert,
      key: options.key,
      minVersion: "TLSv1.2",
      handshakeTimeout: HANDSHAKE_SECONDS * 1000,
      headersTimeout: HANDSHAKE_SECONDS * 1000,
      requestTimeout: 300_000,
      keepAliveTimeout: 5000,
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
    const started = Date.now();
    // Read now: once a connection is destroyed (a body too large) its socket is gone.
    const peer = req.socket?.remoteAddress;
    handle(req, res, options)
      .catch((err: unknown) => {
        const status = err instanceof HttpError || err instanceof JobRequestError ? err.status : 500;
        const details = err instanceof HttpError || err instanceof JobRequestError ? err.details : {};
        const message = err instanceof Error ? err.message : String(err);
        if (status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="rehost-agent"');
        if (status === 413) res.setHeader("Connection", "close");
        if (!res.headersSent) send(res, status, { error: message, ...details });
      })
      .finally(() => {
        options.logger.log("info", "request", {
          method: req.method,
          path: (req.url ?? "").split("?")[0],
          status: res.statusCode,
          ms: Date.now() - started,
          peer,
        });
      });
    },
  );
  // Idle or unauthenticated connections are capped and timed out, so none can be hoarded.
  server.maxConnections = MAX_CONNECTIONS;
  server.setTimeout(30_000, (socket) => socket.destroy());
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, options: ServerOptions): Promise<void> {
  if (!authorized(req.headers.authorization, options.token)) {
    req.resume();
    throw new HttpError(401, "Missing or wrong bearer token.");
  }
  const url = new URL(req.url ?? "/", "https://agent");
  const parts = url.pathname.split("/").filter((s) => s.length > 0);
  const method = req.method ?? "GET";
  const jobs = options.jobs;

  if (parts[0] !== "v1") throw new HttpError(404, `No route ${url.pathname}.`);
  if (parts.length === 2 && parts[1] === "health" && method === "GET") {
    return send(res, 200, { ok: true, ...options.info, jobs: jobs.list().length });
  }
  if (parts[1] !== "jobs") throw new HttpError(404, `No route ${url.pathname}.`);

  if (parts.length === 2) {
    if (method === "GET") return send(res, 200, { jobs: jobs.list() });
    if (method === "POST") {
      const spec = parse(RegisterRequestSchema, await readJson(req), "job registration");
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
      const body = parse(UpdateRequestSchema, await readJson(req), "job update");
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
      case "rounds": {
        const body = parse(RoundRequestSchema, await readJson(req), "round request");
        return send(res, 202, await jobs.requestRound(id, body.round, body.changed));
      }
      case "freeze": {
        const body = parse(FreezeRequestSchema, await readJson(req), "freeze request");
        const status = jobs.freeze(id, body.point);
        return send(res, status.state === "frozen" ? 200 : 202, status);
      }
      case "thaw": {
        const body = parse(ThawRequestSchema, await readJson(req, true), "thaw request");
        return send(res, 200, jobs.thaw(id, body.point));
      }
      case "verify":
        await readJson(req, true);
        return send(res, 202, jobs.verify(id));
    }
  }
  throw new HttpError(404, `No route ${method} ${url.pathname}.`);
}

function parse<T extends z.ZodTypeAny>(schema: T, body: unknown, what: string): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw new HttpError(400, `The ${what} is not valid.`, { problems: zodProblems(result.error, what) });
  return result.data;
}

/** Reads a JSON body (an empty body is `{}` when `optional`). */
async function readJson(req: IncomingMessage, optional = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `The request body (${declared} bytes) is larger than ${MAX_BODY_BYTES} bytes.`);
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") {
    if (optional) return {};
    throw new HttpError(400, "The request has no JSON body.");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `The request body is not JSON: ${(err as Error).message}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(`${JSON.stringify(body)}\n`);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": data.length, "Cache-Control": "no-store" });
  res.end(data);
}
