/**
 * The HTTPS JSON services rehost runs — the sync-gateway agent and the source proxy — share this:
 * TLS ≥ 1.2, a bearer token checked before anything else, capped and timed-out connections, bodies
 * with a size limit, errors as `{ error, ...details }` with their status, and one log line per
 * request. A request that is refused changes nothing.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import * as https from "node:https";
import type { z } from "zod";
import { problemsFromZod } from "../problems/zod";
import { authorized } from "./auth";
import type { Logger } from "./log";

/**
 * The largest request body accepted: an explicit extent list may hold 1,000,000 extents (the
 * agent's schema limit), about 45 bytes of JSON each at the largest offsets.
 */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Connections held at once; more are refused until some close. */
const MAX_CONNECTIONS = 256;
/** Seconds a connection may take for its TLS handshake and its request headers. */
const HANDSHAKE_SECONDS = 10;

/** A refusal with its HTTP status: nothing was changed. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** One authenticated request, routed. */
export interface Route {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly method: string;
  /** The path's segments (`/v1/jobs/a` → `["v1", "jobs", "a"]`). */
  readonly parts: readonly string[];
}

/** What a service's HTTPS server needs. */
export interface ServiceServerOptions {
  readonly cert: string;
  readonly key: string;
  readonly token: string;
  readonly logger: Logger;
  /** The `WWW-Authenticate` realm. */
  readonly realm: string;
  /** Answers one authenticated request (throw `HttpError` to refuse). */
  handle(route: Route): Promise<void>;
}

/** Creates the HTTPS server (not yet listening). */
export function createServiceServer(options: ServiceServerOptions): https.Server {
  const server = https.createServer(
    {
      cert: options.cert,
      key: options.key,
      minVersion: "TLSv1.2",
      handshakeTimeout: HANDSHAKE_SECONDS * 1000,
      headersTimeout: HANDSHAKE_SECONDS * 1000,
      // A pushed round streams for as long as it takes; idle connections end on the socket timeout below.
      requestTimeout: 0,
      keepAliveTimeout: 5000,
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      const started = Date.now();
      // Read now: once a connection is destroyed (a body too large) its socket is gone.
      const peer = req.socket?.remoteAddress;
      const run = async (): Promise<void> => {
        if (!authorized(req.headers.authorization, options.token)) {
          req.resume();
          throw new HttpError(401, "Missing or wrong bearer token.");
        }
        const url = new URL(req.url ?? "/", "https://service");
        await options.handle({ req, res, url, method: req.method ?? "GET", parts: url.pathname.split("/").filter((s) => s.length > 0) });
      };
      run()
        .catch((err: unknown) => {
          const known = err instanceof HttpError || (err instanceof Error && typeof (err as { status?: unknown }).status === "number");
          const status = known ? (err as HttpError).status : 500;
          const details = known ? ((err as HttpError).details ?? {}) : {};
          const message = err instanceof Error ? err.message : String(err);
          if (status === 401) res.setHeader("WWW-Authenticate", `Bearer realm="${options.realm}"`);
          if (status === 413) res.setHeader("Connection", "close");
          if (!res.headersSent) send(res, status, { error: message, ...details });
          else res.destroy();
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

/** Validates `body` with `schema`, or 400 with one problem per field (naming it, what was received and what was expected). */
export function parseBody<T extends z.ZodTypeAny>(schema: T, body: unknown, what: string): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw new HttpError(400, `The ${what} is not valid.`, { problems: problemsFromZod(result.error, { input: body }) });
  return result.data;
}

/** A non-negative integer query parameter, or 400. */
export function integerParam(url: URL, name: string): number {
  const text = url.searchParams.get(name);
  const value = Number(text);
  if (text === null || !/^\d+$/.test(text) || !Number.isSafeInteger(value))
    throw new HttpError(400, `The query parameter ${name} must be a non-negative integer (received ${JSON.stringify(text)}).`);
  return value;
}

/** Reads a body of at most MAX_BODY_BYTES. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `The request body (${declared} bytes) is larger than ${MAX_BODY_BYTES} bytes.`);
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Reads a JSON body (an empty body is `{}` when `optional`). */
export async function readJson(req: IncomingMessage, optional = false): Promise<unknown> {
  const text = (await readBody(req)).toString("utf8");
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

/** Sends a JSON answer. */
export function send(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(`${JSON.stringify(body)}\n`);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": data.length, "Cache-Control": "no-store" });
  res.end(data);
}
