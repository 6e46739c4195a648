/**
 * What `SourceProxy` puts on the host, rendered as text: the paths, the start script, the
 * nftables table and the systemd unit (`sourceProxyHostFiles`, pure), the health probe the last
 * step runs with the host's Node.js, and the shell quoting the steps use.
 */
import type { SourceProxyArgs } from "./source-proxy-args";
import { DEFAULT_NODE } from "./gateway-runtime";
import { DEFAULT_PROXY_PORT } from "./tokens";

/** Paths on the host. */
export const ETC = "/etc/rehost/proxy";
export const HOME = "/opt/rehost";
export const UNIT = "/etc/systemd/system/rehost-proxy.service";
export const NFT = "/usr/sbin/nft";
export const NFT_TABLE = "rehost_proxy";

/** Everything the host's files are rendered from (the parts that are not secret). */
export interface SourceProxyHostFiles {
  /** Starts the proxy: reads the password file into `REHOST_VCENTER_PASSWORD`, then `exec`s `rehost proxy`. */
  readonly start: string;
  /** The nftables table: the API port from the clients' CIDRs and loopback only. */
  readonly firewall: string;
  /** The systemd unit. */
  readonly unit: string;
}

/** Renders the start script, the firewall and the unit for one release (pure; tested as text). */
export function sourceProxyHostFiles(args: SourceProxyArgs, agentFingerprints: readonly string[]): SourceProxyHostFiles {
  const port = args.listen.port ?? DEFAULT_PROXY_PORT;
  const state = args.stateDir ?? "/var/lib/rehost-proxy";
  const release = `${HOME}/releases/${args.bundle.sha256}`;
  const flags = [
    ["--state", state],
    ["--listen", `${args.listen.host}:${port}`],
    ["--vcenter", args.vcenter.url],
    ["--user", args.vcenter.user],
    ...(args.vcenter.thumbprint !== undefined ? [["--thumbprint", args.vcenter.thumbprint]] : []),
    ...(args.vcenter.ca !== undefined ? [["--ca", `${ETC}/vcenter-ca.pem`]] : []),
    ...(args.vcenter.insecure === true ? [["--insecure"]] : []),
    ["--agent-token-file", `${ETC}/agent.token`],
    ...(args.agents.ca !== undefined ? [["--agent-ca", `${ETC}/agent-ca.pem`]] : [["--agent-fingerprint", agentFingerprints.join(",")]]),
    ["--reader", args.reader ?? "curl"],
    ...(args.reader === "vddk" ? [["--vddk-libdir", args.vddkLibdir!]] : []),
    ["--token-file", `${ETC}/api.token`],
    ["--retry-delay", String(args.retryDelaySeconds ?? 30)],
  ];
  const start = [
    "#!/bin/sh",
    `# rehost proxy ${args.bundle.version} (written by the SourceProxy component).`,
    "set -eu",
    `REHOST_VCENTER_PASSWORD="$(cat ${ETC}/vcenter.password)"`,
    "export REHOST_VCENTER_PASSWORD",
    `exec ${args.node ?? DEFAULT_NODE} ${release}/package/bin/rehost.js proxy \\`,
    flags.map((f) => `  ${f.map(shellQuote).join(" ")}`).join(" \\\n"),
    "",
  ].join("\n");
  const clients = [...args.gatewayCidrs, ...(args.operatorCidrs ?? [])];
  const firewall = [
    `# The rehost proxy's API (port ${port}) admits only the sync gateways, the operator CIDRs and loopback.`,
    `table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    "  chain input {",
    "    type filter hook input priority filter - 1; policy accept;",
    `    tcp dport ${port} ct state established,related accept`,
    `    tcp dport ${port} iifname "lo" accept`,
    `    tcp dport ${port} ip saddr { ${clients.join(", ")} } accept`,
    `    tcp dport ${port} drop`,
    "  }",
    "}",
    "",
  ].join("\n");
  const unit = [
    "[Unit]",
    `Description=rehost source proxy ${args.bundle.version}`,
    "Wants=network-online.target",
    "After=network-online.target",
    "[Service]",
    `ExecStartPre=${NFT} -f ${ETC}/firewall.nft`,
    `ExecStart=${ETC}/start`,
    `ExecStopPost=-${NFT} delete table inet ${NFT_TABLE}`,
    "Restart=always",
    "RestartSec=5",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
  return { start, firewall, unit };
}

/**
 * Runs on the host: GET the health URL (the token from its file, trusting the certificate the
 * proxy created, read again on every try) until it answers 200 or the deadline passes, then print
 * the certificate's SHA-256 fingerprint.
 */
export const HEALTH_PROBE = `
const fs = require("node:fs"), https = require("node:https"), crypto = require("node:crypto");
const [url, tokenFile, certFile, seconds] = process.argv.slice(1);
const deadline = Date.now() + Number(seconds) * 1000;
const once = () => new Promise((resolve, reject) => {
  const ca = fs.readFileSync(certFile, "utf8");
  const token = fs.readFileSync(tokenFile, "utf8").trim();
  const req = https.get(url, { ca, checkServerIdentity: () => undefined, headers: { Authorization: "Bearer " + token }, timeout: 10000 }, (res) => {
    res.resume();
    res.on("end", () => (res.statusCode === 200 ? resolve(new crypto.X509Certificate(ca).fingerprint256) : reject(new Error("HTTP " + res.statusCode))));
  });
  req.on("timeout", () => req.destroy(new Error("no answer for 10 s")));
  req.on("error", reject);
});
(async () => {
  for (;;) {
    try { process.stdout.write((await once()) + "\\n"); return; } catch (err) {
      if (Date.now() > deadline) { process.stderr.write("rehost proxy does not answer " + url + " after " + seconds + " s: " + err.message + "; see journalctl -u rehost-proxy\\n"); process.exit(1); }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
})();
`;

/** Quotes a value for the shell; a plain word stays as it is. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,.\/-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
