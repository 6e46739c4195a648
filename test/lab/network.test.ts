import { execFile, execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as net from "node:net";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWan, listNamespaces, wanNames, type Wan } from "../../lib/lab/network";
import { delayRelayArgv, startDelayRelay } from "../../lib/link/delay-relay";

const TOOL = path.join(__dirname, "..", "helpers", "tcp-tool.js");
const RATE = 25_000_000; // 200 Mbit/s

/** Starts a tcp-tool mode in a namespace; resolves with the process and its JSON lines. */
function tool(wan: Wan, side: "onprem" | "cloud", args: string[]) {
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  const owned = wan.spawn(side, `tcp-tool ${args[0]}`, process.execPath, [TOOL, ...args], {
    onStdout: (line) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      waiters.splice(0).forEach((w) => w());
    },
  });
  const next = async (key: string, timeoutMs = 20_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find((l) => key in l);
      if (found !== undefined) return found;
      if (owned.child.exitCode !== null) throw new Error(`tcp-tool ${args.join(" ")} exited ${owned.child.exitCode}: ${owned.stderr()}`);
      if (Date.now() > deadline) throw new Error(`tcp-tool ${args.join(" ")} printed no ${key} within ${timeoutMs} ms: ${owned.stderr()}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return { owned, next };
}

describe("the lab's WAN", () => {
  let wan: Wan;
  let suffix: string;

  beforeAll(async () => {
    suffix = crypto.randomBytes(3).toString("hex");
    wan = await createWan({ suffix, rate: RATE });
  });

  afterAll(async () => {
    await wan?.teardown();
  });

  it("joins two namespaces with a veth pair and a tbf limit on each end", async () => {
    const names = wanNames(suffix);
    expect(await listNamespaces()).toEqual(expect.arrayContaining([names.onprem, names.cloud]));
    expect(await wan.exec("onprem", "ip", ["-4", "addr", "show", "dev", wan.onprem.device])).toContain("198.18.0.1/30");
    expect(await wan.exec("cloud", "ip", ["-4", "addr", "show", "dev", wan.cloud.device])).toContain("198.18.0.2/30");
    for (const side of [wan.onprem, wan.cloud]) {
      expect(execFileSync("tc", ["-n", side.namespace, "qdisc", "show", "dev", side.device], { encoding: "utf8" })).toMatch(/tbf .* rate 200Mbit/);
    }
    // The devices live only in the namespaces.
    expect(execFileSync("ip", ["link", "show"], { encoding: "utf8" })).not.toContain(wan.onprem.device);
  });

  it("counts the bytes of a TCP transfer across the link, which tbf holds to its rate", async () => {
    const bytes = 40_000_000;
    const before = await wan.counters();
    const sink = tool(wan, "cloud", ["sink", wan.cloud.address, "5201"]);
    await sink.next("listening");
    const sender = tool(wan, "onprem", ["send", wan.cloud.address, "5201", String(bytes)]);
    const sent = await sender.next("sent", 60_000);
    const received = await sink.next("received");
    const after = await wan.counters();
    expect(sent.sent).toBe(bytes);
    expect(received.received).toBe(bytes);
    const onpremTx = after.onprem.txBytes - before.onprem.txBytes;
    const cloudRx = after.cloud.rxBytes - before.cloud.rxBytes;
    expect(onpremTx).toBeGreaterThanOrEqual(bytes);
    expect(cloudRx).toBeGreaterThanOrEqual(bytes);
    // Headers and acknowledgements, not a second copy.
    expect(onpremTx).toBeLessThan(bytes * 1.1);
    expect(after.onprem.rxBytes - before.onprem.rxBytes).toBeLessThan(bytes * 0.1);
    // The limit is in force: 40 MB cannot cross 200 Mbit/s faster than 1.6 s.
    expect(sent.seconds as number).toBeGreaterThan((0.9 * bytes) / RATE);
  });

  it("lifts and sets the rate limit at run time", async () => {
    await wan.setRate(undefined);
    expect(execFileSync("tc", ["-n", wan.onprem.namespace, "qdisc", "show", "dev", wan.onprem.device], { encoding: "utf8" })).not.toContain("tbf");
    await wan.setRate(RATE / 2);
    expect(wan.rate).toBe(RATE / 2);
    expect(execFileSync("tc", ["-n", wan.cloud.namespace, "qdisc", "show", "dev", wan.cloud.device], { encoding: "utf8" })).toMatch(/tbf .* rate 100Mbit/);
    await wan.setRate(RATE);
  });

  it("a delay relay in the onprem namespace adds its round trip to a ping-pong with the cloud", async () => {
    const echo = tool(wan, "cloud", ["echo", wan.cloud.address, "7000"]);
    await echo.next("listening");
    const direct = tool(wan, "onprem", ["pingpong", wan.cloud.address, "7000", "20"]);
    const directRtts = (await direct.next("rtts")).rtts as number[];
    let listening = "";
    wan.spawn(
      "onprem",
      "delay relay",
      process.execPath,
      delayRelayArgv({ listen: { host: "127.0.0.1", port: 7100 }, target: { host: wan.cloud.address, port: 7000 }, delayMs: 10 }),
      {
        onStdout: (line) => (listening = line),
      },
    );
    const deadline = Date.now() + 20_000;
    while (!listening.startsWith("listening") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(listening).toBe("listening 127.0.0.1:7100");
    const relayed = tool(wan, "onprem", ["pingpong", "127.0.0.1", "7100", "20"]);
    const rtts = (await relayed.next("rtts")).rtts as number[];
    expect(Math.min(...rtts)).toBeGreaterThanOrEqual(20);
    expect(Math.min(...directRtts)).toBeLessThan(5);
  });

  it("teardown stops its processes and leaves no namespace and no veth behind", async () => {
    const names = wanNames(suffix);
    const echo = tool(wan, "cloud", ["echo", wan.cloud.address, "7001"]);
    await echo.next("listening");
    await wan.teardown();
    expect(echo.owned.child.exitCode !== null || echo.owned.child.signalCode !== null).toBe(true);
    const left = await listNamespaces();
    expect(left).not.toContain(names.onprem);
    expect(left).not.toContain(names.cloud);
    expect(execFileSync("ip", ["link", "show"], { encoding: "utf8" })).not.toMatch(new RegExp(`rh-(op|cl)-${suffix}`));
    // A second teardown does nothing.
    await wan.teardown();
  });
});

describe("the lab's WAN in a process that dies", () => {
  it("is removed when the process ends on an uncaught error without its teardown", async () => {
    const suffix = crypto.randomBytes(3).toString("hex");
    const script = `require(${JSON.stringify(path.join(__dirname, "..", "..", "lib", "lab", "network.ts"))}).createWan({ suffix: "${suffix}" }).then(() => { console.log("made"); setTimeout(() => { throw new Error("crash"); }, 10); })`;
    const result = await promisify(execFile)(process.execPath, ["--import", `file://${require.resolve("tsx")}`, "-e", script]).then(
      () => ({ code: 0, stdout: "" }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(result.stdout).toContain("made");
    expect(result.code).not.toBe(0);
    const left = await listNamespaces();
    expect(left).not.toContain(wanNames(suffix).onprem);
    expect(left).not.toContain(wanNames(suffix).cloud);
  });
});

