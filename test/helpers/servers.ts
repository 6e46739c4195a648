/**
 * Servers that tests start as child processes or daemons: a free TCP port, the PID a daemon
 * wrote, stopping a process by PID, waiting until a TCP port or a unix socket accepts
 * connections, and a scope for a `describe` that stops what its tests started after each test
 * (or, for one started before the first, after the last) and removes its directory after the last.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import { afterAll, afterEach, beforeAll } from "vitest";
import { removeDir, tempDir } from "./tmp";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP port on 127.0.0.1 free at the time of the call. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The PID a daemon wrote; the daemon's child may write it just after its parent exited. */
export async function readPidFile(pidFile: string): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const text = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, "utf8") : "";
    if (text.endsWith("\n")) return Number(text.trim());
    await sleep(10);
  }
  throw new Error(`the server wrote no PID file ${pidFile} within 5 s`);
}

/** Whether `pid` runs; a zombie counts as gone (a daemon's parent is init, which may reap it late). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Sends SIGTERM to `pid` and waits for it to exit (SIGKILL after 5 s). */
export async function stopPid(pid: number): Promise<void> {
  if (!pidAlive(pid)) return;
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 500 && pidAlive(pid); i++) await sleep(10);
  if (pidAlive(pid)) {
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 500 && pidAlive(pid); i++) await sleep(10);
  }
}

function accepts(options: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(options);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Waits until `host:port` accepts a TCP connection, failing after `timeoutMs`. */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts({ host, port }))) {
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on ${host}:${port} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Waits until the unix socket `socket` accepts a connection, failing after `timeoutMs`. */
export async function waitForSocket(socket: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts({ path: socket }))) {
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on ${socket} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Something a test started that `stop()` ends. */
export interface Stoppable {
  stop(): Promise<void>;
}

/** Something a test opened that `destroy()` closes at once. */
export interface Destroyable {
  destroy(): void;
}

/** What {@link serverScope} gives a `describe`. */
export interface ServerScope {
  /** The directory made before the first test (servers put their sockets and PID files there). */
  readonly dir: string;
  /** Stops `server` after the test that started it; returns it. */
  server<T extends Stoppable>(server: T): T;
  /** Destroys `client` after the test that opened it (before the servers stop); returns it. */
  client<T extends Destroyable>(client: T): T;
  /** Stops `server` after the describe's last test (for one started in `beforeAll`); returns it. */
  lasting<T extends Stoppable>(server: T): T;
  /** Stops `server` now and forgets it. */
  stop(server: Stoppable): Promise<void>;
}

/**
 * Called inside a `describe`: a directory `<prefix>XXXXXX` made before its first test and removed
 * after its last, and the clients and servers its tests hand over, destroyed and stopped after
 * each test (clients first) so that a failed test leaves no process behind; servers started in
 * `beforeAll` and handed to `lasting` stop after the last test.
 */
export function serverScope(prefix?: string): ServerScope {
  let dir: string | undefined;
  const servers: Stoppable[] = [];
  const clients: Destroyable[] = [];
  const lasting: Stoppable[] = [];
  beforeAll(() => {
    dir = tempDir(prefix);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const s of servers.splice(0)) await s.stop();
  });
  afterAll(async () => {
    for (const s of lasting.splice(0)) await s.stop();
    if (dir !== undefined) removeDir(dir);
  });
  return {
    get dir(): string {
      if (dir === undefined) throw new Error("serverScope's directory exists only while its describe's tests run");
      return dir;
    },
    server: (server) => {
      servers.push(server);
      return server;
    },
    client: (client) => {
      clients.push(client);
      return client;
    },
    lasting: (server) => {
      lasting.push(server);
      return server;
    },
    stop: async (server) => {
      for (const list of [servers, lasting]) if (list.includes(server)) list.splice(list.indexOf(server), 1);
      await server.stop();
    },
  };
}
