/**
 * Bandwidth windows of the link: caps by time of day and day of week, blackout windows and a
 * default, in one time zone; and the token bucket that follows them.
 *
 * ```yaml
 * timezone: Asia/Shanghai      # an IANA zone or UTC. @default UTC
 * default: unlimited           # the rate outside every window
 * windows:
 *   - days: mon-fri            # mon … sun, ranges (mon-fri), lists, or daily/weekdays/weekend
 *     from: "08:00"
 *     to: "20:00"              # 24:00 is the end of the day; to ≤ from runs past midnight
 *     rate: 200Mbit            # bytes/s (200M = 200 MB/s, 50Mi) or bits/s (200Mbit, 1Gbps)
 *   - days: weekend
 *     rate: 1G                 # no from/to: the whole day
 * blackouts:
 *   - days: fri
 *     from: "17:00"
 *     to: "18:30"              # nothing crosses the link
 * ```
 *
 * Where windows overlap, the lowest rate applies (every cap holds); a blackout is a rate of 0.
 * A window that runs past midnight belongs to the day it starts on. Times are wall-clock times of
 * the zone, so a window follows the zone's daylight-saving changes.
 *
 * `parseSchedule`, `rateAt` and `nextChange` are pure; `ScheduledThrottle` is the token bucket a
 * stream of frames takes its bytes from, and `setSchedule` changes it while streams run.
 */
import { z } from "zod";
import { InputError, problem, type Problem } from "../problems";
import { parseRate } from "../replication/throttle";

/** Minutes of a day and of a week. */
const DAY = 1440;
const WEEK = 7 * DAY;
const DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

/** One window, resolved: the days it starts on (0 = Monday), minutes [from, to) of the day. */
export interface Window {
  readonly days: readonly number[];
  /** Minute of the day it starts (0–1439). */
  readonly from: number;
  /** Minute of the day it ends (1–1440); `to <= from` ends on the next day. */
  readonly to: number;
  /** Bytes per second; 0 for a blackout, Infinity for no cap. */
  readonly rate: number;
}

/** A validated schedule. */
export interface Schedule {
  readonly timezone: string;
  /** Bytes per second outside every window (Infinity: no cap). */
  readonly default: number;
  readonly windows: readonly Window[];
}

/** A schedule with one rate at all times. */
export function fixedSchedule(bytesPerSecond: number): Schedule {
  if (!(bytesPerSecond > 0)) throw new RangeError(`A fixed schedule needs a positive rate, not ${bytesPerSecond}.`);
  return { timezone: "UTC", default: bytesPerSecond, windows: [] };
}

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/;
const RATE_EXPECTED = "a rate such as 200M or 50Mi (bytes/s), 200Mbit or 1Gbps (bits/s), unlimited, or blackout";

/** A rate in bytes/s from `200M`, `50Mi`, `200Mbit`, `1Gbps`, a number of bytes/s, `unlimited`, `blackout`. */
function rateOf(value: string | number, field: string): number {
  if (typeof value === "number") {
    if (value >= 0 && Number.isFinite(value)) return value;
    throw new InputError(
      problem({ field, received: String(value), expected: RATE_EXPECTED, message: `The rate ${value} is not a number of bytes per second` }),
    );
  }
  const text = value.trim().toLowerCase();
  if (text === "unlimited") return Infinity;
  if (text === "blackout" || text === "0") return 0;
  const bits = /^(.*?)\s*(bit\/s|bits\/s|bit|bps)$/i.exec(value.trim());
  try {
    if (bits !== null) return parseRate(bits[1], field) / 8;
    return parseRate(value, field);
  } catch {
    throw new InputError(
      problem({
        field,
        received: JSON.stringify(value),
        expected: RATE_EXPECTED,
        fix: "write 200Mbit for 200 megabits per second, 25M for 25 megabytes per second",
        message: `The rate ${JSON.stringify(value)} is not a rate`,
      }),
    );
  }
}

