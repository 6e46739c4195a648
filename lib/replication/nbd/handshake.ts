/**
 * The fixed-newstyle handshake: `NBD_OPT_STARTTLS`, `NBD_OPT_STRUCTURED_REPLY`,
 * `NBD_OPT_SET_META_CONTEXT`, then `NBD_OPT_GO` (or `NBD_OPT_INFO` to only look) with
 * `NBD_INFO_BLOCK_SIZE`, falling back to `NBD_OPT_EXPORT_NAME` for servers without `NBD_OPT_GO`.
 */
import { NbdError } from "./errors";
import {
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_EXPORT,
  NBD_MAGIC,
  NBD_OPTS_MAGIC,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_TLS_REQD,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_FLAG_ERROR,
  NBD_REP_INFO,
  NBD_REP_MAGIC,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
  OPTION_ERRORS,
  OPTION_NAMES,
} from "./protocol";
import { Transport } from "./transport";
import { NbdUri } from "./uri";

/** What the handshake learnt about the export. */
export interface ExportInfo {
  readonly size: number;
  readonly transmissionFlags: number;
  readonly minimumBlockSize: number;
  readonly preferredBlockSize: number;
  readonly maximumBlockSize: number;
  /** Whether the server agreed to structured replies. */
  readonly structuredReplies: boolean;
  /** Negotiated metadata contexts: name → id the server gave it. */
  readonly metaContexts: ReadonlyMap<string, number>;
}

/** Collects handshake bytes from the transport and hands them out in exact amounts. */
class HandshakeReader {
  private chunks: Buffer[] = [];
  private available = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(transport: Transport) {
    transport.setReceiver((buf, start, end) => this.push(buf, start, end));
  }

  push(buf: Buffer, start: number, end: number): void {
    // The transport may reuse `buf`: keep a copy.
    this.chunks.push(Buffer.from(buf.subarray(start, end)));
    this.available += end - start;
    this.wake();
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  read(n: number): Promise<Buffer> {
    if (this.waiter) throw new Error("HandshakeReader: concurrent read");
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.wake();
    });
  }

  /** Bytes received beyond what the handshake read (none from a well-behaved server). */
  leftover(): Buffer {
    return Buffer.concat(this.chunks);
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.available >= w.n) {
      this.waiter = undefined;
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      const out = all.subarray(0, w.n);
      const rest = all.subarray(w.n);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.available -= w.n;
      w.resolve(out);
    } else if (this.failure) {
      this.waiter = undefined;
      w.reject(this.failure);
    }
  }
}

interface OptionReply {
  readonly type: number;
  readonly data: Buffer;
}

/** Runs the handshake over a connected transport. */
export class Handshake {
  private readonly reader: HandshakeReader;
  private step = "handshake";
  private firstReplyAfterTls = false;

  constructor(
    private readonly transport: Transport,
    private readonly uri: NbdUri,
  ) {
    this.reader = new HandshakeReader(transport);
    transport.onClose((err) => {
      // A server that refuses the client's certificate (or its absence) hangs up just after TLS.
      const tlsRefused = this.firstReplyAfterTls && uri.tlsPskFile === undefined;
      this.reader.fail(
        new NbdError(
          {
            code: tlsRefused ? "ETLS" : "ECONNRESET",
            command: this.step,
            server: uri.uri,
            detail: tlsRefused
              ? `the server closed the connection right after the TLS handshake: it may require a client certificate (client-cert.pem and client-key.pem in tls-certificates=) or refuse this one${err ? `: ${err.message}` : ""}`
              : `the server closed the connection during the handshake${err ? `: ${err.message}` : ""}`,
          },
          { cause: err },
        ),
      );
    });
  }

