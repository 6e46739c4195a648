/**
 * The transmission phase of one NBD connection: requests are written as they come (corked and
 * flushed together once per tick), any number may be in flight, and replies — simple or
 * structured, in any order, data in chunks — are matched to their requests by handle.
 *
 * Replies are parsed straight from the socket's read buffer: read data is copied once, from that
 * buffer into the caller's buffer, and nothing is concatenated. This file routes the bytes (which
 * are a header, a payload, read data); what a header or a chunk says is decoded by `replies.ts`.
 *
 * Over 400 lines because it is one class: the request side and the reply router share the
 * connection's state (the requests in flight, the buffer a read's data lands in), and splitting
 * them would pass that state back and forth on every reply.
 */
import type { BlockDevice, DeviceCaps, StatusExtent } from "../device";
import { NbdError } from "./errors";
import { ExportInfo } from "./handshake";
import {
  COMMAND_NAMES,
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_ERRORS,
  NBD_ERROR_TEXT,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
  NBD_REQUEST_MAGIC,
  NBD_REQUEST_SIZE,
  NBD_SIMPLE_REPLY_SIZE,
  NBD_STRUCTURED_REPLY_SIZE,
} from "./protocol";
import {
  type Handle,
  parseBlockStatusChunk,
  parseChunkHeader,
  parseErrorChunk,
  parseHoleChunk,
  parseSimpleReply,
  readUInt64,
  replyHeaderSize,
  withinRequest,
} from "./replies";
import { Transport } from "./transport";

/** Largest request length the protocol can carry (32-bit), for commands without payload. */
const MAX_EFFECT_LENGTH = 0x80000000;
/** Bytes read at once while a read reply's header is expected: a structured chunk header and its offset. */
const HEADER_READ = NBD_STRUCTURED_REPLY_SIZE + 8;
/** Largest zero buffer written when the server cannot WRITE_ZEROES. */
const ZERO_BUFFER_SIZE = 1 << 20;

/** One request in flight. */
interface Pending {
  readonly handle: number;
  readonly command: number;
  readonly offset: number;
  readonly length: number;
  /** READ: where the data goes. */
  readonly into: Buffer | undefined;
  /** READ: bytes covered by data and hole chunks so far. */
  covered: number;
  /** BLOCK_STATUS: the id of the wanted context, and its extents. */
  readonly contextId: number;
  extents: StatusExtent[] | undefined;
  /** The first error chunk. */
  error: NbdError | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
}

const enum State {
  /** Collecting a reply header into `header` (`need` bytes). */
  Header,
  /** Copying read data into `target`. */
  Data,
  /** Collecting a small structured payload into `payload`. */
  Payload,
}

/** Options of one connection, as given to `connectNbd`. */
export interface ClientOptions {
  readonly readOnly: boolean;
  readonly metaContexts: readonly string[];
  /** Fail the connection when requests are in flight and the server sends nothing for this long (ms). */
  readonly idleTimeoutMs?: number;
}

/** How long a server may leave requests in flight unanswered before the connection fails. */
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/**
 * An open NBD connection. Implements {@link BlockDevice}; obtained from `connectNbd`.
 * Every method may be called many times without waiting: requests are pipelined.
 */
export class NbdClient implements BlockDevice {
  readonly size: number;
  readonly caps: DeviceCaps;
  /** Whether the server sends structured replies (chunked reads, holes, error messages). */
  readonly structuredReplies: boolean;
  /** Transmission flags the server sent (`NBD_FLAG_*`). */
  readonly transmissionFlags: number;
  /** The server, as its URI. */
  readonly server: string;

  private readonly contextIds: ReadonlyMap<string, number>;
  private readonly pending = new Map<number, Pending>();
  private nextHandle = 1;
  private corked = false;
  private failure: NbdError | undefined;
  private closing: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  /** When the server last sent something, or the first request after a quiet time went out. */
  private lastProgress = Date.now();
  private readonly watchdog: NodeJS.Timeout;

  // Reply parser state.
  private state = State.Header;
  private readonly header = Buffer.alloc(32);
  private fill = 0;
  private need = 4;
  private current: Pending | undefined;
  private chunkFlags = 0;
  private chunkType = 0;
  private target: Buffer | undefined;
  private targetPos = 0;
  private remaining = 0;
  private payload: Buffer = Buffer.alloc(0);
  /** Set when the socket's last read went straight into `target`. */
  private direct = false;
  /** READ requests in flight. */
  private readsPending = 0;
  private readonly scratch: Buffer;

