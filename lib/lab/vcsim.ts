/**
 * The lab's vCenter: the project's simulator (`vcsim/main.go`, govmomi's simulator with changed
 * block tracking, snapshots that freeze the base disk while they exist, guest I/O and guest
 * shutdown), built once per version from Debian's Go and govmomi packages (`vcsim/build.sh`),
 * started with an estate and stopped by PID. The lab and the tests share it.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { packagePath } from "../service/package";

/** The estate the simulator creates (see main.go). */
export interface EstateSpec {
  readonly portgroups?: ReadonlyArray<{ name: string; vlan?: number }>;
  readonly vms: ReadonlyArray<{
    name: string;
    folder?: string;
    cpus?: number;
    memoryMiB?: number;
    guestId?: string;
    firmware?: string;
    powerState?: "poweredOn" | "poweredOff";
    controller?: string;
    disks: ReadonlyArray<{ capacityMiB: number; mode?: string; rdm?: "physical" | "virtual" }>;
    nics?: ReadonlyArray<{ portgroup: string; adapter?: string; ips?: string[] }>;
    guestShutdown?: "ok" | "ignore" | "no-tools";
    /** vSphere tags, as "Category:name". */
    tags?: string[];
    /** Virtual hardware too old for changed-block tracking. */
    noCbt?: boolean;
    /** Its datastore files answer HTTP 403 (a user without Datastore.Browse). */
    unreadable?: boolean;
  }>;
}

/** A running simulator. */
export interface Vcsim {
  /** `https://HOST:PORT/sdk` */
  readonly url: string;
  /** `https://HOST:PORT` */
  readonly base: string;
  /** The CA file its certificate chains to, and its PEM. */
  readonly ca: string;
  readonly caPem: string;
  readonly thumbprint: string;
  readonly thumbprintSha256: string;
  /** Datastore name → local directory. */
  readonly datastores: Record<string, string>;
  readonly dir: string;
  stop(): Promise<void>;
}

/** How the simulator is started. */
export interface VcsimOptions {
  /** The one user allowed to log in, and its password. */
  readonly user: string;
  readonly password: string;
  /** `HOST:PORT`: loopback, or an address of the lab's links. @default "127.0.0.1:0" */
  readonly listen?: string;
  /** Bytes of disk one QueryChangedDiskAreas answer covers. */
  readonly cbtWindow?: number;
  /** Serve the vAPI endpoint (tags). @default true */
  readonly vapi?: boolean;
  /** Objects per RetrievePropertiesEx answer. */
  readonly pageSize?: number;
  /** Where the frozen disks of point snapshots are copied. */
  readonly keepFrozen?: string;
  /** Starts the process (inside a network namespace, say). @default - a child of this process */
  readonly launch?: (binary: string, args: readonly string[], env: NodeJS.ProcessEnv) => ChildProcess;
}

/** Builds the simulator if needed (about 20 s the first time) and returns its path. */
export function vcsimBinary(): string {
  return execFileSync(packagePath("lib", "lab", "vcsim", "build.sh"), { encoding: "utf8", timeout: 300_000 }).trim();
}

/** Starts the simulator with `estate`; resolves once it prints its ready line. */
export async function startVcsim(estate: EstateSpec, options: VcsimOptions): Promise<Vcsim> {
  const binary = vcsimBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehost-vcsim-"));
  const estateFile = path.join(dir, "estate.json");
  fs.writeFileSync(estateFile, JSON.stringify(estate));
  const args = ["-dir", dir, "-estate", estateFile, "-user", options.user, "-listen", options.listen ?? "127.0.0.1:0"];
  if (options.cbtWindow !== undefined) args.push("-cbt-window", String(options.cbtWindow));
  if (options.vapi === false) args.push("-vapi=false");
  if (options.pageSize !== undefined) args.push("-page-size", String(options.pageSize));
  if (options.keepFrozen !== undefined) args.push("-keep-frozen", options.keepFrozen);
  const env = { ...process.env, VCSIM_PASSWORD: options.password };
  const child = options.launch !== undefined ? options.launch(binary, args, env) : spawn(binary, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`The vCenter simulator did not start within 60 s: ${stderr}`)), 60_000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line !== undefined) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as Record<string, unknown>);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`The vCenter simulator exited with ${code}: ${stderr}`));
    });
  });
  const url = ready.url as string;
  const ca = ready.ca as string;
  return {
    url,
    base: url.replace(/\/sdk$/, ""),
    ca,
    caPem: fs.readFileSync(ca, "utf8"),
    thumbprint: ready.thumbprint as string,
    thumbprintSha256: ready.thumbprintSha256 as string,
    datastores: ready.datastores as Record<string, string>,
    dir,
    stop: () => stopProcess(child, dir),
  };
}

async function stopProcess(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.exitCode === null && child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** What the guest of `vm` writes to disk `key` at `offset` (through the snapshot's delta when there is one). */
export function guestWrite(sim: Vcsim, vm: string, key: number, offset: number, data: Buffer): Promise<void> {
  return guestRequest(sim, "POST", `vm=${encodeURIComponent(vm)}&disk=${key}&offset=${offset}`, data).then(() => undefined);
}

/** What the guest of `vm` reads from disk `key`. */
export function guestRead(sim: Vcsim, vm: string, key: number, offset: number, length: number): Promise<Buffer> {
  return guestRequest(sim, "GET", `vm=${encodeURIComponent(vm)}&disk=${key}&offset=${offset}&length=${length}`);
}

/** Resets changed-block tracking of a VM: its changeIds are forgotten. */
export function resetCbt(sim: Vcsim, vm: string): Promise<void> {
  return guestRequest(sim, "POST", `vm=${encodeURIComponent(vm)}`, Buffer.alloc(0), "/rehost/cbt-reset").then(() => undefined);
}

const guestAgent = new https.Agent({ keepAlive: true, maxSockets: 8 });

function guestRequest(sim: Vcsim, method: string, query: string, body?: Buffer, route = "/rehost/guest"): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      `${sim.base}${route}?${query}`,
      { method, ca: sim.caPem, agent: guestAgent, headers: body !== undefined ? { "Content-Length": String(body.length) } : {} },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (d: Buffer) => chunks.push(d));
        response.on("end", () =>
          response.statusCode !== undefined && response.statusCode < 300
            ? resolve(Buffer.concat(chunks))
            : reject(new Error(`${method} ${route}?${query}: HTTP ${response.statusCode} ${Buffer.concat(chunks).toString()}`)),
        );
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}
