/** The NBD reply decoder as tables of bytes: every shape the protocol defines, and the malformed ones. */
import { describe, expect, it } from "vitest";
import * as P from "../../lib/replication/nbd/protocol";
import {
  parseBlockStatusChunk,
  parseChunkHeader,
  parseErrorChunk,
  parseHoleChunk,
  parseSimpleReply,
  readUInt64,
  replyHeaderSize,
  withinRequest,
} from "../../lib/replication/nbd/replies";

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ""), "hex");

describe("reply headers", () => {
  it.each([
    [P.NBD_SIMPLE_REPLY_MAGIC, 16],
    [P.NBD_STRUCTURED_REPLY_MAGIC, 20],
    [0x12345678, "bad reply magic 0x12345678"],
  ])("magic %s → %s", (magic, expected) => {
    expect(replyHeaderSize(magic)).toBe(expected);
  });

  it("a simple reply: errno and handle", () => {
    expect(parseSimpleReply(hex("67446698 00000005 00000000 0000002a"))).toEqual({ errno: 5, handle: { high: 0, low: 42 } });
  });

  it("a structured chunk header: flags, type, handle, length", () => {
    expect(parseChunkHeader(hex("668e33ef 0001 0005 00000001 00000007 0000000c"))).toEqual({ flags: 1, type: 5, handle: { high: 1, low: 7 }, length: 12 });
  });

  it("64-bit offsets beyond 4 GiB", () => {
    expect(readUInt64(hex("00000001 00000200"), 0)).toBe(2 ** 32 + 512);
  });
});

describe("chunk payloads", () => {
  it.each([
    ["a hole", hex("00000000 00001000 00000200"), { offset: 4096, length: 512 }],
    ["a hole past 4 GiB", hex("00000002 00000000 00100000"), { offset: 2 ** 33, length: 2 ** 20 }],
    ["a short hole", hex("00000000 00001000"), "bad OFFSET_HOLE chunk"],
  ])("%s", (_what, payload, expected) => {
    expect(parseHoleChunk(payload)).toEqual(expected);
  });

  it.each([
    [
      "two descriptors",
      hex("00000003 00010000 00000003 00020000 00000000"),
      {
        contextId: 3,
        descriptors: [
          { length: 65536, flags: 3 },
          { length: 131072, flags: 0 },
        ],
      },
    ],
    ["no descriptor", hex("00000003"), "bad BLOCK_STATUS chunk"],
    ["a cut descriptor", hex("00000003 00010000 0000"), "bad BLOCK_STATUS chunk"],
  ])("block status: %s", (_what, payload, expected) => {
    expect(parseBlockStatusChunk(payload)).toEqual(expected);
  });

  it.each([
    ["an error with its message", P.NBD_REPLY_TYPE_ERROR, Buffer.concat([hex("0000001c 0004"), Buffer.from("full")]), { errno: 28, message: "full" }],
    [
      "an error at an offset",
      P.NBD_REPLY_TYPE_ERROR_OFFSET,
      Buffer.concat([hex("00000005 0002"), Buffer.from("io"), hex("00000000 00002000")]),
      { errno: 5, message: "io", offset: 8192 },
    ],
    ["an unknown error type is still an error", 0x8009, hex("00000005 0000"), { errno: 5, message: "" }],
    ["a message cut short", P.NBD_REPLY_TYPE_ERROR, Buffer.concat([hex("00000005 0010"), Buffer.from("abc")]), { errno: 5, message: "abc" }],
    ["a short error chunk", P.NBD_REPLY_TYPE_ERROR, hex("00000005"), "short error chunk"],
    ["an unknown chunk type", 9, hex("00000005 0000"), "unknown chunk type 9"],
  ])("%s", (_what, type, payload, expected) => {
    expect(parseErrorChunk(type, payload)).toEqual(expected);
  });

  it.each([
    [{ offset: 0, length: 10 }, { offset: 0, length: 10 }, true],
    [{ offset: 5, length: 5 }, { offset: 0, length: 10 }, true],
    [{ offset: 5, length: 6 }, { offset: 0, length: 10 }, false],
    [{ offset: 0, length: 1 }, { offset: 1, length: 10 }, false],
  ])("chunk %j within request %j: %s", (chunk, request, expected) => {
    expect(withinRequest(chunk, request)).toBe(expected);
  });
});
