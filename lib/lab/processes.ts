/**
 * The lab's qemu-nbd servers, started in a `ProcessGroup` (`lib/service/processes.ts`) so each is
 * stopped by its PID.
 */
import * as fs from "node:fs";
import type { Owned, ProcessGroup } from "../service/processes";

export { ProcessGroup, type Owned } from "../service/processes";

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