  /** @internal Use `connectNbd`. */
  constructor(
    private readonly transport: Transport,
    info: ExportInfo,
    options: ClientOptions,
    leftover: Buffer,
  ) {
    this.server = transport.server;
    this.size = info.size;
    this.caps = capsOf(info, options.readOnly);
    this.transmissionFlags = info.transmissionFlags;
    this.structuredReplies = info.structuredReplies;
    this.contextIds = info.metaContexts;
    this.scratch = transport.scratch;
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.watchdog = setInterval(
      () => {
        if (this.pending.size > 0 && Date.now() - this.lastProgress > idleTimeoutMs) {
          this.fail(
            new NbdError({
              code: "ETIMEDOUT",
              command: "connection",
              server: this.server,
              detail: `the server answered none of ${this.pending.size} requests in flight for ${Math.round(idleTimeoutMs / 1000)} s`,
            }),
          );
        }
      },
      Math.min(1000, Math.max(50, idleTimeoutMs / 4)),
    );
    this.watchdog.unref();
    transport.setReceiver((buf, start, end) => {
      this.lastProgress = Date.now();
      this.receive(buf, start, end);
    });
    transport.setBufferProvider(this.nextReadBuffer);
    transport.onClose(() => clearInterval(this.watchdog));
    transport.onClose((err) =>
      this.fail(
        new NbdError(
          { code: "ECONNRESET", command: "connection", server: this.server, detail: `the connection closed${err ? `: ${err.message}` : ""}` },
          { cause: err },
        ),
      ),
    );
    if (leftover.length > 0) this.receive(leftover, 0, leftover.length);
  }

