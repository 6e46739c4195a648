import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { NBD_STATE_ZERO } from "../../lib/replication/device";
import { NbdClient, NbdError, connectNbd, connectNbdMulti } from "../../lib/replication/nbd";
import { NbdServer, NbdkitOptions, startNbdkit } from "../helpers/nbd-servers";
import { serverScope } from "../helpers/scopes";

const MiB = 1024 * 1024;

describe("NBD client against nbdkit", () => {
  const scope = serverScope();

  async function serve(options: Omit<NbdkitOptions, "dir">): Promise<NbdServer> {
    return scope.server(await startNbdkit({ dir: scope.dir, ...options }));
  }
  async function connect(uri: string, options?: Parameters<typeof connectNbd>[1]): Promise<NbdClient> {
    return scope.client(await connectNbd(uri, options));
  }
  /** Read requests a `log` filter saw in flight at once, at most. */
  function maxReadsInFlight(logFile: string): { max: number; counts: number[] } {
    let open = 0;
    let max = 0;
    const counts: number[] = [];
    for (const line of fs.readFileSync(logFile, "utf8").split("\n")) {
      const start = / Read id=\d+ offset=0x[0-9a-f]+ count=(0x[0-9a-f]+)/.exec(line);
      if (start) {
        counts.push(Number(start[1]));
        max = Math.max(max, ++open);
      } else if (/ \.\.\.Read id=\d+/.test(line)) open--;
    }
    return { max, counts };
  }

  it("reports multi-conn, and two connections to the memory plugin see one disk", async () => {
    const server = await serve({ plugin: ["memory", "8M"] });
    const a = await connect(server.uri);
    const b = await connect(server.uri);
    expect(a.caps.canMultiConn).toBe(true);
    const data = crypto.randomBytes(2 * MiB);
    await a.write(MiB, data);
    await a.flush();
    expect((await b.read(MiB, 2 * MiB)).equals(data)).toBe(true);
  });

  it("spreads requests over several connections when the server allows multi-conn", async () => {
    const logFile = path.join(scope.dir, "multi.log");
    const server = await serve({ filters: ["log"], plugin: ["memory", "8M", `logfile=${logFile}`] });
    const multi = await connectNbdMulti(server.uri, { connections: 4 });
    expect(multi.connections.length).toBe(4);
    const data = crypto.randomBytes(8 * MiB);
    await Promise.all(Array.from({ length: 32 }, (_, i) => multi.write(i * 256 * 1024, data.subarray(i * 256 * 1024, (i + 1) * 256 * 1024))));
    await multi.flush();
    const reads = Array.from({ length: 32 }, (_, i) => multi.read(i * 256 * 1024, 256 * 1024));
    expect(multi.connections.every((c) => c.inFlight === 8)).toBe(true);
    expect(Buffer.concat(await Promise.all(reads)).equals(data)).toBe(true);
    await multi.close();
    const writers = new Set([...fs.readFileSync(logFile, "utf8").matchAll(/connection=(\d+) Write /g)].map((m) => m[1]));
    expect(writers.size).toBe(4);
  });

  it("keeps a model through 25 rounds of 20 pipelined writes, zeroes and reads of random sizes", async () => {
    const size = 4 * MiB;
    const server = await serve({ plugin: ["memory", String(size)] });
    const client = await connect(server.uri);
    const model = Buffer.alloc(size);
    // Deterministic pseudo-random sequence, so a failure can be replayed.
    let seed = 12345;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 25; round++) {
      // NBD does not order requests in flight: the ranges of one round do not overlap.
      const ranges: Array<[number, number]> = [];
      while (ranges.length < 20) {
        const offset = next(size - 1);
        const length = 1 + next(Math.min(size - offset, 150_000));
        if (ranges.every(([o, l]) => offset + length <= o || o + l <= offset)) ranges.push([offset, length]);
      }
      const ops: Array<Promise<unknown>> = [];
      for (const [offset, length] of ranges) {
        const kind = next(3);
        if (kind === 0) {
          const data = crypto.randomBytes(length);
          ops.push(client.write(offset, data));
          data.copy(model, offset);
        } else if (kind === 1) {
          ops.push(client.writeZeroes(offset, length, { noHole: next(2) === 1 }));
          model.fill(0, offset, offset + length);
        } else {
          const expected = Buffer.from(model.subarray(offset, offset + length));
          ops.push(client.read(offset, length).then((got) => expect(got.equals(expected)).toBe(true)));
        }
      }
      expect(client.inFlight).toBeGreaterThanOrEqual(20);
      await Promise.all(ops);
    }
    expect((await client.read(0, size)).equals(model)).toBe(true);
  });

  it("serves an export whose size is not a multiple of 4096, with block status to its last byte", async () => {
    const size = 5 * MiB + 1000;
    const file = path.join(scope.dir, "odd.img");
    const content = crypto.randomBytes(size);
    content.fill(0, 2 * MiB, 3 * MiB);
    fs.writeFileSync(file, content);
    const server = await serve({ plugin: ["file", file] });
    const client = await connect(server.uri, { metaContexts: ["base:allocation"] });
    expect(client.size).toBe(size);
    expect((await client.read(size - 3000, 3000)).equals(content.subarray(size - 3000))).toBe(true);
    await client.writeZeroes(size - 1000, 1000);
    expect((await client.read(size - 1000, 1000)).equals(Buffer.alloc(1000))).toBe(true);
    const extents = await client.blockStatus("base:allocation", size - 5000, 5000);
    expect(extents[0].offset).toBe(size - 5000);
    const last = extents[extents.length - 1];
    expect(last.offset + last.length).toBe(size);
    await client.close();
    expect(
      fs
        .readFileSync(file)
        .subarray(size - 1000)
        .equals(Buffer.alloc(1000)),
    ).toBe(true);
  });

  it.each([
    ["pread", "EIO", "READ"],
    ["pwrite", "ENOSPC", "WRITE"],
    ["zero", "EPERM", "WRITE_ZEROES"],
    ["trim", "EIO", "TRIM"],
  ])("surfaces an injected %s error %s with the command, offset, length and server", async (op, code, command) => {
    const trigger = path.join(scope.dir, `inject-${op}`);
    const server = await serve({ filters: ["error"], plugin: ["memory", "4M", `error-${op}=${code}`, `error-${op}-rate=100%`, `error-${op}-file=${trigger}`] });
    const client = await connect(server.uri);
    const call = (): Promise<unknown> =>
      command === "READ"
        ? client.read(65536, 8192)
        : command === "WRITE"
          ? client.write(65536, Buffer.alloc(8192, 1))
          : command === "WRITE_ZEROES"
            ? client.writeZeroes(65536, 8192)
            : client.trim(65536, 8192);
    await call();
    fs.writeFileSync(trigger, "");
    const error = await call().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NbdError);
    expect(error).toMatchObject({ code, command, offset: 65536, length: 8192, server: server.uri });
    expect((error as Error).message).toContain(`NBD ${command} offset 65536 length 8192 on ${server.uri} failed: ${code}`);
    // The connection survives a failed command.
    fs.rmSync(trigger);
    await call();
  });

  it("surfaces errors sent as simple replies when structured replies are off (--no-sr)", async () => {
    const trigger = path.join(scope.dir, "inject-simple");
    const server = await serve({
      extraArgs: ["--no-sr"],
      filters: ["error"],
      plugin: ["memory", "4M", "error-pread=EIO", "error-pread-rate=100%", `error-pread-file=${trigger}`],
    });
    const client = await connect(server.uri);
    expect(client.structuredReplies).toBe(false);
    const data = crypto.randomBytes(3 * MiB);
    await client.write(0, data);
    const parts = await Promise.all([client.read(0, MiB), client.read(MiB, MiB), client.read(2 * MiB, MiB)]);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    fs.writeFileSync(trigger, "");
    await expect(client.read(4096, 4096)).rejects.toMatchObject({ code: "EIO", command: "READ", offset: 4096, length: 4096 });
    fs.rmSync(trigger);
    expect((await client.read(0, 4096)).equals(data.subarray(0, 4096))).toBe(true);
    await expect(connectNbd(server.uri, { metaContexts: ["base:allocation"] })).rejects.toMatchObject({ code: "ENOCONTEXT" });
  });

  it("keeps many requests in flight at the server at once (delay filter, seen by the log filter)", async () => {
    const logFile = path.join(scope.dir, "delay.log");
    const server = await serve({ filters: ["log", "delay"], plugin: ["memory", "4M", `logfile=${logFile}`, "delay-read=100ms"] });
    const client = await connect(server.uri);
    await Promise.all(Array.from({ length: 16 }, (_, i) => client.read(i * 65536, 65536)));
    await client.close();
    expect(maxReadsInFlight(logFile).max).toBeGreaterThanOrEqual(8);
  });

  it("honours the server's block-size constraints: splits long requests, refuses unaligned ones", async () => {
    const logFile = path.join(scope.dir, "blocksize.log");
    const server = await serve({
      filters: ["log", "blocksize-policy"],
      plugin: [
        "memory",
        "4M",
        `logfile=${logFile}`,
        "blocksize-minimum=512",
        "blocksize-preferred=8192",
        "blocksize-maximum=65536",
        "blocksize-error-policy=error",
      ],
    });
    const client = await connect(server.uri);
    expect([client.caps.minimumBlockSize, client.caps.preferredBlockSize, client.caps.maximumBlockSize]).toEqual([512, 8192, 65536]);
    const data = crypto.randomBytes(MiB);
    await client.write(0, data);
    expect((await client.read(0, MiB)).equals(data)).toBe(true);
    await expect(client.read(100, 512)).rejects.toMatchObject({ code: "EINVAL", command: "READ", offset: 100, length: 512 });
    await expect(client.write(0, Buffer.alloc(700))).rejects.toMatchObject({ code: "EINVAL", command: "WRITE" });
    await client.close();
    const { counts } = maxReadsInFlight(logFile);
    expect(counts.length).toBe(16);
    expect(counts.every((c) => c === 65536)).toBe(true);
  });

  it("zeroes fast where the server can, and falls back to writing zeroes where it cannot", async () => {
    const fast = await serve({ plugin: ["memory", "4M"] });
    const a = await connect(fast.uri, { metaContexts: ["base:allocation"] });
    expect(a.caps.canFastZero).toBe(true);
    await a.write(0, crypto.randomBytes(MiB));
    await a.writeZeroes(0, MiB, { fastZero: true });
    expect((await a.blockStatus("base:allocation", 0, MiB))[0].flags & NBD_STATE_ZERO).toBe(NBD_STATE_ZERO);

    const slow = await serve({ filters: ["nozero"], plugin: ["memory", "4M", "zeromode=none"] });
    const b = await connect(slow.uri);
    expect(b.caps.canWriteZeroes).toBe(false);
    await b.write(0, crypto.randomBytes(3 * MiB));
    await b.writeZeroes(1000, 2 * MiB + 5);
    const got = await b.read(1000, 2 * MiB + 5);
    expect(got.equals(Buffer.alloc(2 * MiB + 5))).toBe(true);
    await expect(b.writeZeroes(0, 4096, { fastZero: true })).rejects.toMatchObject({ code: "ENOTSUP", command: "WRITE_ZEROES" });
  });

  it("gives up connecting after timeoutMs, and on abort", async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const uri = `nbd://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`;
      await expect(connectNbd(uri, { timeoutMs: 200 })).rejects.toMatchObject({ code: "ETIMEDOUT", command: "CONNECT", server: uri });
      const controller = new AbortController();
      const pending = connectNbd(uri, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await expect(pending).rejects.toMatchObject({ code: "ECANCELED" });
    } finally {
      silent.close();
    }
  });

  it("names the address when nothing listens on the TCP port", async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const error = await connectNbd(`nbd://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ECONNREFUSED", command: "CONNECT" });
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it("fails requests in flight with ECANCELED when aborted after connecting", async () => {
    const server = await serve({ filters: ["delay"], plugin: ["memory", "4M", "delay-read=2"] });
    const controller = new AbortController();
    const client = await connect(server.uri, { signal: controller.signal });
    const reads = [client.read(0, 4096), client.read(4096, 4096)];
    controller.abort();
    for (const r of reads) await expect(r).rejects.toMatchObject({ code: "ECANCELED" });
    await expect(client.read(0, 4096)).rejects.toMatchObject({ code: "ECANCELED" });
  });
});
