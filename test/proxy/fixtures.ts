/**
 * The source proxy as a process (`rehost proxy`), as it runs on-prem: started with its flags,
 * reached through its API, stopped (or killed) by PID.
 */
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ProxyClient } from "../../lib/proxy/client";
import { spawnRehostWith } from "../helpers/cli";
import { PASSWORD, USER, type Vcsim } from "../vsphere/harness";

/** A `rehost proxy` process. */
export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** SHA-256 fingerprint of its certificate. */
  readonly fingerprint: string;
  readonly client: ProxyClient;
  /** Its standard output (JSON-lines logs) and error so far. */
  output(): string;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** SIGKILL at once. */
  kill(): Promise<void>;
}

/** What the proxy needs to reach the agents. */
export interface AgentTrust {
  readonly tokenFile: string;
  readonly fingerprint: string;
}

/** Starts `rehost proxy` on 127.0.0.1 against the simulator; resolves once it listens. */
export async function spawnProxy(stateDir: string, sim: Vcsim, agents: AgentTrust, extra: readonly string[] = []): Promise<ProxyProcess> {
  const args = [
    "proxy",
    "--state",
    stateDir,
    "--listen",
    "127.0.0.1:0",
    "--vcenter",
    sim.url,
    "--user",
    USER,
    "--ca",
    sim.ca,
    "--agent-token-file",
    agents.tokenFile,
    "--agent-fingerprint",
    agents.fingerprint,
    "--retry-delay",
    "0.2",
    ...extra,
  ];
  const proxy = spawnRehostWith({ env: { REHOST_VCENTER_PASSWORD: PASSWORD } }, ...args);
  const { child, exited } = proxy;
  const { url, fingerprint } = await new Promise<{ url: string; fingerprint: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rehost proxy did not start within 30 s:\n${proxy.output}`)), 30_000);
    const look = (): void => {
      const listening = /listening on (\S+)/.exec(proxy.output);
      const fp = /fingerprint ([0-9A-F:]{95})/.exec(proxy.output);
      if (listening !== null && fp !== null) {
        clearTimeout(timer);
        resolve({ url: listening[1], fingerprint: fp[1] });
      }
    };
    child.stderr!.on("data", look);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`rehost proxy exited with ${code}:\n${proxy.output}`));
    });
  });
  const token = fs.readFileSync(path.join(stateDir, "token"), "utf8").trim();
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(child.pid!, name);
    const timer = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(child.pid!, "SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    child,
    url,
    fingerprint,
    client: new ProxyClient({ url, token, fingerprint }),
    output: () => proxy.output,
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
  };
}
