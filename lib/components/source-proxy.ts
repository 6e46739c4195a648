/**
 * `SourceProxy`: `rehost proxy` installed and run on an on-prem Linux host over SSH with
 * `@pulumi/command` (docs/components.md, "SourceProxy"). The host gets the same packed build the
 * sync gateways run (`buildAgentBundle`), checked against its SHA-256 before it is unpacked; its
 * configuration (vCenter's password, the agents' token, the API's token) arrives on the standard
 * input of one command, never in a command's text; a systemd unit runs the proxy with an nftables
 * table (loaded by the unit's `ExecStartPre`) that admits the API port only from the sync
 * gateways' CIDRs, the operator CIDRs given and loopback; the last step waits for `/v1/health` and
 * reads the API certificate's fingerprint.
 *
 * Steps, each a `remote.Command` (`${name}-<step>`) or `remote.CopyToRemote`, in this order:
 * `prepare` → `bundle` → `install`; `prepare` → `config`; `install` + `config` → `service` →
 * `health`.
 */
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import { InputError, problem, type Problem } from "../problems";
import { isIpv4, parseCidr } from "../net";
import type { AgentBundleRef } from "./agent-release";
import { DEFAULT_NODE } from "./gateway-runtime";
import { COMPONENT_TYPES, DEFAULT_PROXY_PORT } from "./tokens";

/** How the proxy trusts vCenter and logs in to it. */
export interface SourceProxyVCenter {
  /** vCenter's address (`https://vcenter.example.com`). */
  readonly url: string;
  /** vCenter user (`rehost@vsphere.local`). */
  readonly user: string;
  /** Its password; pass a Pulumi secret. It reaches the host on a command's standard input, in a file of mode 0600. */
  readonly password: pulumi.Input<string>;
  /** Trust exactly the certificate with this SHA-256 (or SHA-1) fingerprint. One of `thumbprint`, `ca`, `insecure`. */
  readonly thumbprint?: string;
  /** PEM CA certificate vCenter's certificate is signed by. */
  readonly ca?: string;
  /** Do not verify vCenter's certificate (labs only). */
  readonly insecure?: boolean;
}

/** How the proxy reaches the sync gateways' agents. */
export interface SourceProxyAgents {
  /** The agents' bearer token (the wave stack's `agentToken`); pass a Pulumi secret. */
  readonly token: pulumi.Input<string>;
  /** SHA-256 fingerprints of the agents' certificates. One of `fingerprints`, `ca`. */
  readonly fingerprints?: pulumi.Input<pulumi.Input<string>[]>;
  /** PEM CA the agents' certificates chain to. */
  readonly ca?: string;
}

/** Arguments of {@link SourceProxy}. */
export interface SourceProxyArgs {
  /** SSH connection to the host (`host`, `user`, `privateKey` as a Pulumi secret, `hostKey`…). */
  readonly connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /** The packed build to install (`buildAgentBundle`): the same artifact the gateways run. */
  readonly bundle: AgentBundleRef;
  /** The API's address: an IPv4 address of the host that the gateways reach over CEN (never `0.0.0.0`). */
  readonly listen: { readonly host: string; readonly port?: number };
  /** The sync gateways' CIDRs (the sync vSwitches): with `operatorCidrs` and loopback, the only clients the API port admits. */
  readonly gatewayCidrs: readonly string[];
  /** Where the operator host or CI runner that runs the providers is. @default - none: only the gateways and the host itself */
  readonly operatorCidrs?: readonly string[];
  readonly vcenter: SourceProxyVCenter;
  readonly agents: SourceProxyAgents;
  /** The API's bearer token, which the providers send; pass a Pulumi secret. */
  readonly apiToken: pulumi.Input<string>;
  /** How frozen disks are read. @default "curl" */
  readonly reader?: "curl" | "vddk";
  /** VDDK's directory on the host, for `reader: "vddk"`. */
  readonly vddkLibdir?: string;
  /** First retry of a failed round, in seconds. @default 30 */
  readonly retryDelaySeconds?: number;
  /** The proxy's state directory on the host (records, block hashes, the API's certificate). Kept when the proxy is removed. @default "/var/lib/rehost-proxy" */
  readonly stateDir?: string;
  /** Node.js on the host (20 or later). @default "/usr/bin/node" */
  readonly node?: string;
  /** Run every step through `sudo -n` (the SSH user is not root). @default false */
  readonly sudo?: boolean;
  /** Seconds `/v1/health` gets to answer after the unit starts. @default 120 */
  readonly healthTimeoutSeconds?: number;
}

