/**
 * Child processes a service or the lab starts (nbdkit readers, qemu-nbd, the agent), tracked so
 * every one of them is stopped by its PID: at the end of their work, on a failure, and on
 * Ctrl-C / SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";

/** A child process owned by a group. */
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
  spawn(
    name: string,
    command: string,
    args: readonly string[],
    options: { env?: NodeJS.ProcessEnv; onStdout?: (line: string) => void } = {},
  ): Owned & { stderr: () => string } {
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
