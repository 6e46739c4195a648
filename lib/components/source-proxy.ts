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
import { InputError } from "../problems";
import { checkSourceProxy, type SourceProxyArgs } from "./source-proxy-args";
import { sourceProxyHostFiles, shellQuote, ETC, HOME, UNIT, NFT, NFT_TABLE, HEALTH_PROBE } from "./source-proxy-host";
import { DEFAULT_NODE } from "./gateway-runtime";
import { COMPONENT_TYPES, DEFAULT_PROXY_PORT } from "./tokens";

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

function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}
