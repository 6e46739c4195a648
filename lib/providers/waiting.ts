/**
 * How the providers wait: a deadline, a poll interval, transient failures retried with backoff,
 * and messages that say what was waited for and what was seen last. And how a create that
 * registered something but then failed is still recorded in the state (`ResourceInitError`).
 */
import { ServiceRequestError } from "../service/client";

/** Deadline and poll interval of one wait. */
export interface Timing {
  readonly timeoutSeconds: number;
  readonly pollSeconds: number;
}

/** Whether a failure may pass by itself: the agent or proxy unreachable, timing out, or answering 5xx. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof ServiceRequestError)) return false;
  return err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` every `pollSeconds` until it returns `{ done }`, and fails with a message naming
 * `what` and the last state seen once `timeoutSeconds` have passed. Transient failures of the
 * probe are retried with backoff (1 s doubling to 30 s) until the deadline.
 */
export async function poll<T>(what: string, timing: Timing, probe: () => Promise<{ done: T } | { waiting: string }>): Promise<T> {
  const deadline = Date.now() + timing.timeoutSeconds * 1000;
  let backoffMs = 1000;
  let last = "nothing yet";
  for (;;) {
    let result: { done: T } | { waiting: string };
    try {
      result = await probe();
      backoffMs = 1000;
    } catch (err) {
      if (!isTransient(err)) throw err;
      result = { waiting: `${(err as Error).message} (retrying)` };
    }
    if ("done" in result) return result.done;
    last = result.waiting;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`Timed out after ${timing.timeoutSeconds} s waiting for ${what}; last seen: ${last}.`);
    const transient = last.endsWith("(retrying)");
    await sleep(Math.min(transient ? backoffMs : timing.pollSeconds * 1000, left));
    if (transient) backoffMs = Math.min(backoffMs * 2, 30_000);
  }
}

/** Calls `fn`, retrying transient failures with backoff until `timing.timeoutSeconds` have passed. */
export async function retrying<T>(what: string, timing: Timing, fn: () => Promise<T>): Promise<T> {
  return poll(what, timing, async () => ({ done: await fn() }));
}

/**
 * A create that registered its work and then failed: the dynamic-provider host records the
 * resource under `id` with `properties` as its outputs (and the engine retries it with an
 * update on the next `pulumi up`), instead of forgetting work that exists.
 */
export class ResourceInitError extends Error {
  constructor(
    readonly id: string,
    readonly properties: object,
    message: string,
    readonly reasons: string[] = [message],
  ) {
    super(message);
    this.name = "ResourceInitError";
  }
}
