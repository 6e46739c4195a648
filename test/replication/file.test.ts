import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InputError } from "../../lib/problems";
import { compareDigests, digest, sync } from "../../lib/replication";
import { events, rehost } from "./cli";
import { tempDir } from "../helpers/tmp";

const MiB = 1024 * 1024;
let dir: string;

beforeEach(() => {
  dir = tempDir("rehost-sync-file-");
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A disk of random 1 MiB chunks and zero chunks, `size` bytes (need not be a block multiple). */
function mixedImage(file: string, size: number, seed = 1): Buffer {
  const data = Buffer.alloc(size);
  for (let at = 0, i = seed; at < size; at += MiB, i++) {
    if (i % 3 !== 0) randomBytes(Math.min(MiB, size - at)).copy(data, at);
  }
  fs.writeFileSync(file, data);
  return data;
}

function sha(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** The digest recomputed by the script printed in docs/replication.md. */
function scriptDigest(file: string): string {
  const doc = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "replication.md"), "utf8");
  const script = /```python\n([\s\S]*?)```/.exec(doc)?.[1];
  expect(script).toBeDefined();
  const scriptFile = path.join(dir, "digest.py");
  fs.writeFileSync(scriptFile, script as string);
  return execFileSync("python3", [scriptFile, file], { encoding: "utf8" }).trim();
}

describe("sync between local files", () => {
  it("copies a disk whose size is not a multiple of the block size, zero blocks as zeroes, into a new sparse file", async () => {
    const source = path.join(dir, "source.img");
    const target = path.join(dir, "target.img");
    const size = 10 * MiB + 12345;
    mixedImage(source, size);
    const result = await sync({ source, target, blockSize: MiB });
    expect(sha(target)).toBe(sha(source));
    expect(result.bytesRead).toBe(size);
    expect(result.bytesWritten + result.bytesZeroed).toBe(size);
    // Chunks 3, 6, 9 (of seeds 1..) are zero: 3 MiB detected and written as zeroes, never as data.
    expect(result.bytesZeroed).toBe(3 * MiB);
    expect(fs.statSync(target).blocks * 512).toBeLessThan(size - 2 * MiB);
    const a = await digest(source);
    const b = await digest(target);
    expect(compareDigests(a, b)).toEqual({ equal: true, reason: "" });
    expect(a.size).toBe(size);
  });

  it("a round with more requests than the plan pass keeps asks for them again and copies them all", async () => {
    // 110,000 requests of 4 KiB: more than sync() keeps in memory between its plan pass and the copy.
    const source = path.join(dir, "source.img");
    const target = path.join(dir, "target.img");
    const size = 110_000 * 4096;
    fs.writeFileSync(source, "");
    fs.truncateSync(source, size);
    const fd = fs.openSync(source, "r+");
    const marks = [0, 4096 * 50_000, size - 4096];
    for (const at of marks) fs.writeSync(fd, randomBytes(4096), 0, 4096, at);
    fs.closeSync(fd);
    const result = await sync({ source, target, changed: "full", blockSize: 4096 });
    expect(result.bytesRead).toBe(size);
    expect(result.bytesWritten).toBe(marks.length * 4096);
    expect(sha(target)).toBe(sha(source));
  });

  it("the documented script recomputes the digest", async () => {
    const source = path.join(dir, "source.img");
    mixedImage(source, 3 * MiB + 7);
    expect((await digest(source)).digest).toBe(scriptDigest(source));
    const empty = path.join(dir, "empty.img");
    fs.writeFileSync(empty, "");
    expect((await digest(empty)).digest).toBe(scriptDigest(empty));
  });

  it("hash copies only the blocks that differ", async () => {
    const source = path.join(dir, "source.img");
    const target = path.join(dir, "target.img");
    const data = mixedImage(source, 8 * MiB);
    fs.writeFileSync(target, data);
    const fd = fs.openSync(target, "r+");
    fs.writeSync(fd, Buffer.from("changed"), 0, 7, 3 * MiB + 100); // block 3
    fs.writeSync(fd, randomBytes(10), 0, 10, 6 * MiB - 5); // blocks 5 and 6 (block 6 is zero in the source)
    fs.closeSync(fd);
    const result = await sync({ source, target, changed: "hash", blockSize: MiB });
    expect(sha(target)).toBe(sha(source));
    expect(result.bytesWritten).toBe(2 * MiB);
    expect(result.bytesZeroed).toBe(1 * MiB);
    expect(result.bytesSkipped).toBe(5 * MiB);
  });

  it("extents:FILE copies only the listed ranges, unaligned and unsorted", async () => {
    const source = path.join(dir, "source.img");
    const target = path.join(dir, "target.img");
    mixedImage(source, 4 * MiB);
    fs.writeFileSync(target, Buffer.alloc(4 * MiB, 0xee));
    const list = path.join(dir, "cbt.json");
    fs.writeFileSync(
      list,
      JSON.stringify({
        changedArea: [
          { start: 2 * MiB + 3, length: 1000 },
          { start: 17, length: 4000 },
        ],
      }),
    );
    const result = await sync({ source, target, changed: `extents:${list}` });
    expect(result.bytesRead).toBe(5000);
    const s = fs.readFileSync(source);
    const t = fs.readFileSync(target);
    expect(t.subarray(17, 4017).equals(s.subarray(17, 4017))).toBe(true);
    expect(t.subarray(2 * MiB + 3, 2 * MiB + 1003).equals(s.subarray(2 * MiB + 3, 2 * MiB + 1003))).toBe(true);
    expect(t[16]).toBe(0xee);
    expect(t[4017]).toBe(0xee);
    expect(t[2 * MiB + 1003]).toBe(0xee);
  });

  it("a target smaller than the source is an InputError and the target is untouched", async () => {
    const source = path.join(dir, "source.img");
    const target = path.join(dir, "target.img");
    mixedImage(source, 2 * MiB);
    fs.writeFileSync(target, Buffer.alloc(MiB, 0x55));
    const before = sha(target);
    await expect(sync({ source, target })).rejects.toThrow(/target disk is smaller than the source disk/);
    await expect(sync({ source, target })).rejects.toBeInstanceOf(InputError);
    expect(sha(target)).toBe(before);
  });

  it("a bitmap on a local file is refused", async () => {
    const source = path.join(dir, "source.img");
    mixedImage(source, MiB);
    await expect(sync({ source, target: path.join(dir, "t.img"), changed: "bitmap:b0" })).rejects.toThrow(/does not export qemu:dirty-bitmap:b0/);
    expect(fs.existsSync(path.join(dir, "t.img"))).toBe(false);
  });
});

describe("rehost sync and rehost verify", () => {
  it("--json ends with the counters; verify exits 0 when equal and 1 when different", async () => {
    const source = path.join(dir, "source.img");
    const target = path.join(dir, "target.img");
    mixedImage(source, 5 * MiB + 1);
    const run = await rehost("sync", source, target, "--json", "--bandwidth", "1G");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = events(run.stdout);
    const last = lines[lines.length - 1];
    expect(last).toMatchObject({ event: "done", bytesRead: 5 * MiB + 1 });
    for (const key of ["bytesRead", "bytesWritten", "bytesZeroed", "seconds"]) expect(typeof last[key]).toBe("number");
    expect(lines.some((l) => l.event === "progress" && l.phase === "copy")).toBe(true);

    const equal = await rehost("verify", source, target, "--json");
    expect(equal.code).toBe(0);
    const verdict = events(equal.stdout).pop() as { equal: boolean; source: { digest: string }; target: { digest: string } };
    expect(verdict.equal).toBe(true);
    expect(verdict.source.digest).toBe(scriptDigest(source));

    const fd = fs.openSync(target, "r+");
    fs.writeSync(fd, Buffer.from([1]), 0, 1, 5 * MiB);
    fs.closeSync(fd);
    const different = await rehost("verify", source, target);
    expect(different.code).toBe(1);
    expect(different.stdout).toContain(scriptDigest(target));
    expect(different.stderr).toMatch(/differ/);
  });

  it("bad input exits 2 with one line naming what and where, writing nothing", async () => {
    const source = path.join(dir, "source.img");
    mixedImage(source, MiB);
    const target = path.join(dir, "never.img");
    // Through the library: every mistake is an InputError with one problem naming it (the field, not a flag).
    const cases: Array<[Parameters<typeof sync>[0], RegExp]> = [
      [{ source, target, changed: "sometimes" as never }, /field changed: .*not known/],
      [{ source: path.join(dir, "missing.img"), target }, /missing\.img: The disk does not exist/],
      [{ source: "http://example.invalid/disk", target }, /URI scheme is not supported/],
      [{ source, target, connections: 0 }, /field connections: The number of connections is out of range/],
      [{ source, target, bandwidth: -1 }, /field bandwidth: /],
      [{ source, target, changed: `extents:${path.join(dir, "nope.json")}` }, /nope\.json.*cannot be read/],
    ];
    for (const [options, message] of cases) {
      const error = await sync(options).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).problems).toHaveLength(1);
      expect((error as InputError).message).toMatch(message);
      expect(fs.existsSync(target)).toBe(false);
    }
    // Through the CLI: exit 2, one line on stderr naming the flag.
    const runs = await Promise.all([
      rehost("sync", source, target, "--bandwidth", "lots"),
      rehost("sync", path.join(dir, "missing.img"), target),
      rehost("sync", source, target, "--changed", "sometimes"),
      rehost("sync", source, target, "--connections", "0"),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(2);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
    }
    expect(runs[0].stderr).toMatch(/--bandwidth.*"lots"/);
    expect(runs[1].stderr).toMatch(/missing\.img/);
    expect(runs[2].stderr).toMatch(/field --changed: The extent source "sometimes" is not known/);
    expect(runs[3].stderr).toMatch(/field --connections: The number of connections is out of range \(received 0; expected an integer from 1 to 16\)/);
    expect(fs.existsSync(target)).toBe(false);
  });
});
