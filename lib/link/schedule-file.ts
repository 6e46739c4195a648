/**
 * The bandwidth schedule as written in a file or a request: caps by time of day and day of week,
 * blackout windows and a default, in one time zone; validated into a `Schedule`.
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
 *
 * `parseSchedule` is pure and lists every problem at once; the rate a schedule gives at an instant
 * is `schedule-rate.ts`, the token bucket that follows it `schedule.ts`.
 */
import { z } from "zod";
import { InputError, problem, type Problem } from "../problems";
import { parseRate } from "../replication/throttle";

/** Minutes of a day. */
export const DAY = 1440;
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
const ScheduleInput = z
  .object({
    timezone: z.string().default("UTC"),
    default: z.union([z.string(), z.number()]).default("unlimited"),
    windows: z.array(WindowInput).default([]),
    blackouts: z.array(WindowInput.omit({ rate: true }).strict()).default([]),
  })
  .strict();
type ScheduleInput = z.input<typeof ScheduleInput>;

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
