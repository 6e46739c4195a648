/**
 * Starts rehost's vcsim (test/vsphere/vcsim/main.go, built once per version by build.sh) with an
 * estate, on 127.0.0.1, and stops it by PID. Also runs the `rehost` CLI for the command tests.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";

export const REHOST = path.join(__dirname, "..", "..", "bin", "rehost.js");
export const USER = "administrator@vsphere.local";
export const PASSWORD = "correct horse battery staple";

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
  /** `https://127.0.0.1:PORT/sdk` */
  readonly url: string;
  /** `https://127.0.0.1:PORT` */
  readonly base: string;
  readonly ca: string;
  readonly caPem: string;
  readonly thumbprint: string;
  readonly thumbprintSha256: string;
  /** Datastore name → local directory. */
  readonly datastores: Record<string, string>;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Builds the simulator if needed and returns its path. */
export function vcsimBinary(): string {
  return execFileSync(path.join(__dirname, "vcsim", "build.sh"), { encoding: "utf8", timeout: 300_000 }).trim();
}

/** The estate most tests use: two portgroups, a folder tree, four VMs with varied disks and NICs. */
export const STANDARD_ESTATE: EstateSpec = {
  portgroups: [
    { name: "web", vlan: 101 },
    { name: "db", vlan: 102 },
  ],
  vms: [
    {
      name: "web-01",
      folder: "prod/web",
      cpus: 2,
      memoryMiB: 4096,
      guestId: "rhel7_64Guest",
      disks: [{ capacityMiB: 16 }],
      nics: [
        { portgroup: "web", ips: ["10.1.1.10"] },
        { portgroup: "db", adapter: "e1000e", ips: ["10.1.2.10", "10.1.2.11"] },
      ],
      tags: ["Migration:wave-1", "Tier:gold"],
    },
    {
      name: "web-02",
      folder: "prod/web",
      cpus: 2,
      memoryMiB: 4096,
      guestId: "windows9Server64Guest",
      firmware: "efi",
      disks: [{ capacityMiB: 8 }, { capacityMiB: 4 }],
      nics: [{ portgroup: "web", ips: ["10.1.1.11"] }],
      guestShutdown: "ignore",
      tags: ["Migration:wave-1"],
    },
    {
      name: "db-01",
      folder: "prod",
      controller: "lsilogic",
      disks: [{ capacityMiB: 8 }, { capacityMiB: 4, rdm: "physical" }, { capacityMiB: 4, mode: "independent_persistent" }],
      nics: [{ portgroup: "db", ips: ["10.1.2.20"] }],
      guestShutdown: "no-tools",
    },
    {
      name: "batch-01",
      powerState: "poweredOff",
      disks: [{ capacityMiB: 4 }],
      nics: [{ portgroup: "db", adapter: "vmxnet3", ips: [] }],
    },
  ],
};

/** Starts the simulator with `estate`; resolves once it prints its ready line. */
export async function startVcsim(estate: EstateSpec, options: { cbtWindow?: number; vapi?: boolean; pageSize?: number; keepFrozen?: string } = {}): Promise<Vcsim> {
  const binary = vcsimBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehost-vcsim-"));
  const estateFile = path.join(dir, "estate.json");
  fs.writeFileSync(estateFile, JSON.stringify(estate));
  const args = ["-dir", dir, "-estate", estateFile, "-user", USER];
  if (options.cbtWindow !== undefined) args.push("-cbt-window", String(options.cbtWindow));
  if (options.vapi === false) args.push("-vapi=false");
  if (options.pageSize !== undefined) args.push("-page-size", String(options.pageSize));
  if (options.keepFrozen !== undefined) args.push("-keep-frozen", options.keepFrozen);
  const child = spawn(binary, args, { env: { ...process.env, VCSIM_PASSWORD: PASSWORD }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`vcsim did not start within 60 s: ${stderr}`)), 60_000);
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
      reject(new Error(`vcsim exited with ${code}: ${stderr}`));
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
    process.kill(child.pid, "SIGTERM");
    const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, "SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Writes a whole datastore file through the datastore HTTP interface (`PUT /folder/...`). */
export function putDatastoreFile(sim: Vcsim, datastorePath: string, data: Buffer, datastore = "LocalDS_0"): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = `${sim.base}/folder/${datastorePath}?dcPath=DC0&dsName=${encodeURIComponent(datastore)}`;
    const request = https.request(url, { method: "PUT", ca: sim.caPem, headers: { "Content-Length": String(data.length) } }, (response) => {
      response.resume();
      response.on("end", () => (response.statusCode === 200 || response.statusCode === 201 ? resolve() : reject(new Error(`PUT ${datastorePath}: HTTP ${response.statusCode}`))));
    });
    request.on("error", reject);
    request.end(data);
  });
}

/** One SOAP call with a raw envelope, for what the client under test must not do itself. */
export function soap(sim: Vcsim, body: string, cookie?: string): Promise<{ status: number; body: string; cookie?: string }> {
  return new Promise((resolve, reject) => {
    const envelope = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;
    const request = https.request(
      sim.url,
      { method: "POST", ca: sim.caPem, headers: { "Content-Type": "text/xml", ...(cookie ? { Cookie: cookie } : {}) } },
      (response) => {
        let text = "";
        response.on("data", (d: Buffer) => (text += d.toString()));
        response.on("end", () => {
          const set = (response.headers["set-cookie"] ?? [])[0]?.split(";")[0];
          resolve({ status: response.statusCode ?? 0, body: text, ...(set ? { cookie: set } : {}) });
        });
      },
    );
    request.on("error", reject);
    request.end(envelope);
  });
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `rehost ...args` with `env` added; never rejects on a non-zero exit. */
export function rehost(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const fullEnv: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete fullEnv[k];
      else fullEnv[k] = v;
    }
    execFile(process.execPath, [REHOST, ...args], { env: fullEnv, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 99;
      resolve({ code, stdout, stderr });
    });
  });
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

function guestRequest(sim: Vcsim, method: string, query: string, body?: Buffer, path = "/rehost/guest"): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const request = https.request(`${sim.base}${path}?${query}`, { method, ca: sim.caPem, headers: body !== undefined ? { "Content-Length": String(body.length) } : {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (d: Buffer) => chunks.push(d));
      response.on("end", () => (response.statusCode !== undefined && response.statusCode < 300 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${method} ${path}?${query}: HTTP ${response.statusCode} ${Buffer.concat(chunks).toString()}`))));
    });
    request.on("error", reject);
    request.end(body);
  });
}