  /** Number of requests in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** NBD_CMD_READ; requests longer than `maximumBlockSize` are split. */
  read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const bad = this.checkRange("READ", offset, length);
    if (bad) return Promise.reject(bad);
    if (into !== undefined && into.length < length) {
      return Promise.reject(this.clientError("READ", offset, length, "EINVAL", `the buffer holds ${into.length} bytes, fewer than the length`));
    }
    const buffer = into === undefined ? Buffer.allocUnsafe(length) : into.length === length ? into : into.subarray(0, length);
    if (length === 0) return Promise.resolve(buffer);
    const max = this.maxPayload();
    if (length <= max) {
      return this.request(NBD_CMD_READ, 0, offset, length, undefined, buffer).then(() => buffer);
    }
    const parts: Promise<unknown>[] = [];
    for (let done = 0; done < length; done += max) {
      const n = Math.min(max, length - done);
      parts.push(this.request(NBD_CMD_READ, 0, offset + done, n, undefined, buffer.subarray(done, done + n)));
    }
    return allSettled(parts).then(() => buffer);
  }

  /** NBD_CMD_WRITE; data longer than `maximumBlockSize` is split. `data` must not change until this resolves. */
  write(offset: number, data: Buffer): Promise<void> {
    const length = data.length;
    const bad = this.checkRange("WRITE", offset, length) ?? this.checkWritable("WRITE", offset, length);
    if (bad) return Promise.reject(bad);
    if (length === 0) return Promise.resolve();
    const max = this.maxPayload();
    if (length <= max) return this.request(NBD_CMD_WRITE, 0, offset, length, data) as Promise<void>;
    const parts: Promise<unknown>[] = [];
    for (let done = 0; done < length; done += max) {
      const n = Math.min(max, length - done);
      parts.push(this.request(NBD_CMD_WRITE, 0, offset + done, n, data.subarray(done, done + n)));
    }
    return allSettled(parts);
  }

  /**
   * NBD_CMD_WRITE_ZEROES with NBD_CMD_FLAG_NO_HOLE / NBD_CMD_FLAG_FAST_ZERO. A server without
   * WRITE_ZEROES gets zero-filled WRITEs instead, unless `fastZero` is asked (then ENOTSUP, as the
   * protocol's fast-zero semantics require).
   */
  writeZeroes(offset: number, length: number, options: { noHole?: boolean; fastZero?: boolean } = {}): Promise<void> {
    const bad = this.checkRange("WRITE_ZEROES", offset, length) ?? this.checkWritable("WRITE_ZEROES", offset, length);
    if (bad) return Promise.reject(bad);
    if (length === 0) return Promise.resolve();
    if (!this.caps.canWriteZeroes || (options.fastZero && !this.caps.canFastZero)) {
      if (options.fastZero) {
        return Promise.reject(this.clientError("WRITE_ZEROES", offset, length, "ENOTSUP", "the server cannot zero fast"));
      }
      return this.writeZeroBuffers(offset, length);
    }
    const flags = (options.noHole ? NBD_CMD_FLAG_NO_HOLE : 0) | (options.fastZero ? NBD_CMD_FLAG_FAST_ZERO : 0);
    return this.splitEffect(NBD_CMD_WRITE_ZEROES, flags, offset, length);
  }

  /** NBD_CMD_TRIM (ENOTSUP when the server cannot trim). */
  trim(offset: number, length: number): Promise<void> {
    const bad = this.checkRange("TRIM", offset, length) ?? this.checkWritable("TRIM", offset, length);
    if (bad) return Promise.reject(bad);
    if (!this.caps.canTrim) return Promise.reject(this.clientError("TRIM", offset, length, "ENOTSUP", "the server does not support TRIM"));
    if (length === 0) return Promise.resolve();
    return this.splitEffect(NBD_CMD_TRIM, 0, offset, length);
  }

  /** NBD_CMD_FLUSH; resolves at once when the server does not advertise FLUSH (its writes are durable). */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.caps.canFlush) return Promise.resolve();
    return this.request(NBD_CMD_FLUSH, 0, 0, 0) as Promise<void>;
  }

  /**
   * NBD_CMD_BLOCK_STATUS for one negotiated context. The extents start at `offset`, are clipped to
   * the requested range, and may cover less than `length` (ask again from where they end).
   */
  blockStatus(context: string, offset: number, length: number): Promise<StatusExtent[]> {
    const contextId = this.contextIds.get(context);
    if (contextId === undefined) {
      return Promise.reject(
        this.clientError(
          "BLOCK_STATUS",
          offset,
          length,
          "ENOCONTEXT",
          `the metadata context ${context} was not negotiated (negotiated: ${this.caps.metaContexts.join(", ") || "none"})`,
        ),
      );
    }
    const bad = this.checkRange("BLOCK_STATUS", offset, length);
    if (bad) return Promise.reject(bad);
    if (length === 0) return Promise.resolve([]);
    const align = this.caps.minimumBlockSize;
    const cap = MAX_EFFECT_LENGTH - (MAX_EFFECT_LENGTH % align);
    const n = Math.min(length, cap);
    return this.request(NBD_CMD_BLOCK_STATUS, 0, offset, n, undefined, undefined, contextId) as Promise<StatusExtent[]>;
  }

  /** Waits for the requests in flight, sends NBD_CMD_DISC and closes the connection. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.pending.size > 0 && !this.failure) {
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      }
      if (!this.failure && !this.transport.isClosed) {
        const header = Buffer.alloc(NBD_REQUEST_SIZE);
        header.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
        header.writeUInt16BE(NBD_CMD_DISC, 6);
        this.transport.socket.end(header);
      }
      this.failure ??= new NbdError({ code: "ESHUTDOWN", command: "connection", server: this.server, detail: "the client is closed" });
      await new Promise<void>((resolve) => this.transport.onClose(() => resolve()));
    })();
    return this.closing;
  }

  /** Closes the connection at once; requests in flight fail with ECANCELED. */
  destroy(reason = "destroyed"): void {
    this.fail(new NbdError({ code: "ECANCELED", command: "connection", server: this.server, detail: reason }));
  }

  // ---- requests ----

  private maxPayload(): number {
    const max = this.caps.maximumBlockSize;
    return max - (max % this.caps.minimumBlockSize);
  }

  private splitEffect(command: number, flags: number, offset: number, length: number): Promise<void> {
    const align = this.caps.minimumBlockSize;
    const cap = MAX_EFFECT_LENGTH - (MAX_EFFECT_LENGTH % align);
    if (length <= cap) return this.request(command, flags, offset, length) as Promise<void>;
    const parts: Promise<unknown>[] = [];
    for (let done = 0; done < length; done += cap) parts.push(this.request(command, flags, offset + done, Math.min(cap, length - done)));
    return allSettled(parts);
  }

  private writeZeroBuffers(offset: number, length: number): Promise<void> {
    const step = Math.min(ZERO_BUFFER_SIZE, this.maxPayload());
    const zeroes = Buffer.alloc(Math.min(step, length));
    const parts: Promise<unknown>[] = [];
    for (let done = 0; done < length; done += step) {
      const n = Math.min(step, length - done);
      parts.push(this.request(NBD_CMD_WRITE, 0, offset + done, n, n === zeroes.length ? zeroes : zeroes.subarray(0, n)));
    }
    return allSettled(parts);
  }

  private request(command: number, flags: number, offset: number, length: number, data?: Buffer, into?: Buffer, contextId = 0): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    let handle = this.nextHandle;
    while (this.pending.has(handle)) handle = (handle + 1) >>> 0;
    this.nextHandle = (handle + 1) >>> 0;
    const header = Buffer.allocUnsafe(NBD_REQUEST_SIZE);
    header.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
    header.writeUInt16BE(flags, 4);
    header.writeUInt16BE(command, 6);
    header.writeUInt32BE(0, 8);
    header.writeUInt32BE(handle, 12);
    header.writeUInt32BE(Math.floor(offset / 0x100000000), 16);
    header.writeUInt32BE(offset >>> 0, 20);
    header.writeUInt32BE(length, 24);
    if (command === NBD_CMD_READ) this.readsPending++;
    if (this.pending.size === 0) this.lastProgress = Date.now();
    return new Promise((resolve, reject) => {
      this.pending.set(handle, {
        handle,
        command,
        offset,
        length,
        into,
        covered: 0,
        contextId,
        extents: undefined,
        error: undefined,
        resolve,
        reject,
      });
      const socket = this.transport.socket;
      if (!this.corked) {
        this.corked = true;
        socket.cork();
        process.nextTick(this.uncork);
      }
      socket.write(header);
      if (data !== undefined) socket.write(data);
    });
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.transport.socket.uncork();
  };

  /** The error of a request outside the export or not aligned to the minimum block size. */
  private checkRange(command: string, offset: number, length: number): NbdError | undefined {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      return this.clientError(command, offset, length, "EINVAL", "offset and length must be non-negative integers");
    }
    if (offset + length > this.size) {
      return this.clientError(command, offset, length, "EINVAL", `the range ends beyond the end of the export (size ${this.size})`);
    }
    const min = this.caps.minimumBlockSize;
    if (min > 1 && (offset % min !== 0 || (length % min !== 0 && offset + length !== this.size))) {
      return this.clientError(command, offset, length, "EINVAL", `the server's minimum block size is ${min}: offset and length must be multiples of it`);
    }
    return undefined;
  }

  private checkWritable(command: string, offset: number, length: number): NbdError | undefined {
    return this.caps.readOnly ? this.clientError(command, offset, length, "EPERM", "the export is read-only") : undefined;
  }

  private clientError(command: string, offset: number, length: number, code: string, detail: string): NbdError {
    return new NbdError({ code, command, server: this.server, offset, length, detail });
  }

  // ---- replies ----

  /**
   * Where the socket's next read lands: while read data is expected, straight into the caller's
   * buffer (no copy); while a read reply's header is expected, only as many bytes as a header
   * (so that the data after it is not read into the scratch buffer and copied); otherwise as much
   * as the scratch buffer holds (many small replies per read).
   */
  private readonly nextReadBuffer = (): Uint8Array => {
    if (this.state === State.Data && !this.failure) {
      this.direct = true;
      return this.target!.subarray(this.targetPos, this.targetPos + this.remaining);
    }
    this.direct = false;
    if (this.readsPending === 0) return this.scratch;
    if (this.state === State.Payload) return this.scratch.subarray(0, Math.min(this.remaining, this.scratch.length));
    return this.scratch.subarray(0, HEADER_READ);
  };

  private receive(buf: Buffer, start: number, end: number): void {
    if (this.direct) {
      // The bytes are already in place in `target`.
      this.direct = false;
      this.targetPos += end - start;
      this.remaining -= end - start;
      if (this.remaining === 0) this.dataDone();
      return;
    }
    let pos = start;
    while (pos < end) {
      if (this.state === State.Data) {
        const n = Math.min(end - pos, this.remaining);
        buf.copy(this.target!, this.targetPos, pos, pos + n);
        pos += n;
        this.targetPos += n;
        this.remaining -= n;
        if (this.remaining === 0) this.dataDone();
      } else if (this.state === State.Header) {
        const n = Math.min(end - pos, this.need - this.fill);
        buf.copy(this.header, this.fill, pos, pos + n);
        pos += n;
        this.fill += n;
        if (this.fill === this.need) this.headerDone();
      } else {
        const n = Math.min(end - pos, this.remaining);
        buf.copy(this.payload, this.payload.length - this.remaining, pos, pos + n);
        pos += n;
        this.remaining -= n;
        if (this.remaining === 0) this.payloadDone();
      }
      if (this.failure) return;
    }
  }

  private headerDone(): void {
    const h = this.header;
    if (this.need === 4) {
      const size = replyHeaderSize(h.readUInt32BE(0));
      if (typeof size === "string") this.protocolError(size);
      else this.need = size;
      return;
    }
    if (this.need === NBD_SIMPLE_REPLY_SIZE) {
      const { errno, handle } = parseSimpleReply(h);
      const p = this.lookup(handle);
      if (!p) return;
      if (errno !== 0) {
        p.error = this.serverError(p, errno, "");
        this.finish(p);
      } else if (p.command === NBD_CMD_READ) {
        this.current = p;
        this.startData(p.into!, 0, p.length);
        p.covered = p.length;
      } else {
        this.finish(p);
      }
      return;
    }
    if (this.need === NBD_STRUCTURED_REPLY_SIZE) {
      const chunk = parseChunkHeader(h);
      const p = this.lookup(chunk.handle);
      if (!p) return;
      this.current = p;
      this.chunkFlags = chunk.flags;
      this.chunkType = chunk.type;
      const length = chunk.length;
      if (this.chunkType === NBD_REPLY_TYPE_OFFSET_DATA) {
        if (length < 8 || p.command !== NBD_CMD_READ) {
          this.protocolError(`OFFSET_DATA chunk of ${length} bytes for a ${COMMAND_NAMES[p.command]}`);
          return;
        }
        this.remaining = length - 8;
        this.need = NBD_STRUCTURED_REPLY_SIZE + 8;
        return;
      }
      if (length === 0) {
        this.payload = Buffer.alloc(0);
        this.payloadDone();
      } else {
        this.payload = Buffer.allocUnsafe(length);
        this.remaining = length;
        this.state = State.Payload;
      }
      return;
    }
    // OFFSET_DATA: the chunk's offset is in header[20..28].
    const p = this.current!;
    const chunkOffset = readUInt64(h, NBD_STRUCTURED_REPLY_SIZE);
    const length = this.remaining;
    if (!withinRequest({ offset: chunkOffset, length }, p)) {
      this.protocolError(`data chunk [${chunkOffset}, +${length}) outside the READ [${p.offset}, +${p.length})`);
      return;
    }
    p.covered += length;
    if (length === 0) {
      this.dataDone();
      return;
    }
    this.startData(p.into!, chunkOffset - p.offset, length);
  }

  private startData(target: Buffer, at: number, length: number): void {
    this.target = target;
    this.targetPos = at;
    this.remaining = length;
    this.state = State.Data;
    if (length === 0) this.dataDone();
  }

  private dataDone(): void {
    const p = this.current!;
    this.target = undefined;
    if (this.need === NBD_SIMPLE_REPLY_SIZE || this.chunkFlags & NBD_REPLY_FLAG_DONE) this.finish(p);
    else this.nextReply();
  }

  private payloadDone(): void {
    const p = this.current!;
    const d = this.payload;
    switch (this.chunkType) {
      case NBD_REPLY_TYPE_NONE:
        break;
      case NBD_REPLY_TYPE_OFFSET_HOLE: {
        const hole = p.command === NBD_CMD_READ ? parseHoleChunk(d) : "bad OFFSET_HOLE chunk";
        if (typeof hole === "string") return this.protocolError(hole);
        if (!withinRequest(hole, p)) return this.protocolError(`hole chunk [${hole.offset}, +${hole.length}) outside the READ [${p.offset}, +${p.length})`);
        p.into!.fill(0, hole.offset - p.offset, hole.offset - p.offset + hole.length);
        p.covered += hole.length;
        break;
      }
      case NBD_REPLY_TYPE_BLOCK_STATUS: {
        const status = p.command === NBD_CMD_BLOCK_STATUS ? parseBlockStatusChunk(d) : "bad BLOCK_STATUS chunk";
        if (typeof status === "string") return this.protocolError(status);
        if (status.contextId !== p.contextId) break;
        // Descriptors continue where the previous chunk ended and are cut at the request's end.
        const extents: StatusExtent[] = (p.extents ??= []);
        const end = p.offset + p.length;
        let at = p.offset + extents.reduce((s, e) => s + e.length, 0);
        for (const descriptor of status.descriptors) {
          if (at >= end) break;
          const n = Math.min(descriptor.length, end - at);
          if (n === 0) continue;
          extents.push({ offset: at, length: n, flags: descriptor.flags });
          at += n;
        }
        break;
      }
      default: {
        const error = parseErrorChunk(this.chunkType, d);
        if (typeof error === "string") return this.protocolError(error);
        p.error ??= this.serverError(p, error.errno, error.message, error.offset);
      }
    }
    if (this.chunkFlags & NBD_REPLY_FLAG_DONE) this.finish(p);
    else this.nextReply();
  }

  private lookup({ high, low }: Handle): Pending | undefined {
    const p = high === 0 ? this.pending.get(low) : undefined;
    if (!p) this.protocolError(`reply for unknown handle ${high}:${low}`);
    return p;
  }

  private nextReply(): void {
    this.state = State.Header;
    this.need = 4;
    this.fill = 0;
    this.current = undefined;
  }

  private finish(p: Pending): void {
    this.nextReply();
    this.pending.delete(p.handle);
    if (p.command === NBD_CMD_READ) this.readsPending--;
    if (p.error) p.reject(p.error);
    else if (p.command === NBD_CMD_READ && p.covered !== p.length) {
      p.reject(this.clientError("READ", p.offset, p.length, "EPROTO", `the server's reply covered ${p.covered} of ${p.length} bytes`));
    } else if (p.command === NBD_CMD_BLOCK_STATUS) {
      if (!p.extents || p.extents.length === 0)
        p.reject(this.clientError("BLOCK_STATUS", p.offset, p.length, "EPROTO", "the server sent no extents for the context"));
      else p.resolve(p.extents);
    } else p.resolve(undefined);
    if (this.pending.size === 0) this.wakeIdle();
  }

  private serverError(p: Pending, errno: number, message: string, at?: number): NbdError {
    const code = NBD_ERRORS[errno] ?? `errno ${errno}`;
    const where = at !== undefined ? `at offset ${at}` : "";
    return new NbdError({
      code,
      command: COMMAND_NAMES[p.command] ?? `command ${p.command}`,
      server: this.server,
      offset: p.offset,
      length: p.length,
      detail: [message || NBD_ERROR_TEXT[code] || "", where].filter((s) => s !== "").join(", ") || undefined,
    });
  }

  private protocolError(detail: string): void {
    this.fail(new NbdError({ code: "EPROTO", command: "reply", server: this.server, detail }));
  }

  private fail(err: NbdError): void {
    if (!this.failure) this.failure = err;
    else if (this.pending.size === 0) return;
    this.transport.destroy(err);
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.readsPending = 0;
    for (const p of pending) {
      p.reject(
        new NbdError(
          { code: err.code, command: COMMAND_NAMES[p.command] ?? err.command, server: this.server, offset: p.offset, length: p.length, detail: err.detail },
          { cause: err },
        ),
      );
    }
    this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** What a connection can do, from its handshake; `readOnly` also when the connection was opened so. */
function capsOf(info: ExportInfo, readOnly: boolean): DeviceCaps {
  const flags = info.transmissionFlags;
  const minimumBlockSize = Math.max(1, info.minimumBlockSize);
  const canWriteZeroes = (flags & NBD_FLAG_SEND_WRITE_ZEROES) !== 0;
  return {
    minimumBlockSize,
    preferredBlockSize: Math.max(minimumBlockSize, info.preferredBlockSize),
    maximumBlockSize: Math.max(minimumBlockSize, info.maximumBlockSize),
    readOnly: readOnly || (flags & NBD_FLAG_READ_ONLY) !== 0,
    canFlush: (flags & NBD_FLAG_SEND_FLUSH) !== 0,
    canTrim: (flags & NBD_FLAG_SEND_TRIM) !== 0,
    canWriteZeroes,
    canFastZero: canWriteZeroes && (flags & NBD_FLAG_SEND_FAST_ZERO) !== 0,
    canMultiConn: (flags & NBD_FLAG_CAN_MULTI_CONN) !== 0,
    metaContexts: [...info.metaContexts.keys()],
  };
}

/**
 * Waits for every part of a split request, then fails with the first error: the caller may reuse
 * its buffer once the promise settles, so no part may still be reading into it or sending from it.
 */
async function allSettled(parts: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(parts);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}
