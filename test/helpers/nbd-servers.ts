/**
 * Real NBD servers for tests: qemu-nbd and nbdkit, daemonised on a unix socket or 127.0.0.1,
 * stopped by PID (test/helpers/servers.ts); TLS-PSK key files made with psktool and X.509 certificates made with certtool.
 *
 * Every server is started in a directory the caller owns (`tempDir()`); call `stop()` in
 * `afterAll`/`afterEach` so that a failed test leaves no process behind.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { freePort, readPidFile, stopPid } from "./servers";

const run = promisify(execFile);

/** A running NBD server. */
export interface NbdServer {
  /** Its URI, libnbd style (without TLS parameters: add them with `withQuery`). */
  readonly uri: string;
  readonly pid: number;
  /** The unix socket, when it listens on one. */
  readonly socket?: string;
  /** The TCP port on 127.0.0.1, when it listens on TCP. */
  readonly port?: number;
  /** Stops the server by PID (SIGTERM, then SIGKILL after 5 s) and removes its socket. */
  stop(): Promise<void>;
}

/** A fresh temporary directory (test/helpers/tmp.ts). */
export { tempDir } from "./tmp";
/** A free port and stopping by PID (test/helpers/servers.ts). */
export { freePort, stopPid } from "./servers";

/** Appends query parameters to a URI. */
export function withQuery(uri: string, params: Record<string, string>): string {
  const query = Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  return `${uri}${uri.includes("?") ? "&" : "?"}${query}`;
}

interface Listen {
  /** Listen on 127.0.0.1 (a free port) instead of a unix socket in `dir`. */
  readonly tcp?: boolean;
  /** Where the socket and PID file go. */
  readonly dir: string;
  /** Export name. @default "" */
  readonly exportName?: string;
  /** URI scheme prefix for TLS servers. */
  readonly tls?: boolean;
}

/** Options of {@link startQemuNbd}. */
export interface QemuNbdOptions extends Listen {
  readonly image: string;
  readonly format: "raw" | "qcow2";
  /** Export the persistent dirty bitmap NAME as `qemu:dirty-bitmap:NAME` (`-B`). */
  readonly bitmap?: string;
  readonly readOnly?: boolean;
  /** Clients allowed at once (`--shared`). @default 4 */
  readonly shared?: number;
  readonly extraArgs?: readonly string[];
}

/** Starts `qemu-nbd --fork`; resolves once it listens. */
export async function startQemuNbd(o: QemuNbdOptions): Promise<NbdServer> {
  const pidFile = path.join(o.dir, `qemu-nbd-${process.hrtime.bigint()}.pid`);
  const listen = await listenArgs(o, "qemu-nbd");
  const args = [
    "--fork",
    // Without --persistent qemu-nbd exits when its last client disconnects.
    "--persistent",
    `--pid-file=${pidFile}`,
    "-f",
    o.format,
    `--shared=${o.shared ?? 4}`,
    "-x",
    o.exportName ?? "",
    ...(o.bitmap ? ["-B", o.bitmap] : []),
    ...(o.readOnly ? ["-r"] : []),
    ...listen.args,
    ...(o.extraArgs ?? []),
    o.image,
  ];
  await run("qemu-nbd", args);
  return server(await readPidFile(pidFile), listen);
}

/** Options of {@link startNbdkit}. */
export interface NbdkitOptions extends Listen {
  /** Plugin and its parameters, e.g. `["memory", "8M"]` or `["file", "disk.img"]`. */
  readonly plugin: readonly string[];
  /** Filters, outermost first, e.g. `["error"]`; their parameters go in `plugin` after the plugin's. */
  readonly filters?: readonly string[];
  /** `--tls=require --tls-psk=FILE`. */
  readonly tlsPsk?: string;
  /** `--tls=require --tls-certificates=DIR` (DIR holds ca-cert.pem, server-cert.pem, server-key.pem). */
  readonly tlsCertificates?: string;
  /** With `tlsCertificates`: `--tls-verify-peer`. */
  readonly tlsVerifyPeer?: boolean;
  readonly readOnly?: boolean;
  readonly extraArgs?: readonly string[];
}

/** Starts nbdkit in the background (`-P pidfile`); resolves once it listens. */
export async function startNbdkit(o: NbdkitOptions): Promise<NbdServer> {
  const pidFile = path.join(o.dir, `nbdkit-${process.hrtime.bigint()}.pid`);
  const tls = o.tlsPsk !== undefined || o.tlsCertificates !== undefined;
  const listen = await listenArgs({ ...o, tls }, "nbdkit");
  const args = [
    "-P",
    pidFile,
    ...listen.args,
    ...(o.exportName !== undefined ? ["-e", o.exportName] : []),
    ...(o.readOnly ? ["-r"] : []),
    ...(o.tlsPsk !== undefined ? ["--tls=require", `--tls-psk=${o.tlsPsk}`] : []),
    ...(o.tlsCertificates !== undefined ? ["--tls=require", `--tls-certificates=${o.tlsCertificates}`] : []),
    ...(o.tlsVerifyPeer ? ["--tls-verify-peer"] : []),
    ...(o.filters ?? []).map((f) => `--filter=${f}`),
    ...(o.extraArgs ?? []),
    ...o.plugin,
  ];
  await run("nbdkit", args);
  return server(await readPidFile(pidFile), listen);
}

interface ListenArgs {
  readonly args: string[];
  readonly uri: string;
  readonly socket?: string;
  readonly port?: number;
}