/** Day indexes from `mon`, `mon-fri`, `sat,sun`, a list of those, `daily`, `weekdays`, `weekend`. */
function daysOf(value: string | readonly string[] | undefined): number[] | string {
  if (value === undefined) return [0, 1, 2, 3, 4, 5, 6];
  const tokens = (typeof value === "string" ? [value] : value).flatMap((v) => v.split(",")).map((t) => t.trim().toLowerCase());
  const days = new Set<number>();
  for (const token of tokens) {
    if (token === "daily") [0, 1, 2, 3, 4, 5, 6].forEach((d) => days.add(d));
    else if (token === "weekdays") [0, 1, 2, 3, 4].forEach((d) => days.add(d));
    else if (token === "weekend") [5, 6].forEach((d) => days.add(d));
    else {
      const m = /^([a-z]{3})(?:-([a-z]{3}))?$/.exec(token);
      const a = m === null ? -1 : DAY_NAMES.indexOf(m[1] as (typeof DAY_NAMES)[number]);
      const b = m?.[2] === undefined ? a : DAY_NAMES.indexOf(m[2] as (typeof DAY_NAMES)[number]);
      if (a < 0 || b < 0) return token;
      for (let d = a; ; d = (d + 1) % 7) {
        days.add(d);
        if (d === b) break;
      }
    }
  }
  return [...days].sort((x, y) => x - y);
}

const WindowInput = z
  .object({
    days: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    from: z.string().optional(),
    to: z.string().optional(),
    rate: z.union([z.string(), z.number()]).optional(),
  })
  .strict();

/** The schedule as written in a file or a request (see the module comment). */
export const ScheduleInput = z
  .object({
    timezone: z.string().default("UTC"),
    default: z.union([z.string(), z.number()]).default("unlimited"),
    windows: z.array(WindowInput).default([]),
    blackouts: z.array(WindowInput.omit({ rate: true }).strict()).default([]),
  })
  .strict();
export type ScheduleInput = z.input<typeof ScheduleInput>;

/** Whether `zone` is a time zone this Node knows. */
function knownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates a schedule; throws `InputError` listing every problem, each naming its field under
 * `field` (`bandwidth.windows[1].from`), what was received and what is expected.
 */
export function parseSchedule(input: unknown, field = "bandwidth"): Schedule {
  const parsed = ScheduleInput.safeParse(input);
  if (!parsed.success) {
    throw new InputError(
      parsed.error.issues.map((issue) =>
        problem({
          field: [field, ...issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))].join("").replace(/\.\[/g, "["),
          message: `The bandwidth schedule is not valid: ${issue.message}`,
          expected: "timezone, default, windows[] of { days, from, to, rate } and blackouts[] of { days, from, to }",
        }),
      ),
    );
  }
  const problems: Problem[] = [];
  const s = parsed.data;
  if (!knownZone(s.timezone)) {
    problems.push(
      problem({
        field: `${field}.timezone`,
        received: JSON.stringify(s.timezone),
        expected: "an IANA time zone such as Asia/Shanghai, or UTC",
        message: `The time zone ${JSON.stringify(s.timezone)} is not known`,
      }),
    );
  }
  const rate = (value: string | number, f: string): number => {
    try {
      return rateOf(value, f);
    } catch (err) {
      problems.push(...(err as InputError).problems);
      return 0;
    }
  };
  const defaultRate = rate(s.default, `${field}.default`);
  const windows: Window[] = [];
  const resolve = (w: z.infer<typeof WindowInput>, f: string, blackout: boolean): void => {
    const days = daysOf(w.days);
    if (typeof days === "string") {
      problems.push(
        problem({
          field: `${f}.days`,
          received: JSON.stringify(days),
          expected: "mon … sun, a range such as mon-fri, or daily, weekdays, weekend",
          message: `The day ${JSON.stringify(days)} is not a day of the week`,
        }),
      );
    }
    const time = (t: string | undefined, which: "from" | "to", whole: number): number => {
      if (t === undefined) return whole;
      if (!TIME.test(t)) {
        problems.push(
          problem({
            field: `${f}.${which}`,
            received: JSON.stringify(t),
            expected: "a time HH:MM from 00:00 to 24:00",
            fix: 'quote the time in YAML ("08:00")',
            message: `The time ${JSON.stringify(t)} is not HH:MM`,
          }),
        );
        return whole;
      }
      const [h, m] = t.split(":").map(Number);
      return h * 60 + m;
    };
    if ((w.from === undefined) !== (w.to === undefined)) {
      problems.push(
        problem({
          field: `${f}.${w.from === undefined ? "from" : "to"}`,
          expected: "both from and to, or neither for the whole day",
          message: "A window needs both its start and its end",
        }),
      );
    }
    const from = time(w.from, "from", 0);
    const to = time(w.to, "to", DAY);
    if (from === DAY)
      problems.push(problem({ field: `${f}.from`, received: '"24:00"', expected: "a start from 00:00 to 23:59", message: "A window cannot start at 24:00" }));
    if (w.from !== undefined && from === to) {
      problems.push(
        problem({
          field: `${f}.to`,
          received: JSON.stringify(w.to),
          expected: "an end different from the start",
          fix: "leave out from and to for a whole day",
          message: `The window from ${w.from} to ${w.to} is empty`,
        }),
      );
    }
    let r = 0;
    if (!blackout) {
      if (w.rate === undefined)
        problems.push(
          problem({ field: `${f}.rate`, expected: RATE_EXPECTED, fix: "a window with no traffic goes under blackouts", message: "A window needs a rate" }),
        );
      else r = rate(w.rate, `${f}.rate`);
    }
    if (typeof days !== "string") windows.push({ days, from, to, rate: r });
  };
  s.windows.forEach((w, i) => resolve(w, `${field}.windows[${i}]`, false));
  s.blackouts.forEach((w, i) => resolve(w, `${field}.blackouts[${i}]`, true));
  if (problems.length > 0) throw new InputError(problems);
  return { timezone: s.timezone, default: defaultRate, windows };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall clock of `zone` at `ms`: day of the week (0 = Monday), minute of the day, and the zone's offset in ms. */
