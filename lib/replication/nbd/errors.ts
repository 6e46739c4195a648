/**
 * The error every NBD failure is reported with: a server error reply to a command, a failed
 * connection, a refused option during the handshake, or a protocol violation.
 */

/** What failed: an NBD command (`READ`, `WRITE`, …) or a connection step (`CONNECT`, `STARTTLS`, `NBD_OPT_GO`, …). */
export type NbdCommand = string;

/** The fields of an {@link NbdError}, as its constructor takes them. */
export type NbdErrorFields = Pick<NbdError, "code" | "command" | "server" | "offset" | "length" | "detail">;

/** A failed NBD command or connection, with a one-line message naming all its fields. */
export class NbdError extends Error {
  /**
   * An errno name: the server's error for a command (`EIO`, `ENOSPC`, `EPERM`, `EINVAL`, `ENOTSUP`,
   * `EOVERFLOW`, `ESHUTDOWN`, …), a socket error (`ECONNREFUSED`, `ENOENT`, `ETIMEDOUT`, …), or one
   * of `ENOEXPORT` (export not found), `ENOCONTEXT` (metadata context not offered, e.g. a missing
   * dirty bitmap), `ETLS` (TLS refused or failed, e.g. a wrong pre-shared key), `ETLSREQUIRED`
   * (the server only talks TLS), `EPROTO` (the server broke the protocol), `ECANCELED` (aborted),
   * `ECONNRESET` (the connection closed with requests in flight).
   */
  readonly code: string;
  /** The command or handshake step that failed. */
  readonly command: NbdCommand;
  /** The server, as its URI without secrets (`nbd+unix:///disk?socket=/run/disk.sock`). */
  readonly server: string;
  /** Byte offset of the failed request, when it has one. */
  readonly offset?: number;
  /** Byte length of the failed request, when it has one. */
  readonly length?: number;
  /** Further detail: the server's error message, the socket error, the option reply. */
  readonly detail?: string;

  constructor(fields: NbdErrorFields, options?: { cause?: unknown }) {
    super(formatNbdError(fields), options);
    this.name = "NbdError";
    this.code = fields.code;
    this.command = fields.command;
    this.server = fields.server;
    this.offset = fields.offset;
    this.length = fields.length;
    this.detail = fields.detail;
  }
}

/** `NBD READ offset 4096 length 65536 on nbd://host/disk failed: EIO (detail)`. */
function formatNbdError(f: NbdErrorFields): string {
  const range = f.offset !== undefined ? ` offset ${f.offset}${f.length !== undefined ? ` length ${f.length}` : ""}` : "";
  const detail = f.detail ? ` (${f.detail.replace(/\s+/g, " ").trim()})` : "";
  return `NBD ${f.command}${range} on ${f.server} failed: ${f.code}${detail}`;
}
