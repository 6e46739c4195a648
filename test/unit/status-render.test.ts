/**
 * `rehost status`'s table (`renderStatus`): a wave's VMs and disks in aligned columns, progress
 * bars for an initial sync on a terminal and plain percentages elsewhere; the policy pack config
 * of the predictions.
 */
import { describe, expect, it } from "vitest";
import { policyConfigOf, renderStatus, type WaveStatusReport } from "../../lib/cli/status";

const MiB = 1024 * 1024;
const report: WaveStatusReport = {
  at: "2026-12-06T01:00:00.000Z",
  proxy: "https://10.0.0.5:8444",
  agents: true,
  problems: [],
  waves: [
    {
      wave: "wave-1",
      window: { start: "2026-12-06T00:00:00Z", end: "2026-12-06T06:00:00Z" },
      vms: [
        {
          vm: "web-01",
          state: "round",
          rpoSeconds: 3600,
          lastRound: 0,
          rateBytesPerSecond: 12 * MiB,
          predictedDowntimeSeconds: 95,
          windowLeftSeconds: 18000,
          fitsWindow: true,
          disks: [
            { disk: 2000, job: "web-01-disk-2000", agentUrl: "https://172.30.0.5:8443", state: "initial-sync", rateBytesPerSecond: 12 * MiB, bytesMoved: 0, bytesMovedOf: "every round", initialSync: { doneBytes: 256 * MiB, totalBytes: 1024 * MiB, rateBytesPerSecond: 12 * MiB, etaSeconds: 64 } },
            { disk: 2001, job: "web-01-disk-2001", agentUrl: "https://172.30.0.5:8443", state: "idle", lastRound: 0, recoveryPointAgeSeconds: 42, rateBytesPerSecond: 3 * MiB, bytesMoved: 300 * MiB, bytesMovedOf: "every round" },
          ],
        },
      ],
    },
  ],
};

describe("renderStatus", () => {
  it("draws a bar for an initial sync on a terminal", () => {
    const text = renderStatus(report, { tty: true });
    expect(text.split("\n")[0]).toBe("wave wave-1 — change window 2026-12-06T00:00:00Z to 2026-12-06T06:00:00Z");
    expect(text).toMatch(/\n {2}2000 web-01-disk-2000 +initial-sync +- +12 MiB\/s +0 B +███░░░░░░░░░ 25% eta 64 s\n/);
    expect(text).toMatch(/\n {2}2001 web-01-disk-2001 +idle +42 s +3\.0 MiB\/s +300 MiB +done\n/);
    expect(text).toMatch(/\nweb-01 +round +- +12 MiB\/s +300 MiB +~95 s\n/);
  });
  it("writes percentages elsewhere, and aligns the columns", () => {
    const lines = renderStatus(report, { tty: false }).split("\n");
    expect(lines[3]).toMatch(/initial-sync .* 25% eta 64 s$/);
    const col = (line: string) => line.indexOf("state") >= 0 ? line.indexOf("state") : line.search(/ (round|initial-sync|idle) /) + 1;
    expect(new Set(lines.slice(1, 5).map(col)).size).toBe(1);
  });
  it("gives the policy pack every known prediction", () => {
    expect(policyConfigOf(report)).toEqual({ "cutover-within-downtime-budget": { predictions: { "web-01": 95 } }, "cutover-downtime-predicted": { predictions: { "web-01": 95 } } });
  });
});
