import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { NBD_STATE_DIRTY, NBD_STATE_HOLE, NBD_STATE_ZERO, StatusExtent } from "../../lib/replication/device";
import { NbdClient, NbdError, connectNbd, connectNbdMulti, probeNbd } from "../../lib/replication/nbd";
import { qcow2Image, randomImage } from "../helpers/disks";
import { NbdServer, qemuImg, startQemuNbd } from "../helpers/nbd-servers";
import { serverScope } from "../helpers/scopes";

const MiB = 1024 * 1024;

/** Extents of a context over the whole disk, asking again from where each reply ends. */
async function allExtents(client: NbdClient, context: string, offset = 0, length = client.size - offset): Promise<StatusExtent[]> {
  const out: StatusExtent[] = [];
  let at = offset;
  while (at < offset + length) {
    const extents = await client.blockStatus(context, at, offset + length - at);
    for (const e of extents) {
      const last = out[out.length - 1];
      if (last && last.flags === e.flags && last.offset + last.length === e.offset) out[out.length - 1] = { ...last, length: last.length + e.length };
      else out.push(e);
      at = e.offset + e.length;
    }
  }
  return out;
}

describe("NBD client against qemu-nbd (raw)", () => {
  const scope = serverScope();
  let images = 0;
  let image: string;
  let original: Buffer;

  async function serve(options: { tcp?: boolean; size?: number; exportName?: string; shared?: number } = {}): Promise<NbdServer> {
    image = path.join(scope.dir, `disk-${images++}-${Date.now()}.raw`);
    original = randomImage(image, options.size ?? 8 * MiB);
    return scope.server(
      await startQemuNbd({ dir: scope.dir, image, format: "raw", tcp: options.tcp, exportName: options.exportName ?? "disk", shared: options.shared }),
    );
  }
  async function connect(uri: string, options?: Parameters<typeof connectNbd>[1]): Promise<NbdClient> {
    return scope.client(await connectNbd(uri, options));
  }

  it.each([
    ["unix socket", false],
    ["TCP on 127.0.0.1", true],
  ])("reads the whole export over a %s with many requests in flight", async (_name, tcp) => {
    const server = await serve({ tcp });
    const client = await connect(server.uri);
    expect(client.size).toBe(8 * MiB);
    expect(client.structuredReplies).toBe(true);
    expect(client.caps.readOnly).toBe(false);
    expect(client.caps.canFlush && client.caps.canTrim && client.caps.canWriteZeroes && client.caps.canFastZero).toBe(true);
    expect(client.caps.maximumBlockSize).toBe(32 * MiB);

    // 128 reads of 64 KiB in flight at once, into one buffer.
    const into = Buffer.alloc(8 * MiB);
    const reads: Promise<Buffer>[] = [];
    for (let off = 0; off < 8 * MiB; off += 64 * 1024) reads.push(client.read(off, 64 * 1024, into.subarray(off, off + 64 * 1024)));
    expect(client.inFlight).toBe(128);
    await Promise.all(reads);
    expect(into.equals(original)).toBe(true);
    // One read of the whole disk, and odd sizes at odd offsets.
    expect((await client.read(0, 8 * MiB)).equals(original)).toBe(true);
    expect((await client.read(12345, 777)).equals(original.subarray(12345, 12345 + 777))).toBe(true);
    await client.close();
  });

  it("writes, zeroes, trims and flushes, and the image file holds the result", async () => {
    const server = await serve();
    const client = await connect(server.uri, { metaContexts: ["base:allocation"] });
    const expected = Buffer.from(original);
    const data = crypto.randomBytes(3 * MiB + 100);
    const writes = [client.write(1000, data), client.writeZeroes(5 * MiB, MiB), client.writeZeroes(6 * MiB + 512, 4096, { noHole: true })];
    await Promise.all(writes);
    data.copy(expected, 1000);
    expected.fill(0, 5 * MiB, 6 * MiB);
    expected.fill(0, 6 * MiB + 512, 6 * MiB + 512 + 4096);
    await client.trim(7 * MiB, MiB);
    await client.flush();
    // Trimmed data reads as zeroes or as the old data: both are allowed, so take what the server says.
    const trimmed = await client.read(7 * MiB, MiB);
    trimmed.copy(expected, 7 * MiB);
    expect((await client.read(0, 8 * MiB)).equals(expected)).toBe(true);

    const extents = await allExtents(client, "base:allocation", 5 * MiB, MiB);
    expect(extents.every((e) => e.flags & NBD_STATE_ZERO)).toBe(true);
    expect(extents.reduce((s, e) => s + e.length, 0)).toBe(MiB);
    await client.close();
    expect(
      fs
        .readFileSync(image)
        .subarray(0, 7 * MiB)
        .equals(expected.subarray(0, 7 * MiB)),
    ).toBe(true);
  });

  it("answers block status at unaligned offsets with extents clipped to the range", async () => {
    const server = await serve();
    const client = await connect(server.uri, { metaContexts: ["base:allocation"] });
    await client.writeZeroes(MiB, MiB);
    const extents = await client.blockStatus("base:allocation", MiB - 1001, 5003);
    expect(extents[0].offset).toBe(MiB - 1001);
    const end = extents[extents.length - 1].offset + extents[extents.length - 1].length;
    expect(end).toBeLessThanOrEqual(MiB - 1001 + 5003);
    for (let i = 1; i < extents.length; i++) expect(extents[i].offset).toBe(extents[i - 1].offset + extents[i - 1].length);
    const zeroPart = await allExtents(client, "base:allocation", MiB - 1001, 5003);
    expect(zeroPart.find((e) => e.offset === MiB - 1001)?.flags ?? 0).toBe(0);
    expect(zeroPart.find((e) => e.offset === MiB)?.flags).toBe(NBD_STATE_HOLE | NBD_STATE_ZERO);
  });

  it("serves a size that is not a multiple of 4096 up to its last byte", async () => {
    const size = 3 * MiB + 3 * 512;
    const server = await serve({ size });
    const client = await connect(server.uri);
    expect(client.size).toBe(size);
    expect((await client.read(size - 1536, 1536)).equals(original.subarray(size - 1536))).toBe(true);
    await client.write(size - 100, Buffer.alloc(100, 9));
    expect((await client.read(size - 100, 100)).equals(Buffer.alloc(100, 9))).toBe(true);
    await expect(client.read(size - 100, 101)).rejects.toMatchObject({ code: "EINVAL", command: "READ", offset: size - 100, length: 101 });
  });

  it("probes an export with NBD_OPT_INFO without entering transmission", async () => {
    const server = await serve();
    const info = await probeNbd(server.uri, { metaContexts: ["base:allocation"] });
    expect(info).toMatchObject({ size: 8 * MiB, minimumBlockSize: 1, preferredBlockSize: 4096, structuredReplies: true, metaContexts: ["base:allocation"] });
  });

  it("keeps one connection when the server does not allow multi-conn (qemu-nbd --shared=1)", async () => {
    const server = await serve({ shared: 1 });
    const multi = await connectNbdMulti(server.uri, { connections: 4 });
    expect(multi.caps.canMultiConn).toBe(false);
    expect(multi.connections.length).toBe(1);
    expect((await multi.read(0, MiB)).equals(original.subarray(0, MiB))).toBe(true);
    await multi.close();
  });

  it("refuses writes on a read-only connection without sending them", async () => {
    const server = await serve();
    const client = await connect(server.uri, { readOnly: true });
    expect(client.caps.readOnly).toBe(true);
    await expect(client.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: "EPERM", command: "WRITE", offset: 0, length: 512 });
    await expect(client.writeZeroes(0, 512)).rejects.toMatchObject({ code: "EPERM", command: "WRITE_ZEROES" });
    await client.close();
    expect(fs.readFileSync(image).equals(original)).toBe(true);
  });

  it("names the export when it does not exist, and the socket when nothing listens", async () => {
    const server = await serve({ exportName: "disk" });
    const wrong = server.uri.replace("///disk?", "///nope?");
    const error = await connectNbd(wrong).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NbdError);
    expect(error).toMatchObject({ code: "ENOEXPORT", command: "NBD_OPT_GO", server: wrong });
    expect((error as Error).message).toContain('no export "nope"');
    expect((error as Error).message).toContain('it lists "disk"');

    const missing = `nbd+unix:///disk?socket=${path.join(scope.dir, "absent.sock")}`;
    const unreachable = await connectNbd(missing).catch((e: unknown) => e);
    expect(unreachable).toMatchObject({ code: "ENOENT", command: "CONNECT", server: missing });
    expect((unreachable as Error).message).toContain("absent.sock");
  });

  it("fails requests in flight when the server goes away", async () => {
    const server = await serve();
    const client = await connect(server.uri);
    await client.read(0, 4096);
    await scope.stop(server);
    await expect(client.read(0, 4096)).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET|EPIPE/) });
  });
});

