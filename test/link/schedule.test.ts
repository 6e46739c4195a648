import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ScheduledThrottle, takeAll, throttled, type Clock } from "../../lib/link/schedule";
import { fixedSchedule, parseSchedule } from "../../lib/link/schedule-file";
import { nextChange, rateAt } from "../../lib/link/schedule-rate";
import { InputError } from "../../lib/problems";

/** A clock whose time moves only when the test says so; due timers fire in order. */
class FakeClock implements Clock {
  private t: number;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;
  constructor(start: Date) {
    this.t = start.getTime();
  }
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): () => void {
    const id = ++this.ids;
    this.timers.push({ at: this.t + ms, fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }
  /** Moves time forward by `ms`, firing timers (and letting promise callbacks run) on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((x) => x.id !== due.id);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

const office = parseSchedule({
  timezone: "Asia/Shanghai",
  default: "unlimited",
  windows: [
    { days: "mon-fri", from: "08:00", to: "20:00", rate: "200Mbit" },
    { days: ["fri"], from: "22:00", to: "06:00", rate: "50M" },
    { days: "weekend", rate: "1G" },
  ],
  blackouts: [{ days: "wed", from: "12:00", to: "13:00" }],
});

// 2024-01-01 is a Monday. Shanghai is UTC+8 all year.
const shanghai = (day: number, hhmm: string): Date => {
  const [h, m] = hhmm.split(":").map(Number);
  return new Date(Date.UTC(2024, 0, 1 + day, h - 8, m));
};

describe("bandwidth schedule", () => {
  it("parses rates in bytes and bits per second, day ranges and whole days", () => {
    expect(office.windows).toHaveLength(4);
    expect(office.windows[0]).toEqual({ days: [0, 1, 2, 3, 4], from: 480, to: 1200, rate: 25_000_000 });
    expect(office.windows[1]).toEqual({ days: [4], from: 1320, to: 360, rate: 50_000_000 });
    expect(office.windows[2]).toEqual({ days: [5, 6], from: 0, to: 1440, rate: 1_000_000_000 });
    expect(office.windows[3].rate).toBe(0);
    expect(office.default).toBe(Infinity);
    expect(parseSchedule({ default: "1Gbps" }).default).toBe(125_000_000);
    expect(parseSchedule({ default: 5000 }).default).toBe(5000);
    expect(parseSchedule({}).timezone).toBe("UTC");
  });

  it.each([
    ["Mon 07:59", shanghai(0, "07:59"), Infinity],
    ["Mon 08:00", shanghai(0, "08:00"), 25_000_000],
    ["Tue 19:59", shanghai(1, "19:59"), 25_000_000],
    ["Tue 20:00", shanghai(1, "20:00"), Infinity],
    ["Wed 12:30 (blackout inside a cap)", shanghai(2, "12:30"), 0],
    ["Fri 23:00", shanghai(4, "23:00"), 50_000_000],
    ["Sat 03:00 (Friday's window past midnight, under the weekend's cap)", shanghai(5, "03:00"), 50_000_000],
    ["Sat 06:00", shanghai(5, "06:00"), 1_000_000_000],
    ["Sun 03:00 (no Saturday night window)", shanghai(6, "03:00"), 1_000_000_000],
  ])("rateAt %s", (_name, date, rate) => {
    expect(rateAt(office, date)).toBe(rate);
  });

  it("nextChange finds the next boundary that changes the rate, in the zone's wall clock", () => {
    expect(nextChange(office, new Date(shanghai(0, "07:59").getTime() + 30_000))).toEqual(shanghai(0, "08:00"));
    expect(nextChange(office, shanghai(0, "08:00"))).toEqual(shanghai(0, "20:00"));
    expect(nextChange(office, shanghai(2, "11:00"))).toEqual(shanghai(2, "12:00"));
    expect(nextChange(office, shanghai(4, "21:00"))).toEqual(shanghai(4, "22:00"));
    expect(nextChange(office, shanghai(4, "22:00"))).toEqual(shanghai(5, "06:00"));
    // Saturday 00:00 starts the weekend window, but Friday night's lower cap still holds: no change there.
    expect(nextChange(office, shanghai(4, "23:00"))).toEqual(shanghai(5, "06:00"));
    // Sunday's cap ends at midnight; Monday's office hours start at 08:00.
    expect(nextChange(office, shanghai(6, "12:00"))).toEqual(shanghai(7, "00:00"));
    expect(nextChange(office, shanghai(7, "00:00"))).toEqual(shanghai(7, "08:00"));
    expect(nextChange(fixedSchedule(1000), new Date())).toBeUndefined();
    expect(nextChange(parseSchedule({ default: "10M", windows: [{ rate: "10M" }] }), new Date())).toBeUndefined();
  });

  it("follows daylight saving time in zones that have it", () => {
    const berlin = parseSchedule({ timezone: "Europe/Berlin", default: "unlimited", windows: [{ days: "sun", from: "08:00", to: "09:00", rate: "1M" }] });
    // 2024-03-31: clocks go from 02:00 CET to 03:00 CEST; 08:00 CEST is 06:00 UTC.
    expect(nextChange(berlin, new Date(Date.UTC(2024, 2, 30, 12)))).toEqual(new Date(Date.UTC(2024, 2, 31, 6)));
    expect(rateAt(berlin, new Date(Date.UTC(2024, 2, 31, 6, 30)))).toBe(1_000_000);
    expect(rateAt(berlin, new Date(Date.UTC(2024, 2, 31, 7, 0)))).toBe(Infinity);
    // One week earlier, in winter time: 08:00 CET is 07:00 UTC.
    expect(nextChange(berlin, new Date(Date.UTC(2024, 2, 23, 12)))).toEqual(new Date(Date.UTC(2024, 2, 24, 7)));
  });

  it("a blackout starting in the hour a spring-forward skips starts when the clock jumps past it", () => {
    // New York, 10 March 2024: 02:00 EST becomes 03:00 EDT (07:00 UTC); a blackout from Sunday 02:00.
    const s = parseSchedule({ timezone: "America/New_York", default: "10M", blackouts: [{ days: ["sun"], from: "02:00", to: "00:00" }] });
    const monday = Date.UTC(2024, 2, 4, 5);
    expect(nextChange(s, monday)).toEqual(new Date(Date.UTC(2024, 2, 10, 7)));
    expect(rateAt(s, Date.UTC(2024, 2, 10, 7) - 1)).toBe(10_000_000);
    expect(rateAt(s, Date.UTC(2024, 2, 10, 7))).toBe(0);
    // Also from a boundary inside the skipped hour (02:45 does not exist that night).
    const late = parseSchedule({ timezone: "America/New_York", default: "10M", blackouts: [{ days: ["sun"], from: "02:45", to: "00:00" }] });
    expect(nextChange(late, monday)).toEqual(new Date(Date.UTC(2024, 2, 10, 7)));
    // And a blackout that begins in the skipped hour and ends just after it (02:45 to 03:45): it
    // holds from the jump to 03:45 EDT; the first instant after the skipped boundary is its end.
    const short = parseSchedule({ timezone: "America/New_York", default: "10M", blackouts: [{ days: ["sun"], from: "02:45", to: "03:45" }] });
    expect(nextChange(short, monday)).toEqual(new Date(Date.UTC(2024, 2, 10, 7)));
    expect(rateAt(short, Date.UTC(2024, 2, 10, 7))).toBe(0);
  });

  it("the rate holds from any instant until nextChange and differs there", () => {
    const time = fc
      .tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 15, 30, 45))
      .map(([h, m]) => `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`);
    const window = fc
      .record({
        days: fc.subarray(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], { minLength: 1 }),
        from: time,
        to: time,
        rate: fc.constantFrom("1M", "5M", "200Mbit"),
      })
      .filter((w) => w.from !== w.to);
    fc.assert(
      fc.property(
        fc.array(window, { maxLength: 4 }),
        fc.array(
          window.map(({ rate: _r, ...w }) => w),
          { maxLength: 2 },
        ),
        fc.integer({ min: 0, max: 14 * 86_400_000 }),
        fc.constantFrom("UTC", "Asia/Shanghai", "America/New_York"),
        (windows, blackouts, ms, timezone) => {
          const s = parseSchedule({ timezone, default: "10M", windows, blackouts });
          const start = Date.UTC(2024, 2, 1) + ms;
          const rate = rateAt(s, start);
          const next = nextChange(s, start);
          if (next === undefined) {
            for (let k = 1; k <= 8; k++) expect(rateAt(s, start + k * 86_400_000 - 1)).toBe(rate);
            return;
          }
          expect(next.getTime()).toBeGreaterThan(start);
          expect(rateAt(s, next)).not.toBe(rate);
          for (let t = start; t < next.getTime(); t += Math.max(60_000, Math.floor((next.getTime() - start) / 40))) expect(rateAt(s, t)).toBe(rate);
          expect(rateAt(s, next.getTime() - 1)).toBe(rate);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("refuses a bad schedule with every problem, its field, what was received and what is expected", () => {
    let err: unknown;
    try {
      parseSchedule(
        {
          timezone: "Mars/Olympus",
          default: "fast",
          windows: [
            { days: "mo-fr", from: "8:00", to: "20:00", rate: "200M" },
            { from: "10:00", to: "10:00", rate: "1M" },
            { from: "10:00", rate: "1M" },
            { days: "sun" },
          ],
          blackouts: [{ days: "sat", from: "24:00", to: "02:00" }],
        },
        "gateways[0].bandwidth",
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const problems = (err as InputError).problems;
    const fields = problems.map((p) => p.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        "gateways[0].bandwidth.timezone",
        "gateways[0].bandwidth.default",
        "gateways[0].bandwidth.windows[0].days",
        "gateways[0].bandwidth.windows[0].from",
        "gateways[0].bandwidth.windows[1].to",
        "gateways[0].bandwidth.windows[2].to",
        "gateways[0].bandwidth.windows[3].rate",
        "gateways[0].bandwidth.blackouts[0].from",
      ]),
    );
    expect(problems.find((p) => p.field === "gateways[0].bandwidth.windows[0].from")).toMatchObject({
      received: '"8:00"',
      expected: expect.stringContaining("HH:MM"),
    });
    expect(problems.find((p) => p.field === "gateways[0].bandwidth.default")).toMatchObject({
      received: '"fast"',
      expected: expect.stringContaining("200Mbit"),
    });
    expect(() => parseSchedule({ windows: [{ rate: "1M", colour: "red" }] })).toThrow(/bandwidth\.windows\[0\]: The bandwidth schedule is not valid/);
    expect(() => parseSchedule({ blackouts: [{ rate: "1M" }] })).toThrow(InputError);
  });
});

describe("scheduled throttle", () => {
  /** Takes `count` chunks of `bytes` one after the other; resolves with the clock's time at the end. */
  async function stream(throttle: ScheduledThrottle | ScheduledThrottle[], clock: FakeClock, count: number, bytes: number, stepMs = 10): Promise<number[]> {
    const done: number[] = [];
    const list = Array.isArray(throttle) ? throttle : [throttle];
    const run = (async () => {
      for (let i = 0; i < count; i++) {
        await takeAll(list, bytes);
        done.push(clock.now());
      }
    })();
    while (done.length < count) await clock.advance(stepMs);
    await run;
    return done;
  }

  it("passes bytes at the scheduled rate, within 1 %", async () => {
    const clock = new FakeClock(shanghai(0, "09:00"));
    const throttle = new ScheduledThrottle(office, { clock });
    const start = clock.now();
    const done = await stream(throttle, clock, 200, 1_000_000, 5);
    // 200 MB at 25 MB/s: 8 s.
    expect((done[done.length - 1] - start) / 1000).toBeGreaterThan(7.9);
    expect((done[done.length - 1] - start) / 1000).toBeLessThan(8.08);
    expect(throttle.passed).toBe(200_000_000);
  });

  it("stops for a blackout and goes on at its end", async () => {
    const clock = new FakeClock(new Date(shanghai(2, "12:00").getTime() - 2000));
    const throttle = new ScheduledThrottle(office, { clock });
    const done = await stream(throttle, clock, 100, 1_000_000, 1000);
    const inBlackout = done.filter((t) => t >= shanghai(2, "12:00").getTime() && t < shanghai(2, "13:00").getTime());
    expect(inBlackout).toHaveLength(0);
    expect(done.filter((t) => t < shanghai(2, "12:00").getTime()).length).toBeGreaterThan(40);
    expect(done.filter((t) => t < shanghai(2, "12:00").getTime()).length).toBeLessThan(52);
    expect(done[done.length - 1]).toBeGreaterThanOrEqual(shanghai(2, "13:00").getTime());
    expect(done[done.length - 1]).toBeLessThan(shanghai(2, "13:00").getTime() + 3000);
  });

  it("unlimited passes at once; a change of the schedule applies to a stream already waiting", async () => {
    const clock = new FakeClock(shanghai(0, "07:00"));
    const throttle = new ScheduledThrottle(office, { clock });
    await throttle.take(10 ** 12);
    expect(clock.now()).toBe(shanghai(0, "07:00").getTime());

    const slow = parseSchedule({ default: "1M" });
    throttle.setSchedule(slow);
    const done: number[] = [];
    const run = (async () => {
      for (let i = 0; i < 40; i++) {
        await throttle.take(100_000);
        done.push(clock.now());
      }
    })();
    // 2 s at 1 MB/s: about 20 chunks.
    await clock.advance(2000);
    expect(done.length).toBeGreaterThanOrEqual(19);
    expect(done.length).toBeLessThanOrEqual(21);
    throttle.setSchedule(parseSchedule({ default: "10M" }));
    const changedAt = clock.now();
    const before = done.length;
    // The remaining ~20 chunks at 10 MB/s: about 0.2 s, not 2 s.
    for (let i = 0; i < 40 && done.length < 40; i++) await clock.advance(10);
    await run;
    expect(done.length - before).toBeGreaterThan(15);
    expect((done[done.length - 1] - changedAt) / 1000).toBeLessThan(0.3);
    expect(throttle.rate).toBe(10_000_000);
  });

  it("a blackout set while a stream waits stops it until the schedule is lifted", async () => {
    const clock = new FakeClock(shanghai(0, "07:00"));
    const throttle = new ScheduledThrottle(parseSchedule({ default: "1M" }), { clock });
    let passed = 0;
    const run = (async () => {
      for (let i = 0; i < 30; i++) {
        await throttle.take(100_000);
        passed++;
      }
    })();
    await clock.advance(1000);
    const atBlackout = passed;
    throttle.setSchedule(parseSchedule({ default: "blackout" }));
    await clock.advance(120_000);
    expect(passed).toBeLessThanOrEqual(atBlackout + 1);
    throttle.setSchedule(parseSchedule({ default: "1M" }));
    await clock.advance(3000);
    await run;
    expect(passed).toBe(30);
  });

  it("an aborted take rejects and the streams behind it go on", async () => {
    const clock = new FakeClock(shanghai(0, "07:00"));
    const throttle = new ScheduledThrottle(fixedSchedule(1000), { clock });
    const controller = new AbortController();
    const first = throttle.take(5000, controller.signal);
    const second = throttle.take(100);
    let secondDone = false;
    void second.then(() => (secondDone = true));
    controller.abort(new Error("round stopped"));
    await expect(first).rejects.toThrow("round stopped");
    await clock.advance(150);
    expect(secondDone).toBe(true);
    await expect(throttle.take(1, controller.signal)).rejects.toThrow("round stopped");
  });

  it("a stream under a gateway's and a wave's cap follows the lower; throttled() counts the bytes of each chunk", async () => {
    const clock = new FakeClock(shanghai(0, "07:00"));
    const gateway = new ScheduledThrottle(fixedSchedule(4_000_000), { clock });
    const wave = new ScheduledThrottle(fixedSchedule(2_000_000), { clock });
    const chunks = Array.from({ length: 20 }, () => [Buffer.alloc(56), Buffer.alloc(199_944)]);
    const out: number[] = [];
    const run = (async () => {
      for await (const c of throttled(chunks, [gateway, wave])) out.push(c[0].length + c[1].length);
    })();
    const start = clock.now();
    while (out.length < 20) await clock.advance(10);
    await run;
    // 4 MB at the wave's 2 MB/s: 2 s.
    expect((clock.now() - start) / 1000).toBeGreaterThan(1.9);
    expect((clock.now() - start) / 1000).toBeLessThan(2.1);
    expect(wave.passed).toBe(4_000_000);
    expect(gateway.passed).toBe(4_000_000);
  });
});
