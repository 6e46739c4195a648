/**
 * The link's codec (`lib/link/codec.ts`) on realistic data: a 512 MiB image from
 * `lib/lab/realistic-image.ts` (files of this machine's /usr, a database-like file, random data,
 * zero ranges) cut into 1 MiB blocks, the all-zero blocks left out (they cross the link as ZERO
 * frames). Per codec and level: ratio, compression and decompression speed (MB/s of uncompressed
 * bytes per CPU second of this process, and per wall second; best of 2), and the same on 64 MiB
 * of random data, where the probe must make compression cost next to nothing.
 *
 * Peers measured in the same run: node:zlib's brotli and deflate (built into Node 20, which has
 * no zstd), zstd-napi without the probe. Other npm codecs are measured too when
 * REHOST_CODEC_CANDIDATES names a node_modules folder holding them (@toondepauw/node-zstd,
 * @mongodb-js/zstd, lz4-napi); they are not dependencies of rehost.
 *
 * The last line is one JSON object of the chosen configuration's figures.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as zstd from "zstd-napi/binding";
import { BlockCompressor, BlockDecompressor, DEFAULT_LEVEL, zstdVersion } from "../lib/link/codec";
import { Codec, rangeHash } from "../lib/link/frames";
import { buildRealisticImage } from "../lib/lab/realistic-image";
import { tempDir } from "../test/helpers/tmp";

const MiB = 1024 * 1024;
const BLOCK = MiB;

type Encode = (block: Buffer) => Buffer | Promise<Buffer>;
type Decode = (payload: Buffer, length: number) => Buffer | Promise<Buffer>;
interface Candidate {
  readonly name: string;
  /** Returns the payload; a payload as long as the block means "sent raw". */
  readonly make: () => { encode: Encode; decode: Decode };
}

interface Figures {
  name: string;
  ratio: number;
  compressCpu: number;
  compressWall: number;
  decompressCpu: number;
  decompressWall: number;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

async function measure(candidate: Candidate, blocks: readonly Buffer[]): Promise<Figures> {
  const total = blocks.reduce((s, b) => s + b.length, 0);
  let best: Figures | undefined;
  for (let run = 0; run < 2; run++) {
    const { encode, decode } = candidate.make();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const payloads: Buffer[] = [];
    for (const b of blocks) payloads.push(await encode(b));
    const t1 = performance.now();
    const cCpu = cpuSeconds(cpu0);
    const cpu1 = process.cpuUsage();
    for (let i = 0; i < blocks.length; i++) {
      const p = payloads[i];
      const out = p.length === blocks[i].length ? p : await decode(p, blocks[i].length);
      if (out.length !== blocks[i].length) throw new Error(`${candidate.name} decoded ${out.length} bytes of a ${blocks[i].length}-byte block`);
    }
    const t2 = performance.now();
    const dCpu = cpuSeconds(cpu1);
    for (let i = 0; i < blocks.length; i += 37) {
      const p = payloads[i];
      const out = p.length === blocks[i].length ? p : await decode(p, blocks[i].length);
      if (!out.equals(blocks[i])) throw new Error(`${candidate.name} did not round-trip block ${i}`);
    }
    const sent = payloads.reduce((s, p) => s + p.length, 0);
    const f: Figures = {
      name: candidate.name,
      ratio: total / sent,
      compressCpu: total / 1e6 / cCpu,
      compressWall: total / 1e6 / ((t1 - t0) / 1000),
      decompressCpu: total / 1e6 / Math.max(dCpu, 1e-6),
      decompressWall: total / 1e6 / ((t2 - t1) / 1000),
    };
    if (best === undefined || f.compressWall > best.compressWall)
      best = {
        ...f,
        decompressCpu: Math.max(f.decompressCpu, best?.decompressCpu ?? 0),
        decompressWall: Math.max(f.decompressWall, best?.decompressWall ?? 0),
      };
  }
  return best!;
}

function rehost(level: number, probe = true): Candidate {
  return {
    name: `rehost zstd ${level}${probe ? "" : ", no probe"}`,
    make: () => {
      const c = new BlockCompressor({ level, probe });
      const d = new BlockDecompressor();
      return { encode: (b) => c.encode(b).payload, decode: (p, n) => d.decode(Codec.Zstd, p, n) };
    },
  };
}

const builtIns: Candidate[] = [
  {
    name: "node:zlib brotli q1",
    make: () => ({
      encode: (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length } }),
      decode: (p) => zlib.brotliDecompressSync(p),
    }),
  },
  {
    name: "node:zlib brotli q4",
    make: () => ({
      encode: (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length } }),
      decode: (p) => zlib.brotliDecompressSync(p),
    }),
  },
  { name: "node:zlib deflate 1", make: () => ({ encode: (b) => zlib.deflateRawSync(b, { level: 1 }), decode: (p) => zlib.inflateRawSync(p) }) },
];

