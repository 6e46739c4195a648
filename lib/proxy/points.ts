/**
 * Consistent points of several VMs on the proxy (rehearsals): their snapshots taken together, the
 * skew between them bounded, each VM's round pushed with its snapshot, every job frozen at that
 * round on its agent until the point is released.
 */
import { HttpError } from "../service/http";
import type { PointRequest, PointStatus } from "./api";
import type { ProxyManagerOptions, VmCycles } from "./cycles";
import { RoundRefused, runRound, takeSnapshot, type RoundSnapshot } from "./rounds";
import type { Vm } from "./vm";

/** The points of a proxy, held or failed, by name. */
export class ConsistentPoints {
  private readonly points = new Map<string, PointStatus>();

  constructor(
    private readonly cycles: VmCycles,
    private readonly options: ProxyManagerOptions,
  ) {}

  /**
   * A consistent point of several VMs: their snapshots taken one right after the other (the
   * skew reported, and refused above `maxSkewSeconds`), each VM's round pushed with its snapshot,
   * then every job frozen at that round on its agent. Runs in the background; `point(name)` says
   * how it went.
   */
  startPoint(request: PointRequest): PointStatus {
    const existing = this.points.get(request.name) ?? this.options.state.loadPoint(request.name);
    if (existing !== undefined && existing.state !== "failed") return existing;
    const vms = request.vms.map((n) => this.cycles.find(n));
    const status: PointStatus = { name: request.name, state: "running", vms: request.vms };
    this.points.set(request.name, status);
    void this.takePoint(request, vms).then(
      (done) => this.settlePoint(done),
      (err: unknown) => this.settlePoint({ ...status, state: "failed", error: (err as Error).message }),
    );
    return status;
  }

  /**
   * Ends a point: every job it froze is thawed on its agent (a freeze held for another point is
   * left alone) and the point is forgotten, so a new point may take its name.
   */
  async releasePoint(name: string): Promise<{ name: string; thawed: string[] }> {
    const point = this.points.get(name) ?? this.options.state.loadPoint(name);
    const thawed: string[] = [];
    for (const vmName of point?.vms ?? []) {
      const vm = this.cycles.vms.get(vmName);
      for (const disk of Object.values(vm?.record.disks ?? {})) {
        const agent = this.options.agent(disk.agentUrl);
        if ((await agent.find(disk.jobId)) === undefined) continue;
        await agent.thaw(disk.jobId, name);
        thawed.push(disk.jobId);
      }
    }
    this.points.delete(name);
    this.options.state.removePoint(name);
    this.options.logger.log("info", "consistent point released", { point: name, thawed });
    return { name, thawed };
  }

  /** A point's status, or a 404. */
  point(name: string): PointStatus {
    const point = this.points.get(name) ?? this.options.state.loadPoint(name);
    if (point === undefined) throw new HttpError(404, `No point ${name} on this proxy.`);
    return point;
  }

  private async takePoint(request: PointRequest, vms: Vm[]): Promise<PointStatus> {
    // Every VM's queue is held while its snapshot is taken, so no cycle runs in between.
    const releases: Array<() => void> = [];
    const held = vms.map(
      (vm) =>
        new Promise<void>((ready) => {
          void this.cycles.enqueue(
            vm,
            () =>
              new Promise<void>((release) => {
                releases.push(release);
                ready();
              }),
          );
        }),
    );
    await Promise.all(held);
    const snapshots = new Map<Vm, RoundSnapshot>();
    try {
      for (const vm of vms) {
        if (vm.record.inFlight !== undefined) await runRound(this.cycles.ctx, vm.record, await this.cycles.handle(vm), {});
      }
      // Every VM's snapshot at once. The skew is bounded from above: from the first request to
      // the last answer (each snapshot froze its VM somewhere in between).
      const taken = await Promise.all(
        vms.map(async (vm) => {
          const round = Math.max(vm.record.nextRound, ...Object.values(vm.record.disks).map((d) => (d.lastRound ?? -1) + 1));
          const snapshot = await takeSnapshot(this.cycles.ctx, vm.record, await this.cycles.handle(vm), round, request.name);
          snapshots.set(vm, snapshot);
          return snapshot;
        }),
      );
      const skewSeconds = (Math.max(...taken.map((t) => Date.parse(t.at))) - Math.min(...taken.map((t) => Date.parse(t.requestedAt ?? t.at)))) / 1000;
      if (skewSeconds > request.maxSkewSeconds)
        throw new RoundRefused(`The snapshots of point ${request.name} are ${skewSeconds} s apart, more than the ${request.maxSkewSeconds} s allowed.`);
      const jobs: Record<string, { round: number; digest: string; algorithm: string }> = {};
      for (const vm of vms) {
        await runRound(this.cycles.ctx, vm.record, await this.cycles.handle(vm), { point: request.name }, snapshots.get(vm));
        snapshots.delete(vm);
        for (const disk of Object.values(vm.record.disks)) {
          const agent = this.options.agent(disk.agentUrl);
          const status = await agent.freeze(disk.jobId, request.name);
          jobs[disk.jobId] = { round: status.lastRound!.round, digest: status.lastRound!.digest.digest, algorithm: status.lastRound!.digest.algorithm };
        }
      }
      return { name: request.name, state: "held", vms: request.vms, skewSeconds, jobs };
    } finally {
      for (const [vm, snapshot] of snapshots) {
        await this.options.vc.removeSnapshot(snapshot.handle).catch(() => undefined);
        vm.record.inFlight = undefined;
        this.options.state.saveVm(vm.record);
      }
      for (const release of releases) release();
    }
  }

  private settlePoint(point: PointStatus): void {
    this.points.set(point.name, point);
    this.options.state.savePoint(point);
    this.options.logger.log(point.state === "held" ? "info" : "error", point.state === "held" ? "consistent point held" : "consistent point failed", {
      point: point.name,
      skewSeconds: point.skewSeconds,
      error: point.error,
    });
  }
}
