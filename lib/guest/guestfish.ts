/**
 * A {@link GuestFs} over libguestfs: `guestfish --listen` opens the disks in its own appliance
 * (a small VM under qemu; TCG when there is no usable KVM), inspects them and mounts the guest's
 * filesystems inside the appliance. Each operation is one `guestfish --remote` call. Nothing is
 * mounted on the host and no root privilege is needed beyond read/write access to the disk.
 *
 * A failing guestfish command ends the remote server, so every operation that may fail in normal
 * use is phrased not to (existence checks first; shell commands report their status as output).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { resolveIgnoringCase, type CommandResult, type GuestFs, type OsInspection } from "./guestfs";

/** A disk to open. */
export interface GuestfishDisk {
  readonly path: string;
  /** @default - `qcow2` for `*.qcow2` paths, `raw` otherwise */
  readonly format?: "raw" | "qcow2";
}

/** Options of {@link GuestfishSession.open}. */
export interface GuestfishOptions {
  /** Open the disks read-only. @default false */
  readonly readonly?: boolean;
  /**
   * Let libguestfs use KVM. @default false: TCG, which works everywhere (a sync gateway is an
   * ECS instance without nested virtualization, and a broken /dev/kvm makes qemu abort).
   */
  readonly kvm?: boolean;
  /**
   * `inspect`: find the guest's root by inspection and mount its filesystems (guestfish `-i`,
   * read-write unless `readonly`). `none`: start the appliance with nothing mounted, for
   * {@link GuestfishSession.mountInspected}.
   * @default "inspect"
   */
  readonly mount?: "inspect" | "none";
  readonly signal?: AbortSignal;
}

const STATUS_MARK = "__rehost_status=";
const SH_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH";

/** An open libguestfs appliance with the guest's filesystems mounted. */
export class GuestfishSession implements GuestFs {
  private closed = false;
  private filesystems: Map<string, string> | undefined;
  private inspection: OsInspection | undefined;
  private mounted: { root: string; readonly: boolean } | undefined;
  /** True when guestfish `-i` inspected the guest when it opened it. */
  private inspectedAtOpen = false;
  private readonly scratch: string;

  private constructor(
    /** PID of the `guestfish --listen` server. */
    readonly pid: number,
    private readonly env: NodeJS.ProcessEnv,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.scratch = fs.mkdtempSync(path.join(os.tmpdir(), "rehost-guestfish-"));
  }

