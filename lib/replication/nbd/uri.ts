/**
 * NBD URIs as libnbd writes them (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/uri.md):
 *
 * - `nbd://host[:port]/export` and `nbds://[user@]host[:port]/export` (TCP, port 10809 by default);
 * - `nbd+unix:///export?socket=/path` and `nbds+unix://[user@]/export?socket=/path` (unix socket);
 * - query parameters `socket=`, `tls-psk-file=` (TLS-PSK keys file, as `psktool` writes it),
 *   `tls-certificates=DIR` (X.509: `ca-cert.pem`, and `client-cert.pem` + `client-key.pem` when the
 *   server checks clients) and `tls-verify-peer=false` (do not check the server's certificate).
 *
 * The export name is the path without its leading `/`, percent-decoded. Unlike libnbd, unknown
 * query parameters are refused rather than ignored, so that a misspelt `tls-psk-file` cannot
 * silently turn into a connection without the intended key.
 */
import * as os from "node:os";
import { InputError, Problem, problem } from "../../problems";
import { NBD_DEFAULT_PORT } from "./protocol";

/** A parsed NBD URI. */
export interface NbdUri {
  /** The URI as given. */
  readonly uri: string;
  /** How to reach the server. */
  readonly transport: "tcp" | "unix";
  /** Whether the connection must be upgraded to TLS (`nbds`, `nbds+unix`). */
  readonly tls: boolean;
  /** TCP host name or address (IPv6 without brackets); undefined for unix sockets. */
  readonly host?: string;
  /** TCP port; undefined for unix sockets. */
  readonly port?: number;
  /** Unix socket path; undefined for TCP. */
  readonly socket?: string;
  /** Export name (may be empty: the server's default export). */
  readonly exportName: string;
  /**
   * TLS-PSK identity: the user of the authority.
   * @default - the local login name, as libnbd does
   */
  readonly user?: string;
  /** File of `identity:hexkey` lines (`psktool -u USER -p FILE`). */
  readonly tlsPskFile?: string;
  /** Directory holding `ca-cert.pem` and optionally `client-cert.pem`, `client-key.pem`. */
  readonly tlsCertificates?: string;
  /** Whether the server's X.509 certificate is checked (default true). */
  readonly tlsVerifyPeer: boolean;
}

const SCHEMES: Readonly<Record<string, { transport: "tcp" | "unix"; tls: boolean }>> = {
  nbd: { transport: "tcp", tls: false },
  nbds: { transport: "tcp", tls: true },
  "nbd+unix": { transport: "unix", tls: false },
  "nbds+unix": { transport: "unix", tls: true },
};

const KNOWN_PARAMETERS = ["socket", "tls-psk-file", "tls-certificates", "tls-verify-peer"];
const EXPECTED_FORMS =
  "nbd://host[:port]/export, nbds://[user@]host[:port]/export?tls-psk-file=FILE, nbd+unix:///export?socket=PATH or nbds+unix://[user@]/export?socket=PATH&tls-psk-file=FILE";

/**
 * Parses an NBD URI. Throws an {@link InputError} with one problem per mistake, each naming the URI
 * and the part (`scheme`, `host`, `port`, `socket`, a query parameter).
 */
