/**
 * The arguments of `SourceProxy` (the SSH connection, the bundle, the listen address, the clients'
 * CIDRs, vCenter and the agents) and `checkSourceProxy`, which finds their problems before
 * anything is declared.
 */
import type * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import { problem, type Problem } from "../problems";
import { isIpv4, parseCidr } from "../net";
import type { AgentBundleRef } from "./agent-release";
import { DEFAULT_PROXY_PORT } from "./tokens";

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
