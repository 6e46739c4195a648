/**
 * NBD client read throughput against `nbdcopy SRC null:` on the same qemu-nbd export, same run.
 *
 * A 1 GiB raw image of random data (no holes, so nbdcopy cannot skip anything) is served by
 * qemu-nbd on a unix socket; the client reads it whole with N requests of S bytes in flight into
 * a fixed pool of buffers, for several (N, S); nbdcopy reads it with its defaults and with the same
 * N and S on one connection and one thread. Runs alternate between the two readers and each
 * figure is the best of REHOST_BENCH_RUNS runs (default 5), so that both see the same machine load;
 * the CPU time of each reader is printed too, as it depends less on that load. Set
 * REHOST_BENCH_SIZE (MiB) for another image size.
 */
import { execFile } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { connectNbd, connectNbdMulti } from "../lib/replication/nbd";
import { makePskFile, startNbdkit, startQemuNbd, tempDir, withQuery } from "../test/helpers/nbd-servers";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const size = Number(process.env.REHOST_BENCH_SIZE ?? 1024) * MiB;
const runs = Number(process.env.REHOST_BENCH_RUNS ?? 5);

interface Sample {
  /** Wall-clock seconds. */
  readonly seconds: number;
  /** CPU seconds (user + system) of the reading process. */
  readonly cpu: number;
}

async function clientRead(uri: string, inFlight: number, requestSize: number, connections = 1): Promise<Sample> {
  const client = connections === 1 ? await connectNbd(uri, { readOnly: true }) : await connectNbdMulti(uri, { readOnly: true, connections });
  const pool = Array.from({ length: inFlight }, () => Buffer.allocUnsafe(requestSize));
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  let next = 0;
  const worker = async (buffer: Buffer): Promise<void> => {
    while (next < client.size) {
      const offset = next;
      const length = Math.min(requestSize, client.size - offset);
      next += length;
      await client.read(offset, length, buffer);
    }
  };
  await Promise.all(pool.map(worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  await client.close();
  return { seconds, cpu: (cpu.user + cpu.system) / 1e6 };
}

/** Runs nbdcopy under bash, whose `times` reports the CPU time of its children. */
async function nbdcopyRead(uri: string, args: string[]): Promise<Sample> {
  const start = process.hrtime.bigint();
  const { stdout } = await run("bash", ["-c", 'nbdcopy "$@" >/dev/null && times', "bash", ...args, uri, "null:"]);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const lines = stdout.trim().split("\n");
  const [user, system] = lines[lines.length - 1].split(/\s+/).map(minutesSeconds);
  return { seconds, cpu: user + system };
}

function minutesSeconds(text: string): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
}

/** Best (shortest) samples of `ours` and `peer`, run alternately so that both see the same load. */
async function bestOf(ours: () => Promise<Sample>, peer: () => Promise<Sample>): Promise<[Sample, Sample]> {
  let a: Sample = { seconds: Infinity, cpu: Infinity };
  let b: Sample = { seconds: Infinity, cpu: Infinity };
  for (let i = 0; i < runs; i++) {
    const x = await ours();
    const y = await peer();
    if (x.seconds < a.seconds) a = x;
    if (y.seconds < b.seconds) b = y;
  }
  return [a, b];
}

async function main(): Promise<void> {
  const dir = tempDir("rehost-bench-nbd-");
  const image = path.join(dir, "disk.raw");
  const chunk = crypto.randomBytes(16 * MiB);
  const fd = fs.openSync(image, "w");
  for (let off = 0; off < size; off += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, size - off), off);
  fs.closeSync(fd);
  const server = await startQemuNbd({ dir, image, format: "raw", readOnly: true, shared: 8 });
  const gib = size / (1024 * MiB);
  const rate = (s: number): string => `${(size / MiB / s).toFixed(0)} MiB/s`;
  try {
    // Warm the page cache so that every reader sees the same disk.
    await nbdcopyRead(server.uri, []);
    console.log(`image ${gib} GiB random data, qemu-nbd raw on a unix socket, best of ${runs} alternate runs; cpu = CPU seconds of the reader`);
    for (const [inFlight, requestSize] of [
      [16, 256 * 1024],
      [64, 256 * 1024],
      [16, MiB],
      [8, 2 * MiB],
    ]) {
      const [ours, peer] = await bestOf(
        () => clientRead(server.uri, inFlight, requestSize),
        () => nbdcopyRead(server.uri, [`--requests=${inFlight}`, `--request-size=${requestSize}`, "--connections=1", "--threads=1"]),
      );
      const label = `${inFlight} x ${requestSize / 1024} KiB`;
      console.log(
        `${label.padEnd(14)} rehost ${ours.seconds.toFixed(3)} s ${rate(ours.seconds).padStart(11)} cpu ${ours.cpu.toFixed(2)} s | ` +
          `nbdcopy 1 thread ${peer.seconds.toFixed(3)} s ${rate(peer.seconds).padStart(11)} cpu ${peer.cpu.toFixed(2)} s | ` +
          `speed ${(peer.seconds / ours.seconds).toFixed(2)}x, cpu ${(peer.cpu / ours.cpu).toFixed(2)}x`,
      );
    }
    // nbdcopy's defaults: 4 connections (qemu-nbd --shared=8 allows multi-conn), 64 x 256 KiB, several threads.
    for (const connections of [1, 4]) {
      const [ours, peer] = await bestOf(
        () => clientRead(server.uri, 64, 256 * 1024, connections),
        () => nbdcopyRead(server.uri, []),
      );
      console.log(
        `64 x 256 KiB   rehost ${connections} conn ${ours.seconds.toFixed(3)} s ${rate(ours.seconds)} cpu ${ours.cpu.toFixed(2)} s | ` +
          `nbdcopy defaults ${peer.seconds.toFixed(3)} s ${rate(peer.seconds)} cpu ${peer.cpu.toFixed(2)} s | speed ${(peer.seconds / ours.seconds).toFixed(2)}x`,
      );
    }

    // TLS-PSK: nbdkit's file plugin over the same image.
    const keys = await makePskFile(dir, "rehost");
    const tlsServer = await startNbdkit({ dir, tlsPsk: keys, readOnly: true, plugin: ["file", image] });
    try {
      const uri = withQuery(tlsServer.uri.replace("nbds+unix://", "nbds+unix://rehost@"), { "tls-psk-file": keys });
      console.log("TLS-PSK (PSK-AES256-GCM-SHA384), nbdkit file plugin on a unix socket");
      for (const [label, args] of [
        ["nbdcopy 1 conn, 1 thread", ["--requests=16", `--request-size=${256 * 1024}`, "--connections=1", "--threads=1"]],
        ["nbdcopy defaults", []],
      ] as const) {
        const [ours, peer] = await bestOf(
          () => clientRead(uri, 16, 256 * 1024),
          () => nbdcopyRead(uri, [...args]),
        );
        console.log(
          `16 x 256 KiB   rehost ${ours.seconds.toFixed(3)} s ${rate(ours.seconds).padStart(11)} cpu ${ours.cpu.toFixed(2)} s | ` +
            `${label} ${peer.seconds.toFixed(3)} s ${rate(peer.seconds).padStart(11)} cpu ${peer.cpu.toFixed(2)} s | speed ${(peer.seconds / ours.seconds).toFixed(2)}x`,
        );
      }
    } finally {
      await tlsServer.stop();
    }
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
