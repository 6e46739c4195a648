/**
 * `rehost sync` at the edges, against real servers (nbdkit and its filters, qemu-nbd): targets
 * with large minimum block sizes, unaligned extent lists, zero ranges on existing targets,
 * read-only exports, servers that take fewer connections, server errors, full file systems and
 * interruptions. Each ends with the documented exit code and a message a person can act on.
 */
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDevice } from "../../lib/replication";
import { fileSha256, MiB, makeRawDisk } from "../agent/fixtures";
import { startNbdkit, startQemuNbd, tempDir, type NbdServer } from "../helpers/nbd-servers";
import { rehost, REHOST } from "./cli";

const dir = tempDir("rehost-sync-hardening-");
const servers: NbdServer[] = [];
const unmount: string[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const m of unmount) spawnSync("umount", ["-l", m]);
  fs.rmSync(dir, { recursive: true, force: true });
});
const serve = async (server: Promise<NbdServer>): Promise<NbdServer> => {
  const s = await server;
  servers.push(s);
  return s;
};
/** No stack trace: lines like `    at copy (/…/copier.js:…)`. */
const noStack = (stderr: string): void => expect(stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe("targets and sources with constraints", () => {
  it("refuses, before writing, a target whose minimum block size does not divide the source's size", async () => {
    const source = path.join(dir, "odd.raw");
    fs.writeFileSync(source, Buffer.alloc(4 * MiB + 1000, 0x11));
    const target = await serve(
      startNbdkit({ dir, plugin: ["memory", "8M", "blocksize-minimum=4096", "blocksize-error-policy=error"], filters: ["blocksize-policy"] }),
    );
    const run = await rehost("sync", source, target.uri, "--changed", "full");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/minimum block size 4096/);
    noStack(run.stderr);
    const device = await openDevice(target.uri);
    expect((await device.read(0, 1 * MiB)).equals(Buffer.alloc(1 * MiB))).toBe(true);
    await device.close();
  });

  it("aligns an unaligned extent list to a source that has a minimum block size", async () => {
    const image = path.join(dir, "aligned-src.raw");
    makeRawDisk(image, 4, 4, "aligned");
    const source = await serve(
      startNbdkit({ dir, plugin: ["file", image, "blocksize-minimum=4096", "blocksize-error-policy=error"], filters: ["blocksize-policy"], readOnly: true }),
    );
    const target = path.join(dir, "aligned-target.raw");
    fs.writeFileSync(target, Buffer.alloc(4 * MiB));
    const extents = path.join(dir, "unaligned.json");
    fs.writeFileSync(
      extents,
      JSON.stringify([
        { offset: 1000, length: 3000 },
        { offset: 100_003, length: 10 },
      ]),
    );
    const run = await rehost("sync", source.uri, target, "--changed", `extents:${extents}`);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const [src, dst] = [fs.readFileSync(image), fs.readFileSync(target)];
    expect(dst.subarray(1000, 4000).equals(src.subarray(1000, 4000))).toBe(true);
    expect(dst.subarray(100_003, 100_013).equals(src.subarray(100_003, 100_013))).toBe(true);
  });

  it("zeroes the zero ranges of an existing file target without reading them: a hole is punched", async () => {
    const target = path.join(dir, "full-of-data.raw");
    makeRawDisk(target, 64, 64, "old data");
    const allocatedBefore = fs.statSync(target).blocks * 512;
    expect(allocatedBefore).toBeGreaterThan(30 * MiB);
    const zeroes = await serve(startNbdkit({ dir, plugin: ["memory", "64M"], readOnly: true }));
    const run = await rehost("sync", zeroes.uri, target, "--changed", "allocated", "--json");
    expect(run.code).toBe(0);
    expect(fs.statSync(target).blocks * 512).toBeLessThan(4 * MiB);
    expect(fs.readFileSync(target).equals(Buffer.alloc(64 * MiB))).toBe(true);
  });

  it("refuses a read-only target export before copying", async () => {
    const image = path.join(dir, "ro-src.raw");
    const targetImage = path.join(dir, "ro-target.raw");
    makeRawDisk(image, 4, 4, "ro");
    makeRawDisk(targetImage, 4, 4, "ro-target");
    const before = fileSha256(targetImage);
    const target = await serve(startQemuNbd({ dir, image: targetImage, format: "raw", readOnly: true }));
    const run = await rehost("sync", image, target.uri);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/target disk is read-only/);
    noStack(run.stderr);
    expect(fileSha256(targetImage)).toBe(before);
  });

  it("uses the connections a server accepted when it takes fewer than asked", async () => {
    const image = path.join(dir, "limit-src.raw");
    makeRawDisk(image, 8, 8, "limit");
    const source = await serve(startNbdkit({ dir, plugin: ["file", image, "limit=1"], filters: ["limit"], readOnly: true }));
    const target = path.join(dir, "limit-target.raw");
    const run = await rehost("sync", source.uri, target, "--connections", "4", "--changed", "full");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(fileSha256(target)).toBe(fileSha256(image));
  });
});

