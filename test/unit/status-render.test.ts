/**
 * `rehost status`'s table (`renderStatus`): a wave's VMs and disks in aligned columns, progress
 * bars for an initial sync on a terminal and plain percentages elsewhere; the policy pack config
 * of the predictions.
 */
import { describe, expect, it } from "vitest";
import type { AgentClient } from "../../lib/agent/client";
import type { JobStatus } from "../../lib/agent/api";
import { gatherStatus, policyConfigOf, renderStatus, type WaveStatusReport } from "../../lib/cli/status";
import { predictCutover } from "../../lib/proxy/predict";
import { LAB_APP_01 } from "../proxy/lab-rounds";
import type { ProxyClient } from "../../lib/proxy/client";
import type { VmStatus } from "../../lib/proxy/api";

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
            {
              disk: 2000,
              job: "web-01-disk-2000",
              agentUrl: "https://172.30.0.5:8443",
              state: "initial-sync",
              rateBytesPerSecond: 12 * MiB,
              bytesMoved: 0,
              bytesMovedOf: "every round",
              initialSync: { doneBytes: 256 * MiB, totalBytes: 1024 * MiB, rateBytesPerSecond: 12 * MiB, etaSeconds: 64 },
            },
            {
              disk: 2001,
              job: "web-01-disk-2001",
              agentUrl: "https://172.30.0.5:8443",
              state: "idle",
              lastRound: 0,
              recoveryPointAgeSeconds: 42,
              rateBytesPerSecond: 3 * MiB,
              bytesMoved: 300 * MiB,
              bytesMovedOf: "every round",
            },
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
    const col = (line: string) => (line.indexOf("state") >= 0 ? line.indexOf("state") : line.search(/ (round|initial-sync|idle) /) + 1);
    expect(new Set(lines.slice(1, 5).map(col)).size).toBe(1);
  });
  it("gives the policy pack every known prediction", () => {
    expect(policyConfigOf(report)).toEqual({
      "cutover-within-downtime-budget": { predictions: { "web-01": 95 } },
      "cutover-downtime-predicted": { predictions: { "web-01": 95 } },
    });
  });
});

describe("gatherStatus", () => {
  const now = Date.parse("2026-12-06T01:00:00Z");
  const agentUrl = "https://172.30.0.5:8443";
  // As the lab showed them: disk 2000's initial round pushed, disk 2001's under way, the VM's round not recorded yet.
  const vm: VmStatus = {
    vm: "db-01",
    rpoSeconds: 3600,
    quiesce: true,
    state: "round",
    rounds: [],
    disks: [
      { key: 2000, agentUrl, jobId: "db-01-disk-2000", sizeBytes: 128 * MiB, lastRound: 0, lastRoundAt: "2026-12-06T00:59:50Z" },
      { key: 2001, agentUrl, jobId: "db-01-disk-2001", sizeBytes: 128 * MiB },
    ],
  };
  const job = (id: string, extra: Partial<JobStatus>): JobStatus => ({
    id,
    source: { pushedBy: "rehost proxy, VM db-01" },
    target: "d-bp1",
    state: "idle",
    rounds: [],
    ...extra,
  });
  const digest = { algorithm: "sha256-blocks-1MiB", digest: "ab", size: 128 * MiB };
  const pushed = {
    round: 0,
    changed: "push" as const,
    snapshot: "snapshot-1",
    linkBytes: 72 * MiB,
    startedAt: "2026-12-06T00:59:41Z",
    finishedAt: "2026-12-06T00:59:50Z",
    seconds: 9,
    bytesRead: 72 * MiB,
    bytesWritten: 70 * MiB,
    bytesZeroed: 2 * MiB,
    bytesSkipped: 56 * MiB,
    resumed: false,
    digest,
  };
  const jobs = [
    job("db-01-disk-2000", { lastRound: pushed, rounds: [pushed] }),
    job("db-01-disk-2001", {
      state: "initial-sync",
      active: {
        round: 0,
        changed: "push",
        snapshot: "snapshot-1",
        pushedUpTo: 32 * MiB,
        requestedAt: "2026-12-06T00:59:50Z",
        queued: false,
        attempts: 0,
        bytesDone: 32 * MiB,
        bytesTotal: 128 * MiB,
        rate: 0,
        etaSeconds: 0,
      },
    }),
  ];
  const proxy = { list: async () => ({ vms: [vm] }) } as unknown as ProxyClient;
  const agent = (() => ({ list: async () => ({ jobs }) })) as unknown as (url: string) => AgentClient;

  it("takes a disk's rate from its agent's last push while its VM's round goes on, and an initial sync's ETA from its progress", async () => {
    const report = await gatherStatus({ proxyUrl: "https://10.0.0.5:8444", proxy, agent, now: () => now });
    const [d0, d1] = report.waves[0].vms[0].disks;
    expect(d0.recoveryPointAgeSeconds).toBe(10);
    expect(d0.rateBytesPerSecond).toBe((72 * MiB) / 9);
    expect(d0.bytesMoved).toBe(72 * MiB);
    // 32 MiB of 128 in the 10 s since it was asked: 3.2 MiB/s, 30 s to go.
    expect(d1.initialSync).toEqual({ doneBytes: 32 * MiB, totalBytes: 128 * MiB, rateBytesPerSecond: 3.2 * MiB, etaSeconds: 30 });
    expect(d1.rateBytesPerSecond).toBe(3.2 * MiB);
    expect(d1.recoveryPointAgeSeconds).toBeUndefined();
  });

  it("predicts again for another expected shutdown: the downtime moves by at least the difference", async () => {
    const at = Date.parse(LAB_APP_01.cutover.requestedAt);
    const measured: VmStatus = {
      vm: "lab-app-01",
      rpoSeconds: 0,
      quiesce: true,
      state: "idle",
      rounds: LAB_APP_01.rounds,
      prediction: predictCutover(LAB_APP_01.rounds, { now: at, diskSizes: LAB_APP_01.diskSizes }),
      disks: LAB_APP_01.diskSizes.map((sizeBytes, i) => ({ key: 2000 + i, agentUrl, jobId: `job-${2000 + i}`, sizeBytes })),
    };
    const from = { list: async () => ({ vms: [measured] }) } as unknown as ProxyClient;
    const usual = (await gatherStatus({ proxyUrl: "https://10.0.0.5:8444", proxy: from, now: () => at })).waves[0].vms[0];
    const quick = (await gatherStatus({ proxyUrl: "https://10.0.0.5:8444", proxy: from, now: () => at, shutdownSeconds: 5 })).waves[0].vms[0];
    expect(usual.predictedDowntimeSeconds).toBeDefined();
    // 55 s less shutdown, and less churn written while the guest shuts down.
    const less = usual.predictedDowntimeSeconds! - quick.predictedDowntimeSeconds!;
    expect(less).toBeGreaterThanOrEqual(55);
    expect(less).toBeLessThan(55 * 1.2);
  });

  it("without the agents, says so and counts the proxy's rounds", async () => {
    const report = await gatherStatus({ proxyUrl: "https://10.0.0.5:8444", proxy, now: () => now });
    expect(report.agents).toBe(false);
    expect(report.waves[0].vms[0].disks.map((d) => [d.state, d.bytesMovedOf, d.rateBytesPerSecond])).toEqual([
      ["round", "recent rounds", undefined],
      ["round", "recent rounds", undefined],
    ]);
    expect(renderStatus(report, { tty: false })).toContain("Initial-sync progress needs the agents' credentials");
  });
});
