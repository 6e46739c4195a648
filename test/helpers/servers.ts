/**
 * Servers that tests start as child processes or daemons: a free TCP port, the PID a daemon
 * wrote, stopping a process by PID, waiting until a TCP port or a unix socket accepts
 * connections. (Stopping them after each test: `serverScope` in test/helpers/scopes.ts.) No
 * vitest import, so the benchmarks can use it too.
 */
import * as fs from "node:fs";
import * as net from "node:net";

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
