/**
 * Processes the lab starts (qemu-nbd servers, the agent), tracked so every one of them is stopped
 * by its PID: at the end of a run, on a failure, and on Ctrl-C / SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";

/** A child process the lab owns. */
export interface Owned {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
}

/** Starts processes and stops each of them by PID; `stopAll` is safe to call more than once. */
export class ProcessGroup {
  private readonly owned = new Set<Owned>();

  /** Every process still running. */
  get running(): readonly Owned[] {
    return [...this.owned].filter((o) => o.child.exitCode === null && o.child.signalCode === null);
  }

  /** PIDs of the processes started so far (running or not). */
  get pids(): number[] {
    return [...this.owned].map((o) => o.child.pid ?? -1);
  }

  /** Spawns `command`; stderr is kept (last 4 KiB) for error messages. */
  spawn(name: string, command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; onStdout?: (line: string) => void } = {}): Owned & { stderr: () => string } {
    const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], env: options.env ?? process.env });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString("utf8")).slice(-4096);
    });
    let partial = "";
    child.stdout?.on("data", (d: Buffer) => {
      if (options.onStdout === undefined) return;
      partial += d.toString("utf8");
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) options.onStdout(line);
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once("exit", (code) => resolve(code));
      child.once("error", () => resolve(null));
    });
    const owned = { name, child, exited, stderr: () => stderr };
    this.owned.add(owned);
    return owned;
  }

  /** Stops one process: SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(owned: Owned, graceMs = 5000): Promise<void> {
    const { child } = owned;
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      this.owned.delete(owned);
      return;
    }
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await owned.exited;
    clearTimeout(timer);
    this.owned.delete(owned);
  }

  /** Stops every process still running, in reverse start order. */
  async stopAll(): Promise<void> {
    for (const owned of [...this.owned].reverse()) await this.stop(owned);
  }
}

/** Options of one qemu-nbd server. */
export interface QemuNbdOptions {
  readonly image: string;
  readonly format: "qcow2" | "raw";
  /** Unix socket it listens on (a stale one is removed first). */
  readonly socket: string;
  /** Persistent dirty bitmap to export as `qemu:dirty-bitmap:NAME`. */
  readonly bitmap?: string;
  readonly readOnly?: boolean;
  /** Clients served at once. @default 8 */
  readonly shared?: number;
}

/** Starts qemu-nbd in the foreground (so it stays a child of ours) and waits until its socket accepts. */
export async function startQemuNbd(group: ProcessGroup, options: QemuNbdOptions): Promise<Owned> {
  fs.rmSync(options.socket, { force: true });
  const args = ["-f", options.format, "-k", options.socket, "-e", String(options.shared ?? 8), "-t", "--cache=writeback"];
  if (options.bitmap !== undefined) args.push("-B", options.bitmap);
  if (options.readOnly === true) args.push("-r");
  args.push(options.image);
  const owned = group.spawn(`qemu-nbd ${options.socket}`, "qemu-nbd", args);
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(options.socket)) {
    if (owned.child.exitCode !== null) throw new Error(`qemu-nbd for ${options.image} exited with code ${owned.child.exitCode}: ${owned.stderr().trim()}`);
    if (Date.now() > deadline) {
      await group.stop(owned);
      throw new Error(`qemu-nbd for ${options.image} did not create ${options.socket} within 10 s.`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return owned;
}

/** `nbd+unix:///?socket=…`, the URI of a qemu-nbd unix socket. */
export function unixUri(socket: string): string {
  return `nbd+unix:///?socket=${socket}`;
}