  /** Starts the appliance with `disks` (the first is the system disk) and mounts the guest. */
  static async open(disks: readonly GuestfishDisk[], options: GuestfishOptions = {}): Promise<GuestfishSession> {
    options.signal?.throwIfAborted();
    const env: NodeJS.ProcessEnv = { ...process.env, LIBGUESTFS_BACKEND: process.env["LIBGUESTFS_BACKEND"] ?? "direct" };
    if (options.kvm !== true) env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg";
    const args = ["--listen", options.readonly === true ? "--ro" : "--rw"];
    for (const disk of disks) args.push(`--format=${disk.format ?? (disk.path.endsWith(".qcow2") ? "qcow2" : "raw")}`, "-a", disk.path);
    if (options.mount !== "none") args.push("-i");
    // The server keeps the standard error it inherits: give it a file, not a pipe we would wait on.
    const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "rehost-guestfish-log-")), "stderr");
    const { stdout, code } = await run("guestfish", args, env, options.signal, log);
    const stderr = fs.readFileSync(log, "utf8");
    fs.rmSync(path.dirname(log), { recursive: true, force: true });
    const pid = /GUESTFISH_PID=(\d+)/.exec(stdout)?.[1];
    if (code !== 0 || pid === undefined) {
      throw new Error(`guestfish could not open ${disks.map((d) => d.path).join(", ")}: ${stderr.trim() || stdout.trim() || `exit ${code}`}`);
    }
    const session = new GuestfishSession(Number(pid), env, options.signal);
    options.signal?.addEventListener("abort", () => void session.close(), { once: true });
    session.inspectedAtOpen = options.mount !== "none";
    if (options.mount === "none") {
      try {
        await session.call("run");
      } catch (err) {
        await session.close();
        throw err;
      }
    }
    return session;
  }

  /** Runs one guestfish command in the appliance and returns its standard output. */
  async call(...args: string[]): Promise<string> {
    if (this.closed) throw new Error("the guestfish session is closed");
    this.signal?.throwIfAborted();
    const { stdout, stderr, code } = await run("guestfish", [`--remote=${this.pid}`, "--", ...args], this.env, undefined);
    if (code !== 0) {
      this.closed = true;
      throw new Error(`guestfish ${args[0]} failed: ${stderr.trim() || `exit ${code}`}`);
    }
    return stdout;
  }

  async readFile(guestPath: string): Promise<string | undefined> {
    if ((await this.call("is-file", guestPath, "followsymlinks:true")).trim() !== "true") return undefined;
    const local = path.join(this.scratch, "download");
    await this.call("download", guestPath, local);
    const text = fs.readFileSync(local, "utf8");
    fs.rmSync(local, { force: true });
    return text;
  }

  async list(guestPath: string): Promise<string[]> {
    if ((await this.call("is-dir", guestPath, "followsymlinks:true")).trim() !== "true") return [];
    return (await this.call("ls", guestPath))
      .split("\n")
      .filter((n) => n !== "")
      .sort();
  }

  async exists(guestPath: string): Promise<boolean> {
    return (await this.call("exists", guestPath)).trim() === "true";
  }

  async writeFile(guestPath: string, content: string, mode = 0o644): Promise<void> {
    const local = path.join(this.scratch, "upload");
    fs.writeFileSync(local, content);
    await this.call("mkdir-p", path.posix.dirname(guestPath));
    await this.call("upload", local, guestPath);
    await this.call("chmod", `0${mode.toString(8)}`, guestPath);
    fs.rmSync(local, { force: true });
  }

  async remove(guestPath: string): Promise<void> {
    await this.call("rm-f", guestPath);
  }

  async move(from: string, to: string): Promise<void> {
    await this.call("mkdir-p", path.posix.dirname(to));
    await this.call("mv", from, to);
  }

  async run(script: string): Promise<CommandResult> {
    const out = await this.call("sh", `${SH_PATH}; ( ${script} ) 2>&1; echo "${STATUS_MARK}$?"`);
    const at = out.lastIndexOf(STATUS_MARK);
    const status = at < 0 ? 1 : Number.parseInt(out.slice(at + STATUS_MARK.length), 10);
    return { status, output: at < 0 ? out : out.slice(0, at) };
  }

  async filesystemUuid(guestDevice: string): Promise<string | undefined> {
    const device = applianceDevice(guestDevice);
    if (device === undefined) return undefined;
    if (this.filesystems === undefined) {
      this.filesystems = new Map();
      for (const line of (await this.call("list-filesystems")).split("\n")) {
        const m = /^(\S+): (\S+)/.exec(line);
        if (m) this.filesystems.set(m[1]!, m[2]!);
      }
    }
    const type = this.filesystems.get(device);
    if (type === undefined || type === "unknown") return undefined;
    const uuid = (await this.call("vfs-uuid", device)).trim();
    return uuid === "" ? undefined : uuid;
  }

  async upload(localPath: string, guestPath: string): Promise<void> {
    await this.call("mkdir-p", path.posix.dirname(guestPath));
    await this.call("upload", localPath, guestPath);
  }

  async download(guestPath: string, localPath: string): Promise<void> {
    await this.call("download", guestPath, localPath);
  }

  async copy(from: string, to: string): Promise<void> {
    await this.call("mkdir-p", path.posix.dirname(to));
    await this.call("cp", from, to);
  }

  async resolvePath(guestPath: string): Promise<string | undefined> {
    return resolveIgnoringCase(guestPath, (dir) => this.list(dir));
  }

  /**
   * libguestfs inspection of the first operating system found (`inspect-os`, then the
   * `inspect-get-*` calls that never fail), or `undefined` when there is none.
   */
  async inspect(): Promise<OsInspection | undefined> {
    if (this.inspection !== undefined) return this.inspection;
    const roots = (await this.call(this.inspectedAtOpen ? "inspect-get-roots" : "inspect-os")).split("\n").filter((r) => r !== "");
    const root = roots[0];
    if (root === undefined) return undefined;
    const get = async (what: string) => (await this.call(`inspect-get-${what}`, root)).trim();
    const type = await get("type");
    this.inspection = {
      root,
      type,
      distro: await get("distro"),
      productName: await get("product-name"),
      productVariant: await get("product-variant"),
      major: Number(await get("major-version")),
      minor: Number(await get("minor-version")),
      arch: await get("arch"),
      osinfo: await get("osinfo"),
      ...(type === "windows" ? { windowsSystemRoot: await get("windows-systemroot") } : {}),
    };
    return this.inspection;
  }

  /**
   * Mounts the inspected guest's filesystems (shortest mount point first), read-only when asked:
   * checks run on a read-only mount, so a refused disk is never written, not even by the
   * filesystem driver replaying or resetting a journal.
   */
  async mountInspected(options: { readonly readonly: boolean }): Promise<void> {
    const inspection = await this.inspect();
    if (inspection === undefined) throw new Error("no operating system was found on the disk");
    await this.mountAll(inspection.root, options.readonly);
    this.mounted = { root: inspection.root, readonly: options.readonly };
  }

  async writable(): Promise<void> {
    if (this.mounted === undefined || !this.mounted.readonly) return;
    await this.call("umount-all");
    await this.mountAll(this.mounted.root, false);
    this.mounted = { root: this.mounted.root, readonly: false };
    // ntfs-3g falls back to a read-only mount, without failing, when Windows is hibernated or
    // was shut down with Fast Startup (hiberfil.sys in use).
    const flag = Number(/^flag: (\d+)$/m.exec(await this.call("statvfs", "/"))?.[1] ?? "0");
    if ((flag & 1) !== 0)
      throw new Error("the filesystem was mounted read-only: Windows is hibernated or was shut down with Fast Startup (hiberfil.sys in use)");
  }

  private async mountAll(root: string, readonly: boolean): Promise<void> {
    const points = (await this.call("inspect-get-mountpoints", root))
      .split("\n")
      .map((l) => /^(\S+): (\S+)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ where: m[1]!, device: m[2]! }))
      .sort((a, b) => a.where.length - b.where.length);
    for (const p of points) await this.call(readonly ? "mount-ro" : "mount", p.device, p.where);
  }

  /** Unmounts, syncs and stops the appliance. Safe to call twice. */
  async close(): Promise<void> {
    if (!fs.existsSync(this.scratch)) return;
    fs.rmSync(this.scratch, { recursive: true, force: true });
    if (!this.closed) {
      this.closed = true;
      await run("guestfish", [`--remote=${this.pid}`, "--", "exit"], this.env, undefined);
    }
    // The server exits once the appliance has shut down; stop it if it lingers.
    const deadline = Date.now() + 30_000;
    while (alive(this.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(this.pid)) process.kill(this.pid, "SIGTERM");
  }
}

/**
 * The appliance's name of a disk the guest names `/dev/sdb1`, `/dev/hda`, `/dev/vdc2`:
 * libguestfs attaches the disks in order as `/dev/sda`, `/dev/sdb`, …
 */
export function applianceDevice(guestDevice: string): string | undefined {
  const m = /^\/dev\/(?:sd|hd|vd|xvd)([a-z]+)(\d*)$/.exec(guestDevice);
  return m ? `/dev/sd${m[1]}${m[2]}` : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  signal: AbortSignal | undefined,
  stderrFile?: string,
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const errFd = stderrFile === undefined ? "pipe" : fs.openSync(stderrFile, "w");
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", errFd], ...(signal ? { signal } : {}) });
    if (typeof errFd === "number") fs.closeSync(errFd);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (err) =>
      reject((err as NodeJS.ErrnoException).code === "ENOENT" ? new Error(`${command} is not installed: run scripts/guest/setup-boot.sh`) : err),
    );
    child.on("close", (code) => resolve({ stdout, stderr, code: code ?? 1 }));
  });
}
