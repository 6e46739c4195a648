/**
 * The lab's WAN: two network namespaces, "onprem" (the source proxy) and "cloud" (the agents),
 * joined by a veth pair with one address on each end, optionally rate-limited with a `tbf` qdisc
 * on each end's egress (this kernel has no `netem`: latency comes from the delay relay,
 * `lib/link/delay-relay.ts`). The veth ends' byte counters (`/sys/class/net/DEV/statistics`, read
 * inside each namespace) say what crossed the link.
 *
 * Names carry a unique suffix, so concurrent labs and tests never collide; `teardown` stops the
 * processes started in the namespaces and deletes exactly the two namespaces it created (the veth
 * pair goes with them), and so does the end of this process if no teardown ran. Namespaces need
 * root: `createWan` says so before it changes anything.
 *
 * Addresses are from 198.18.0.0/15, the range set aside for network benchmarks (RFC 2544); they
 * exist only inside the two namespaces. With `control`, each namespace also gets a veth pair to
 * this process's namespace and this namespace a route to each side's link address through it, so
 * the lab (which runs here) reaches the proxy, the simulator and the agents at the same addresses
 * as they reach one another, while only proxy–agent traffic crosses the counted link. Those
 * addresses are then picked at random in 198.18.0.0/15, so several labs never share a route.
 */
import { execFile, execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import { promisify } from "node:util";
import { ProcessGroup, type Owned } from "../service/processes";

const run = promisify(execFile);

/** One end of the link. */
interface WanSide {
  /** The network namespace (`ip netns` name). */
  readonly namespace: string;
  /** The veth device in it. */
  readonly device: string;
  /** Its IPv4 address on the link. */
  readonly address: string;
}

/** Bytes a veth end sent and received, from its statistics. */
interface SideCounters {
  readonly txBytes: number;
  readonly rxBytes: number;
}

/** Options of `createWan`. */
export interface WanOptions {
  /** Suffix of every name (at most 8 of [a-z0-9]). @default - 6 random hex digits */
  readonly suffix?: string;
  /** Rate limit of each direction in bytes/s (`tc … tbf`). @default - no limit */
  readonly rate?: number;
  /** Links from this namespace to both sides (see the module comment). @default false */
  readonly control?: boolean;
}

/** The lab's WAN (see the module comment). */
export interface Wan {
  readonly onprem: WanSide;
  readonly cloud: WanSide;
  /** The rate limit of each direction in bytes/s, undefined when there is none. */
  readonly rate: number | undefined;
  /** The byte counters of both ends. */
  counters(): Promise<{ onprem: SideCounters; cloud: SideCounters }>;
  /** Sets (or with undefined removes) the rate limit of both directions. */
  setRate(rate: number | undefined): Promise<void>;
  /** Starts `command` inside a side's namespace (`ip netns exec`), owned by the WAN's process group. */
  spawn(
    side: "onprem" | "cloud",
    name: string,
    command: string,
    args: readonly string[],
    options?: { env?: NodeJS.ProcessEnv; onStdout?: (line: string) => void },
  ): Owned & { stderr: () => string };
  /** Runs `command` inside a side's namespace to its end; resolves with its stdout. */
  exec(side: "onprem" | "cloud", command: string, args: readonly string[]): Promise<string>;
  /** Stops every process started with `spawn`, then deletes both namespaces (and so the veth pair). */
  teardown(): Promise<void>;
}

/** Thrown when the WAN cannot be made here (not root, no `ip`); nothing was changed. */
export class WanUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WanUnavailableError";
  }
}

/** The namespace names a WAN with `suffix` uses. */
export function wanNames(suffix: string): { onprem: string; cloud: string; onpremDevice: string; cloudDevice: string } {
  return { onprem: `rehost-onprem-${suffix}`, cloud: `rehost-cloud-${suffix}`, onpremDevice: `rh-op-${suffix}`, cloudDevice: `rh-cl-${suffix}` };
}

