/**
 * The proxy's vCenter session as its disk readers use it: the session cookie in a file of mode
 * 0600 that nbdkit reads again every minute, kept current while the proxy runs (a keep-alive call
 * each minute, so a round that reads for hours never meets an expired session); and, when vCenter's
 * certificate is pinned by thumbprint, that certificate written out as the readers' CA.
 */
import * as fs from "node:fs";
import { writeFileAtomic } from "../service/files";
import type { Logger } from "../service/log";
import type { VSphereClient } from "../vsphere/client";
import { normalizeThumbprint, peerCertificate } from "../vsphere/transport";
import { COOKIE_RENEW_SECONDS } from "./reader";

/** Keeps `file` holding `vc`'s session cookie; `stop()` ends it and removes the file. */
export function keepSessionCookie(vc: VSphereClient, file: string, logger: Logger): { stop(): void } {
  const write = (): void => writeFileAtomic(file, vc.sessionCookie() ?? "");
  write();
  const timer = setInterval(() => {
    vc.keepAlive().then(write, (err: unknown) => logger.log("warn", "vCenter keep-alive failed; retried in a minute", { error: String(err) }));
  }, COOKIE_RENEW_SECONDS * 1000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      fs.rmSync(file, { force: true });
    },
  };
}

/**
 * Writes the certificate vCenter presents to `file`, after checking it matches `thumbprint`
 * (SHA-256 or SHA-1): nbdkit's curl then trusts exactly that certificate.
 */
export async function writePinnedCertificate(baseUrl: string, thumbprint: string, file: string): Promise<void> {
  const peer = await peerCertificate(new URL(baseUrl), 10_000);
  if (peer === undefined) throw new Error(`The certificate of ${baseUrl} could not be read.`);
  const pinned = normalizeThumbprint(thumbprint);
  if (pinned !== peer.sha256 && pinned !== peer.sha1)
    throw new Error(`The certificate of ${baseUrl} (SHA-256 ${peer.sha256}) does not match the pinned thumbprint ${pinned}.`);
  writeFileAtomic(file, peer.pem);
}
