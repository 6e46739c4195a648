/**
 * Disk images for tests: raw files of random data, sparse files with data at chosen MiB chunks,
 * empty (all-hole) targets, qcow2 images and copy-on-write overlays made with qemu-img, writes
 * into a qcow2 through qemu-io, a byte pattern that names its own offset, and a file's SHA-256.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";

const MiB = 1024 * 1024;

/** Writes `size` random bytes to `file` (a raw image) and returns them. */
export function randomImage(file: string, size: number): Buffer {
  const data = randomBytes(size);
  fs.writeFileSync(file, data);
  return data;
}

/** Creates `file` as a sparse image of `size` bytes that reads as zeroes (a hole throughout). */
export function emptyImage(file: string, size: number): string {
  fs.writeFileSync(file, "");
  fs.truncateSync(file, size);
  return file;
}

/** A sparse raw image of `size` bytes: random data in the 1 MiB chunks numbered `dataChunks`, holes elsewhere. */
export function sparseImage(file: string, size: number, dataChunks: readonly number[]): string {
  emptyImage(file, size);
  const fd = fs.openSync(file, "r+");
  try {
    for (const chunk of dataChunks) {
      const length = Math.min(MiB, size - chunk * MiB);
      fs.writeSync(fd, randomBytes(length), 0, length, chunk * MiB);
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/** `length` bytes of the pattern whose byte at `offset` is `offset % 251`: a misplaced range shows. */
export function offsetPattern(offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
  return b;
}

/** Creates an empty qcow2 image of `size` (qemu-img's notation, e.g. `8M`). */
export function qcow2Image(file: string, size: string): string {
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", file, size], { stdio: ["ignore", "ignore", "pipe"] });
  return file;
}

/** Creates `file`, a qcow2 overlay on `backing` (of format `backingFormat`): writes to it leave `backing` as it was. */
export function qcow2Overlay(file: string, backing: string, backingFormat: "raw" | "qcow2"): string {
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", backing, "-F", backingFormat, file], { stdio: ["ignore", "ignore", "pipe"] });
  return file;
}

/** Runs qemu-io `commands` (e.g. `write -P 0xab 0 1M`) against the qcow2 `image`. */
export function qemuIo(image: string, ...commands: string[]): void {
  execFileSync("qemu-io", ["-f", "qcow2", ...commands.flatMap((c) => ["-c", c]), image]);
}

/** The SHA-256 of a whole file, in hex. */
export function fileSha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}
