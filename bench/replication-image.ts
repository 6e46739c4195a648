/** Images for the replication benchmark: a mixed source disk, and a 1% dirty round on a qcow2. */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";

const CHUNK = 4 * 1024 * 1024;
const CLUSTER = 64 * 1024;

/** What `generateImage` wrote. */
export interface ImageLayout {
  readonly dataBytes: number;
  readonly zeroBytes: number;
  readonly holeBytes: number;
}

/**
 * Writes a raw image of `size` bytes in 4 MiB chunks: of every 8 chunks, 5 are random data, 1 is
 * written zeroes (allocated), 2 are holes. Random chunks are slices of a 64 MiB random pool, each
 * stamped with its index, so no two are equal.
 */
export function generateImage(file: string, size: number): ImageLayout {
  const pool = randomBytes(64 * 1024 * 1024);
  const zero = Buffer.alloc(CHUNK);
  const fd = fs.openSync(file, "w");
  let dataBytes = 0;
  let zeroBytes = 0;
  try {
    fs.ftruncateSync(fd, size);
    for (let index = 0, at = 0; at < size; index++, at += CHUNK) {
      const length = Math.min(CHUNK, size - at);
      const kind = index % 8;
      if (kind === 3) {
        fs.writeSync(fd, zero, 0, length, at);
        zeroBytes += length;
      } else if (kind !== 6 && kind !== 7) {
        const start = (index * 7919 * 4096) % (pool.length - CHUNK);
        const chunk = pool.subarray(start, start + length);
        chunk.writeUInt32LE(index, 0);
        fs.writeSync(fd, chunk, 0, length, at);
        dataBytes += length;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return { dataBytes, zeroBytes, holeBytes: size - dataBytes - zeroBytes };
}

/**
 * Dirties `fraction` of a qcow2 image (with an enabled persistent bitmap) in whole 64 KiB clusters
 * at random places, with qemu-io; returns the dirty bytes.
 */
export function dirtyImage(qcow2: string, size: number, fraction: number): number {
  const clusters = Math.floor(size / CLUSTER);
  const wanted = Math.round((size * fraction) / CLUSTER);
  const chosen = new Set<number>();
  while (chosen.size < wanted) chosen.add(Math.floor(Math.random() * clusters));
  const commands = [...chosen].sort((a, b) => a - b).flatMap((c, i) => ["-c", `write -P ${(i % 250) + 1} ${c * CLUSTER} ${CLUSTER}`]);
  execFileSync("qemu-io", ["-f", "qcow2", ...commands, qcow2], { stdio: "ignore", maxBuffer: 64 * 1024 * 1024 });
  return chosen.size * CLUSTER;
}
