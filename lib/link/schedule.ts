/**
 * The token bucket of the link whose rate follows a bandwidth schedule (`schedule-file.ts`), shared
 * by the streams of a gateway or a wave; `setSchedule` changes it while streams run.
 */
import type { Schedule } from "./schedule-file";
import { nextChange, rateAt } from "./schedule-rate";

/** Time and timers of a throttle; tests give a fake one. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; returns the function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** The machine's clock. */
const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Options of a `ScheduledThrottle`. */
export interface ScheduledThrottleOptions {
  /** Seconds of traffic at the current rate that may pass at once after an idle period. @default 0.1 */
  readonly burstSeconds?: number;
  /** @default - the machine's clock */
  readonly clock?: Clock;
}

interface Waiter {
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  readonly signal?: AbortSignal;
  readonly onAbort?: () => void;
}

/** The longest a waiting throttle sleeps before it looks at the clock and the schedule again. */
const MAX_SLEEP_MS = 60_000;

/**
 * A token bucket whose rate follows a schedule. `take(n)` resolves when `n` bytes may pass;
 * waiters are served in order. `setSchedule` applies at once, to the bytes still waiting too.
 * One throttle may be shared by many streams (all the disks of a gateway, or of a wave): their
 * total then follows the schedule. A stream under two caps takes from both (`takeAll`).
 */
export class ScheduledThrottle {
  private scheduleValue: Schedule;
  private readonly clock: Clock;
  private readonly burstSeconds: number;
  private tokens = 0;
  private refilledAt: number;
  private readonly queue: Waiter[] = [];
  private cancelTimer: (() => void) | undefined;
  /** Bytes let through so far. */
  passed = 0;

  constructor(schedule: Schedule, options: ScheduledThrottleOptions = {}) {
    this.scheduleValue = schedule;
    this.clock = options.clock ?? systemClock;
    this.burstSeconds = options.burstSeconds ?? 0.1;
    this.refilledAt = this.clock.now();
  }

  get schedule(): Schedule {
    return this.scheduleValue;
  }

  /** The rate now, in bytes/s (0: blackout; Infinity: no cap). */
  get rate(): number {
    return this.segment(this.clock.now()).rate;
  }

  /** Replaces the schedule; waiting streams go on at the new rate at once. */
  setSchedule(schedule: Schedule): void {
    this.refill(this.clock.now());
    this.scheduleValue = schedule;
    const cap = this.capacity(rateAt(schedule, this.clock.now()));
    if (this.tokens > cap) this.tokens = cap;
    this.pump();
  }

  /** Waits until `bytes` may pass; rejects with the signal's reason when `signal` aborts. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        resolve,
        reject,
        signal,
        onAbort:
          signal === undefined
            ? undefined
            : () => {
                const i = this.queue.indexOf(waiter);
                if (i >= 0) this.queue.splice(i, 1);
                reject(signal.reason);
                if (i === 0) this.pump();
              },
      };
      if (waiter.onAbort !== undefined) signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.queue.push(waiter);
      if (this.queue.length === 1) this.pump();
    });
  }

  private cached: { schedule: Schedule; from: number; to: number; rate: number } | undefined;

  /** The rate at `t` and when it next changes (cached: the schedule is read once per segment). */
  private segment(t: number): { rate: number; to: number } {
    const c = this.cached;
    if (c !== undefined && c.schedule === this.scheduleValue && t >= c.from && t < c.to) return c;
    const fresh = { schedule: this.scheduleValue, from: t, to: nextChange(this.scheduleValue, t)?.getTime() ?? Infinity, rate: rateAt(this.scheduleValue, t) };
    this.cached = fresh;
    return fresh;
  }

  private capacity(rate: number): number {
    return rate === Infinity ? Infinity : rate * this.burstSeconds;
  }

  /** Adds the tokens earned from `refilledAt` to `now`, segment by segment of the schedule. */
  private refill(now: number): void {
    let t = this.refilledAt;
    for (let steps = 0; t < now && steps < 10_000; steps++) {
      const { rate, to: change } = this.segment(t);
      const end = Math.min(now, change);
      const cap = this.capacity(rate);
      this.tokens = rate === Infinity ? Infinity : Math.min(cap, this.tokens + (rate * (end - t)) / 1000);
      t = end;
    }
    // Leaving a segment with no cap: a full bucket of the next rate, not an endless one.
    if (this.tokens === Infinity) this.tokens = this.capacity(this.segment(now).rate);
    this.refilledAt = now;
  }

  private pump(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const now = this.clock.now();
    this.refill(now);
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const { rate, to: change } = this.segment(now);
      const need = Math.min(head.bytes, this.capacity(rate));
      if (rate === Infinity || (rate > 0 && this.tokens >= need)) {
        if (rate !== Infinity) this.tokens -= head.bytes;
        this.passed += head.bytes;
        this.queue.shift();
        if (head.onAbort !== undefined) head.signal?.removeEventListener("abort", head.onAbort);
        head.resolve();
        continue;
      }
      let wait = rate > 0 ? Math.ceil(((need - this.tokens) / rate) * 1000) : Infinity;
      wait = Math.min(wait, change - now);
      wait = Math.max(1, Math.min(wait, MAX_SLEEP_MS));
      this.cancelTimer = this.clock.setTimer(() => {
        this.cancelTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
  }
}

/** Waits until `bytes` may pass every throttle in `throttles` (a gateway's and the wave's cap). */
export async function takeAll(throttles: readonly ScheduledThrottle[], bytes: number, signal?: AbortSignal): Promise<void> {
  for (const t of throttles) await t.take(bytes, signal);
}

/**
 * Passes a stream of chunks (a frame's header and payload, or whole frames) on as each one's
 * bytes may pass the throttles; the bytes counted are those on the link.
 */
export async function* throttled<T extends Buffer | readonly Buffer[]>(
  source: AsyncIterable<T> | Iterable<T>,
  throttles: ScheduledThrottle | readonly ScheduledThrottle[],
  signal?: AbortSignal,
): AsyncGenerator<T> {
  const list = Array.isArray(throttles) ? (throttles as readonly ScheduledThrottle[]) : [throttles as ScheduledThrottle];
  for await (const chunk of source) {
    const bytes = Buffer.isBuffer(chunk) ? chunk.length : (chunk as readonly Buffer[]).reduce((s, b) => s + b.length, 0);
    await takeAll(list, bytes, signal);
    yield chunk;
  }
}
