/**
 * The lab's services as they run in a migration, each a process of its own: the vCenter
 * simulator and `rehost proxy` on the on-prem side, `rehost agent` on the cloud side. Each is
 * started with its command line, logs to a file of the work directory, and is stopped by PID.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { packagePath } from "../service/package";
import { startVcsim, type EstateSpec, type Vcsim } from "./vcsim";
import type { LabSite } from "./site";

/** The simulator's one user (the lab's own, never a real vCenter's). */
export const LAB_USER = "rehost-lab@vsphere.local";

/** A started HTTPS service: where it is reached and how it is trusted. */
export interface LabService {
  readonly url: string;
  readonly fingerprint: string;
  readonly tokenFile: string;
}

/** Starts the simulator with the lab estate on the on-prem side. */
export async function startLabVcenter(site: LabSite, estate: EstateSpec, workdir: string, password: string): Promise<Vcsim> {
  return startVcsim(estate, {
    user: LAB_USER,
    password,
    listen: `${site.host("onprem")}:0`,
    // One answer per disk, as ESXi gives for disks of this size.
    cbtWindow: 2 ** 40,
    keepFrozen: path.join(workdir, "frozen"),
    launch: (binary, args, env) => site.spawn("onprem", "vCenter simulator", binary, args, { env }).child,
  });
}

/** Runs `rehost <args>` on a side; resolves once its JSON log says `msg` with a URL and fingerprint. */
async function startRehost(
  site: LabSite,
  side: "onprem" | "cloud",
  name: string,
  args: readonly string[],
  logFile: string,
  msg: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ port: number; fingerprint: string }> {
  const log = fs.createWriteStream(logFile);
  let listening: { port: number; fingerprint: string } | undefined;
  const proc = site.spawn(side, name, process.execPath, [packagePath("bin", "rehost.js"), ...args], {
    env: env ?? process.env,
    onStdout: (line) => {
      log.write(`${line}\n`);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string; fingerprint?: string };
        if (entry.msg === msg && entry.url !== undefined && entry.fingerprint !== undefined)
          listening = { port: Number(new URL(entry.url).port), fingerprint: entry.fingerprint };
      } catch {
        // Not a log line; kept in the log file.
      }
    },
  });
  proc.exited.then(() => log.end()).catch(() => undefined);
  const deadline = Date.now() + 60_000;
  while (listening === undefined) {
    if (proc.child.exitCode !== null) throw new Error(`${name} exited with code ${proc.child.exitCode}: ${proc.stderr().trim()}`);
    if (Date.now() > deadline) throw new Error(`${name} did not start listening within 60 s: ${proc.stderr().trim()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return listening;
}

/** Starts `rehost agent` on the cloud side, allowed to write the lab's target disks; `extra` flags are added (a later flag wins). */
export async function startLabAgent(site: LabSite, workdir: string, allow: readonly string[], extra: readonly string[] = []): Promise<LabService> {
  const state = path.join(workdir, "agent");
  const { port, fingerprint } = await startRehost(
    site,
    "cloud",
    "rehost agent",
    [
      "agent",
      "--state",
      state,
      "--listen",
      `${site.host("cloud")}:0`,
      "--allow",
      allow.join(","),
      "--max-concurrent",
      "8",
      "--checkpoint-interval",
      "16Mi",
      ...extra,
    ],
    path.join(workdir, "agent.log"),
    "agent listening",
  );
  return { url: `https://${site.host("cloud")}:${port}`, fingerprint, tokenFile: path.join(state, "token") };
}

/** Starts `rehost proxy` on the on-prem side against the simulator, trusting the agent; `extra` flags are added. */
export async function startLabProxy(
  site: LabSite,
  workdir: string,
  vcenter: Vcsim,
  password: string,
  agent: LabService,
  extra: readonly string[] = [],
): Promise<LabService> {
  const state = path.join(workdir, "proxy");
  const args = [
    "proxy",
    "--state",
    state,
    "--listen",
    `${site.host("onprem")}:0`,
    "--vcenter",
    vcenter.url,
    "--user",
    LAB_USER,
    "--ca",
    vcenter.ca,
    "--agent-token-file",
    agent.tokenFile,
    "--agent-fingerprint",
    agent.fingerprint,
    "--retry-delay",
    "1",
    ...extra,
  ];
  const { port, fingerprint } = await startRehost(site, "onprem", "rehost proxy", args, path.join(workdir, "proxy.log"), "proxy listening", {
    ...process.env,
    REHOST_VCENTER_PASSWORD: password,
  });
  return { url: `https://${site.host("onprem")}:${port}`, fingerprint, tokenFile: path.join(state, "token") };
}
