/**
 * Reply shapes real servers rarely send on demand — data chunks out of order, interleaved replies,
 * error chunks with messages and offsets, short or broken replies — from a scripted server on a
 * unix socket that speaks the handshake and then answers each request as the test says.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NbdClient, connectNbd } from "../../lib/replication/nbd";
import * as P from "../../lib/replication/nbd/protocol";
import { offsetPattern } from "../helpers/disks";
import { tempDir } from "../helpers/nbd-servers";

interface Request {
  readonly command: number;
  readonly handle: Buffer;
  readonly offset: number;
  readonly length: number;
}

type Answer = (requests: Request[], send: (...pieces: Buffer[]) => Promise<void>) => Promise<void>;

const SIZE = 1024 * 1024;
const CONTEXTS = ["base:allocation", "qemu:dirty-bitmap:b0"];

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([u64(P.NBD_REP_MAGIC), u32(option), u32(type), u32(data.length), data]);
}
function chunk(flags: number, type: number, handle: Buffer, payload: Buffer): Buffer {
  return Buffer.concat([u32(P.NBD_STRUCTURED_REPLY_MAGIC), u16(flags), u16(type), handle, u32(payload.length), payload]);
}

/**
 * A scripted NBD server: handshake with structured replies and two metadata contexts (ids 1, 2),
 * then `answer` is called with every `batch` requests received.
 */
