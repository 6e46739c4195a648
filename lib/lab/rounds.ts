/**
 * The lab's timed rounds: `watch` awaits a step while reporting the agent's jobs live, `measured`
 * also records what the step's rounds changed and sent, from the proxy's records and the link's
 * counters, per round and per disk.
 */
import type { RoundSummary } from "../proxy/api";
import type { DiskReport, LabRound } from "./report";
import { mib, type Lab } from "./setup";
import type { LabServices } from "./start";

/** The rounds of a lab run, as measured so far. */
export class LabRounds {
  /** Every measured round, in order. */
  readonly rounds: LabRound[] = [];
  /** Each disk's share of every measured round, by job id. */
  readonly perDisk: Map<string, DiskReport["rounds"][number][]>;

  constructor(
    private readonly lab: Lab,
    private readonly services: LabServices,
  ) {
    this.perDisk = new Map(lab.disks.map((d) => [d.jobId, []]));
  }

  /** Awaits `work` (racing the interruption), showing the agent's jobs to `live` meanwhile. */
  async watch<T>(step: string, work: Promise<T>): Promise<T> {
    const live = this.lab.options.live;
    const { agentClient } = this.services;
    const timer =
      live === undefined
        ? undefined
        : setInterval(
            () =>
              void agentClient.list().then(
                (l) => live(l.jobs, step),
                () => undefined,
              ),
            500,
          );
    try {
      return await Promise.race([work, this.lab.interrupted]);
    } finally {
      clearInterval(timer);
    }
  }

  /** Runs a step as round `round` and records what its rounds changed and sent. */
  async measured<T>(round: number, kind: string, work: () => Promise<T>): Promise<T> {
    const { site, wave, disks, say } = this.lab;
    const { proxyClient } = this.services;
    const since = new Date().toISOString();
    const before = await site.linkBytes();
    const t0 = Date.now();
    const result = await this.watch(kind, work());
    const seconds = (Date.now() - t0) / 1000;
    // Every round the step started has ended before the link is read, so the bytes counted
    // and the rounds summed cover the same work.
    for (const vm of wave.vms) {
      for (let s = await proxyClient.get(vm.name); s.state === "round" || s.state === "queued" || s.inFlight !== undefined; s = await proxyClient.get(vm.name))
        await new Promise((r) => setTimeout(r, 100));
    }
    const after = await site.linkBytes();
    const summaries: Array<{ vm: string; round: RoundSummary }> = [];
    for (const vm of wave.vms) for (const r of (await proxyClient.get(vm.name)).rounds) if (r.snapshotAt >= since) summaries.push({ vm: vm.name, round: r });
    const disksOf = summaries.flatMap((s) => s.round.disks);
    for (const d of disks) {
      const mine = disksOf.filter((x) => x.jobId === d.jobId);
      this.perDisk.get(d.jobId)!.push({
        round,
        mode: [...new Set(mine.map((x) => x.mode))].join("+") || "-",
        changedBytes: mine.reduce((n, x) => n + x.changedBytes, 0),
        linkBytes: mine.reduce((n, x) => n + x.linkBytes + x.hashBytes, 0),
      });
    }
    const changedBytes = disksOf.reduce((n, x) => n + x.changedBytes, 0);
    const hashBytes = disksOf.reduce((n, x) => n + x.hashBytes, 0);
    const linkBytes = before !== undefined && after !== undefined ? after - before : disksOf.reduce((n, x) => n + x.linkBytes + x.hashBytes, 0);
    this.rounds.push({ round, kind, changedBytes, linkBytes, hashBytes, seconds });
    say(`round ${round} (${kind}): ${mib(changedBytes)} changed, ${mib(linkBytes)} over the link in ${seconds.toFixed(1)} s`);
    return result;
  }
}
