/**
 * A TCP relay that adds a fixed delay to each direction, for a lab WAN with a round-trip time
 * (this kernel has no `netem`). Every chunk read from one side is written to the other side
 * `delayMs` later, in order; an end of stream is delayed the same way. The relay does not limit
 * throughput: it holds up to `maxBufferedBytes` per direction (at 1 Gbit/s a 20 ms delay holds
 * 2.5 MB) before it stops reading, which TCP turns into back-pressure on the sender.
 *
 * What it emulates and what it does not: an application exchange (a request and its answer, an
 * acknowledgement of a round) pays the round trip; TCP itself sees a short round trip on each of
 * the relay's two legs, so its window growth is not slowed as on a real long line (Linux window
 * autotuning hides most of that on a 20 ms, 200 Mbit/s line anyway: 500 KB in flight).
 *
 * Run in-process with `startDelayRelay`, or as a process (inside a lab namespace) with
 * `delayRelayArgv`: `node <this file> --listen HOST:PORT --target HOST:PORT --delay-ms N`, which
 * prints `listening HOST:PORT` once it accepts connections.
 */
import * as net from "node:net";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

/** Options of a relay. */
export interface DelayRelayOptions {
  /** Where it listens. Port 0 picks a free port. */
  readonly listen: { readonly host: string; readonly port: number };
  /** Where it connects for each accepted connection. */
  readonly target: { readonly host: string; readonly port: number };
  /** Delay added to the client → target direction, in ms. */
  readonly delayMs: number;
  /** Delay added to the target → client direction, in ms. @default - `delayMs` */
  readonly returnDelayMs?: number;
  /** Bytes held per direction and connection before reading pauses. @default 64 MiB */
  readonly maxBufferedBytes?: number;
}

/** A running relay. */
export interface DelayRelay {
  readonly host: string;
  readonly port: number;
  /** Bytes relayed client → target and target → client so far. */
  readonly bytes: { readonly up: number; readonly down: number };
  /** Stops listening and closes every relayed connection. */
  close(): Promise<void>;
}

const END = Symbol("end");

/** Copies `from` to `to`, each chunk `delayMs` after it was read. */
function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number, maxBuffered: number, count: (n: number) => void): void {
  const queue: { due: number; chunk: Buffer | typeof END }[] = [];
  let head = 0;
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  const backlog = (): number => held + to.writableLength;
  const schedule = (): void => {
    if (timer !== undefined || head >= queue.length) return;
    timer = setTimeout(flush, Math.max(0, queue[head].due - performance.now()));
  };
  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (head < queue.length && queue[head].due <= now) {
      const { chunk } = queue[head++];
      if (chunk === END) {
        to.end();
        continue;
      }
      held -= chunk.length;
      if (!to.destroyed) to.write(chunk);
      count(chunk.length);
    }
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    if (from.isPaused() && backlog() < maxBuffered / 2) from.resume();
    schedule();
  };
  from.on("data", (chunk: Buffer) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    held += chunk.length;
    if (backlog() > maxBuffered) from.pause();
    schedule();
  });
  from.on("end", () => {
    queue.push({ due: performance.now() + delayMs, chunk: END });
    schedule();
  });
  to.on("drain", () => {
    if (from.isPaused() && backlog() < maxBuffered / 2) from.resume();
  });
  from.on("close", () => {
    // A reset (not an orderly end): drop what is held, reset the other side too.
    if (!from.readableEnded) {
      if (timer !== undefined) clearTimeout(timer);
      to.destroy();
    }
  });
}

function checkOptions(o: DelayRelayOptions): void {
  for (const [name, v] of [
    ["delayMs", o.delayMs],
    ["returnDelayMs", o.returnDelayMs ?? o.delayMs],
  ] as const) {
    if (!(v >= 0 && Number.isFinite(v))) throw new RangeError(`${name} is a number of milliseconds ≥ 0, not ${v}.`);
  }
  if (o.maxBufferedBytes !== undefined && !(o.maxBufferedBytes > 0)) throw new RangeError(`maxBufferedBytes must be positive, not ${o.maxBufferedBytes}.`);
}

/** Starts a relay in this process; resolves once it listens. */
export async function startDelayRelay(options: DelayRelayOptions): Promise<DelayRelay> {
  checkOptions(options);
  const max = options.maxBufferedBytes ?? 64 * 1024 * 1024;
  const bytes = { up: 0, down: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: options.target.host, port: options.target.port, noDelay: true, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    delayedPipe(client, upstream, options.delayMs, max, (n) => (bytes.up += n));
    delayedPipe(upstream, client, options.returnDelayMs ?? options.delayMs, max, (n) => (bytes.down += n));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  return {
    host: address.address,
    port: address.port,
    bytes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `node` arguments that run a relay as a process (from the compiled file, or from source through tsx). */
export function delayRelayArgv(options: DelayRelayOptions): string[] {
  checkOptions(options);
  const loader = __filename.endsWith(".ts") ? ["--import", pathToFileURL(require.resolve("tsx")).href] : [];
  const args = [
    ...loader,
    path.resolve(__filename),
    "--listen",
    `${options.listen.host}:${options.listen.port}`,
    "--target",
    `${options.target.host}:${options.target.port}`,
    "--delay-ms",
    String(options.delayMs),
  ];
  if (options.returnDelayMs !== undefined) args.push("--return-delay-ms", String(options.returnDelayMs));
  if (options.maxBufferedBytes !== undefined) args.push("--max-buffered-bytes", String(options.maxBufferedBytes));
  return args;
}

function hostPort(text: string | undefined, flag: string): { host: string; port: number } {
  const m = text === undefined ? null : /^(.+):(\d+)$/.exec(text);
  if (m === null) throw new Error(`${flag} needs HOST:PORT, not ${text ?? "nothing"}.`);
  return { host: m[1], port: Number(m[2]) };
}

async function main(argv: readonly string[]): Promise<void> {
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const relay = await startDelayRelay({
    listen: hostPort(flag("--listen"), "--listen"),
    target: hostPort(flag("--target"), "--target"),
    delayMs: Number(flag("--delay-ms") ?? "0"),
    returnDelayMs: flag("--return-delay-ms") !== undefined ? Number(flag("--return-delay-ms")) : undefined,
    maxBufferedBytes: flag("--max-buffered-bytes") !== undefined ? Number(flag("--max-buffered-bytes")) : undefined,
  });
  process.stdout.write(`listening ${relay.host}:${relay.port}\n`);
  const stop = (): void => {
    void relay.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`delay relay: ${(err as Error).message}\n`);
    process.exit(2);
  });
}
