/**
 * The user data of a sync gateway: a bash script that brings up `rehost agent` on a host with no
 * route to the internet. It names no internet address and installs nothing unpinned:
 *
 * 1. `install_runtime`: Node.js (and `certtool`) at exact versions from the image's own package
 *    mirror, which Alibaba Cloud images reach inside the VPC (`mirrors.cloud.aliyuncs.com`), or
 *    a runtime already on the image (`manager: "none"`);
 * 2. `fetch_bundle`: the agent bundle the wave stack uploaded to OSS (`AgentRelease`), fetched
 *    from the bucket's internal endpoint with a request signed by the instance's RAM role (its
 *    temporary credentials come from the metadata service, 100.100.100.200);
 * 3. `verify_bundle`: its SHA-256 must be the one the stack computed, or nothing is installed and
 *    the agent is not started;
 * 4. `install_bundle`, `write_config`, `start_agent` (a systemd unit), and a check that the
 *    agent's health endpoint answers.
 *
 * Every step is a shell function, idempotent (a second run changes nothing and starts nothing
 * twice), logging to a file and to the serial console. The helper the steps share (the signed
 * GET, the health probe) is a small Node program the script writes next to the release.
 */
import { InputError, problem } from "../problems";
import { checkGatewayRuntime, pinnedPackages, DEFAULT_NODE, type GatewayRuntime } from "./gateway-runtime";
import { SCRIPT_BODY } from "./gateway-script";

/** Where the agent bundle is and how the gateway may read it. */
export interface GatewayBundleSource {
  /** `https://<bucket>.<region's internal OSS endpoint>`: no internet address. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Object key of the bundle. */
  readonly key: string;
  /** SHA-256 (hex) of the bundle: the gateway installs nothing else. */
  readonly sha256: string;
  /** rehost version inside the bundle, for the log. */
  readonly version: string;
  /** RAM role of the instance whose credentials sign the request. @default - an unsigned request */
  readonly ramRole?: string;
  /** The ECS metadata service. @default "http://100.100.100.200" */
  readonly metadataUrl?: string;
}

/** Everything a gateway's user data is rendered from. */
export interface GatewayBootstrapSettings {
  /** Agent API port. */
  readonly port: number;
  /** What the agent may write to: the gateway's replica disks by cloud disk id. */
  readonly allow: readonly string[];
  /** Bearer token of the agent API (a secret). */
  readonly token: string;
  /** TLS-PSK key (hex) for the source proxy (a secret). */
  readonly psk: string;
  /** File name of the PSK in the agent's credentials directory. */
  readonly pskFileName: string;
  readonly bundle: GatewayBundleSource;
  readonly runtime: GatewayRuntime;
  /** `systemd` (a gateway), or `none`: the agent runs as a background process with a PID file. @default "systemd" */
  readonly supervisor?: "systemd" | "none";
  /** Directory every path is under; `""` on a gateway, a temporary directory in tests. @default "" */
  readonly root?: string;
  /** Where log lines are copied besides the log file. @default "/dev/console" (the serial console) */
  readonly console?: string;
  /** Seconds the fetch keeps trying (the RAM role is attached after the instance starts). @default 900 */
  readonly fetchTimeoutSeconds?: number;
  /** Seconds the agent gets to answer its health endpoint after it starts. @default 180 */
  readonly healthTimeoutSeconds?: number;
  /** Lowest Node.js major version the agent runs on. @default 20 */
  readonly nodeMajor?: number;
}

/** The ECS instance metadata service. */
export const METADATA_URL = "http://100.100.100.200";

/** Renders the user data (see the module comment). @throws InputError for an unpinned runtime or a bad setting */
export function gatewayUserData(settings: GatewayBootstrapSettings): string {
  const problems = checkGatewayRuntime(settings.runtime);
  if (!/^[0-9a-f]{64}$/.test(settings.bundle.sha256)) {
    problems.push(
      problem({ field: "bundle.sha256", received: settings.bundle.sha256, expected: "64 hex digits", message: "The bundle's checksum is not a SHA-256." }),
    );
  }
  if (!/^https?:\/\/[^\s/]+$/.test(settings.bundle.endpoint)) {
    problems.push(
      problem({
        field: "bundle.endpoint",
        received: settings.bundle.endpoint,
        expected: "https://<bucket>.<internal endpoint>",
        message: "The bundle's endpoint is not a base URL.",
      }),
    );
  }
  if (!/^[A-Za-z0-9._\/-]+$/.test(settings.bundle.key) || settings.bundle.key.includes("..")) {
    problems.push(
      problem({
        field: "bundle.key",
        received: settings.bundle.key,
        expected: "an object key of letters, digits, . _ / -",
        message: "The bundle's object key cannot be used in a URL as it is.",
      }),
    );
  }
  if (problems.length > 0) throw new InputError(problems);
  const root = settings.root ?? "";
  const variables: Array<[string, string]> = [
    ["REHOST_ROOT", root],
    ["REHOST_LOG", `${root}/var/log/rehost-bootstrap.log`],
    ["REHOST_CONSOLE", settings.console ?? "/dev/console"],
    ["REHOST_VERSION", settings.bundle.version],
    ["REHOST_BUNDLE_URL", `${settings.bundle.endpoint}/${settings.bundle.key}`],
    ["REHOST_BUNDLE_BUCKET", settings.bundle.bucket],
    ["REHOST_BUNDLE_KEY", settings.bundle.key],
    ["REHOST_BUNDLE_SHA256", settings.bundle.sha256],
    ["REHOST_RAM_ROLE", settings.bundle.ramRole ?? ""],
    ["REHOST_METADATA", settings.bundle.metadataUrl ?? METADATA_URL],
    ["REHOST_FETCH_TIMEOUT", String(settings.fetchTimeoutSeconds ?? 900)],
    ["REHOST_HEALTH_TIMEOUT", String(settings.healthTimeoutSeconds ?? 180)],
    ["REHOST_RUNTIME_MANAGER", settings.runtime.manager],
    ["REHOST_RUNTIME_MODULES", (settings.runtime.modules ?? []).join(" ")],
    ["REHOST_RUNTIME_PACKAGES", pinnedPackages(settings.runtime).join(" ")],
    ["REHOST_NODE", settings.runtime.node ?? DEFAULT_NODE],
    ["REHOST_NODE_MAJOR", String(settings.nodeMajor ?? 20)],
    ["REHOST_SUPERVISOR", settings.supervisor ?? "systemd"],
    ["REHOST_AGENT_PORT", String(settings.port)],
    ["REHOST_ALLOW", settings.allow.join(",")],
    ["REHOST_PSK_FILE_NAME", settings.pskFileName],
  ];
  return [
    "#!/bin/bash",
    `# rehost sync-gateway bootstrap for rehost ${settings.bundle.version} (docs/components.md, "Gateway bootstrap").`,
    "# Safe to run again: every step checks what is already there.",
    "set -Eeuo pipefail",
    "umask 077",
    ...variables.map(([name, value]) => `${name}=${shellQuote(value)}`),
    `REHOST_TOKEN=${shellQuote(settings.token)}`,
    `REHOST_PSK=${shellQuote(settings.psk)}`,
    SCRIPT_BODY,
  ].join("\n");
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
