/**
 * How closely the link's use follows its bandwidth schedule in real time (`ScheduledThrottle` of
 * `lib/link/schedule.ts` on the machine's clock): 16 streams of 1 MiB frames sharing one throttle,
 * as the disks of one gateway do.
 *
 * 1. 4 s at a fixed 200 Mbit/s;
 * 2. the schedule changed to 50 Mbit/s while the streams wait (`setSchedule`), 4 s;
 * 3. a time-of-day window: 200 Mbit/s by default, 100 Mbit/s from the next full minute (UTC);
 *    the streams run from 3 s before that minute to 3 s after it.
 *
 * Each phase prints the measured rate against the scheduled one. The last line is one JSON object.
 */
import { ScheduledThrottle } from "../lib/link/schedule";
import { fixedSchedule, parseSchedule, type Schedule } from "../lib/link/schedule-file";

const FRAME = 1024 * 1024 + 56;
const STREAMS = 16;

/** Runs the streams from now until `until` (ms since the epoch); returns the times bytes passed. */
async function run(throttle: ScheduledThrottle, until: number): Promise<{ at: number; bytes: number }[]> {
  const passed: { at: number; bytes: number }[] = [];
  await Promise.all(
    Array.from({ length: STREAMS }, async () => {
      while (Date.now() < until) {
        await throttle.take(FRAME);
        passed.push({ at: Date.now(), bytes: FRAME });
      }
    }),
  );
  return passed;
}

function rateBetween(passed: readonly { at: number; bytes: number }[], from: number, to: number): number {
  const bytes = passed.filter((p) => p.at > from && p.at <= to).reduce((s, p) => s + p.bytes, 0);
  return bytes / ((to - from) / 1000);
}

function report(name: string, measured: number, scheduled: number): number {
  const ratio = measured / scheduled;
  console.log(`${name}: ${((measured * 8) / 1e6).toFixed(1)} Mbit/s measured, ${((scheduled * 8) / 1e6).toFixed(1)} scheduled (${(ratio * 100).toFixed(1)} %)`);
  return ratio;
}

async function main(): Promise<void> {
  const fast = 25_000_000;
  const slow = 6_250_000;
  const throttle = new ScheduledThrottle(fixedSchedule(fast));
  // Warm the bucket so phase 1 starts in a steady state.
  await run(throttle, Date.now() + 500);

  let start = Date.now();
  const p1 = await run(throttle, start + 4000);
  const r1 = report("fixed 200 Mbit/s", rateBetween(p1, start + 500, start + 4000), fast);

  start = Date.now();
  const p2run = run(throttle, start + 4000);
  throttle.setSchedule(fixedSchedule(slow));
  const p2 = await p2run;
  const r2 = report("changed to 50 Mbit/s while running", rateBetween(p2, start + 500, start + 4000), slow);

  const minute = Math.ceil((Date.now() + 4000) / 60_000) * 60_000;
  const at = new Date(minute);
  const hhmm = (d: Date): string => `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
  const windowed: Schedule = parseSchedule({
    timezone: "UTC",
    default: "200Mbit",
    windows: [{ from: hhmm(at), to: hhmm(new Date(minute + 60_000)), rate: "100Mbit" }],
  });
  throttle.setSchedule(windowed);
  await new Promise((r) => setTimeout(r, minute - 3000 - Date.now()));
  const p3 = await run(throttle, minute + 3000);
  const r3a = report("window: before its start", rateBetween(p3, minute - 2500, minute), fast);
  const r3b = report("window: after its start", rateBetween(p3, minute + 500, minute + 3000), 12_500_000);

  const worst = Math.max(...[r1, r2, r3a, r3b].map((r) => Math.abs(1 - r)));
  console.log(
    JSON.stringify({
      fixed: Number(r1.toFixed(3)),
      changed: Number(r2.toFixed(3)),
      windowBefore: Number(r3a.toFixed(3)),
      windowAfter: Number(r3b.toFixed(3)),
      worstDeviation: Number(worst.toFixed(3)),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
