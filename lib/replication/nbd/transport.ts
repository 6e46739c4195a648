/**
 * The byte stream under an NBD connection: a unix or TCP socket, upgraded to TLS (PSK or X.509)
 * after `NBD_OPT_STARTTLS`. Incoming bytes go to one receiver function, which the handshake and
 * then the reply parser install in turn; plain sockets read into one reused buffer (no allocation
 * per read), TLS sockets deliver the chunks node:tls decrypts.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { InputError, problem } from "../../problems";
import { readInputFile } from "../../service/input-file";
import { NbdError } from "./errors";
import { NbdUri } from "./uri";

/** Receives `buf[start, end)`; the bytes are only valid during the call. */
export type Receiver = (buf: Buffer, start: number, end: number) => void;

/** Size of the buffer plain sockets read into by default. */
const READ_BUFFER_SIZE = 1 << 20;

/** Chooses where the next read of a plain socket lands; it must return a non-empty buffer. */
export type BufferProvider = () => Uint8Array;

/** A connected byte stream with a swappable receiver. */
export class Transport {
  /** The socket requests are written to (the TLS socket once upgraded). */
  socket: net.Socket;
  private receiver: Receiver = () => undefined;
  private provider: BufferProvider = () => this.scratch;
  private closeHandlers: Array<(err: Error | undefined) => void> = [];
  private closed = false;
  private lastError: Error | undefined;

  private constructor(
    socket: net.Socket,
    readonly server: string,
    /** The reused read buffer of a plain socket (empty for TLS, which reads by itself). */
    readonly scratch: Buffer,
  ) {
    this.socket = socket;
  }

  /** Opens the socket the URI names; resolves once connected. */
  static async open(uri: NbdUri, signal?: AbortSignal): Promise<Transport> {
    let transport: Transport | undefined = undefined;
    const scratch = Buffer.allocUnsafe(uri.tls ? 0 : READ_BUFFER_SIZE);
    // Plain connections read into one reused buffer; a connection that will become TLS cannot,
    // because node:tls takes the socket's handle over and reads by itself.
    const onread = uri.tls
      ? undefined
      : {
          // The first read buffer is asked for while connecting, before `transport` exists.
          buffer: () => (transport ? transport.provider() : scratch),
          callback: (n: number, buf: Uint8Array): boolean => {
            transport!.receiver(buf as Buffer, 0, n);
            return true;
          },
        };
    const socket =
      uri.transport === "unix"
        ? net.connect({ path: uri.socket!, onread } as net.NetConnectOpts)
        : // Keep-alive probes find a dead peer behind a firewall that dropped an idle connection.
          net.connect({ host: uri.host!, port: uri.port!, onread, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 } as net.NetConnectOpts);
    transport = new Transport(socket, uri.uri, scratch);
    if (uri.tls) socket.on("data", (chunk: Buffer) => transport!.receiver(chunk, 0, chunk.length));
    transport.watch(socket);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        cleanup();
        reject(connectError(uri, err));
      };
      const onAbort = (): void => {
        cleanup();
        socket.destroy();
        reject(new NbdError({ code: "ECANCELED", command: "CONNECT", server: uri.uri, detail: "aborted" }));
      };
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const cleanup = (): void => {
        socket.off("error", onError);
        socket.off("connect", onConnect);
        signal?.removeEventListener("abort", onAbort);
      };
      socket.once("error", onError);
      socket.once("connect", onConnect);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
    return transport;
  }

  /** Routes incoming bytes to `receiver` from now on. */
  setReceiver(receiver: Receiver): void {
    this.receiver = receiver;
  }

  /**
   * Lets the reader choose where each read of a plain socket lands (e.g. straight into the
   * caller's buffer while a reply's data is expected); the receiver then sees that buffer.
   * TLS sockets ignore it.
   */
  setBufferProvider(provider: BufferProvider): void {
    this.provider = provider;
  }

  /** Calls `handler` once when the stream closes, with the error that closed it if any. */
  onClose(handler: (err: Error | undefined) => void): void {
    if (this.closed) handler(this.lastError);
    else this.closeHandlers.push(handler);
  }

  /** Whether the stream has closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Upgrades the stream to TLS, after the server acknowledged `NBD_OPT_STARTTLS`. */
  async startTls(uri: NbdUri, signal?: AbortSignal): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners("data");
    const options = tlsOptions(uri);
    const secure = tls.connect({ ...options, socket: raw });
    this.socket = secure;
    secure.on("data", (chunk: Buffer) => this.receiver(chunk, 0, chunk.length));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        cleanup();
        secure.destroy();
        reject(tlsError(uri, err));
      };
      const onClose = (): void => {
        cleanup();
        reject(tlsError(uri, new Error("the server closed the connection during the TLS handshake")));
      };
      const onAbort = (): void => {
        cleanup();
        secure.destroy();
        reject(new NbdError({ code: "ECANCELED", command: "STARTTLS", server: uri.uri, detail: "aborted" }));
      };
      const onSecure = (): void => {
        cleanup();
        resolve();
      };
      const cleanup = (): void => {
        secure.off("error", onError);
        secure.off("close", onClose);
        secure.off("secureConnect", onSecure);
        signal?.removeEventListener("abort", onAbort);
      };
      secure.once("error", onError);
      secure.once("close", onClose);
      secure.once("secureConnect", onSecure);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
    this.watch(secure);
  }

  /** Closes the stream at once. */
  destroy(err?: Error): void {
    if (err) this.lastError ??= err;
    this.socket.destroy();
  }

  private watch(socket: net.Socket): void {
    socket.on("error", (err) => {
      this.lastError ??= err;
    });
    socket.on("close", () => {
      if (socket !== this.socket || this.closed) return;
      this.closed = true;
      const handlers = this.closeHandlers;
      this.closeHandlers = [];
      for (const h of handlers) h(this.lastError);
    });
  }
}

