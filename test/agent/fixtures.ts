/**
 * Disks and servers the agent and provider tests share: raw source images with data and zero
 * regions, served by a real qemu-nbd on a unix socket, and an in-process agent on loopback.
 */
import "tsx/cjs";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { startAgent, type RunningAgent } from "../../lib/agent";
import { AgentClient } from "../../lib/agent/client";
import { silentLogger } from "../../lib/service/log";
import { ProcessGroup, startQemuNbd, unixUri } from "../../lib/lab/processes";

export const MiB = 1024 * 1024;

/** Writes a raw image: random data in every other 1 MiB block of the first `dataMiB`, zeroes elsewhere. */
export function makeRawDisk(file: string, sizeMiB: number, dataMiB: number, seed: string): void {
  const fd = fs.openSync(file, "w");
  try {
    fs.ftruncateSync(fd, sizeMiB * MiB);
    for (let i = 0; i < dataMiB; i++) {
      if (i % 2 === 1 && dataMiB > 2) continue;
      const block = Buffer.alloc(MiB);
      for (let off = 0; off < MiB; off += 32) crypto.createHash("sha256").update(`${seed}:${i}:${off}`).digest().copy(block, off);
      fs.writeSync(fd, block, 0, MiB, i * MiB);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates an empty (sparse) target file. */
export function makeTarget(file: string, sizeMiB: number): void {
  fs.writeFileSync(file, "");
  fs.truncateSync(file, sizeMiB * MiB);
}

/** sha256 of a whole file. */
export function fileSha256(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Starts qemu-nbd serving `image` (raw) read-write on `socket`; returns its URI. */
export async function serveRaw(group: ProcessGroup, image: string, socket: string): Promise<string> {
  await startQemuNbd(group, { image, format: "raw", socket });
  return unixUri(socket);
}

/** Starts an in-process agent on 127.0.0.1 and a client for it. */
export async function startTestAgent(
  dir: string,
  allow: readonly string[],
  extra: Partial<Parameters<typeof startAgent>[0]> = {},
): Promise<{ agent: RunningAgent; client: AgentClient; token: string }> {
  const agent = await startAgent({ stateDir: path.join(dir, "state"), port: 0, allow, logger: silentLogger, retryDelayMs: 200, ...extra });
  const token = fs.readFileSync(agent.tokenFile, "utf8").trim();
  const client = new AgentClient({ url: agent.url, token, fingerprint: agent.fingerprint });
  return { agent, client, token };
}

/** Polls `probe` every 100 ms until it returns a value, failing after `timeoutMs` with `describe()`'s view. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, describe?: () => Promise<unknown>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const seen = describe === undefined ? "" : ` Last seen: ${JSON.stringify(await describe())}`;
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.${seen}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
