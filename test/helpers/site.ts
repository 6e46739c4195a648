/**
 * Tearing down an on-prem test site: the proxy first (it pushes to the agent and reads from the
 * simulator), then the agent, the vCenter session, the simulator, and last the test's directory.
 */
import * as fs from "node:fs";

/** What a site test started; any part not started yet (a failed `beforeAll`) is `undefined`. */
export interface SiteParts {
  /** The proxy: in this process (`close`) or a child process the test started (`stop`). */
  readonly proxy?: { close(): Promise<void> } | { stop(): Promise<void> };
  readonly agent?: { close(): Promise<void> };
  readonly vc?: { logout(): Promise<unknown> };
  readonly sim?: { stop(): Promise<void> };
  readonly dir: string;
}

/** Stops every part of the site that was started and removes its directory; a session already gone is no failure. */
export async function stopSite({ proxy, agent, vc, sim, dir }: SiteParts): Promise<void> {
  if (proxy !== undefined) await ("close" in proxy ? proxy.close() : proxy.stop());
  await agent?.close();
  await vc?.logout().catch(() => undefined);
  await sim?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
