/**
 * The NBD client: connect to an export named by a libnbd-style URI and use it as a
 * {@link BlockDevice}. See `docs/nbd.md`.
 *
 * ```ts
 * const disk = await connectNbd("nbd+unix:///disk?socket=/run/disk.sock", { metaContexts: ["base:allocation"] });
 * const data = await disk.read(0, 1 << 20);
 * await disk.close();
 * ```
 */
import { NbdClient } from "./client";
import { NbdError } from "./errors";
import { NbdMultiClient } from "./multi";
import { ExportInfo, Handshake } from "./handshake";
import { Transport } from "./transport";
import { NbdUri, parseNbdUri } from "./uri";

export { NbdClient } from "./client";
export { NbdMultiClient } from "./multi";
export { NbdError } from "./errors";
export { parseNbdUri } from "./uri";
export type { NbdUri } from "./uri";

/** Options of {@link connectNbd}. */
export interface ConnectOptions {
  /**
   * Refuse writes, zeroing and trimming on this connection.
   * @default false - writable when the server allows it
   */
  readonly readOnly?: boolean;
  /**
   * Metadata contexts to negotiate (`base:allocation`, `qemu:dirty-bitmap:NAME`); connecting
   * fails with `ENOCONTEXT` when the export does not offer one of them.
   * @default - none
   */
  readonly metaContexts?: readonly string[];
  /** Aborts connecting; once connected, destroys the connection (requests fail with ECANCELED). */
  readonly signal?: AbortSignal;
  /**
   * Deadline for connecting and the handshake, in milliseconds.
   * @default 30000
   */
  readonly timeoutMs?: number;
  /**
   * Once connected: the connection fails (requests in flight reject with `ETIMEDOUT`) when the
   * server leaves requests unanswered and sends nothing for this long, in milliseconds.
   * @default 120000
   */
  readonly idleTimeoutMs?: number;
}

/** What a server says about an export, from {@link probeNbd}. */
export interface NbdExportInfo {
  readonly size: number;
  readonly minimumBlockSize: number;
  readonly preferredBlockSize: number;
  readonly maximumBlockSize: number;
  /** Transmission flags (`NBD_FLAG_*` of `./protocol`). */
  readonly transmissionFlags: number;
  readonly structuredReplies: boolean;
  /** The metadata contexts asked for that the export offers. */
  readonly metaContexts: readonly string[];
}

/**
 * Connects to an NBD export and completes the handshake. Rejects with an {@link NbdError}
 * (`ECONNREFUSED`/`ENOENT` unreachable, `ETLS` TLS refused or wrong key, `ETLSREQUIRED`,
 * `ENOEXPORT` no such export, `ENOCONTEXT` metadata context missing, `ETIMEDOUT`, `ECANCELED`)
 * or an `InputError` for a malformed URI or an unusable TLS key file.
 */
export async function connectNbd(uri: string | NbdUri, options: ConnectOptions = {}): Promise<NbdClient> {
  const parsed = typeof uri === "string" ? parseNbdUri(uri) : uri;
  const metaContexts = [...new Set(options.metaContexts ?? [])];
  const { transport, handshake, info } = await negotiate(parsed, metaContexts, "go", options);
  const client = new NbdClient(
    transport,
    info,
    { readOnly: options.readOnly ?? false, metaContexts, idleTimeoutMs: options.idleTimeoutMs },
    handshake.leftover(),
  );
  const signal = options.signal;
  if (signal) {
    const onAbort = (): void => client.destroy("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    transport.onClose(() => signal.removeEventListener("abort", onAbort));
  }
  return client;
}

/**
 * Opens up to `connections` connections to one export and uses them as one device, when the server
 * allows multi-conn (`NBD_FLAG_CAN_MULTI_CONN`); otherwise only the first connection is kept.
 * Requests go to the connection with the fewest in flight. Fails like {@link connectNbd}; if a
 * later connection fails, the ones already open are closed.
 */
export async function connectNbdMulti(uri: string | NbdUri, options: ConnectOptions & { readonly connections: number }): Promise<NbdMultiClient> {
  const parsed = typeof uri === "string" ? parseNbdUri(uri) : uri;
  const wanted = Math.max(1, Math.floor(options.connections));
  const first = await connectNbd(parsed, options);
  if (wanted === 1 || !first.caps.canMultiConn) return new NbdMultiClient([first]);
  const others = await Promise.allSettled(Array.from({ length: wanted - 1 }, () => connectNbd(parsed, options)));
  const failed = others.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    first.destroy("another connection failed");
    for (const r of others) if (r.status === "fulfilled") r.value.destroy("another connection failed");
    throw failed.reason;
  }
  return new NbdMultiClient([first, ...others.map((r) => (r as PromiseFulfilledResult<NbdClient>).value)]);
}

/**
 * Reads an export's size, block sizes and flags with `NBD_OPT_INFO`, checks the metadata contexts
 * asked for, and disconnects without entering transmission.
 */
export async function probeNbd(uri: string | NbdUri, options: Omit<ConnectOptions, "readOnly"> = {}): Promise<NbdExportInfo> {
  const parsed = typeof uri === "string" ? parseNbdUri(uri) : uri;
  const { transport, handshake, info } = await negotiate(parsed, [...new Set(options.metaContexts ?? [])], "info", options);
  await handshake.abort();
  await new Promise<void>((resolve) => transport.onClose(() => resolve()));
  return {
    size: info.size,
    minimumBlockSize: info.minimumBlockSize,
    preferredBlockSize: info.preferredBlockSize,
    maximumBlockSize: info.maximumBlockSize,
    transmissionFlags: info.transmissionFlags,
    structuredReplies: info.structuredReplies,
    metaContexts: [...info.metaContexts.keys()],
  };
}

async function negotiate(
  uri: NbdUri,
  metaContexts: readonly string[],
  mode: "go" | "info",
  options: Pick<ConnectOptions, "signal" | "timeoutMs">,
): Promise<{ transport: Transport; handshake: Handshake; info: ExportInfo }> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const controller = new AbortController();
  const outer = options.signal;
  const onOuterAbort = (): void => controller.abort();
  if (outer?.aborted) controller.abort();
  else outer?.addEventListener("abort", onOuterAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  let transport: Transport | undefined;
  const stopped = (): NbdError =>
    new NbdError({
      code: timedOut ? "ETIMEDOUT" : "ECANCELED",
      command: "CONNECT",
      server: uri.uri,
      detail: timedOut ? `no connection and handshake within ${timeoutMs} ms` : "aborted",
    });
  const onAbort = (): void => transport?.destroy(stopped());
  controller.signal.addEventListener("abort", onAbort, { once: true });
  try {
    transport = await Transport.open(uri, controller.signal);
    const handshake = new Handshake(transport, uri);
    const info = await handshake.negotiate({ metaContexts, mode, signal: controller.signal });
    return { transport, handshake, info };
  } catch (err) {
    transport?.destroy();
    if (controller.signal.aborted && err instanceof NbdError && (err.code === "ECANCELED" || err.code === "ECONNRESET")) throw stopped();
    throw err;
  } finally {
    clearTimeout(timer);
    controller.signal.removeEventListener("abort", onAbort);
    outer?.removeEventListener("abort", onOuterAbort);
  }
}