describe("the lab's WAN without root", () => {
  it("says that namespaces need root and names the command, changing nothing", async () => {
    const script = `require(${JSON.stringify(path.join(__dirname, "..", "..", "lib", "lab", "network.ts"))}).createWan({ suffix: "nonroot" }).then(() => process.exit(0), (e) => { console.log(e.name + ": " + e.message); process.exit(3); })`;
    const tsx = require.resolve("tsx");
    const result = await promisify(execFile)(process.execPath, ["--import", `file://${tsx}`, "-e", script], {
      uid: 65534,
      gid: 65534,
      cwd: "/tmp",
      env: { PATH: process.env.PATH, HOME: "/tmp" },
    }).then(
      () => ({ code: 0, stdout: "" }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(result.code).toBe(3);
    expect(result.stdout).toContain("WanUnavailableError");
    expect(result.stdout).toContain("needs root: `ip netns add rehost-onprem-nonroot`");
    expect(await listNamespaces()).not.toContain("rehost-onprem-nonroot");
  });
});

describe("the delay relay", () => {
  it("adds each direction's delay to a round trip and relays bytes unchanged in both directions", async () => {
    const echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    const relay = await startDelayRelay({
      listen: { host: "127.0.0.1", port: 0 },
      target: { host: "127.0.0.1", port: (echo.address() as net.AddressInfo).port },
      delayMs: 4,
      returnDelayMs: 12,
    });
    try {
      const socket = net.connect({ host: "127.0.0.1", port: relay.port, noDelay: true });
      await new Promise<void>((r) => socket.once("connect", r));
      const rtts: number[] = [];
      for (let i = 0; i < 10; i++) {
        const start = performance.now();
        socket.write("x");
        await new Promise<void>((r) => socket.once("data", () => r()));
        rtts.push(performance.now() - start);
      }
      expect(Math.min(...rtts)).toBeGreaterThanOrEqual(16);

      const payload = crypto.randomBytes(8 * 1024 * 1024);
      const back: Buffer[] = [];
      socket.on("data", (d: Buffer) => back.push(d));
      const ended = new Promise<void>((r) => socket.once("end", r));
      socket.end(payload);
      await ended;
      expect(Buffer.concat(back).equals(payload)).toBe(true);
      expect(relay.bytes.up).toBe(payload.length + 10);
      expect(relay.bytes.down).toBe(payload.length + 10);
    } finally {
      await relay.close();
      await new Promise<void>((r) => echo.close(() => r()));
    }
  });

  it("refuses a negative delay", async () => {
    await expect(startDelayRelay({ listen: { host: "127.0.0.1", port: 0 }, target: { host: "127.0.0.1", port: 1 }, delayMs: -1 })).rejects.toThrow(/delayMs/);
  });
});
