/**
 * Connecting to vCenter: the endpoint of what a user typed, the TLS trust they chose, the login,
 * and the `InputError`s a bad connection setting becomes. A problem names the option to fix in
 * `field` (`url`, `user`, `password`, `ca`, `thumbprint`) and refers to options in its text as
 * `` `ca` ``; a caller that calls them otherwise (the CLI's flags, the providers' settings)
 * renames them with `withFieldNames` (`lib/problems`).
 */
import * as fs from "node:fs";
import { InputError, problem } from "../problems";
import { VSphereSoapClient } from "./client";
import { SoapSession, VSphereFault } from "./soap";
import { createAgent, peerFingerprints, ThumbprintMismatch } from "./transport";
import type { VSphereClient } from "./types";

/** Options of `connectVSphere`. */
export interface ConnectOptions {
  /** vCenter: `https://vcenter.example.com`, with or without `/sdk`, or a bare host name. */
  readonly url: string;
  readonly user: string;
  /** @default - the `REHOST_VCENTER_PASSWORD` environment variable */
  readonly password?: string;
  /** Path of a PEM file with the CA certificate(s) vCenter's certificate chains to. */
  readonly ca?: string;
  /** SHA-1 or SHA-256 fingerprint of vCenter's certificate, to trust exactly that certificate. */
  readonly thumbprint?: string;
  /** Skip certificate verification (a warning is printed). @default false */
  readonly insecure?: boolean;
  /** Deadline of one HTTP exchange, in ms. @default 30000 */
  readonly timeoutMs?: number;
  /** Where warnings go. @default - standard error */
  readonly warn?: (message: string) => void;
}

/** The vCenter SDK endpoint of what a user typed: `vc`, `https://vc`, `https://vc/sdk`. */
export function sdkEndpoint(url: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`;
  const u = new URL(withScheme);
  if (u.protocol !== "https:") throw new TypeError(`${u.protocol} is not https:`);
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/sdk";
  return u;
}

/**
 * Connects and logs in to vCenter. Wrong password, unreachable vCenter, an untrusted certificate,
 * a missing password or CA file: `InputError` with one problem whose `field` is the option to fix.
 */
export async function connectVSphere(options: ConnectOptions): Promise<VSphereClient> {
  const warn = options.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  const timeoutMs = options.timeoutMs ?? 30_000;
  let endpoint: URL;
  try {
    endpoint = sdkEndpoint(options.url);
  } catch {
    throw new InputError(
      problem({
        field: "url",
        received: options.url,
        expected: "an https URL or host name of vCenter",
        fix: "pass `url` https://vcenter.example.com",
        message: "The vCenter address is not an https URL",
      }),
    );
  }
  const password = options.password ?? process.env.REHOST_VCENTER_PASSWORD;
  if (password === undefined || password === "") {
    throw new InputError(
      problem({
        field: "password",
        received: "no password",
        expected: `the password of ${options.user}`,
        fix: "pass the password, or set REHOST_VCENTER_PASSWORD in the environment",
        message: "No vCenter password was given",
      }),
    );
  }
  let ca: string | undefined;
  if (options.ca !== undefined) {
    try {
      ca = fs.readFileSync(options.ca, "utf8");
    } catch (err) {
      throw new InputError(
        problem({
          file: options.ca,
          field: "ca",
          received: (err as NodeJS.ErrnoException).code ?? String(err),
          expected: "a readable PEM file",
          fix: "pass the path of vCenter's CA certificate (PEM)",
          message: "The CA file cannot be read",
        }),
      );
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
      throw new InputError(
        problem({
          file: options.ca,
          field: "ca",
          received: "no PEM certificate",
          expected: "-----BEGIN CERTIFICATE-----",
          fix: "export vCenter's root CA as PEM (Base-64)",
          message: "The CA file holds no PEM certificate",
        }),
      );
    }
  }
  if (options.insecure && options.thumbprint === undefined) {
    warn(
      `TLS certificate verification is off for ${endpoint.host} (\`insecure\`): anyone on the path can read the vCenter password. Use \`ca\` or \`thumbprint\` instead.`,
    );
  }
  const agent = createAgent({
    ...(ca !== undefined ? { ca } : {}),
    ...(options.thumbprint !== undefined ? { thumbprint: options.thumbprint } : {}),
    insecure: options.insecure ?? false,
  });
  const session = new SoapSession(endpoint, agent, { user: options.user, password }, timeoutMs);
  try {
    await session.login();
  } catch (err) {
    agent.destroy();
    throw await connectProblem(err, endpoint, options, timeoutMs);
  }
  const sc = await session.serviceContent();
  return new VSphereSoapClient(
    session,
    agent,
    { fullName: sc.fullName, apiVersion: sc.apiVersion, apiType: sc.apiType },
    { endpoint, credentials: { user: options.user, password }, timeoutMs, warn },
  );
}

const TLS_TRUST_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

async function connectProblem(err: unknown, endpoint: URL, options: ConnectOptions, timeoutMs: number): Promise<Error> {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (err instanceof VSphereFault && err.faultName === "InvalidLogin") {
    return new InputError(
      problem({
        field: "user",
        received: options.user,
        expected: "a user and password vCenter accepts",
        fix: "check `user` and `password` (vCenter users usually look like administrator@vsphere.local)",
        message: `vCenter ${endpoint.host} refused the login: wrong user name or password`,
      }),
    );
  }
  if (err instanceof ThumbprintMismatch) {
    return new InputError(
      problem({
        field: "thumbprint",
        received: err.received,
        expected: err.expected,
        fix: "check the thumbprint in vCenter (Administration > Certificates); a mismatch may also mean someone is intercepting the connection",
        message: `The certificate of ${endpoint.host} does not match the pinned thumbprint`,
      }),
    );
  }
  if (TLS_TRUST_CODES.has(code)) {
    const fp = await peerFingerprints(endpoint, Math.min(timeoutMs, 5000));
    return new InputError(
      problem({
        field: "ca",
        received: `${code}${fp ? ` (certificate SHA-256 ${fp.sha256})` : ""}`,
        expected: "a certificate signed by a trusted CA",
        fix: `pass \`ca\` FILE with vCenter's CA certificate (https://${endpoint.host}/certs/download.zip), or \`thumbprint\` ${fp ? fp.sha256 : "SHA256"} after checking it, or \`insecure\` for a lab`,
        message: `The TLS certificate of ${endpoint.host} is not trusted`,
      }),
    );
  }
  if (["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "ECONNRESET", "EPIPE"].includes(code)) {
    return new InputError(
      problem({
        field: "url",
        received: `${endpoint.href} (${code})`,
        expected: "a reachable vCenter",
        fix: "check the address, port and that this machine can reach vCenter on HTTPS",
        message: `vCenter cannot be reached at ${endpoint.host}`,
      }),
    );
  }
  if (err instanceof VSphereFault && err.faultName === "InvalidResponse") {
    return new InputError(
      problem({
        field: "url",
        received: endpoint.href,
        expected: "a vCenter or ESXi SDK endpoint",
        fix: "pass the vCenter address (the SDK is at /sdk)",
        message: err.message,
      }),
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The options of `connectVSphere` a connection problem names. */
export type ConnectField = "url" | "user" | "password" | "ca" | "thumbprint" | "insecure";

/** What a caller calls each option: a CLI flag (`--ca`), a setting (`REHOST_VCENTER_CA_FILE`); see `withFieldNames`. */
export type ConnectFieldNames = Readonly<Partial<Record<ConnectField, string>>>;