  /**
   * Negotiates options and enters transmission (`mode: "go"`), or only reads the export's
   * information and aborts (`mode: "info"`).
   */
  async negotiate(options: { metaContexts: readonly string[]; mode: "go" | "info"; signal?: AbortSignal }): Promise<ExportInfo> {
    const { uri } = this;
    this.step = "handshake";
    const greeting = await this.reader.read(18);
    if (greeting.readBigUInt64BE(0) !== NBD_MAGIC) {
      throw this.error("EPROTO", "the server did not greet with NBDMAGIC: is it an NBD server?");
    }
    if (greeting.readBigUInt64BE(8) !== NBD_OPTS_MAGIC) {
      throw this.error("EPROTO", "the server speaks the oldstyle protocol, which is not supported; use a newstyle server");
    }
    const serverFlags = greeting.readUInt16BE(16);
    if (!(serverFlags & NBD_FLAG_FIXED_NEWSTYLE)) {
      throw this.error("EPROTO", "the server does not support the fixed newstyle handshake");
    }
    const noZeroes = (serverFlags & NBD_FLAG_NO_ZEROES) !== 0;
    const clientFlags = Buffer.alloc(4);
    clientFlags.writeUInt32BE(NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? NBD_FLAG_C_NO_ZEROES : 0));
    this.transport.socket.write(clientFlags);

    if (uri.tls) {
      const reply = await this.option(NBD_OPT_STARTTLS, Buffer.alloc(0));
      if (reply.type !== NBD_REP_ACK) {
        throw this.optionError(
          NBD_OPT_STARTTLS,
          reply,
          reply.type === NBD_REP_ERR_UNSUP || reply.type === NBD_REP_ERR_POLICY ? "ETLS" : "EPROTO",
          "the server refused TLS",
        );
      }
      this.step = "STARTTLS";
      await this.transport.startTls(uri, options.signal);
      this.firstReplyAfterTls = true;
    }

    const structured = await this.option(NBD_OPT_STRUCTURED_REPLY, Buffer.alloc(0));
    this.firstReplyAfterTls = false;
    if (structured.type === NBD_REP_ERR_TLS_REQD) throw this.tlsRequired(NBD_OPT_STRUCTURED_REPLY);
    const structuredReplies = structured.type === NBD_REP_ACK;
    if (!structuredReplies && !(structured.type & NBD_REP_FLAG_ERROR)) {
      throw this.optionError(NBD_OPT_STRUCTURED_REPLY, structured, "EPROTO", "unexpected reply");
    }

    const metaContexts = new Map<string, number>();
    if (options.metaContexts.length > 0) {
      if (!structuredReplies) {
        throw this.error(
          "ENOCONTEXT",
          `the server has no structured replies, so metadata contexts ${options.metaContexts.join(", ")} cannot be used`,
          "NBD_OPT_SET_META_CONTEXT",
        );
      }
      await this.setMetaContexts(options.metaContexts, metaContexts);
    }