async function scriptedServer(socketPath: string, batch: number, answer: Answer, maximumBlockSize?: number): Promise<net.Server> {
  const server = net.createServer((sock) => {
    let buffered = Buffer.alloc(0);
    let waiting: (() => void) | undefined;
    sock.on("data", (d) => {
      buffered = Buffer.concat([buffered, d]);
      waiting?.();
    });
    sock.on("error", () => undefined);
    const read = async (n: number): Promise<Buffer> => {
      while (buffered.length < n) await new Promise<void>((r) => (waiting = r));
      const out = buffered.subarray(0, n);
      buffered = buffered.subarray(n);
      return out;
    };
    // Each piece is written on its own turn of the event loop, so that replies arrive split.
    const send = async (...pieces: Buffer[]): Promise<void> => {
      for (const p of pieces) {
        sock.write(p);
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    (async () => {
      sock.write(Buffer.concat([u64(P.NBD_MAGIC), u64(P.NBD_OPTS_MAGIC), u16(P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES)]));
      await read(4);
      for (;;) {
        const header = await read(16);
        const option = header.readUInt32BE(8);
        const data = await read(header.readUInt32BE(12));
        if (option === P.NBD_OPT_STRUCTURED_REPLY) sock.write(optionReply(option, P.NBD_REP_ACK));
        else if (option === P.NBD_OPT_SET_META_CONTEXT) {
          CONTEXTS.forEach((name, i) => sock.write(optionReply(option, P.NBD_REP_META_CONTEXT, Buffer.concat([u32(i + 1), Buffer.from(name)]))));
          sock.write(optionReply(option, P.NBD_REP_ACK));
        } else if (option === P.NBD_OPT_GO) {
          sock.write(
            optionReply(option, P.NBD_REP_INFO, Buffer.concat([u16(P.NBD_INFO_EXPORT), u64(SIZE), u16(P.NBD_FLAG_HAS_FLAGS | P.NBD_FLAG_SEND_FLUSH)])),
          );
          if (maximumBlockSize !== undefined) {
            sock.write(optionReply(option, P.NBD_REP_INFO, Buffer.concat([u16(P.NBD_INFO_BLOCK_SIZE), u32(1), u32(512), u32(maximumBlockSize)])));
          }
          sock.write(optionReply(option, P.NBD_REP_ACK));
          break;
        } else sock.write(optionReply(option, P.NBD_REP_ERR_UNSUP));
        void data;
      }
      for (;;) {
        const requests: Request[] = [];
        while (requests.length < batch) {
          const r = await read(28);
          requests.push({
            command: r.readUInt16BE(6),
            handle: Buffer.from(r.subarray(8, 16)),
            offset: Number(r.readBigUInt64BE(16)),
            length: r.readUInt32BE(24),
          });
        }
        await answer(requests, send);
      }
    })().catch(() => sock.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}

describe("NBD reply parsing (scripted server)", () => {
  let dir: string;
  let server: net.Server | undefined;
  let client: NbdClient | undefined;
  let socketPath: string;
  let count = 0;

  beforeAll(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    client?.destroy();
    client = undefined;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function start(batch: number, answer: Answer, maximumBlockSize?: number): Promise<NbdClient> {
    socketPath = path.join(dir, `s${count++}.sock`);
    server = await scriptedServer(socketPath, batch, answer, maximumBlockSize);
    client = await connectNbd(`nbd+unix:///?socket=${socketPath}`, { metaContexts: CONTEXTS });
    return client;
  }

  it("assembles a read from data and hole chunks sent out of order, split across socket reads", async () => {
    const c = await start(1, async ([r], send) => {
      const base = r.offset;
      await send(
        chunk(0, P.NBD_REPLY_TYPE_OFFSET_DATA, r.handle, Buffer.concat([u64(base + 32768), offsetPattern(base + 32768, 32768)])).subarray(0, 10),
        chunk(0, P.NBD_REPLY_TYPE_OFFSET_DATA, r.handle, Buffer.concat([u64(base + 32768), offsetPattern(base + 32768, 32768)])).subarray(10),
        chunk(0, P.NBD_REPLY_TYPE_OFFSET_HOLE, r.handle, Buffer.concat([u64(base + 16384), u32(16384)])),
        chunk(P.NBD_REPLY_FLAG_DONE, P.NBD_REPLY_TYPE_OFFSET_DATA, r.handle, Buffer.concat([u64(base), offsetPattern(base, 16384)])),
      );
    });
    const into = Buffer.alloc(65536, 0xff);
    await c.read(4096, 65536, into);
    const expected = Buffer.concat([offsetPattern(4096, 16384), Buffer.alloc(16384), offsetPattern(4096 + 32768, 32768)]);
    expect(into.equals(expected)).toBe(true);
  });

  it("matches interleaved chunks of two reads to their requests by handle", async () => {
    const c = await start(2, async ([a, b], send) => {
      const half = (r: Request, second: boolean, done: boolean): Buffer =>
        chunk(
          done ? P.NBD_REPLY_FLAG_DONE : 0,
          P.NBD_REPLY_TYPE_OFFSET_DATA,
          r.handle,
          Buffer.concat([u64(r.offset + (second ? 2048 : 0)), offsetPattern(r.offset + (second ? 2048 : 0), 2048)]),
        );
      await send(half(b, true, false), half(a, false, false), half(b, false, true), half(a, true, true));
    });
    const [x, y] = await Promise.all([c.read(0, 4096), c.read(100000, 4096)]);
    expect(x.equals(offsetPattern(0, 4096))).toBe(true);
    expect(y.equals(offsetPattern(100000, 4096))).toBe(true);
  });

  it("fails a read with the server's error chunk: errno, message and offset", async () => {
    const c = await start(1, async ([r], send) => {
      const message = Buffer.from("medium error on sector 17");
      await send(
        chunk(0, P.NBD_REPLY_TYPE_ERROR_OFFSET, r.handle, Buffer.concat([u32(5), u16(message.length), message, u64(r.offset + 8704)])),
        chunk(P.NBD_REPLY_FLAG_DONE, P.NBD_REPLY_TYPE_NONE, r.handle, Buffer.alloc(0)),
      );
    });
    const error = await c.read(8192, 4096).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "EIO", command: "READ", offset: 8192, length: 4096 });
    expect((error as Error).message).toContain("medium error on sector 17, at offset 16896");
  });

  it("fails a split read only once every part is answered, so the buffer is free when it settles", async () => {
    let secondAnswered = false;
    const c = await start(
      2,
      async ([a, b], send) => {
        await send(Buffer.concat([u32(P.NBD_SIMPLE_REPLY_MAGIC), u32(5), a.handle]));
        await new Promise((resolve) => setTimeout(resolve, 50));
        secondAnswered = true;
        await send(chunk(P.NBD_REPLY_FLAG_DONE, P.NBD_REPLY_TYPE_OFFSET_DATA, b.handle, Buffer.concat([u64(b.offset), offsetPattern(b.offset, b.length)])));
      },
      4096,
    );
    expect(c.caps.maximumBlockSize).toBe(4096);
    const into = Buffer.alloc(8192);
    const error = await c.read(0, 8192, into).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "EIO", offset: 0, length: 4096 });
    expect(secondAnswered).toBe(true);
    expect(into.subarray(4096).equals(offsetPattern(4096, 4096))).toBe(true);
  });

  it("fails a read whose reply does not cover it, with EPROTO", async () => {
    const c = await start(1, async ([r], send) => {
      await send(chunk(P.NBD_REPLY_FLAG_DONE, P.NBD_REPLY_TYPE_OFFSET_DATA, r.handle, Buffer.concat([u64(r.offset), offsetPattern(r.offset, 1000)])));
    });
    await expect(c.read(0, 4096)).rejects.toMatchObject({ code: "EPROTO", command: "READ" });
  });

  it("returns the extents of the asked context only, clipped to the range", async () => {
    const c = await start(1, async ([r], send) => {
      const extents = (id: number, pairs: number[][]): Buffer => Buffer.concat([u32(id), ...pairs.flatMap(([l, f]) => [u32(l), u32(f)])]);
      await send(
        chunk(
          0,
          P.NBD_REPLY_TYPE_BLOCK_STATUS,
          r.handle,
          extents(1, [
            [1000, 3],
            [r.length, 0],
          ]),
        ),
        chunk(
          P.NBD_REPLY_FLAG_DONE,
          P.NBD_REPLY_TYPE_BLOCK_STATUS,
          r.handle,
          extents(2, [
            [500, 1],
            [r.length * 2, 0],
          ]),
        ),
      );
    });
    expect(await c.blockStatus("qemu:dirty-bitmap:b0", 512, 4096)).toEqual([
      { offset: 512, length: 500, flags: 1 },
      { offset: 1012, length: 3596, flags: 0 },
    ]);
  });

  it("closes after the requests in flight are answered, with NBD_CMD_DISC", async () => {
    const seen: number[] = [];
    let disconnected: () => void = () => undefined;
    const disc = new Promise<void>((resolve) => (disconnected = resolve));
    const c = await start(1, async ([r], send) => {
      seen.push(r.command);
      if (r.command === P.NBD_CMD_DISC) disconnected();
      if (r.command === P.NBD_CMD_FLUSH) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        await send(Buffer.concat([u32(P.NBD_SIMPLE_REPLY_MAGIC), u32(0), r.handle]));
      }
    });
    const flushed = c.flush();
    await c.close();
    await flushed;
    // The scripted server reads the DISC request on its own schedule.
    await disc;
    expect(seen).toEqual([P.NBD_CMD_FLUSH, P.NBD_CMD_DISC]);
    await expect(c.read(0, 512)).rejects.toMatchObject({ code: "ESHUTDOWN" });
  });

  it("closes the connection on a reply with a bad magic and fails every request in flight", async () => {
    const c = await start(3, async (_requests, send) => {
      await send(Buffer.from("this is not an NBD reply at all"));
    });
    const results = await Promise.allSettled([c.read(0, 512), c.read(512, 512), c.flush()]);
    for (const r of results) expect(r).toMatchObject({ status: "rejected", reason: { code: "EPROTO" } });
    await expect(c.read(0, 512)).rejects.toMatchObject({ code: "EPROTO" });
  });

  it("closes the connection on a reply to a handle it never sent", async () => {
    const c = await start(1, async ([r], send) => {
      const wrong = Buffer.from(r.handle);
      wrong.writeUInt32BE(wrong.readUInt32BE(4) + 1000, 4);
      await send(Buffer.concat([u32(P.NBD_SIMPLE_REPLY_MAGIC), u32(0), wrong]));
    });
    await expect(c.flush()).rejects.toMatchObject({ code: "EPROTO" });
  });
});
