/**
 * A client of the agent's API for controllers (the dynamic providers, the lab). It pins the
 * agent's certificate by SHA-256 fingerprint (or trusts a given CA), checks the pin before the
 * bearer token is sent, and turns error responses into `AgentRequestError`s.
 */
import * as http from "node:http";
import * as tls from "node:tls";
import type { Changed, JobStatus, RegisterRequest } from "./api";

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

  /** Sends one request; resolves with the parsed JSON body of a 2xx response. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const socket = await this.connect();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
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
            ...(payload !== undefined ? { "Content-Type": "application/json", "Content-Length": payload.length } : {}),
          },
          timeout: this.options.timeoutMs ?? 30_000,
        },
        (res) => {
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
      req.end(payload);
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
