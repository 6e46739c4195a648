/**
 * What every provider operation shares: the credentials `configure` set, readiness of an agent,
 * and one-line descriptions of jobs for messages.
 */
import type { JobStatus } from "../../agent/api";
import type { AgentClient } from "../../agent/client";
import type { ProxyClient } from "../../proxy/client";
import { ProviderCredentials } from "../credentials";
import { poll } from "../waiting";

let credentials = new ProviderCredentials();

/** Sets the credentials from the stack's configuration (the provider's `configure`). */
export function configure(config: ProviderCredentials | { get(key: string): string | undefined }): void {
  credentials = config instanceof ProviderCredentials ? config : new ProviderCredentials(config);
}

/** The credentials in effect: the stack's configuration, then the environment. */
export function currentCredentials(): ProviderCredentials {
  return credentials;
}

/** A client of the agent at `url` with the credentials in effect. */
export function agentAt(url: string): AgentClient {
  return credentials.agentClient(url);
}

/** A client of the source proxy at `url` with the credentials in effect. */
export function proxyAt(url: string): ProxyClient {
  return credentials.proxyClient(url);
}

/** Waits until the source proxy at `url` answers its health check. */
export async function waitForProxy(client: ProxyClient, url: string, timing: { readyTimeoutSeconds: number; pollSeconds: number }): Promise<void> {
  await poll(`the source proxy at ${url} to answer`, { timeoutSeconds: timing.readyTimeoutSeconds, pollSeconds: timing.pollSeconds }, async () => {
    const health = await client.health();
    return health.ok === true ? { done: undefined } : { waiting: `health ${JSON.stringify(health)}` };
  });
}

/** Waits until the agent at `url` answers its health check (a new gateway boots and installs it). */
export async function waitForAgent(client: AgentClient, url: string, timing: { readyTimeoutSeconds: number; pollSeconds: number }): Promise<void> {
  await poll(
    `the agent at ${url} to answer (a new gateway boots and starts it)`,
    { timeoutSeconds: timing.readyTimeoutSeconds, pollSeconds: timing.pollSeconds },
    async () => {
      const health = await client.health();
      return health.ok === true ? { done: undefined } : { waiting: `health ${JSON.stringify(health)}` };
    },
  );
}

/** One line describing a job for messages. */
export function describeJob(s: JobStatus): string {
  const a = s.active;
  const progress =
    a !== undefined && a.bytesTotal > 0
      ? ` ${Math.round((100 * a.bytesDone) / a.bytesTotal)}% of round ${a.round}${a.etaSeconds > 0 ? `, about ${formatSeconds(a.etaSeconds)} left` : ""}`
      : a !== undefined
        ? ` round ${a.round} ${a.queued ? "queued" : "starting"}`
        : "";
  return `job ${s.id} is ${s.state}${progress}${s.error !== undefined ? ` (${s.error})` : ""}`;
}

/** `95 s`, `12 min`, `3.4 h`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