/** Paths on the host. */
const ETC = "/etc/rehost/proxy";
const HOME = "/opt/rehost";
const UNIT = "/etc/systemd/system/rehost-proxy.service";
const NFT = "/usr/sbin/nft";
const NFT_TABLE = "rehost_proxy";

/**
 * `rehost proxy` on an on-prem host. Children: `${name}-prepare`, `${name}-bundle`,
 * `${name}-install`, `${name}-config`, `${name}-service`, `${name}-health`.
 */
export class SourceProxy extends pulumi.ComponentResource {
  /** `https://<listen host>:<port>`: what `Replication`, `RehearsalPoint` and `Cutover` take as `proxy.url`. */
  public readonly url: pulumi.Output<string>;
  /** SHA-256 fingerprint of the API's certificate (created on the host at first start), as the providers pin it. */
  public readonly fingerprint: pulumi.Output<string>;

  constructor(name: string, args: SourceProxyArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(COMPONENT_TYPES.SourceProxy, name, {}, opts);
    const built = declareSourceProxy(this, name, args);
    this.url = pulumi.output(built.url);
    this.fingerprint = built.health.stdout.apply(lastLine);
    this.registerOutputs({ url: this.url, fingerprint: this.fingerprint });
  }
}

/** Problems of the arguments that can be checked before anything is declared. */
export function checkSourceProxy(name: string, args: SourceProxyArgs): Problem[] {
  const problems: Problem[] = [];
  const at = (field: string, received: string, expected: string, fix: string, message: string) =>
    problems.push(problem({ field, received, expected, fix, message: `Source proxy ${name}: ${message}` }));
  if (!/^[0-9a-f]{64}$/.test(args.bundle.sha256))
    at("bundle.sha256", args.bundle.sha256, "64 hex digits", "pass the result of buildAgentBundle", "the bundle has no SHA-256.");
  if (!isIpv4(args.listen.host) || args.listen.host === "0.0.0.0") {
    at(
      "listen.host",
      args.listen.host,
      "an IPv4 address of the host, not 0.0.0.0",
      "give the address the sync gateways reach over CEN, e.g. 10.30.9.10",
      "the API must listen on one address of the host.",
    );
  }
  const port = args.listen.port ?? DEFAULT_PROXY_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    at("listen.port", String(port), "a port from 1 to 65535", `e.g. ${DEFAULT_PROXY_PORT}`, "the API port is not a port.");
  if (args.gatewayCidrs.length === 0)
    at("gatewayCidrs", "[]", "the sync vSwitches' CIDRs", "pass the wave's sync subnets, e.g. 172.30.0.0/27", "no client could reach the API.");
  for (const [field, list] of [
    ["gatewayCidrs", args.gatewayCidrs],
    ["operatorCidrs", args.operatorCidrs ?? []],
  ] as const) {
    list.forEach((text, i) => {
      const cidr = parseCidr(text);
      if (cidr === undefined) at(`${field}[${i}]`, text, "an IPv4 CIDR", "e.g. 172.30.0.0/27", `${text} is not a CIDR.`);
      else if (cidr.prefix === 0)
        at(
          `${field}[${i}]`,
          text,
          "a range of the gateways or the operator host",
          "name the sync vSwitch or the operator's subnet",
          "0.0.0.0/0 would admit every host.",
        );
    });
  }
  if (!/^https:\/\/[^\s/'"]+\/?$/.test(args.vcenter.url))
    at("vcenter.url", args.vcenter.url, "https://HOST", "e.g. https://vcenter.example.com", "vCenter's address is not an https base URL.");
  if (!/^[^\s'"]+$/.test(args.vcenter.user))
    at("vcenter.user", args.vcenter.user, "a user name without spaces or quotes", "e.g. rehost@vsphere.local", "the vCenter user cannot be used as it is.");
  const trust = [args.vcenter.thumbprint, args.vcenter.ca, args.vcenter.insecure === true ? true : undefined].filter((t) => t !== undefined).length;
  if (trust !== 1)
    at(
      "vcenter.thumbprint",
      `${trust} ways`,
      "exactly one of thumbprint, ca, insecure",
      "pin vCenter's certificate with thumbprint (vCenter's SHA-256 fingerprint)",
      "vCenter's certificate must be trusted in exactly one way.",
    );
  if (args.vcenter.thumbprint !== undefined && !/^[0-9A-Fa-f:]{40,95}$/.test(args.vcenter.thumbprint))
    at(
      "vcenter.thumbprint",
      args.vcenter.thumbprint,
      "a SHA-256 or SHA-1 fingerprint",
      "copy it from vCenter's certificate",
      "the thumbprint is not a fingerprint.",
    );
  if ((args.agents.fingerprints === undefined) === (args.agents.ca === undefined)) {
    at(
      "agents.fingerprints",
      args.agents.fingerprints === undefined ? "neither" : "both",
      "fingerprints or ca",
      "pass the agents' certificate fingerprints, or their CA",
      "the proxy must trust the agents in exactly one way.",
    );
  }
  if (args.reader === "vddk" && (args.vddkLibdir === undefined || !args.vddkLibdir.startsWith("/")))
    at("vddkLibdir", String(args.vddkLibdir), "VDDK's absolute directory on the host", "e.g. /opt/vmware-vix-disklib-distrib", "reader vddk needs VDDK.");
  for (const [field, path] of [
    ["stateDir", args.stateDir],
    ["node", args.node],
  ] as const) {
    if (path !== undefined && !/^\/[A-Za-z0-9._\/-]+$/.test(path))
      at(field, path, "an absolute path of letters, digits, . _ / -", "e.g. /var/lib/rehost-proxy", `${path} cannot be used as a path.`);
  }
  const retry = args.retryDelaySeconds ?? 30;
  if (!(retry > 0) || !Number.isFinite(retry))
    at("retryDelaySeconds", String(retry), "a positive number of seconds", "e.g. 30", "the retry delay is not positive.");
  const health = args.healthTimeoutSeconds ?? 120;
  if (!(health > 0) || !Number.isFinite(health))
    at("healthTimeoutSeconds", String(health), "a positive number of seconds", "e.g. 120", "the health deadline is not positive.");
  return problems;
}

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

function declareSourceProxy(parent: SourceProxy, name: string, args: SourceProxyArgs) {
  const problems = checkSourceProxy(name, args);
  if (problems.length > 0) throw new InputError(problems);
  const { remote } = require("@pulumi/command") as typeof command;
  const connection = args.connection;
  const sudo = args.sudo ?? false;
  const port = args.listen.port ?? DEFAULT_PROXY_PORT;
  const state = args.stateDir ?? "/var/lib/rehost-proxy";
  const bundleFile = `${HOME}/bundles/${args.bundle.sha256}.tgz`;
  const release = `${HOME}/releases/${args.bundle.sha256}`;
  const run = (script: string) => `${sudo ? "sudo -n " : ""}bash -c ${shellQuote(`set -euo pipefail\n${script}`)}`;

  const prepare = new remote.Command(
    `${name}-prepare`,
    {
      connection,
      // The SSH user copies the bundle; everything else is root's.
      create: run(
        `install -d -m 0755 ${HOME} ${HOME}/releases\ninstall -d -m 0755 -o "\${SUDO_USER:-$(id -un)}" ${HOME}/bundles\ninstall -d -m 0700 /etc/rehost ${ETC} ${state}\ncommand -v ${NFT} >/dev/null || { echo "${NFT} is missing: install nftables" >&2; exit 1; }`,
      ),
    },
    { parent },
  );
  const bundle = new remote.CopyToRemote(
    `${name}-bundle`,
    { connection, source: new pulumi.asset.FileAsset(args.bundle.file), remotePath: bundleFile },
    { parent, dependsOn: [prepare] },
  );
  const install = new remote.Command(
    `${name}-install`,
    {
      connection,
      create: run(
        [
          `if [ -f ${release}/.installed ]; then exit 0; fi`,
          `actual="$(sha256sum ${bundleFile} | cut -d' ' -f1)"`,
          `if [ "$actual" != ${args.bundle.sha256} ]; then echo "${bundleFile} has SHA-256 $actual, the stack built ${args.bundle.sha256}: nothing installed" >&2; rm -f ${bundleFile}; exit 1; fi`,
          `rm -rf ${release}.tmp && install -d -m 0755 ${release}.tmp`,
          `tar -xzf ${bundleFile} -C ${release}.tmp --no-same-owner`,
          `[ -f ${release}.tmp/package/bin/rehost.js ] || { echo "the bundle holds no package/bin/rehost.js" >&2; exit 1; }`,
          `${args.node ?? DEFAULT_NODE} -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "rehost proxy needs Node.js 20 or later at ${args.node ?? DEFAULT_NODE}" >&2; exit 1; }`,
          `touch ${release}.tmp/.installed && rm -rf ${release} && mv ${release}.tmp ${release}`,
        ].join("\n"),
      ),
    },
    { parent, dependsOn: [bundle] },
  );

  // Secrets travel on standard input, one base64 line each, in this order; the PEM files with them.
  const secretLines = pulumi
    .all([args.vcenter.password, args.agents.token, args.apiToken])
    .apply(
      ([password, agentToken, apiToken]) =>
        [password, agentToken, apiToken, args.vcenter.ca ?? "", args.agents.ca ?? ""].map((v) => Buffer.from(v, "utf8").toString("base64")).join("\n") + "\n",
    );
  const config = new remote.Command(
    `${name}-config`,
    {
      connection,
      create: run(
        [
          "umask 077",
          'put() { local line; IFS= read -r line; if [ -n "$line" ]; then printf \'%s\' "$line" | base64 -d >"$1.tmp"; mv "$1.tmp" "$1"; fi; }',
          `put ${ETC}/vcenter.password`,
          `put ${ETC}/agent.token`,
          `put ${ETC}/api.token`,
          `put ${ETC}/vcenter-ca.pem`,
          `put ${ETC}/agent-ca.pem`,
          // New credentials reach a running proxy; a stopped one starts with them.
          "systemctl try-restart rehost-proxy.service 2>/dev/null || true",
        ].join("\n"),
      ),
      stdin: pulumi.secret(secretLines),
      // A changed secret is a changed input: the command runs again. Nothing it prints is logged.
      logging: "none",
    },
    { parent, dependsOn: [prepare], additionalSecretOutputs: ["stdin"] },
  );

  const files = pulumi.output(args.agents.fingerprints ?? []).apply((fps) => sourceProxyHostFiles(args, fps));
  const service = new remote.Command(
    `${name}-service`,
    {
      connection,
      create: files.apply((f) =>
        run(
          [
            `write() { cat >"$1.tmp"; chmod "$2" "$1.tmp"; if cmp -s "$1.tmp" "$1"; then rm -f "$1.tmp"; else mv "$1.tmp" "$1"; changed=1; fi; }`,
            "changed=0",
            `write ${ETC}/start 0755 <<'REHOST_START'\n${f.start}REHOST_START`,
            `write ${ETC}/firewall.nft 0644 <<'REHOST_NFT'\n${f.firewall}REHOST_NFT`,
            `write ${UNIT} 0644 <<'REHOST_UNIT'\n${f.unit}REHOST_UNIT`,
            "systemctl daemon-reload",
            "systemctl enable rehost-proxy.service",
            `if [ "$changed" = 1 ] || ! systemctl is-active --quiet rehost-proxy.service; then systemctl restart rehost-proxy.service; fi`,
          ].join("\n"),
        ),
      ),
      // The state directory stays: the VMs' records and block hashes outlive the service.
      delete: run(
        `systemctl disable --now rehost-proxy.service || true\n${NFT} delete table inet ${NFT_TABLE} 2>/dev/null || true\nrm -f ${UNIT} ${ETC}/start ${ETC}/firewall.nft\nsystemctl daemon-reload`,
      ),
    },
    { parent, dependsOn: [install, config] },
  );

  const health = new remote.Command(
    `${name}-health`,
    {
      connection,
      create: run(
        `${args.node ?? DEFAULT_NODE} -e ${shellQuote(HEALTH_PROBE)} ${shellQuote(`https://${args.listen.host}:${port}/v1/health`)} ${ETC}/api.token ${state}/tls/cert.pem ${args.healthTimeoutSeconds ?? 120}`,
      ),
      // Every new unit or release is waited for again.
      triggers: [service.create],
    },
    { parent, dependsOn: [service] },
  );
  return { url: `https://${args.listen.host}:${port}`, health };
}

/**
 * Runs on the host: GET the health URL (the token from its file, trusting the certificate the
 * proxy created, read again on every try) until it answers 200 or the deadline passes, then print
 * the certificate's SHA-256 fingerprint.
 */
const HEALTH_PROBE = `
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

function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,.\/-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