describe("failures", () => {
  it("a server error mid-copy exits 3 with the server's error, not a stack trace", async () => {
    const image = path.join(dir, "err-src.raw");
    makeRawDisk(image, 8, 8, "err");
    const trigger = path.join(dir, "inject");
    fs.writeFileSync(trigger, "");
    const source = await serve(
      startNbdkit({
        dir,
        plugin: ["file", image, "error-pread=EIO", "error-pread-rate=100%", `error-pread-file=${trigger}`],
        filters: ["error"],
        readOnly: true,
      }),
    );
    const run = await rehost("sync", source.uri, path.join(dir, "err-target.raw"), "--changed", "full");
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/EIO|Input\/output error/);
    noStack(run.stderr);
  });

  it("--bandwidth prints no listener warning", async () => {
    const image = path.join(dir, "bw-src.raw");
    fs.writeFileSync(image, crypto.randomBytes(16 * MiB));
    // Dozens of requests wait on the throttle at once.
    const run = await rehost("sync", image, path.join(dir, "bw-target.raw"), "--changed", "full", "--bandwidth", "10M");
    expect(run.code).toBe(0);
    expect(run.stderr).not.toMatch(/MaxListenersExceededWarning|Warning/);
  });

  it("a full target file system exits 2 saying so", async () => {
    expect(process.getuid?.(), "the test mounts a tmpfs: run it as root").toBe(0);
    const mount = path.join(dir, "small-fs");
    fs.mkdirSync(mount);
    expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount]).status).toBe(0);
    unmount.push(mount);
    const image = path.join(dir, "enospc-src.raw");
    makeRawDisk(image, 16, 16, "enospc");
    const target = path.join(mount, "target.raw");
    fs.writeFileSync(target, "");
    fs.truncateSync(target, 16 * MiB);
    const run = await rehost("sync", image, target, "--changed", "full");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ran out of space/);
    noStack(run.stderr);
  });

  it("SIGTERM stops a round within seconds, even with reads hanging on a slow server", async () => {
    const source = await serve(startNbdkit({ dir, plugin: ["memory", "16G", "delay-read=10"], filters: ["delay"], readOnly: true }));
    const child = spawn(
      process.execPath,
      [REHOST, "sync", source.uri, path.join(dir, "sigterm-target.raw"), "--changed", "full", "--journal", path.join(dir, "sigterm.journal")],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    child.kill("SIGTERM");
    expect(await exited).toBe(130);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(stderr).toMatch(/interrupted; run the same command again to resume/);
  });

  it("rehost adapt on a directory exits 2 naming it", async () => {
    const run = await rehost("adapt", dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/not an image file or a block device/);
    noStack(run.stderr);
  });
});
