/**
 * The view of a guest's root filesystem the adaptation works through.
 *
 * Two implementations: {@link GuestfishSession} (libguestfs: the disk is opened by guestfish's
 * own appliance, nothing is mounted on the host) and {@link DirectoryGuestFs} (a directory tree on
 * the host, for fixture trees and already-mounted roots). Paths are absolute guest paths.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** What libguestfs inspection says about the guest's operating system. */
export interface OsInspection {
  /** The device holding the root (`/dev/sda2`). */
  readonly root: string;
  /** `linux`, `windows`, … */
  readonly type: string;
  readonly distro: string;
  readonly productName: string;
  /** For Windows the `InstallationType`: `Server`, `Server Core`, `Client`. */
  readonly productVariant: string;
  readonly major: number;
  readonly minor: number;
  /** `x86_64`, `i386`, `aarch64` (Windows: from `cmd.exe`). */
  readonly arch: string;
  /** The libosinfo short ID (`win2k19`). */
  readonly osinfo: string;
  /** Windows: the system root as a guest path (`/Windows`). */
  readonly windowsSystemRoot?: string;
}

/** The result of a shell command run inside the guest's root. */
export interface CommandResult {
  readonly status: number;
  /** Standard output and standard error, interleaved. */
  readonly output: string;
}

export interface GuestFs {
  /** The file's text (symlinks followed), or `undefined` when it is not a regular file. */
  readFile(guestPath: string): Promise<string | undefined>;
  /** Entry names of a directory (symlinks followed), `[]` when it is not a directory. */
  list(guestPath: string): Promise<string[]>;
  /** True when the path exists (symlinks followed). */
  exists(guestPath: string): Promise<boolean>;
  /** Writes a file, creating parent directories; `mode` defaults to 0o644. */
  writeFile(guestPath: string, content: string, mode?: number): Promise<void>;
  /** Removes a file or symlink; no error when absent. */
  remove(guestPath: string): Promise<void>;
  /** Moves a file or symlink, creating the destination's parent directories. */
  move(from: string, to: string): Promise<void>;
  /** Runs `/bin/sh -c script` chrooted into the guest. */
  run(script: string): Promise<CommandResult>;
  /**
   * The filesystem UUID of a block device as the guest names it on VMware (`/dev/sda1`,
   * `/dev/sdb`), or `undefined` when that device is not attached or holds no filesystem.
   */
  filesystemUuid(guestDevice: string): Promise<string | undefined>;
  /** Copies a file of this host into the guest, creating parent directories. */
  upload(localPath: string, guestPath: string): Promise<void>;
  /** Copies a guest file (symlinks followed) to this host. */
  download(guestPath: string, localPath: string): Promise<void>;
  /** Copies a file inside the guest, creating the destination's parent directories. */
  copy(from: string, to: string): Promise<void>;
  /**
   * The existing path that matches `guestPath` component by component, ignoring case (as
   * Windows does on NTFS), or `undefined` when some component does not exist.
   */
  resolvePath(guestPath: string): Promise<string | undefined>;
  /** What libguestfs inspection found, or `undefined` when the guest was not inspected. */
  inspect(): Promise<OsInspection | undefined>;
  /** Makes the guest writable when it was opened read-only for checks first; a no-op otherwise. */
  writable(): Promise<void>;
}

/** Options of {@link DirectoryGuestFs}. */
export interface DirectoryGuestFsOptions {
  /** Filesystem UUIDs by guest device name (`/dev/sda1` → UUID). */
  readonly uuids?: Readonly<Record<string, string>>;
  /**
   * Executes a guest command. A directory tree has no guest to chroot into, so the caller says
   * how commands run (for example `chroot root sh -c`, or recording them).
   */
  readonly run: (script: string) => Promise<CommandResult> | CommandResult;
  /** What {@link GuestFs.inspect} returns: libguestfs's findings for the tree. @default - undefined */
  readonly inspection?: OsInspection;
}

/** A guest root that is a directory on the host. */
export class DirectoryGuestFs implements GuestFs {
  constructor(
    readonly root: string,
    private readonly options: DirectoryGuestFsOptions,
  ) {}

  private host(guestPath: string): string {
    if (!guestPath.startsWith("/")) throw new Error(`guest path must be absolute: ${guestPath}`);
    return path.join(this.root, guestPath);
  }

  async readFile(guestPath: string): Promise<string | undefined> {
    try {
      return fs.readFileSync(this.host(guestPath), "utf8");
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async list(guestPath: string): Promise<string[]> {
    try {
      return fs.readdirSync(this.host(guestPath)).sort();
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  async exists(guestPath: string): Promise<boolean> {
    return fs.existsSync(this.host(guestPath));
  }

  async writeFile(guestPath: string, content: string, mode = 0o644): Promise<void> {
    const target = this.host(guestPath);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content, { mode });
    fs.chmodSync(target, mode);
  }

  async remove(guestPath: string): Promise<void> {
    fs.rmSync(this.host(guestPath), { force: true });
  }

  async move(from: string, to: string): Promise<void> {
    const target = this.host(to);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.renameSync(this.host(from), target);
  }

  async run(script: string): Promise<CommandResult> {
    return this.options.run(script);
  }

  async filesystemUuid(guestDevice: string): Promise<string | undefined> {
    return this.options.uuids?.[guestDevice];
  }

  async upload(localPath: string, guestPath: string): Promise<void> {
    const target = this.host(guestPath);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(localPath, target);
  }

  async download(guestPath: string, localPath: string): Promise<void> {
    fs.copyFileSync(this.host(guestPath), localPath);
  }

  async copy(from: string, to: string): Promise<void> {
    const target = this.host(to);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(this.host(from), target);
  }

  async resolvePath(guestPath: string): Promise<string | undefined> {
    return resolveIgnoringCase(guestPath, (dir) => this.list(dir));
  }

  async inspect(): Promise<OsInspection | undefined> {
    return this.options.inspection;
  }

  async writable(): Promise<void> {}
}

/**
 * {@link GuestFs.resolvePath} over a directory listing: each component of `guestPath` matched
 * exactly, else ignoring case, in the entries `list` gives for the path resolved so far.
 */
export async function resolveIgnoringCase(guestPath: string, list: (guestDir: string) => Promise<string[]>): Promise<string | undefined> {
  let resolved = "";
  for (const part of guestPath.split("/").filter((p) => p !== "")) {
    const entries = await list(resolved === "" ? "/" : resolved);
    const match = entries.find((e) => e === part) ?? entries.find((e) => e.toLowerCase() === part.toLowerCase());
    if (match === undefined) return undefined;
    resolved = `${resolved}/${match}`;
  }
  return resolved === "" ? "/" : resolved;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
}
