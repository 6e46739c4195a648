/**
 * The rate a bandwidth schedule gives at an instant, and the next instant it changes. Times are the
 * zone's wall clock, so a window follows the zone's daylight-saving changes; both functions are
 * pure.
 */
import { DAY, type Schedule, type Window } from "./schedule-file";

/** Minutes of a week. */
const WEEK = 7 * DAY;

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
    // when the clock jumps, between the two instants (found by bisection on the zone's offset, to
    // the millisecond), whether the window it opens is still open after the jump or not.
    if (naive > adjusted && naive > start) {
      let before = Math.max(adjusted, start);
      let jumped = naive;
      while (jumped - before > 1) {
        const mid = Math.floor((before + jumped) / 2);
        if (wallClock(schedule.timezone, mid).offset === here.offset) before = mid;
        else jumped = mid;
      }
      if (rateAt(schedule, jumped) !== current) return new Date(jumped);
    }
  }
  return undefined;
}
