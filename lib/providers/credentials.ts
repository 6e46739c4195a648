/**
 * Credentials of the dynamic providers. The Pulumi engine hands every dynamic provider the
 * stack's configuration, secrets decrypted, through `configure`; the keys below are read from
 * it, and each falls back to an environment variable of the process running `pulumi`. They are
 * never resource inputs, so nothing secret reaches the state.
 *
 * | config key (secret where marked)  | environment fallback          | what                                       |
 * | --------------------------------- | ----------------------------- | ------------------------------------------ |
 * | `rehost:agentToken` (secret)      | `REHOST_AGENT_TOKEN`, `REHOST_AGENT_TOKEN_FILE` | the agents' bearer token |
 * | `rehost:agentFingerprint`         | `REHOST_AGENT_FINGERPRINT`    | SHA-256 pin(s) of the agents' certificates |
 * | `rehost:agentCaFile`              | `REHOST_AGENT_CA_FILE`        | or a PEM CA they chain to                  |
 * | `rehost:proxyToken` (secret)      | `REHOST_PROXY_TOKEN`, `REHOST_PROXY_TOKEN_FILE` | the source proxy's bearer token |
 * | `rehost:proxyFingerprint`         | `REHOST_PROXY_FINGERPRINT`    | SHA-256 pin of the proxy's certificate     |
 * | `rehost:proxyCaFile`              | `REHOST_PROXY_CA_FILE`        | or a PEM CA it chains to                   |
 * | `rehost:vcenterUrl`               | `REHOST_VCENTER_URL`          | vCenter, for the cutover's shutdown        |
 * | `rehost:vcenterUser`              | `REHOST_VCENTER_USER`         |                                            |
 * | `rehost:vcenterPassword` (secret) | `REHOST_VCENTER_PASSWORD`     |                                            |
 * | `rehost:vcenterCaFile`            | `REHOST_VCENTER_CA_FILE`      | PEM CA of vCenter's certificate            |
 * | `rehost:vcenterThumbprint`        | `REHOST_VCENTER_THUMBPRINT`   | or its fingerprint                         |
 *
 * Files are relative to the project directory (the working directory of the provider).
 */
import * as fs from "node:fs";
import { AgentClient } from "../agent/client";
import type { ProxyClient } from "../proxy/client";
import type { VSphereClient } from "../vsphere";

/** One credential: its stack config key and its environment variable. */
interface Setting {
  readonly config: string;
  readonly env: string;
}

/** The credentials, each read from `rehost:<name>` in the stack config and `REHOST_<NAME>` in the environment. */
const NAMES = [
  "agentToken",
  "agentTokenFile",
  "agentFingerprint",
  "agentCaFile",
  "proxyToken",
  "proxyTokenFile",
  "proxyFingerprint",
  "proxyCaFile",
  "vcenterUrl",
  "vcenterUser",
  "vcenterPassword",
  "vcenterCaFile",
  "vcenterThumbprint",
] as const;

/** The setting of credential `name`: `agentCaFile` is `rehost:agentCaFile` or `REHOST_AGENT_CA_FILE`. */
function setting(name: string): Setting {
  return { config: `rehost:${name}`, env: `REHOST_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}` };
}

/** Where each credential is read from. */
export const CREDENTIALS = Object.fromEntries(NAMES.map((name) => [name, setting(name)])) as { readonly [N in (typeof NAMES)[number]]: Setting };

/** What `configure` receives: the stack's configuration. */
export interface ProviderConfig {
  get(key: string): string | undefined;
}

