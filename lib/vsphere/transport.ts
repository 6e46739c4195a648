/**
 * HTTPS to vCenter: one keep-alive agent per client, with the trust the user chose: the system's
 * CAs (default), a CA file (`ca`), a pinned certificate thumbprint, or no verification at all
 * (`insecure`, only when asked for).
 */
import * as https from "node:https";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";

/** How the vCenter certificate is trusted. */
export interface TrustOptions {
  /** PEM text of the CA certificate(s) that signed vCenter's certificate. */
  readonly ca?: string;
  /** SHA-1 or SHA-256 fingerprint of vCenter's certificate, hex with or without colons. */
  readonly thumbprint?: string;
  /** Skip certificate verification entirely. */
  readonly insecure?: boolean;
}

/** A pinned thumbprint did not match the certificate vCenter presented. */
export class ThumbprintMismatch extends Error {
  readonly code = "REHOST_THUMBPRINT_MISMATCH";
  constructor(
    readonly expected: string,
    readonly received: string,
  ) {
    super(`the certificate's thumbprint is ${received}, not the pinned ${expected}`);
    this.name = "ThumbprintMismatch";
  }
}

/** Normalizes a fingerprint to uppercase hex pairs joined by colons. */
export function normalizeThumbprint(thumbprint: string): string {
  const hex = thumbprint.replace(/[^0-9a-fA-F]/g, "").toUpperCase();
  return hex.match(/.{2}/g)?.join(":") ?? "";
}

/** A keep-alive HTTPS agent that trusts vCenter the way `trust` says. */
export function createAgent(trust: TrustOptions): https.Agent {
  const options: https.AgentOptions = { keepAlive: true, maxSockets: 4 };
  if (trust.thumbprint !== undefined) return new PinnedAgent(normalizeThumbprint(trust.thumbprint), options);
  if (trust.insecure) return new https.Agent({ ...options, rejectUnauthorized: false });
  return new https.Agent(trust.ca !== undefined ? { ...options, ca: trust.ca } : options);
}

/**
 * Trusts exactly one certificate, by fingerprint. The socket is handed to the HTTP layer only after
 * the check, so nothing (no password) is sent to a server that fails it.
 */
class PinnedAgent extends https.Agent {
  constructor(
    private readonly pinned: string,
    options: https.AgentOptions,
  ) {
    super({ ...options, rejectUnauthorized: false });
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    const socket = tls.connect({ ...(options as tls.ConnectionOptions), rejectUnauthorized: false });
    const report = callback ?? (() => undefined);
    const onError = (err: Error) => report(err, socket);
    socket.once("error", onError);
    socket.once("secureConnect", () => {
      socket.removeListener("error", onError);
      const cert = socket.getPeerCertificate();
      const sha1 = normalizeThumbprint(cert.fingerprint ?? "");
      const sha256 = normalizeThumbprint(cert.fingerprint256 ?? "");
      if (this.pinned === sha1 || this.pinned === sha256) {
        report(null, socket);
      } else {
        socket.destroy();
        report(new ThumbprintMismatch(this.pinned, this.pinned.length === sha1.length ? sha1 : sha256), socket);
      }
    });
    return undefined;
  }
}

/** The SHA-256 and SHA-1 fingerprints of the certificate a TLS server presents, without trusting it. */
export async function peerFingerprints(url: URL, timeoutMs: number): Promise<{ sha1: string; sha256: string } | undefined> {
  const peer = await peerCertificate(url, timeoutMs);
  return peer === undefined ? undefined : { sha1: peer.sha1, sha256: peer.sha256 };
}

/** The certificate a TLS server presents (PEM) with its fingerprints, without trusting it. */
export function peerCertificate(url: URL, timeoutMs: number): Promise<{ sha1: string; sha256: string; pem: string } | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: url.hostname,
      port: Number(url.port || 443),
      servername: isIpAddress(url.hostname) ? undefined : url.hostname,
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, timeoutMs);
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      clearTimeout(timer);
      socket.end();
      const base64 = cert.raw.toString("base64").replace(/.{64}/g, "$&\n");
      resolve({
        sha1: normalizeThumbprint(cert.fingerprint ?? ""),
        sha256: normalizeThumbprint(cert.fingerprint256 ?? ""),
        pem: `-----BEGIN CERTIFICATE-----\n${base64.replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`,
      });
    });
    socket.once("error", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

function isIpAddress(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}

/** One HTTP exchange's outcome. */
export interface HttpReply {
  readonly status: number;
  readonly body: string;
  readonly setCookie: readonly string[];
}

/** POSTs `body` to `url` through `agent`, with a deadline for the whole exchange. */
export function post(agent: https.Agent, url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<HttpReply> {
  return exchange(agent, "POST", url, headers, body, timeoutMs);
}

/** One HTTP request through `agent` (`body` for POST), with a deadline for the whole exchange. */
export function exchange(
  agent: https.Agent,
  method: "GET" | "POST" | "DELETE",
  url: URL,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      url,
      { method, agent, headers: body === undefined ? headers : { ...headers, "Content-Length": String(Buffer.byteLength(body)) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), setCookie: response.headers["set-cookie"] ?? [] });
        });
      },
    );
    const timer = setTimeout(() => request.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" })), timeoutMs);
    request.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    request.end(body);
  });
}