export function parseNbdUri(uri: string): NbdUri {
  const problems: Problem[] = [];
  const bad = (part: string, message: string, received: string, expected: string, fix: string): void => {
    problems.push(problem({ field: part, message: `NBD URI ${uri}: ${message}`, received, expected, fix }));
  };

  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/.exec(uri);
  if (!match) {
    bad(
      "uri",
      "is not a URI of the form scheme://authority/export",
      JSON.stringify(uri),
      EXPECTED_FORMS,
      "write the URI as libnbd does, e.g. nbd://127.0.0.1:10809/disk",
    );
    throw new InputError(problems);
  }
  const [, rawScheme, authority, rawPath, rawQuery] = match;
  const scheme = SCHEMES[rawScheme.toLowerCase()];
  if (!scheme) {
    bad("scheme", `the scheme ${rawScheme} is not supported`, rawScheme, "nbd, nbds, nbd+unix or nbds+unix", "use one of the supported schemes");
  }

  // Authority: [user@]host[:port]; host may be an [IPv6] literal.
  let user: string | undefined;
  let hostPort = authority;
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    user = decode(authority.slice(0, at), "user", bad);
    hostPort = authority.slice(at + 1);
  }
  let host = hostPort;
  let portText: string | undefined;
  const hostMatch = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostPort);
  if (hostMatch) {
    host = hostMatch[1];
    portText = hostMatch[2];
  }
  if (host.startsWith("[")) host = host.slice(1, -1);
  host = decode(host, "host", bad) ?? "";

  const exportName = decode(rawPath.startsWith("/") ? rawPath.slice(1) : rawPath, "export", bad) ?? "";

  const params = new Map<string, string>();
  for (const pair of (rawQuery ?? "").split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decode(eq >= 0 ? pair.slice(0, eq) : pair, "query", bad) ?? "";
    const value = decode(eq >= 0 ? pair.slice(eq + 1) : "", name, bad) ?? "";
    if (!KNOWN_PARAMETERS.includes(name)) {
      bad(name, `the query parameter ${name} is not known`, `${name}=${value}`, KNOWN_PARAMETERS.join(", "), "remove the parameter or correct its spelling");
      continue;
    }
    if (params.has(name)) {
      bad(name, `the query parameter ${name} is given twice`, `${name}=${params.get(name)} and ${name}=${value}`, "one value", "keep only one");
      continue;
    }
    params.set(name, value);
  }

  let port: number | undefined;
  let socket: string | undefined;
  if (scheme?.transport === "tcp") {
    if (host === "") {
      bad("host", "has no host", JSON.stringify(authority), "a host name or address, e.g. nbd://127.0.0.1/disk", "add the server's host name or address");
    }
    if (portText !== undefined && portText !== "") {
      const n = /^\d+$/.test(portText) ? Number(portText) : NaN;
      if (!(n >= 1 && n <= 65535)) {
        bad("port", `the port ${portText} is not a TCP port`, portText, "a number from 1 to 65535", `use a valid port, or none for ${NBD_DEFAULT_PORT}`);
      } else {
        port = n;
      }
    } else {
      port = NBD_DEFAULT_PORT;
    }
    if (params.has("socket")) {
      bad(
        "socket",
        "has a socket= parameter but a TCP scheme",
        `${rawScheme}://…?socket=${params.get("socket")}`,
        "nbd+unix:// or nbds+unix:// with socket=",
        "use the +unix scheme for a unix socket, or drop socket=",
      );
    }
  } else if (scheme?.transport === "unix") {
    if (hostPort !== "") {
      bad("host", "has a host but a unix-socket scheme", hostPort, "an empty host: nbd+unix:///export?socket=PATH", "remove the host (keep three slashes)");
    }
    socket = params.get("socket");
    if (socket === undefined || socket === "") {
      bad("socket", "has no socket= parameter", JSON.stringify(rawQuery ?? ""), "socket=/path/to/unix.sock", "add ?socket=PATH to the URI");
    }
  }

  const tlsPskFile = params.get("tls-psk-file");
  const tlsCertificates = params.get("tls-certificates");
  const verifyText = params.get("tls-verify-peer");
  let tlsVerifyPeer = true;
  if (verifyText !== undefined) {
    const v = verifyText.toLowerCase();
    if (["false", "0", "no", "off"].includes(v)) tlsVerifyPeer = false;
    else if (!["true", "1", "yes", "on"].includes(v)) {
      bad(
        "tls-verify-peer",
        `tls-verify-peer=${verifyText} is not a boolean`,
        verifyText,
        "true or false",
        "write tls-verify-peer=false to skip the server certificate check",
      );
    }
  }
  if (scheme && !scheme.tls) {
    for (const name of ["tls-psk-file", "tls-certificates", "tls-verify-peer"]) {
      if (params.has(name)) {
        bad(
          name,
          `has ${name}= but the scheme ${rawScheme} does not use TLS`,
          `${name}=${params.get(name)}`,
          `the TLS scheme ${rawScheme.replace(/^nbd/, "nbds")}`,
          `write ${rawScheme.replace(/^nbd/, "nbds")}:// to use TLS, or remove ${name}=`,
        );
      }
    }
  }
  if (tlsPskFile !== undefined && tlsCertificates !== undefined) {
    bad("tls-psk-file", "has both tls-psk-file= and tls-certificates=", "both", "one of TLS-PSK or X.509", "keep only one of them");
  }

  if (problems.length > 0) throw new InputError(problems);
  return {
    uri,
    transport: scheme!.transport,
    tls: scheme!.tls,
    host: scheme!.transport === "tcp" ? host : undefined,
    port,
    socket,
    exportName,
    user: user ?? (scheme!.tls && tlsPskFile !== undefined ? os.userInfo().username : undefined),
    tlsPskFile,
    tlsCertificates,
    tlsVerifyPeer,
  };
}

function decode(text: string, part: string, bad: (part: string, message: string, received: string, expected: string, fix: string) => void): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    bad(part, `the ${part} has a malformed percent-escape`, text, "%XX escapes with two hex digits", "escape % as %25");
    return undefined;
  }
}