function wallClock(zone: string, ms: number): { day: number; minute: number; offset: number } {
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(ms))) if (part.type !== "literal") p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const day = (new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay() + 6) % 7;
  return { day, minute: p.hour * 60 + p.minute, offset: asUtc - Math.floor(ms / 1000) * 1000 };
}

function covers(w: Window, day: number, minute: number): boolean {
  if (w.to > w.from) return w.days.includes(day) && minute >= w.from && minute < w.to;
  return (w.days.includes(day) && minute >= w.from) || (w.days.includes((day + 6) % 7) && minute < w.to);
}

/** The rate in bytes/s at `date`: 0 in a blackout, Infinity with no cap. */
export function rateAt(schedule: Schedule, date: Date | number): number {
  const { day, minute } = wallClock(schedule.timezone, typeof date === "number" ? date : date.getTime());
  let rate = schedule.default;
  for (const w of schedule.windows) if (covers(w, day, minute) && w.rate < rate) rate = w.rate;
  return rate;
}

/**
 * The first instant after `date` at which the rate differs from the rate at `date`, or undefined
 * when the schedule never changes.
 */
export function nextChange(schedule: Schedule, date: Date | number): Date | undefined {
  const start = typeof date === "number" ? date : date.getTime();
  const current = rateAt(schedule, start);
  const boundaries = new Set<number>();
  for (const w of schedule.windows) {
    for (const d of w.days) {
      boundaries.add(d * DAY + w.from);
      boundaries.add(((w.to > w.from ? d : d + 1) * DAY + w.to) % WEEK);
    }
  }
  if (boundaries.size === 0) return undefined;
  const here = wallClock(schedule.timezone, start);
  const nowMinute = here.day * DAY + here.minute;
  // Candidates in wall-clock order over the next week and a day.
  const ahead = [...boundaries]
    .flatMap((b) => {
      const delta = (b - nowMinute + WEEK) % WEEK;
      return delta === 0 ? [WEEK] : [delta, delta + WEEK];
    })
    .sort((a, b) => a - b);
  for (const minutes of ahead) {
    const naive = Math.floor(start / 60_000) * 60_000 + minutes * 60_000;
    // The zone's offset may differ there (daylight saving): move by the difference.
    const there = wallClock(schedule.timezone, naive);
    const adjusted = naive - (there.offset - here.offset);
    if (adjusted > start && rateAt(schedule, adjusted) !== current) return new Date(adjusted);
    // A boundary in the hour a spring-forward skips is not on the wall clock: the rate changes
    // when the clock jumps, between the two instants; found by bisection to the millisecond.
    if (naive > adjusted && naive > start && rateAt(schedule, naive) !== current) {
      let same = Math.max(adjusted, start);
      let changed = naive;
      while (changed - same > 1) {
        const mid = Math.floor((same + changed) / 2);
        if (rateAt(schedule, mid) === current) same = mid;
        else changed = mid;
      }
      return new Date(changed);
    }
  }
  return undefined;
}

/** Time and timers of a throttle; tests give a fake one. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; returns the function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** The machine's clock. */
export const systemClock: Clock = {
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