async function listenArgs(o: Listen, program: "qemu-nbd" | "nbdkit"): Promise<ListenArgs> {
  const exportPath = encodeURIComponent(o.exportName ?? "");
  if (o.tcp) {
    const port = await freePort();
    const args = program === "qemu-nbd" ? ["-b", "127.0.0.1", "-p", String(port)] : ["-i", "127.0.0.1", "-p", String(port)];
    return { args, port, uri: `${o.tls ? "nbds" : "nbd"}://127.0.0.1:${port}/${exportPath}` };
  }
  const socket = path.join(o.dir, `${program}-${process.hrtime.bigint()}.sock`);
  fs.rmSync(socket, { force: true });
  const args = program === "qemu-nbd" ? ["-k", socket] : ["-U", socket];
  return { args, socket, uri: `${o.tls ? "nbds+unix" : "nbd+unix"}:///${exportPath}?socket=${socket}` };
}

function server(pid: number, listen: ListenArgs): NbdServer {
  return {
    uri: listen.uri,
    pid,
    socket: listen.socket,
    port: listen.port,
    stop: async () => {
      await stopPid(pid);
      if (listen.socket) fs.rmSync(listen.socket, { force: true });
    },
  };
}

/** Creates a TLS-PSK keys file for `user` with `psktool`; returns its path. */
export async function makePskFile(dir: string, user: string, name = "keys.psk"): Promise<string> {
  const file = path.join(dir, name);
  await run("psktool", ["-u", user, "-p", file]);
  return file;
}

/** Directories of X.509 material made by {@link makeX509}. */
export interface X509Dirs {
  /** For `nbdkit --tls-certificates`: ca-cert.pem, server-cert.pem, server-key.pem. */
  readonly serverDir: string;
  /** For `tls-certificates=`: ca-cert.pem, client-cert.pem, client-key.pem. */
  readonly clientDir: string;
  /** For `tls-certificates=` with only the CA (no client certificate). */
  readonly caOnlyDir: string;
  /** A CA that did not sign the server certificate, in its own directory. */
  readonly otherCaDir: string;
}

/**
 * Makes a CA, a server certificate for `localhost` and 127.0.0.1, and a client certificate,
 * with certtool (ECDSA keys, valid two days).
 */
export async function makeX509(dir: string): Promise<X509Dirs> {
  const serverDir = path.join(dir, "server");
  const clientDir = path.join(dir, "client");
  const caOnlyDir = path.join(dir, "ca-only");
  const otherCaDir = path.join(dir, "other-ca");
  const work = path.join(dir, "work");
  for (const d of [serverDir, clientDir, caOnlyDir, otherCaDir, work]) fs.mkdirSync(d, { recursive: true });
  const file = (name: string): string => path.join(work, name);
  const key = async (name: string): Promise<string> => {
    await run("certtool", ["--generate-privkey", "--key-type=ecdsa", "--outfile", file(name)]);
    return file(name);
  };
  const template = (name: string, lines: string[]): string => {
    fs.writeFileSync(file(name), `${lines.join("\n")}\n`);
    return file(name);
  };
  const selfSigned = async (keyFile: string, cn: string, out: string): Promise<void> => {
    const t = template(`${cn}.info`, [`cn = ${cn}`, "ca", "cert_signing_key", "expiration_days = 2"]);
    await run("certtool", ["--generate-self-signed", "--load-privkey", keyFile, "--template", t, "--outfile", out]);
  };
  const caKey = await key("ca-key.pem");
  await selfSigned(caKey, "rehost-test-ca", file("ca-cert.pem"));
  const otherKey = await key("other-ca-key.pem");
  await selfSigned(otherKey, "rehost-other-ca", path.join(otherCaDir, "ca-cert.pem"));

  const signed = async (keyFile: string, lines: string[], out: string): Promise<void> => {
    const t = template(`${path.basename(out)}.info`, [...lines, "expiration_days = 2"]);
    await run("certtool", [
      "--generate-certificate",
      "--load-ca-certificate",
      file("ca-cert.pem"),
      "--load-ca-privkey",
      caKey,
      "--load-privkey",
      keyFile,
      "--template",
      t,
      "--outfile",
      out,
    ]);
  };
  const serverKey = await key("server-key.pem");
  await signed(
    serverKey,
    ["organization = rehost", "cn = localhost", "dns_name = localhost", "ip_address = 127.0.0.1", "tls_www_server", "signing_key", "encryption_key"],
    file("server-cert.pem"),
  );
  const clientKey = await key("client-key.pem");
  await signed(clientKey, ["organization = rehost", "cn = rehost-client", "tls_www_client", "signing_key", "encryption_key"], file("client-cert.pem"));

  for (const d of [serverDir, clientDir, caOnlyDir]) fs.copyFileSync(file("ca-cert.pem"), path.join(d, "ca-cert.pem"));
  fs.copyFileSync(file("server-cert.pem"), path.join(serverDir, "server-cert.pem"));
  fs.copyFileSync(serverKey, path.join(serverDir, "server-key.pem"));
  fs.copyFileSync(file("client-cert.pem"), path.join(clientDir, "client-cert.pem"));
  fs.copyFileSync(clientKey, path.join(clientDir, "client-key.pem"));
  for (const d of [serverDir, clientDir]) for (const f of fs.readdirSync(d)) fs.chmodSync(path.join(d, f), 0o600);
  return { serverDir, clientDir, caOnlyDir, otherCaDir };
}

/** Runs `qemu-img` with `args`. */
export async function qemuImg(...args: string[]): Promise<string> {
  const { stdout } = await run("qemu-img", args);
  return stdout;
}
