import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../lib/problems";
import { compareDigests, digest, openDevice, sync, verify, type SyncProgress } from "../../lib/replication";
import { makePskFile, startNbdkit, startQemuNbd, tempDir, type NbdServer } from "../helpers/nbd-servers";
import { events, rehost } from "./cli";

const KiB = 1024;
const MiB = 1024 * KiB;
let dir: string;
const servers: NbdServer[] = [];

beforeAll(() => {
  dir = tempDir("rehost-sync-nbd-");
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function serve(start: Promise<NbdServer>): Promise<NbdServer> {
  const server = await start;
  servers.push(server);
  return server;
}

/** A sparse raw image: random data at the given MiB chunks, holes elsewhere. */
function sparseImage(name: string, size: number, dataChunks: number[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, "");
  fs.truncateSync(file, size);
  const fd = fs.openSync(file, "r+");
  for (const chunk of dataChunks) fs.writeSync(fd, randomBytes(Math.min(MiB, size - chunk * MiB)), 0, Math.min(MiB, size - chunk * MiB), chunk * MiB);
  fs.closeSync(fd);
  return file;
}

function qemuIo(image: string, ...commands: string[]): void {
  execFileSync("qemu-io", ["-f", "qcow2", ...commands.flatMap((c) => ["-c", c]), image]);
}

function fresh(name: string): string {
  const file = path.join(dir, name);
  fs.rmSync(file, { force: true });
  return file;
}

describe("sync from qemu-nbd", () => {
  it("raw, allocated: holes are zeroed, never read; the size is not a multiple of the block size", async () => {
    const size = 9 * MiB + 3 * 512;
    const image = sparseImage("raw.img", size, [0, 1, 5, 9]);
    const server = await serve(startQemuNbd({ dir, image, format: "raw", readOnly: true, extraArgs: ["--persistent"] }));
    const target = fresh("raw-copy.img");
    const phases = new Set<string>();
    const result = await sync({ source: server.uri, target, onProgress: (p: SyncProgress) => phases.add(p.phase) });
    expect(phases).toEqual(new Set(["open", "plan", "copy", "flush", "done"]));
    expect(result.bytesRead).toBe(3 * MiB + 3 * 512);
    expect(result.bytesZeroed).toBeGreaterThanOrEqual(6 * MiB);
    expect(fs.readFileSync(target).equals(fs.readFileSync(image))).toBe(true);
    const check = await verify(server.uri, target);
    expect(check.equal).toBe(true);
  });

  it("qcow2 with a persistent dirty bitmap: incremental after full moves close to the dirty bytes; write-zeroes in a dirty range is zeroed", async () => {
    const image = path.join(dir, "disk.qcow2");
    execFileSync("qemu-img", ["create", "-f", "qcow2", image, "24M"]);
    qemuIo(image, "write -P 0x11 0 12M", "write -P 0x22 16M 2M");
    const target = fresh("disk-copy.img");
    let server = await serve(startQemuNbd({ dir, image, format: "qcow2", readOnly: true, extraArgs: ["--persistent"] }));
    const full = await sync({ source: server.uri, target });
    expect(full.bytesRead).toBe(14 * MiB);
    await server.stop();
    servers.splice(servers.indexOf(server), 1);

    execFileSync("qemu-img", ["bitmap", "--add", image, "bitmap0"]);
    // Unaligned writes, a write across a cluster boundary, and a write-zeroes over data.
    qemuIo(image, "write -P 0x5a 1000 5000", "write -P 0x33 9437100 307200", "write -z 4M 1M", "write -P 0x44 20M 4096");
    server = await serve(startQemuNbd({ dir, image, format: "qcow2", readOnly: true, bitmap: "bitmap0", extraArgs: ["--persistent"] }));

    const dirty = await dirtyBytes(server.uri, "bitmap0");
    const run = await rehost("sync", server.uri, target, "--changed", "bitmap:bitmap0", "--json");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = events(run.stdout).pop() as Record<string, number>;
    // Dirty: 64 KiB around 1000, 6 clusters around 9 MiB, 16 clusters zeroed at 4 MiB, 64 KiB at 20 MiB.
    expect(dirty).toBe(64 * KiB + 6 * 64 * KiB + MiB + 64 * KiB);
    expect(result.bytesZeroed).toBeGreaterThanOrEqual(MiB);
    expect(result.bytesRead).toBeLessThanOrEqual(dirty - MiB);
    expect(result.bytesRead).toBeGreaterThanOrEqual(5000 + 307200 + 4096);
    expect(result.bytesRead + result.bytesZeroed).toBeLessThanOrEqual(dirty * 1.05);
    const check = await verify(server.uri, target);
    expect(check.equal).toBe(true);

    const missing = await rehost("sync", server.uri, target, "--changed", "bitmap:nope");
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toMatch(/qemu:dirty-bitmap:nope/);
  });
});

/** Sum of the ranges a dirty bitmap marks dirty, read with our own client. */
async function dirtyBytes(uri: string, bitmap: string): Promise<number> {
  const context = `qemu:dirty-bitmap:${bitmap}`;
  const device = await openDevice(uri, { metaContexts: [context] });
  try {
    let total = 0;
    for (let at = 0; at < device.size;) {
      const extents = await device.blockStatus(context, at, device.size - at);
      for (const e of extents) {
        if (e.flags & 1) total += Math.min(e.length, device.size - e.offset);
        at = e.offset + e.length;
      }
    }
    return total;
  } finally {
    await device.close();
  }
}

describe("sync with nbdkit", () => {
  it("nbd -> nbd: file plugin to memory plugin over several connections, verified by digest", async () => {
    const size = 6 * MiB + 777;
    const image = sparseImage("odd.img", size, [0, 2, 3, 6]);
    const source = await serve(startNbdkit({ dir, plugin: ["file", image], readOnly: true }));
    const target = await serve(startNbdkit({ dir, plugin: ["memory", String(size)] }));
    const result = await sync({ source: source.uri, target: target.uri, connections: 3, blockSize: MiB });
    expect(result.bytesRead + result.bytesZeroed).toBeGreaterThanOrEqual(3 * MiB + 777);
    const [a, b] = await Promise.all([digest(source.uri), digest(target.uri)]);
    expect(compareDigests(a, b).equal).toBe(true);
    expect(a.digest).toBe((await digest(image)).digest);
  });

  it("a target smaller than the source exits 2 and the target is untouched", async () => {
    const image = sparseImage("big.img", 4 * MiB, [0, 1, 2, 3]);
    const target = await serve(startNbdkit({ dir, plugin: ["memory", String(2 * MiB)] }));
    const before = await digest(target.uri);
    const run = await rehost("sync", image, target.uri);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/smaller than the source/);
    expect((await digest(target.uri)).digest).toBe(before.digest);
  });

  it("TLS-PSK: copies over nbds+unix with the key; a wrong key exits 2 with one line", async () => {
    const image = sparseImage("tls.img", 5 * MiB, [0, 4]);
    const keys = await makePskFile(dir, "alice", "keys.psk");
    const wrong = await makePskFile(dir, "alice", "wrong.psk");
    const server = await serve(startNbdkit({ dir, plugin: ["file", image], readOnly: true, tlsPsk: keys }));
    const uri = (file: string): string => `${server.uri.replace("nbds+unix://", "nbds+unix://alice@")}&tls-psk-file=${file}`;
    const target = fresh("tls-copy.img");
    const result = await sync({ source: uri(keys), target });
    expect(result.bytesRead).toBe(2 * MiB);
    expect(fs.readFileSync(target).equals(fs.readFileSync(image))).toBe(true);

    const other = fresh("tls-wrong.img");
    const run = await rehost("sync", uri(wrong), other);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain(server.socket as string);
    expect(run.stderr).toMatch(/TLS/);
    expect(fs.existsSync(other)).toBe(false);
  });

  it("error filter without retry: the round fails naming the offset; with retry it completes", async () => {
    const image = sparseImage("flaky.img", 4 * MiB, [0, 1, 2, 3]);
    const trigger = path.join(dir, "fail-now");
    fs.writeFileSync(trigger, "");
    const failing = await serve(
      startNbdkit({ dir, plugin: ["file", image, "error=EIO", `error-pread-file=${trigger}`, "error-pread-rate=1"], filters: ["error"], readOnly: true }),
    );
    const target = fresh("flaky-copy.img");
    const run = await rehost("sync", failing.uri, target, "--block-size", "1Mi");
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/READ offset \d+ length \d+ .*EIO/);

    const retrying = await serve(
      startNbdkit({
        dir,
        plugin: ["file", image, "error=EIO", `error-pread-file=${trigger}`, "error-pread-rate=1", "retries=5", "retry-delay=1", "retry-exponential=no"],
        filters: ["retry", "error"],
        readOnly: true,
      }),
    );
    const pending = sync({ source: retrying.uri, target, blockSize: MiB });
    setTimeout(() => fs.rmSync(trigger, { force: true }), 300);
    const result = await pending;
    expect(result.bytesRead).toBe(4 * MiB);
    expect(fs.readFileSync(target).equals(fs.readFileSync(image))).toBe(true);
  });

  it("delay filter: a slow source still copies every byte with many requests in flight", async () => {
    const image = sparseImage("slow.img", 6 * MiB + 4096, [0, 1, 3, 4, 6]);
    const server = await serve(startNbdkit({ dir, plugin: ["file", image, "delay-read=20ms", "delay-extents=10ms"], filters: ["delay"], readOnly: true }));
    const target = fresh("slow-copy.img");
    const result = await sync({ source: server.uri, target, blockSize: 256 * KiB, connections: 2 });
    expect(result.bytesRead).toBe(4 * MiB + 4096);
    expect(fs.readFileSync(target).equals(fs.readFileSync(image))).toBe(true);
  });

  it("bad input: malformed URI and unreachable server exit 2 with one line and write nothing", async () => {
    const image = sparseImage("small.img", MiB, [0]);
    const target = fresh("never.img");
    const cases: Array<[string, string, RegExp]> = [
      ["nbd+unix:///disk", target, /nbd\+unix:\/\/\/disk.*socket=/],
      ["nbd://127.0.0.1:99999/disk", target, /99999/],
      ["nbd://127.0.0.1:1/disk", target, /127\.0\.0\.1:1.*ECONNREFUSED/],
      [`nbd+unix:///?socket=${path.join(dir, "nobody.sock")}`, target, /nobody\.sock/],
      [image, "nbd://127.0.0.1:1/disk", /127\.0\.0\.1:1.*ECONNREFUSED/],
    ];
    for (const [source, to, message] of cases) {
      const error = await sync({ source, target: to }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error, source).toBeInstanceOf(InputError);
      expect((error as InputError).problems, source).toHaveLength(1);
      expect((error as InputError).message).toMatch(message);
      expect(fs.existsSync(target)).toBe(false);
    }
    const runs = await Promise.all([rehost("sync", "nbd://127.0.0.1:1/disk", target), rehost("verify", image, "nbd://127.0.0.1:1/disk")]);
    for (const run of runs) {
      expect(run.code).toBe(2);
      expect(run.stderr.trim().split("\n"), run.stderr).toHaveLength(1);
      expect(run.stderr).toMatch(/127\.0\.0\.1:1.*ECONNREFUSED/);
    }
    expect(fs.existsSync(target)).toBe(false);
  });
});
