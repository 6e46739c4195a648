/**
 * The agent's TLS certificate: the one given, or a self-signed ECDSA certificate created with
 * `certtool` (gnutls-bin) on first start and kept in the state directory. Clients pin its SHA-256
 * fingerprint.
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The agent's certificate and key, PEM. */
export interface Certificate {
  readonly cert: string;
  readonly key: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex (as `openssl x509 -fingerprint` prints it). */
  readonly fingerprint: string;
  /** Whether it was created by this start. */
  readonly created: boolean;
}

/** The SHA-256 fingerprint of a PEM certificate. */
function fingerprintOf(certPem: string): string {
  return new crypto.X509Certificate(certPem).fingerprint256;
}

/**
 * Loads `certFile`/`keyFile` when given; otherwise the certificate in `tlsDir`, creating a
 * self-signed one valid for `hosts` (IP addresses or DNS names) when there is none.
 */
export function loadOrCreateCertificate(options: { certFile?: string; keyFile?: string; tlsDir: string; hosts: readonly string[] }): Certificate {
  if (options.certFile !== undefined || options.keyFile !== undefined) {
    if (options.certFile === undefined || options.keyFile === undefined)
      throw new Error("Give both --cert and --key, or neither for a self-signed certificate.");
    const cert = fs.readFileSync(options.certFile, "utf8");
    return { cert, key: fs.readFileSync(options.keyFile, "utf8"), fingerprint: fingerprintOf(cert), created: false };
  }
  const certFile = path.join(options.tlsDir, "cert.pem");
  const keyFile = path.join(options.tlsDir, "key.pem");
  if (fs.existsSync(certFile) && fs.existsSync(keyFile)) {
    const cert = fs.readFileSync(certFile, "utf8");
    return { cert, key: fs.readFileSync(keyFile, "utf8"), fingerprint: fingerprintOf(cert), created: false };
  }
  fs.mkdirSync(options.tlsDir, { recursive: true, mode: 0o700 });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "rehost-cert-"));
  try {
    const tmpKey = path.join(work, "key.pem");
    const tmpCert = path.join(work, "cert.pem");
    const template = path.join(work, "template.cfg");
    const hosts = options.hosts.length > 0 ? options.hosts : ["127.0.0.1"];
    const lines = [
      `cn = "rehost agent"`,
      `serial = ${crypto.randomInt(1, 2 ** 31)}`,
      "expiration_days = 825",
      "tls_www_server",
      "signing_key",
      ...hosts.map((h) => (/^[0-9.]+$/.test(h) || h.includes(":") ? `ip_address = "${h}"` : `dns_name = "${h}"`)),
    ];
    fs.writeFileSync(template, `${lines.join("\n")}\n`);
    execFileSync("certtool", ["--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1", "--outfile", tmpKey], { stdio: "pipe" });
    execFileSync("certtool", ["--generate-self-signed", "--load-privkey", tmpKey, "--template", template, "--outfile", tmpCert], { stdio: "pipe" });
    fs.copyFileSync(tmpKey, keyFile);
    fs.chmodSync(keyFile, 0o600);
    fs.copyFileSync(tmpCert, certFile);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const cert = fs.readFileSync(certFile, "utf8");
  return { cert, key: fs.readFileSync(keyFile, "utf8"), fingerprint: fingerprintOf(cert), created: true };
}