/** The network namespaces that exist now (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run("ip", ["netns", "list"]);
  return stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n !== undefined && n !== "");
}

async function ip(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run("ip", [...args]);
    return stdout;
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? String(err)).trim();
    throw new Error(`ip ${args.join(" ")} failed: ${stderr}`);
  }
}

async function tc(args: readonly string[]): Promise<void> {
  try {
    await run("tc", [...args]);
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? String(err)).trim();
    throw new Error(`tc ${args.join(" ")} failed: ${stderr}`);
  }
}

/** Three /30 subnets of 198.18.0.0/15 that no route of this namespace covers. */
async function freeSubnets(): Promise<number[][]> {
  const routes = await ip(["-4", "route", "show"]);
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = crypto.randomInt(1, 8_191) * 16;
    const subnets = [0, 4, 8].map((o) => {
      const v = base + o;
      return [198, 18 + (v >> 16), (v >> 8) & 255, v & 255];
    });
    if (subnets.every((n) => !routes.includes(`${n[0]}.${n[1]}.${n[2]}.`))) return subnets;
  }
  throw new Error("No free /30 in 198.18.0.0/15 for the lab's links.");
}

/** The tbf burst for `rate` bytes/s: 10 ms of traffic, and at least 256 KiB so GSO packets (64 KiB) pass. */
function burstFor(rate: number): number {
  return Math.max(256 * 1024, Math.ceil(rate / 100));
}