/** Credentials as the providers use them, from config first and the environment second. */
export class ProviderCredentials {
  constructor(
    private readonly config: ProviderConfig = { get: () => undefined },
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  private value(setting: Setting): string | undefined {
    const v = this.config.get(setting.config) ?? this.env[setting.env];
    return v === undefined || v === "" ? undefined : v;
  }

  /** A setting as a problem's field names it: its config key and its environment variable. */
  private settingName(setting: Setting): string {
    return `${setting.config} or ${setting.env}`;
  }

  private describe(setting: Setting): string {
    return `${setting.config} (pulumi config set${setting === CREDENTIALS.agentToken || setting === CREDENTIALS.proxyToken || setting === CREDENTIALS.vcenterPassword ? " --secret" : ""} ${setting.config} …) or ${setting.env}`;
  }

  /** A client for the agent at `url`. */
  agentClient(url: string): AgentClient {
    return new AgentClient(this.service("agent", url, "agent", "rehost agent prints it when it starts"));
  }

  /** A client for the source proxy at `url`. */
  proxyClient(url: string): ProxyClient {
    const { ProxyClient }: typeof import("../proxy/client") = require("../proxy/client");
    return new ProxyClient(this.service("source proxy", url, "proxy", "rehost proxy prints it when it starts"));
  }

  /** The client options of the agent or the proxy at `url`, from the settings `<prefix>Token`, `<prefix>TokenFile`, `<prefix>Fingerprint`, `<prefix>CaFile`. */
  private service(kind: string, url: string, prefix: "agent" | "proxy", where: string) {
    const keys = {
      token: CREDENTIALS[`${prefix}Token`],
      tokenFile: CREDENTIALS[`${prefix}TokenFile`],
      fingerprint: CREDENTIALS[`${prefix}Fingerprint`],
      caFile: CREDENTIALS[`${prefix}CaFile`],
    };
    const tokenFile = this.value(keys.tokenFile);
    const token = this.value(keys.token) ?? (tokenFile !== undefined ? fs.readFileSync(tokenFile, "utf8").trim() : undefined);
    if (token === undefined || token === "") {
      throw new Error(`No ${kind} token: set ${this.describe(keys.token)}, or ${keys.tokenFile.env}.`);
    }
    const fingerprint = this.value(keys.fingerprint);
    const caFile = this.value(keys.caFile);
    if (fingerprint === undefined && caFile === undefined) {
      throw new Error(`No way to authenticate the ${kind} at ${url}: set ${this.describe(keys.fingerprint)} (${where}), or ${this.describe(keys.caFile)}.`);
    }
    return { url: url.replace(/\/$/, ""), token, fingerprint, ca: caFile !== undefined ? fs.readFileSync(caFile, "utf8") : undefined };
  }

  /** Whether a vSphere client is configured. */
  vsphereConfigured(): boolean {
    return this.value(CREDENTIALS.vcenterUrl) !== undefined;
  }

  /** A logged-in vSphere client, or undefined when no vCenter is configured. */
  async vsphere(): Promise<VSphereClient | undefined> {
    const url = this.value(CREDENTIALS.vcenterUrl);
    if (url === undefined) return undefined;
    const user = this.value(CREDENTIALS.vcenterUser);
    if (user === undefined) throw new Error(`${CREDENTIALS.vcenterUrl.config} is set but the user is not: set ${this.describe(CREDENTIALS.vcenterUser)}.`);
    const password = this.value(CREDENTIALS.vcenterPassword);
    if (password === undefined) throw new Error(`No password for ${user} at ${url}: set ${this.describe(CREDENTIALS.vcenterPassword)}.`);
    // Loaded when first needed, with the problems module its errors are made by (instanceof holds).
    const { connectVSphere }: typeof import("../vsphere") = require("../vsphere");
    const { withFieldNames }: typeof import("../problems") = require("../problems");
    // A connection problem names the setting to fix, not the option of connectVSphere.
    const names = {
      url: this.settingName(CREDENTIALS.vcenterUrl),
      user: this.settingName(CREDENTIALS.vcenterUser),
      password: this.settingName(CREDENTIALS.vcenterPassword),
      ca: this.settingName(CREDENTIALS.vcenterCaFile),
      thumbprint: this.settingName(CREDENTIALS.vcenterThumbprint),
    };
    return connectVSphere({ url, user, password, ca: this.value(CREDENTIALS.vcenterCaFile), thumbprint: this.value(CREDENTIALS.vcenterThumbprint) }).catch(
      (err: unknown) => {
        throw withFieldNames(err, names);
      },
    );
  }
}