    const info = await this.go(options.mode);
    return { ...info, structuredReplies, metaContexts };
  }

  /** Sends `NBD_OPT_ABORT` (after `negotiate({ mode: "info" })`) and closes. */
  async abort(): Promise<void> {
    await this.sendOption(NBD_OPT_ABORT, Buffer.alloc(0));
    this.transport.socket.end();
  }

  /** Bytes the server sent after the handshake ended. */
  leftover(): Buffer {
    return this.reader.leftover();
  }

  private async setMetaContexts(names: readonly string[], into: Map<string, number>): Promise<void> {
    const exportName = Buffer.from(this.uri.exportName, "utf8");
    const queries = names.map((n) => Buffer.from(n, "utf8"));
    const data = Buffer.alloc(4 + exportName.length + 4 + queries.reduce((s, q) => s + 4 + q.length, 0));
    let pos = data.writeUInt32BE(exportName.length, 0);
    pos += exportName.copy(data, pos);
    pos = data.writeUInt32BE(queries.length, pos);
    for (const q of queries) {
      pos = data.writeUInt32BE(q.length, pos);
      pos += q.copy(data, pos);
    }
    await this.sendOption(NBD_OPT_SET_META_CONTEXT, data);
    for (;;) {
      const reply = await this.reply(NBD_OPT_SET_META_CONTEXT);
      if (reply.type === NBD_REP_META_CONTEXT) {
        if (reply.data.length < 4) throw this.error("EPROTO", "short NBD_REP_META_CONTEXT reply", "NBD_OPT_SET_META_CONTEXT");
        into.set(reply.data.toString("utf8", 4), reply.data.readUInt32BE(0));
      } else if (reply.type === NBD_REP_ACK) {
        break;
      } else if (reply.type === NBD_REP_ERR_TLS_REQD) {
        throw this.tlsRequired(NBD_OPT_SET_META_CONTEXT);
      } else if (reply.type === NBD_REP_ERR_UNKNOWN) {
        throw await this.exportNotFound(NBD_OPT_SET_META_CONTEXT, reply);
      } else {
        throw this.optionError(NBD_OPT_SET_META_CONTEXT, reply, "ENOCONTEXT", `the server refused metadata contexts ${names.join(", ")}`);
      }
    }
    const missing = names.filter((n) => !into.has(n));
    if (missing.length > 0) {
      const offered = [...into.keys()];
      throw this.error(
        "ENOCONTEXT",
        `the export ${JSON.stringify(this.uri.exportName)} does not offer the metadata context ${missing.join(", ")}` +
          `${missing.some((m) => m.startsWith("qemu:dirty-bitmap:")) ? " (is the bitmap present and exported, e.g. qemu-nbd -B NAME?)" : ""}` +
          `; offered: ${offered.length > 0 ? offered.join(", ") : "none"}`,
        "NBD_OPT_SET_META_CONTEXT",
      );
    }
  }

  private async go(mode: "go" | "info"): Promise<Omit<ExportInfo, "structuredReplies" | "metaContexts">> {
    const option = mode === "go" ? NBD_OPT_GO : NBD_OPT_INFO;
    const exportName = Buffer.from(this.uri.exportName, "utf8");
    const data = Buffer.alloc(4 + exportName.length + 2 + 2);
    let pos = data.writeUInt32BE(exportName.length, 0);
    pos += exportName.copy(data, pos);
    pos = data.writeUInt16BE(1, pos);
    data.writeUInt16BE(NBD_INFO_BLOCK_SIZE, pos);
    await this.sendOption(option, data);
    let size: number | undefined;
    let transmissionFlags = 0;
    let minimumBlockSize = 1;
    let preferredBlockSize = 4096;
    let maximumBlockSize = 32 * 1024 * 1024;
    for (;;) {
      const reply = await this.reply(option);
      if (reply.type === NBD_REP_INFO) {
        if (reply.data.length < 2) throw this.error("EPROTO", "short NBD_REP_INFO reply", OPTION_NAMES[option]);
        const infoType = reply.data.readUInt16BE(0);
        if (infoType === NBD_INFO_EXPORT && reply.data.length >= 12) {
          size = Number(reply.data.readBigUInt64BE(2));
          transmissionFlags = reply.data.readUInt16BE(10);
        } else if (infoType === NBD_INFO_BLOCK_SIZE && reply.data.length >= 14) {
          minimumBlockSize = reply.data.readUInt32BE(2);
          preferredBlockSize = reply.data.readUInt32BE(6);
          maximumBlockSize = reply.data.readUInt32BE(10);
        }
      } else if (reply.type === NBD_REP_ACK) {
        break;
      } else if (reply.type === NBD_REP_ERR_UNSUP && mode === "go") {
        return this.exportName();
      } else if (reply.type === NBD_REP_ERR_TLS_REQD) {
        throw this.tlsRequired(option);
      } else if (reply.type === NBD_REP_ERR_UNKNOWN) {
        throw await this.exportNotFound(option, reply);
      } else {
        throw this.optionError(
          option,
          reply,
          reply.type === NBD_REP_ERR_POLICY ? "EPERM" : "EPROTO",
          `the server refused the export ${JSON.stringify(this.uri.exportName)}`,
        );
      }
    }
    if (size === undefined) throw this.error("EPROTO", "the server sent no NBD_INFO_EXPORT", OPTION_NAMES[option]);
    return { size, transmissionFlags, minimumBlockSize, preferredBlockSize, maximumBlockSize };
  }

  /** `NBD_OPT_EXPORT_NAME`, for servers that lack `NBD_OPT_GO`. */
  private async exportName(): Promise<Omit<ExportInfo, "structuredReplies" | "metaContexts">> {
    this.step = OPTION_NAMES[NBD_OPT_EXPORT_NAME];
    await this.sendOption(NBD_OPT_EXPORT_NAME, Buffer.from(this.uri.exportName, "utf8"));
    const reply = await this.reader.read(10);
    return {
      size: Number(reply.readBigUInt64BE(0)),
      transmissionFlags: reply.readUInt16BE(8),
      minimumBlockSize: 1,
      preferredBlockSize: 4096,
      maximumBlockSize: 32 * 1024 * 1024,
    };
  }

  private async option(option: number, data: Buffer): Promise<OptionReply> {
    await this.sendOption(option, data);
    return this.reply(option);
  }

  private async sendOption(option: number, data: Buffer): Promise<void> {
    this.step = OPTION_NAMES[option] ?? `option ${option}`;
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(NBD_OPTS_MAGIC, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(data.length, 12);
    this.transport.socket.write(data.length > 0 ? Buffer.concat([header, data]) : header);
  }

  private async reply(option: number): Promise<OptionReply> {
    const header = await this.reader.read(20);
    if (header.readBigUInt64BE(0) !== NBD_REP_MAGIC) throw this.error("EPROTO", "bad option reply magic", OPTION_NAMES[option]);
    if (header.readUInt32BE(8) !== option)
      throw this.error("EPROTO", `reply to option ${header.readUInt32BE(8)} instead of ${OPTION_NAMES[option]}`, OPTION_NAMES[option]);
    const type = header.readUInt32BE(12);
    const length = header.readUInt32BE(16);
    if (length > 16 * 1024 * 1024) throw this.error("EPROTO", `option reply of ${length} bytes`, OPTION_NAMES[option]);
    const data = length > 0 ? await this.reader.read(length) : Buffer.alloc(0);
    return { type, data };
  }

  private error(code: string, detail: string, command = this.step): NbdError {
    return new NbdError({ code, command, server: this.uri.uri, detail });
  }

  private optionError(option: number, reply: OptionReply, code: string, what: string): NbdError {
    const name = OPTION_ERRORS[reply.type] ?? `reply type 0x${reply.type.toString(16)}`;
    const message = reply.type & NBD_REP_FLAG_ERROR && reply.data.length > 0 ? `: ${reply.data.toString("utf8")}` : "";
    return this.error(code, `${what}: ${name}${message}`, OPTION_NAMES[option]);
  }

  private tlsRequired(option: number): NbdError {
    return this.error(
      "ETLSREQUIRED",
      `the server requires TLS: use an nbds:// or nbds+unix:// URI with tls-psk-file= or tls-certificates=`,
      OPTION_NAMES[option],
    );
  }

  /** The error for a missing export, naming the exports the server lists (`NBD_OPT_LIST`) if it does. */
  private async exportNotFound(option: number, reply: OptionReply): Promise<NbdError> {
    const message = reply.data.length > 0 ? `: ${reply.data.toString("utf8")}` : "";
    const exports = await this.listExports().catch(() => undefined);
    const offered = exports === undefined ? "" : `; it lists ${exports.length > 0 ? exports.map((e) => JSON.stringify(e)).join(", ") : "no exports"}`;
    return this.error("ENOEXPORT", `the server has no export ${JSON.stringify(this.uri.exportName)}${message}${offered}`, OPTION_NAMES[option]);
  }

  /** `NBD_OPT_LIST`: the export names, or undefined when the server does not list them. */
  private async listExports(): Promise<string[] | undefined> {
    await this.sendOption(NBD_OPT_LIST, Buffer.alloc(0));
    const names: string[] = [];
    for (;;) {
      const reply = await this.reply(NBD_OPT_LIST);
      if (reply.type === NBD_REP_SERVER && reply.data.length >= 4) {
        const length = reply.data.readUInt32BE(0);
        names.push(reply.data.toString("utf8", 4, 4 + length));
      } else if (reply.type === NBD_REP_ACK) {
        return names;
      } else {
        return undefined;
      }
    }
  }
}
