/**
 * The lab's WAN (`lib/lab/network.ts`) and the delay relay (`lib/link/delay-relay.ts`):
 *
 * 1. TCP throughput onprem → cloud across the veth pair, without a limit and under tbf at
 *    200 Mbit/s and 1 Gbit/s (measured against the configured rate);
 * 2. the relay's overhead: the same transfer through a relay in the onprem namespace, with no
 *    delay and with 10 ms each way (20 ms round trip), against the direct transfer in the same
 *    run; and without a limit, what the relay process can carry at most;
 * 3. the round trip a ping-pong sees through the relay, against the configured 20 ms.
 *
 * Needs root (network namespaces). The last line is one JSON object.
 */
import * as path from "node:path";
import { createWan, type Wan } from "../lib/lab/network";
import { delayRelayArgv } from "../lib/link/delay-relay";

const TOOL = path.join(__dirname, "..", "test", "helpers", "tcp-tool.js");

async function lineOf(
  wan: Wan,
  side: "onprem" | "cloud",
  args: string[],
  key: string,
): Promise<{ result: Promise<Record<string, unknown>>; ready: Promise<void> }> {
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let done!: (v: Record<string, unknown>) => void;
  let failed!: (e: Error) => void;
  const result = new Promise<Record<string, unknown>>((res, rej) => ((done = res), (failed = rej)));
  const owned = wan.spawn(side, args[0], process.execPath, [TOOL, ...args], {
    onStdout: (line) => {
      const o = JSON.parse(line) as Record<string, unknown>;
      if ("listening" in o) ready();
      if (key in o) done(o);
    },
  });
  void owned.exited.then((code) => failed(new Error(`tcp-tool ${args.join(" ")} exited ${code}: ${owned.stderr()}`)));
  result.catch(() => undefined);
  return { result, ready: readyP };
}

let port = 6000;

/** Mbit/s of a transfer of `bytes` from onprem to `host:p` (a sink in cloud at `sinkPort`). */
async function transfer(wan: Wan, bytes: number, via?: { delayMs: number }): Promise<number> {
  const sinkPort = port++;
  const sink = await lineOf(wan, "cloud", ["sink", wan.cloud.address, String(sinkPort)], "received");
  await sink.ready;
  let host = wan.cloud.address;
  let target = sinkPort;
  let relay: ReturnType<Wan["spawn"]> | undefined;
  if (via !== undefined) {
    target = port++;
    host = "127.0.0.1";
    let up!: () => void;
    const listening = new Promise<void>((r) => (up = r));
    relay = wan.spawn(
      "onprem",
      "relay",
      process.execPath,
      delayRelayArgv({ listen: { host, port: target }, target: { host: wan.cloud.address, port: sinkPort }, delayMs: via.delayMs }),
      { onStdout: (l) => l.startsWith("listening") && up() },
    );
    await listening;
  }
  const sender = await lineOf(wan, "onprem", ["send", host, String(target), String(bytes)], "sent");
  const sent = await sender.result;
  await sink.result;
  if (relay !== undefined) relay.child.kill("SIGTERM");
  return (bytes * 8) / 1e6 / (sent.seconds as number);
}

async function pingpong(wan: Wan, delayMs: number): Promise<number[]> {
  const echoPort = port++;
  const echo = await lineOf(wan, "cloud", ["echo", wan.cloud.address, String(echoPort)], "never");
  await echo.ready;
  const relayPort = port++;
  let up!: () => void;
  const listening = new Promise<void>((r) => (up = r));
  wan.spawn(
    "onprem",
    "relay",
    process.execPath,
    delayRelayArgv({ listen: { host: "127.0.0.1", port: relayPort }, target: { host: wan.cloud.address, port: echoPort }, delayMs }),
    { onStdout: (l) => l.startsWith("listening") && up() },
  );
  await listening;
  const pp = await lineOf(wan, "onprem", ["pingpong", "127.0.0.1", String(relayPort), "50"], "rtts");
  return ((await pp.result).rtts as number[]).sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const wan = await createWan();
  const figures: Record<string, number> = {};
  try {
    const MB = 1_000_000;
    const mbit = (x: number): string => `${x.toFixed(0)} Mbit/s`;
    const unlimitedDirect = await transfer(wan, 1000 * MB);
    const unlimitedRelay = await transfer(wan, 1000 * MB, { delayMs: 0 });
    const unlimitedRelayDelay = await transfer(wan, 1000 * MB, { delayMs: 10 });
    console.log(`no limit: direct ${mbit(unlimitedDirect)}, through the relay ${mbit(unlimitedRelay)} (0 ms), ${mbit(unlimitedRelayDelay)} (10 ms each way)`);
    for (const rate of [200, 1000]) {
      await wan.setRate((rate * 1e6) / 8);
      const bytes = rate * MB * 0.6; // about 5 s
      const direct = await transfer(wan, bytes);
      const relayed = await transfer(wan, bytes, { delayMs: 10 });
      console.log(
        `tbf ${rate} Mbit/s: direct ${mbit(direct)} (${((direct / rate) * 100).toFixed(1)} %), through the relay with 10 ms each way ${mbit(relayed)} (${((relayed / direct) * 100).toFixed(1)} % of direct)`,
      );
      figures[`tbf${rate}Direct`] = Number((direct / rate).toFixed(3));
      figures[`tbf${rate}Relay`] = Number((relayed / direct).toFixed(3));
    }
    await wan.setRate((200 * 1e6) / 8);
    const rtts = await pingpong(wan, 10);
    const median = rtts[Math.floor(rtts.length / 2)];
    console.log(
      `round trip through the relay (10 ms each way, 200 Mbit/s): min ${rtts[0].toFixed(2)} ms, median ${median.toFixed(2)} ms, max ${rtts[rtts.length - 1].toFixed(2)} ms`,
    );
    figures.rttMinMs = Number(rtts[0].toFixed(2));
    figures.rttMedianMs = Number(median.toFixed(2));
    figures.unlimitedDirectMbit = Math.round(unlimitedDirect);
    figures.unlimitedRelayMbit = Math.round(unlimitedRelayDelay);
  } finally {
    await wan.teardown();
  }
  console.log(JSON.stringify(figures));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