function connectError(uri: NbdUri, err: Error & { code?: string }): NbdError {
  const where = uri.transport === "unix" ? `unix socket ${uri.socket}` : `${uri.host}:${uri.port}`;
  return new NbdError(
    { code: err.code ?? "ECONNREFUSED", command: "CONNECT", server: uri.uri, detail: `cannot connect to ${where}: ${err.message}` },
    { cause: err },
  );
}

function tlsError(uri: NbdUri, err: Error & { code?: string }): NbdError {
  const hint =
    uri.tlsPskFile !== undefined
      ? `TLS-PSK handshake as ${uri.user} with keys from ${uri.tlsPskFile} failed; is the key right for this user? (${err.message})`
      : `TLS handshake failed (${err.message})`;
  return new NbdError({ code: "ETLS", command: "STARTTLS", server: uri.uri, detail: hint }, { cause: err });
}

/** The node:tls options for the URI's TLS settings (PSK keys or X.509 directory). */
function tlsOptions(uri: NbdUri): tls.ConnectionOptions {
  if (uri.tlsPskFile !== undefined) {
    const identity = uri.user!;
    const psk = readPsk(uri, uri.tlsPskFile, identity);
    return {
      // AES-GCM uses AES-NI; TLS 1.3 would pick CHACHA20 with nbdkit.
      ciphers: "PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256",
      maxVersion: "TLSv1.2",
      pskCallback: () => ({ identity, psk }),
      checkServerIdentity: () => undefined,
    };
  }
  const dir = uri.tlsCertificates;
  const read = (name: string): Buffer | undefined => {
    if (dir === undefined) return undefined;
    const file = path.join(dir, name);
    return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
  };
  if (dir !== undefined && !fs.existsSync(dir)) {
    throw new InputError(
      problem({
        field: "tls-certificates",
        message: `NBD URI ${uri.uri}: the TLS certificates directory does not exist`,
        received: dir,
        expected: "a directory holding ca-cert.pem (and client-cert.pem, client-key.pem when the server checks clients)",
        fix: "point tls-certificates= at the directory made for this server",
      }),
    );
  }
  const host = uri.transport === "tcp" ? uri.host! : "localhost";
  const isIp = net.isIP(host) !== 0;
  return {
    ca: read("ca-cert.pem"),
    cert: read("client-cert.pem"),
    key: read("client-key.pem"),
    rejectUnauthorized: uri.tlsVerifyPeer,
    servername: isIp ? undefined : host,
    checkServerIdentity: uri.tlsVerifyPeer ? (_name, cert) => tls.checkServerIdentity(host, cert) : () => undefined,
  };
}

/** Reads the key of `identity` from a `psktool` keys file (`identity:hexkey` lines). */
function readPsk(uri: NbdUri, file: string, identity: string): Buffer {
  const text = readInputFile(file, (err) =>
    problem({
      field: "tls-psk-file",
      message: `NBD URI ${uri.uri}: the TLS-PSK keys file cannot be read`,
      received: `${file} (${(err as Error).message})`,
      expected: "a readable file of identity:hexkey lines",
      fix: `create it with: psktool -u ${identity} -p ${file}`,
    }),
  );
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 0 || line.slice(0, colon) !== identity) continue;
    const hex = line.slice(colon + 1).trim();
    if (/^([0-9a-fA-F]{2})+$/.test(hex)) return Buffer.from(hex, "hex");
    throw new InputError(
      problem({
        field: "tls-psk-file",
        message: `NBD URI ${uri.uri}: the key of ${identity} in the TLS-PSK keys file is not hexadecimal`,
        received: file,
        expected: "identity:hexkey lines",
        fix: `recreate the key with: psktool -u ${identity} -p ${file}`,
      }),
    );
  }
  throw new InputError(
    problem({
      field: "tls-psk-file",
      message: `NBD URI ${uri.uri}: the TLS-PSK keys file has no key for the user ${identity}`,
      received: file,
      expected: `a line ${identity}:hexkey`,
      fix: `put the user in the URI (nbds://USER@host/…) or add a key with: psktool -u ${identity} -p ${file}`,
    }),
  );
}
