/**
 * A client of a rehost HTTPS service (the agent, the proxy): it pins the service's certificate by
 * SHA-256 fingerprint (or trusts a given CA), checks the pin before the bearer token is sent, and
 * turns error responses into `ServiceRequestError`s (status 0: the service could not be reached).
 */
import * as http from "node:http";
import * as tls from "node:tls";

/** How to reach and authenticate a service. */
export interface ServiceClientOptions {
  /** `https://HOST:PORT`. */
  readonly url: string;
  readonly token: string;
  /** SHA-256 fingerprint of the service's certificate (`AB:CD:…`, case and colons ignored); several may be given comma-separated. */
  readonly fingerprint?: string;
  /** PEM CA certificate to verify the service with instead of a fingerprint. */
  readonly ca?: string;
  /** Per-request timeout in ms. @default 30000 */
  readonly timeoutMs?: number;
}

/** An error response from a service (or a failure to reach it, with status 0). */
export class ServiceRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = undefined,
  ) {
    super(message);
    this.name = "ServiceRequestError";
  }
}

/** What a request may upload besides a JSON body. */
export interface Upload {
  /** A body streamed with backpressure (chunked). */
  readonly stream?: AsyncIterable<Buffer>;
  /** A body sent as it is. */
  readonly raw?: Buffer;
  /** Called with the bytes of each chunk streamed. */
  readonly onSent?: (bytes: number) => void;
  readonly contentType?: string;
}

/** Requests to one service; one TLS connection per request. */
export class ServiceClient {
  protected readonly base: URL;

  constructor(
    protected readonly options: ServiceClientOptions,
    /** How messages name the service ("Agent", "Proxy"). */
    private readonly kind: string,
    private readonly makeError: (status: number, message: string, body?: unknown) => ServiceRequestError = (status, message, body) =>
      new ServiceRequestError(status, message, body),
  ) {
    if (options.fingerprint === undefined && options.ca === undefined) {
      throw new Error(`A client of the ${kind.toLowerCase()} needs its certificate's fingerprint or a CA certificate.`);
    }
    this.base = new URL(options.url);
    if (this.base.protocol !== "https:") throw new Error(`The ${kind.toLowerCase()} URL must be https:// (received ${options.url}).`);
  }

  /** Sends one request; resolves with the parsed JSON body of a 2xx response. */
  async request<T>(method: string, path: string, body?: unknown, upload: Upload = {}): Promise<T> {
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
              reject(this.makeError(status, `${this.kind} ${this.options.url} answered ${status} to ${method} ${path}: ${message}`, parsed));
            }
          });
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`${this.kind} ${this.options.url} did not answer ${method} ${path} within ${this.options.timeoutMs ?? 30_000} ms.`)),
      );
      req.on("error", (err) => reject(err instanceof ServiceRequestError ? err : this.makeError(0, err.message, undefined)));
      if (!streaming) {
        req.end(payload);
        return;
      }
      void (async () => {
        try {
          for await (const chunk of upload.stream!) {
            // The service answered early (it refused a frame): it reads nothing more.
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

  /** `GET /metrics`: the service's metrics in the Prometheus text format. */
  async metrics(): Promise<string> {
    const text = await this.request<unknown>("GET", "/metrics");
    if (typeof text !== "string") throw this.makeError(0, `${this.kind} ${this.options.url} answered GET /metrics with JSON, not the Prometheus text format.`);
    return text;
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
      const timer = setTimeout(
        () => socket.destroy(new Error(`${this.kind} ${this.options.url} did not complete the TLS handshake in time.`)),
        this.options.timeoutMs ?? 30_000,
      );
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        if (this.options.fingerprint !== undefined) {
          const seen = socket.getPeerCertificate().fingerprint256 ?? "";
          if (!this.options.fingerprint.split(",").some((f) => normalize(f.trim()) === normalize(seen))) {
            socket.destroy();
            reject(
              this.makeError(
                0,
                `${this.kind} ${this.options.url} presented certificate ${seen}, not the pinned ${this.options.fingerprint}; refusing to send the token.`,
              ),
            );
            return;
          }
        }
        resolve(socket);
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(this.makeError(0, `Cannot reach ${this.kind.toLowerCase()} ${this.options.url}: ${err.message}`));
      });
    });
  }
}

function normalize(fingerprint: string): string {
  return fingerprint.replace(/:/g, "").toUpperCase();
}