/** Creates the two namespaces and the link (see the module comment). */
export async function createWan(options: WanOptions = {}): Promise<Wan> {
  const suffix = options.suffix ?? crypto.randomBytes(3).toString("hex");
  if (!/^[a-z0-9]{1,8}$/.test(suffix)) throw new RangeError(`A WAN suffix is 1 to 8 of a-z and 0-9, not ${JSON.stringify(suffix)}.`);
  if (options.rate !== undefined && !(options.rate > 0 && Number.isFinite(options.rate)))
    throw new RangeError(`The WAN's rate is a positive number of bytes/s, not ${options.rate}.`);
  const names = wanNames(suffix);
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new WanUnavailableError(
      `The lab's WAN needs network namespaces, and creating them needs root: \`ip netns add ${names.onprem}\` fails for user ${process.getuid()}. Run as root (for example \`sudo npm run lab\`).`,
    );
  }
  try {
    await run("ip", ["-V"]);
    await run("tc", ["-V"]);
  } catch {
    throw new WanUnavailableError("The lab's WAN needs `ip` and `tc` (Debian package iproute2): install it with `apt-get install iproute2`.");
  }
  const existing = await listNamespaces();
  for (const ns of [names.onprem, names.cloud])
    if (existing.includes(ns)) throw new Error(`The network namespace ${ns} exists already; choose another suffix or delete it with \`ip netns del ${ns}\`.`);

  const created: string[] = [];
  // Three /30s at random (link, control of onprem, control of cloud), or the fixed link alone.
  const net = options.control === true ? await freeSubnets() : [[198, 18, 0, 0]];
  const at = (n: number, host: number): string => `${net[n][0]}.${net[n][1]}.${net[n][2]}.${net[n][3] + host}`;
  const onprem: WanSide = { namespace: names.onprem, device: names.onpremDevice, address: at(0, 1) };
  const cloud: WanSide = { namespace: names.cloud, device: names.cloudDevice, address: at(0, 2) };
  const group = new ProcessGroup();
  let rate: number | undefined;
  let torn = false;

  const setRate = async (next: number | undefined): Promise<void> => {
    if (next !== undefined && !(next > 0 && Number.isFinite(next))) throw new RangeError(`The WAN's rate is a positive number of bytes/s, not ${next}.`);
    for (const side of [onprem, cloud]) {
      if (next === undefined) {
        if (rate !== undefined) await tc(["-n", side.namespace, "qdisc", "del", "dev", side.device, "root"]);
      } else {
        await tc([
          "-n",
          side.namespace,
          "qdisc",
          "replace",
          "dev",
          side.device,
          "root",
          "tbf",
          "rate",
          `${Math.round(next * 8)}bit`,
          "burst",
          String(burstFor(next)),
          "latency",
          "100ms",
        ]);
      }
    }
    rate = next;
  };

  // Should this process end without a teardown (an uncaught error), the namespaces go with it.
  const onExit = (): void => {
    for (const ns of created) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
  };
  process.on("exit", onExit);

  // One teardown, however many callers: a second caller waits for the first to finish (and the
  // exit hook stays until the namespaces are gone, should the process exit meanwhile).
  let tearing: Promise<void> | undefined;
  const teardown = (): Promise<void> => (tearing ??= removeAll());
  const removeAll = async (): Promise<void> => {
    torn = true;
    await group.stopAll();
    const errors: string[] = [];
    for (const ns of [...created].reverse()) {
      try {
        await ip(["netns", "del", ns]);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    created.length = 0;
    process.off("exit", onExit);
    if (errors.length > 0) throw new Error(`The lab's WAN was not removed entirely: ${errors.join("; ")}`);
  };

  try {
    for (const side of [onprem, cloud]) {
      await ip(["netns", "add", side.namespace]);
      created.push(side.namespace);
    }
    await ip(["link", "add", onprem.device, "netns", onprem.namespace, "type", "veth", "peer", "name", cloud.device, "netns", cloud.namespace]);
    for (const side of [onprem, cloud]) {
      await ip(["-n", side.namespace, "addr", "add", `${side.address}/30`, "dev", side.device]);
      await ip(["-n", side.namespace, "link", "set", side.device, "up"]);
      await ip(["-n", side.namespace, "link", "set", "lo", "up"]);
    }
    if (options.control === true) {
      for (const [n, side, device] of [
        [1, onprem, `rxo${suffix}`],
        [2, cloud, `rxc${suffix}`],
      ] as const) {
        await ip(["link", "add", device, "type", "veth", "peer", "name", `${device}-p`, "netns", side.namespace]);
        await ip(["addr", "add", `${at(n, 1)}/30`, "dev", device]);
        await ip(["link", "set", device, "up"]);
        await ip(["-n", side.namespace, "addr", "add", `${at(n, 2)}/30`, "dev", `${device}-p`]);
        await ip(["-n", side.namespace, "link", "set", `${device}-p`, "up"]);
        // This namespace reaches the side at its link address; the side answers through the control link.
        await ip(["route", "add", `${side.address}/32`, "via", at(n, 2), "dev", device]);
      }
    }
    if (options.rate !== undefined) await setRate(options.rate);
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }

  const readCounters = async (side: WanSide): Promise<SideCounters> => {
    const stats = `/sys/class/net/${side.device}/statistics`;
    const out = await ip(["netns", "exec", side.namespace, "cat", `${stats}/tx_bytes`, `${stats}/rx_bytes`]);
    const [tx, rx] = out.trim().split(/\s+/).map(Number);
    return { txBytes: tx, rxBytes: rx };
  };

  return {
    onprem,
    cloud,
    get rate() {
      return rate;
    },
    async counters() {
      const [o, c] = await Promise.all([readCounters(onprem), readCounters(cloud)]);
      return { onprem: o, cloud: c };
    },
    setRate,
    spawn(side, name, command, args, spawnOptions = {}) {
      if (torn) throw new Error("The lab's WAN was torn down.");
      const ns = side === "onprem" ? onprem.namespace : cloud.namespace;
      return group.spawn(name, "ip", ["netns", "exec", ns, command, ...args], spawnOptions);
    },
    async exec(side, command, args) {
      const ns = side === "onprem" ? onprem.namespace : cloud.namespace;
      return ip(["netns", "exec", ns, command, ...args]);
    },
    teardown,
  };
}
