/**
 * Where the lab's parts run. As root: the real shape — vCenter (the simulator) and the source
 * proxy in an "on-prem" network namespace, the agent in a "cloud" one, joined by a veth link whose
 * bytes are counted (`network.ts`), the lab itself reaching both through control links. Without
 * root (network namespaces need it): everything on 127.0.0.1, and the link's bytes are what the
 * proxy counts putting frames on the wire.
 */
import type { ProcessGroup, Owned } from "../service/processes";
import { createWan, WanUnavailableError, type Wan } from "./network";

/** One side of the lab. */
type LabSide = "onprem" | "cloud";

/** Where the lab's parts run. */
export interface LabSite {
  readonly mode: "namespaces" | "loopback";
  /** Why the lab runs on loopback, when it does. */
  readonly fallback?: string;
  /** The network namespaces it created (none on loopback). */
  readonly namespaces: readonly string[];
  /** The address each side listens on and is reached at. */
  host(side: LabSide): string;
  spawn(
    side: LabSide,
    name: string,
    command: string,
    args: readonly string[],
    options?: { env?: NodeJS.ProcessEnv; onStdout?: (line: string) => void },
  ): Owned & { stderr: () => string };
  /** Bytes that crossed the link so far, both directions (undefined on loopback). */
  linkBytes(): Promise<number | undefined>;
  /** Stops what was spawned and removes the namespaces. */
  close(): Promise<void>;
}

/** Opens the lab's site: namespaces when this process may create them, else loopback. */
export async function openSite(group: ProcessGroup, options: { loopback?: boolean } = {}): Promise<LabSite> {
  let wan: Wan | undefined;
  let fallback: string | undefined;
  if (options.loopback === true) fallback = "asked for (--loopback)";
  else {
    try {
      wan = await createWan({ control: true });
    } catch (err) {
      if (!(err instanceof WanUnavailableError)) throw err;
      fallback = err.message;
    }
  }
  if (wan === undefined) {
    return {
      mode: "loopback",
      fallback,
      namespaces: [],
      host: () => "127.0.0.1",
      spawn: (_side, name, command, args, spawnOptions) => group.spawn(name, command, args, spawnOptions),
      linkBytes: async () => undefined,
      close: async () => undefined,
    };
  }
  return wanSite(wan);
}

/** The lab's site over a WAN already made (by `openSite`, or with a rate by a test or bench). */
export function wanSite(w: Wan): LabSite {
  return {
    mode: "namespaces",
    namespaces: [w.onprem.namespace, w.cloud.namespace],
    host: (side) => (side === "onprem" ? w.onprem.address : w.cloud.address),
    spawn: (side, name, command, args, spawnOptions) => w.spawn(side, name, command, args, spawnOptions),
    async linkBytes() {
      const c = await w.counters();
      return c.onprem.txBytes + c.cloud.txBytes;
    },
    close: () => w.teardown(),
  };
}