describe("NBD client against qemu-nbd (qcow2 with a persistent dirty bitmap)", () => {
  const scope = serverScope();

  it("reports the dirty ranges of qemu:dirty-bitmap:NAME, unaligned ones rounded to the granularity", async () => {
    const image = path.join(scope.dir, "disk.qcow2");
    qcow2Image(image, "8M");
    // Data written before the bitmap exists is not dirty.
    let server = scope.server(await startQemuNbd({ dir: scope.dir, image, format: "qcow2" }));
    let client = await connectNbd(server.uri);
    await client.write(0, crypto.randomBytes(8 * MiB));
    await client.close();
    await scope.stop(server);

    await qemuImg("bitmap", "--add", "-g", "65536", image, "bitmap0");
    server = scope.server(await startQemuNbd({ dir: scope.dir, image, format: "qcow2" }));
    client = await connectNbd(server.uri);
    await client.write(MiB, crypto.randomBytes(128 * 1024)); // dirty [1 MiB, +128 KiB)
    await client.write(3 * MiB + 100, Buffer.alloc(10, 1)); // dirty granule [3 MiB, +64 KiB)
    await client.writeZeroes(5 * MiB, 256 * 1024); // dirty, and zero in base:allocation
    await client.close();
    await scope.stop(server);

    server = scope.server(await startQemuNbd({ dir: scope.dir, image, format: "qcow2", bitmap: "bitmap0", readOnly: true }));
    const context = "qemu:dirty-bitmap:bitmap0";
    client = await connectNbd(server.uri, { metaContexts: ["base:allocation", context] });
    expect(client.caps.metaContexts).toEqual(expect.arrayContaining(["base:allocation", context]));
    const dirty = (await allExtents(client, context)).filter((e) => e.flags & NBD_STATE_DIRTY);
    expect(dirty.map((e) => [e.offset, e.length])).toEqual([
      [MiB, 128 * 1024],
      [3 * MiB, 64 * 1024],
      [5 * MiB, 256 * 1024],
    ]);
    const allocation = await allExtents(client, "base:allocation", 5 * MiB, 256 * 1024);
    expect(allocation.every((e) => e.flags & NBD_STATE_ZERO)).toBe(true);
    // Unaligned query inside a dirty range.
    const inside = await client.blockStatus(context, MiB + 1000, 3000);
    expect(inside).toEqual([{ offset: MiB + 1000, length: 3000, flags: NBD_STATE_DIRTY }]);
    await client.close();
  });

  it("fails with ENOCONTEXT naming a bitmap the export does not have", async () => {
    const image = path.join(scope.dir, "plain.qcow2");
    qcow2Image(image, "4M");
    await qemuImg("bitmap", "--add", image, "bitmap0");
    const server = scope.server(await startQemuNbd({ dir: scope.dir, image, format: "qcow2", bitmap: "bitmap0", readOnly: true }));
    const error = await connectNbd(server.uri, { metaContexts: ["qemu:dirty-bitmap:missing"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NbdError);
    expect(error).toMatchObject({ code: "ENOCONTEXT", command: "NBD_OPT_SET_META_CONTEXT" });
    expect((error as Error).message).toContain("qemu:dirty-bitmap:missing");
  });
});
