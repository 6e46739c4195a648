/**
 * A client of the agent's API for controllers (the dynamic providers, the lab). It pins the
 * agent's certificate by SHA-256 fingerprint (or trusts a given CA), checks the pin before the
 * bearer token is sent, and turns error responses into `AgentRequestError`s.
 */
import * as http from "node:http";
import * as tls from "node:tls";
import type { Changed, JobStatus, RegisterRequest, RoundRecord } from "./api";

/** How to reach and authenticate an agent. */
export interface AgentClientOptions {
  /** `https://HOST:PORT`. */
  readonly url: string;
  readonly token: string;
  /** SHA-256 fingerprint of the agent's certificate (`AB:CD:…`, case and colons ignored); several may be given comma-separated. */
  readonly fingerprint?: string;
  /** PEM CA certificate to verify the agent with instead of a fingerprint. */
  readonly ca?: string;
  /** Per-request timeout in ms. @default 30000 */
  readonly timeoutMs?: number;
}

/** An error response from the agent (or a failure to reach it, with status 0). */
export class AgentRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = undefined,
  ) {
    super(message);
    this.name = "AgentRequestError";
  }
}

/** Typed calls to the agent API (see docs/agent.md); one TLS connection per request. */
export class AgentClient {
  private readonly base: URL;

  constructor(private readonly options: AgentClientOptions) {
    if (options.fingerprint === undefined && options.ca === undefined) {
      throw new Error("An agent client needs the agent certificate's fingerprint or a CA certificate.");
    }
    this.base = new URL(options.url);
    if (this.base.protocol !== "https:") throw new Error(`The agent URL must be https:// (received ${options.url}).`);
  }