function extraCandidates(): Candidate[] {
  const dir = process.env.REHOST_CODEC_CANDIDATES;
  if (dir === undefined) return [];
  const req = createRequire(path.join(path.resolve(dir), "x.js"));
  const out: Candidate[] = [];
  const tryLoad = (name: string, build: (mod: any) => Candidate[]): void => {
    try {
      out.push(...build(req(name)));
    } catch (err) {
      console.log(`(${name} not measured: ${(err as Error).message.split("\n")[0]})`);
    }
  };
  tryLoad("@toondepauw/node-zstd", (m) =>
    [1, 3].map((level) => ({
      name: `@toondepauw/node-zstd ${level}`,
      make: () => {
        const e = new m.Encoder(level);
        const d = new m.Decoder();
        return { encode: (b: Buffer) => e.encodeSync(b), decode: (p: Buffer) => d.decodeSync(p) };
      },
    })),
  );
  tryLoad("@mongodb-js/zstd", (m) =>
    [1, 3].map((level) => ({
      name: `@mongodb-js/zstd ${level} (async)`,
      make: () => ({ encode: (b: Buffer) => m.compress(b, level), decode: (p: Buffer) => m.decompress(p) }),
    })),
  );
  tryLoad("lz4-napi", (m) => [{ name: "lz4-napi", make: () => ({ encode: (b: Buffer) => m.compressSync(b), decode: (p: Buffer) => m.uncompressSync(p) }) }]);
  return out;
}

function row(f: Figures): string {
  return `| ${f.name} | ${f.ratio.toFixed(2)} | ${f.compressCpu.toFixed(0)} | ${f.compressWall.toFixed(0)} | ${f.decompressCpu.toFixed(0)} | ${f.decompressWall.toFixed(0)} |`;
}

async function main(): Promise<void> {
  const dir = tempDir("rehost-bench-codec-");
  try {
    const image = await buildRealisticImage({ file: path.join(dir, "realistic.raw"), sizeBytes: 512 * MiB, work: dir });
    const bytes = fs.readFileSync(image.file);
    const blocks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += BLOCK) {
      const b = bytes.subarray(at, at + BLOCK);
      if (b.some((x) => x !== 0)) blocks.push(b);
    }
    const random = Array.from({ length: 64 }, () => crypto.randomBytes(BLOCK));
    console.log(
      `zstd ${zstdVersion()}; image: ${image.usr.files} files (${(image.usr.bytes / MiB).toFixed(0)} MiB) of /usr, ${(image.databaseBytes / MiB).toFixed(0)} MiB database pages, ${(image.randomBytes / MiB).toFixed(0)} MiB random; ${blocks.length} non-zero 1 MiB blocks`,
    );

    // sha256 of every block: what the proxy pays per byte whatever the codec.
    const cpuHash = process.cpuUsage();
    for (const b of blocks) rangeHash(b);
    const sha256 = (blocks.length * BLOCK) / 1e6 / cpuSeconds(cpuHash);

    const candidates = [rehost(-3), rehost(DEFAULT_LEVEL), rehost(3), rehost(6), rehost(DEFAULT_LEVEL, false), ...builtIns, ...extraCandidates()];
    console.log("\nRealistic image (MB/s of uncompressed bytes; cpu = per CPU second, wall = per second)\n");
    console.log("| codec | ratio | compress cpu | compress wall | decompress cpu | decompress wall |\n| --- | --- | --- | --- | --- | --- |");
    const results = new Map<string, Figures>();
    for (const c of candidates) {
      const f = await measure(c, blocks);
      results.set(c.name, f);
      console.log(row(f));
    }

    console.log("\nRandom data, 64 × 1 MiB\n");
    console.log("| codec | ratio | compress cpu | compress wall | decompress cpu | decompress wall |\n| --- | --- | --- | --- | --- | --- |");
    const randomProbe = await measure(rehost(DEFAULT_LEVEL), random);
    const randomNoProbe = await measure(rehost(DEFAULT_LEVEL, false), random);
    console.log(row(randomProbe));
    console.log(row(randomNoProbe));

    // What the probe gives up on the realistic image: blocks it sends raw that would have compressed.
    const probed = new BlockCompressor();
    const full = new BlockCompressor({ probe: false });
    let lost = 0;
    for (const b of blocks) {
      const p = probed.encode(b).payload.length;
      const q = full.encode(b).payload.length;
      if (p > q) lost += p - q;
    }
    const chosen = results.get(`rehost zstd ${DEFAULT_LEVEL}`)!;
    console.log(
      `\nprobe: ${probed.stats.rawByProbe} of ${blocks.length} blocks sent raw by the probe (${(image.randomBytes / MiB).toFixed(0)} MiB are random); bytes it gave up: ${(lost / MiB).toFixed(2)} MiB (${((lost / probed.stats.bytesOut) * 100).toFixed(2)} % of the link bytes)`,
    );
    console.log(
      `sha256 of the blocks: ${sha256.toFixed(0)} MB/s per CPU second; level ${DEFAULT_LEVEL} + sha256 on one core: ${(1 / (1 / chosen.compressCpu + 1 / sha256)).toFixed(0)} MB/s of disk bytes, ${(1 / (1 / chosen.compressCpu + 1 / sha256) / chosen.ratio).toFixed(0)} MB/s on the link`,
    );
    console.log(
      JSON.stringify({
        level: DEFAULT_LEVEL,
        ratio: Number(chosen.ratio.toFixed(3)),
        compressMBps: Math.round(chosen.compressCpu),
        decompressMBps: Math.round(chosen.decompressCpu),
        randomCompressMBps: Math.round(randomProbe.compressCpu),
        randomNoProbeMBps: Math.round(randomNoProbe.compressCpu),
        vsBrotliQ1: Number((chosen.compressCpu / results.get("node:zlib brotli q1")!.compressCpu).toFixed(2)),
      }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void zstd; // the binding is loaded by lib/link/codec.ts; imported here so a missing build fails first
main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
