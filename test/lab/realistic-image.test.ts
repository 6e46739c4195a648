import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRealisticImage, DATABASE_PAGE_BYTES, databaseBytes, type RealisticImage } from "../../lib/lab/realistic-image";
import { BlockCompressor } from "../../lib/link/codec";
import { removeDir, tempDir } from "../helpers/tmp";

const MiB = 1024 * 1024;

describe("realistic image", () => {
  let dir: string;
  let image: RealisticImage;
  const fsArg = (): string => `${image.file}?offset=${MiB}`;
  const debugfs = (request: string): string =>
    execFileSync("debugfs", ["-R", request, fsArg()], { encoding: "latin1", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 256 * MiB });

  beforeAll(async () => {
    dir = tempDir("rehost-realistic-");
    image = await buildRealisticImage({
      file: path.join(dir, "disk.raw"),
      sizeBytes: 128 * MiB,
      usrBytes: 40 * MiB,
      databaseBytes: 24 * MiB,
      randomBytes: 12 * MiB,
      seed: 5,
    });
  }, 120_000);

  afterAll(() => removeDir(dir));

  it("is a partitioned disk with a clean ext4 holding /usr files, the database file and the random file", () => {
    expect(fs.statSync(image.file).size).toBe(128 * MiB);
    const mbr = Buffer.alloc(512);
    const fd = fs.openSync(image.file, "r");
    fs.readSync(fd, mbr, 0, 512, 0);
    fs.closeSync(fd);
    expect(mbr.readUInt16LE(510)).toBe(0xaa55);
    expect(mbr[446 + 4]).toBe(0x83);
    execFileSync("e2fsck", ["-fn", fsArg()], { stdio: "pipe" });
    expect(image.usr.bytes).toBeGreaterThan(38 * MiB);
    expect(image.usr.bytes).toBeLessThanOrEqual(40 * MiB);
    expect(image.usr.files).toBeGreaterThan(50);
    expect(debugfs("stat /var/lib/db/orders.heap")).toContain(`Size: ${24 * MiB}`);
    expect(debugfs("stat /srv/archive/backup.tar.zst")).toContain(`Size: ${12 * MiB}`);
  });

  it("holds real files of /usr, byte for byte", () => {
    const out = path.join(dir, "dump");
    fs.mkdirSync(out);
    execFileSync("debugfs", ["-R", `rdump /usr ${out}`, fsArg()], { stdio: "pipe" });
    const files = (fs.readdirSync(path.join(out, "usr"), { recursive: true }) as string[]).filter((f) => fs.lstatSync(path.join(out, "usr", f)).isFile());
    expect(files).toHaveLength(image.usr.files);
    let bytes = 0;
    for (const f of files) {
      const copy = fs.readFileSync(path.join(out, "usr", f));
      expect(copy.equals(fs.readFileSync(path.join("/usr", f))), f).toBe(true);
      bytes += copy.length;
    }
    expect(bytes).toBe(image.usr.bytes);
  });

  it("leaves the rest of the disk as zero ranges and mixes compressible and incompressible data", () => {
    expect(image.dataBytes).toBeGreaterThanOrEqual(image.usr.bytes + image.databaseBytes + image.randomBytes);
    expect(image.dataBytes).toBeLessThan(image.sizeBytes * 0.75);
    const compressor = new BlockCompressor();
    const db = databaseBytes(4 * MiB, 5);
    const packed = compressor.encode(db).payload.length;
    expect(db.length / packed).toBeGreaterThan(2.5);
    const random = Buffer.from(debugfs("cat /srv/archive/backup.tar.zst"), "latin1").subarray(0, 4 * MiB);
    expect(random.length).toBe(4 * MiB);
    expect(compressor.encode(random).payload).toBe(random);
  });

  it("database pages are deterministic per seed, with headers, rows and free space", () => {
    const a = databaseBytes(64 * 1024, 9);
    expect(a.equals(databaseBytes(64 * 1024, 9))).toBe(true);
    expect(a.equals(databaseBytes(64 * 1024, 10))).toBe(false);
    for (let p = 0; p < a.length / DATABASE_PAGE_BYTES; p++) {
      const page = a.subarray(p * DATABASE_PAGE_BYTES, (p + 1) * DATABASE_PAGE_BYTES);
      const lower = page.readUInt16LE(12);
      const upper = page.readUInt16LE(14);
      expect(lower).toBeGreaterThan(24);
      expect(upper).toBeGreaterThan(lower);
      expect(page.subarray(lower, upper).every((b) => b === 0)).toBe(true);
      expect(page.subarray(upper).toString("latin1")).toMatch(/@example\.com/);
    }
  });

  it("refuses contents that do not fit, before writing anything", async () => {
    const file = path.join(dir, "too-small.raw");
    await expect(buildRealisticImage({ file, sizeBytes: 64 * MiB, usrBytes: 60 * MiB })).rejects.toThrow(/85 % of the filesystem/);
    await expect(buildRealisticImage({ file, sizeBytes: 10 * MiB })).rejects.toThrow(/at least 64 MiB/);
    expect(fs.existsSync(file)).toBe(false);
  });
});
