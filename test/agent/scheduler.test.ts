import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Scheduler, type Release } from "../../lib/agent/scheduler";

describe("Scheduler", () => {
  it("never grants more slots than its limit, serves waiters in order, and loses no slot", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), async (limit, ops) => {
        const scheduler = new Scheduler(limit);
        const held: Release[] = [];
        const granted: number[] = [];
        let requested = 0;
        for (const acquire of ops) {
          if (acquire || held.length === 0) {
            const n = requested++;
            void scheduler.acquire().then((release) => {
              granted.push(n);
              held.push(release);
            });
          } else {
            const release = held.shift() as Release;
            release();
            release(); // a second call releases nothing more
          }
          await new Promise((r) => setImmediate(r));
          expect(scheduler.active).toBeLessThanOrEqual(limit);
          expect(held.length).toBe(scheduler.active);
        }
        expect(granted).toEqual([...granted].sort((a, b) => a - b));
        while (held.length > 0) {
          (held.shift() as Release)();
          await new Promise((r) => setImmediate(r));
        }
        expect(scheduler.active).toBe(0);
        expect(scheduler.queued).toBe(0);
        expect(granted).toHaveLength(requested);
      }),
      { numRuns: 100 },
    );
  });

  it("refuses a limit below one", () => {
    expect(() => new Scheduler(0)).toThrow(/positive integer/);
  });
});