  health(): Promise<Record<string, unknown>> {
    return this.request("GET", "/v1/health");
  }
  list(): Promise<{ jobs: JobStatus[] }> {
    return this.request("GET", "/v1/jobs");
  }
  register(spec: RegisterRequest): Promise<JobStatus> {
    return this.request("POST", "/v1/jobs", spec);
  }
  get(id: string): Promise<JobStatus> {
    return this.request("GET", `/v1/jobs/${encodeURIComponent(id)}`);
  }
  /** Returns the job, or undefined when the agent does not know it. */
  async find(id: string): Promise<JobStatus | undefined> {
    try {
      return await this.get(id);
    } catch (err) {
      if (err instanceof AgentRequestError && err.status === 404) return undefined;
      throw err;
    }
  }
  /** Unregisters; returns false when the job was already gone. */
  async unregister(id: string): Promise<boolean> {
    try {
      await this.request("DELETE", `/v1/jobs/${encodeURIComponent(id)}`);
      return true;
    } catch (err) {
      if (err instanceof AgentRequestError && err.status === 404) return false;
      throw err;
    }
  }
  round(id: string, round: number, changed: Changed): Promise<JobStatus> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/rounds`, { round, changed });
  }
  freeze(id: string, point: string): Promise<JobStatus> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/freeze`, { point });
  }
  /** Ends the job's freeze; with `point`, only a freeze held for that point. */
  thaw(id: string, point?: string): Promise<JobStatus> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/thaw`, point === undefined ? undefined : { point });
  }
  /** Points the job at another way to reach its source disk. */
  updateSource(id: string, source: RegisterRequest["source"]): Promise<JobStatus> {
    return this.request("PATCH", `/v1/jobs/${encodeURIComponent(id)}`, { source });
  }
  verify(id: string): Promise<JobStatus> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/verify`);
  }

  /**
   * Pushes a round to a pushed job: `frames` (see `lib/link/frames.ts`) streamed as the body, with
   * backpressure; resolves with the recorded round. `onSent` counts the bytes put on the link.
   */
  push(id: string, round: { round: number; snapshot: string; size: number }, frames: AsyncIterable<Buffer>, onSent?: (bytes: number) => void): Promise<RoundRecord> {
    const query = `round=${round.round}&snapshot=${encodeURIComponent(round.snapshot)}&size=${round.size}`;
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/push?${query}`, undefined, { stream: frames, onSent, contentType: "application/octet-stream" });
  }

  /** Compares source block hashes from block `first` on with the target's; `fresh` reads the target now. */
  compare(id: string, first: number, hashes: Buffer, fresh = false): Promise<{ differing: number[]; compared: number; bytesRead: number }> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/compare?first=${first}${fresh ? "&fresh=1" : ""}`, undefined, { raw: hashes, contentType: "application/octet-stream" });
  }

  /** Sends one request; resolves with the parsed JSON body of a 2xx response. */
  async request<T>(method: string, path: string, body?: unknown, upload: { stream?: AsyncIterable<Buffer>; raw?: Buffer; onSent?: (bytes: number) => void; contentType?: string } = {}): Promise<T> {
    const socket = await this.connect();
    const payload = upload.raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
    const streaming = upload.stream !== undefined;
    let answered = false;
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          method,
          host: this.base.hostname,
          port: this.base.port,
          path,
          createConnection: () => socket,
          headers: {
            Authorization: `Bearer ${this.options.token}`,
            Accept: "application/json",
            ...(payload !== undefined ? { "Content-Type": upload.contentType ?? "application/json", "Content-Length": payload.length } : {}),
            ...(streaming ? { "Content-Type": upload.contentType ?? "application/octet-stream", "Transfer-Encoding": "chunked" } : {}),
          },
          // A streamed upload has no deadline of its own: the socket's idle timeout below ends a stalled one.
          timeout: streaming ? 120_000 : (this.options.timeoutMs ?? 30_000),
        },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown;
            try {
              parsed = text === "" ? undefined : JSON.parse(text);
            } catch {
              parsed = text;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(parsed as T);
            else {
              const message = typeof parsed === "object" && parsed !== null && "error" in parsed ? String((parsed as { error: unknown }).error) : text;
              reject(new AgentRequestError(status, `Agent ${this.options.url} answered ${status} to ${method} ${path}: ${message}`, parsed));
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`Agent ${this.options.url} did not answer ${method} ${path} within ${this.options.timeoutMs ?? 30_000} ms.`)));
      req.on("error", (err) => reject(err instanceof AgentRequestError ? err : new AgentRequestError(0, err.message)));
      if (!streaming) {
        req.end(payload);
        return;
      }
      void (async () => {
        try {
          for await (const chunk of upload.stream!) {
            // The agent answered early (it refused a frame): it reads nothing more.
            if (answered) return;
            upload.onSent?.(chunk.length);
            if (!req.write(chunk)) await new Promise<void>((r) => req.once("drain", r));
          }
          req.end();
        } catch (err) {
          req.destroy(err as Error);
        }
      })();
    });
  }

  /** Opens a TLS connection and checks the certificate before anything is sent. */
  private connect(): Promise<tls.TLSSocket> {
    const port = Number(this.base.port || 443);
    const host = this.base.hostname.replace(/^\[|\]$/g, "");
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        servername: /^[0-9.]+$/.test(host) || host.includes(":") ? undefined : host,
        ca: this.options.ca,
        rejectUnauthorized: this.options.ca !== undefined,
        minVersion: "TLSv1.2",
      });
      const timer = setTimeout(() => socket.destroy(new Error(`Agent ${this.options.url} did not complete the TLS handshake in time.`)), this.options.timeoutMs ?? 30_000);
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        if (this.options.fingerprint !== undefined) {
          const seen = socket.getPeerCertificate().fingerprint256 ?? "";
          if (!this.options.fingerprint.split(",").some((f) => normalize(f.trim()) === normalize(seen))) {
            socket.destroy();
            reject(new AgentRequestError(0, `Agent ${this.options.url} presented certificate ${seen}, not the pinned ${this.options.fingerprint}; refusing to send the token.`));
            return;
          }
        }
        resolve(socket);
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(new AgentRequestError(0, `Cannot reach agent ${this.options.url}: ${err.message}`));
      });
    });
  }
}

function normalize(fingerprint: string): string {
  return fingerprint.replace(/:/g, "").toUpperCase();
}
