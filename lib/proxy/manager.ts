/**
 * The source proxy's VMs as its API sees them: which disks go to which agent jobs (registered and
 * removed), rounds on request, consistent points of several VMs, cutovers and rollbacks, statuses
 * and metrics. The cycles of rounds are in `cycles.ts`, the points in `points.ts`, the cutover's
 * steps in `cutover.ts`, a registration's checks in `registration.ts`.
 */
import { HttpError } from "../service/http";
import type { MetricFamily } from "../service/metrics";
import type { CutoverRequest, DiskRegistrationInput, PointRequest, PointStatus, VmStatus } from "./api";
import { cutover } from "./cutover";
import { VmCycles, type ProxyManagerOptions } from "./cycles";
import { proxyMetrics } from "./metrics";
import { ConsistentPoints } from "./points";
import { checkRegistration } from "./registration";
import { vmStatus } from "./vm";

export type { ProxyManagerOptions } from "./cycles";

/** Every VM of a proxy. */
export class ProxyManager {
  private readonly cycles: VmCycles;
  private readonly points: ConsistentPoints;
  private readonly enablingCbt = new Map<string, Promise<boolean>>();

  constructor(private readonly options: ProxyManagerOptions) {
    this.cycles = new VmCycles(options);
    this.points = new ConsistentPoints(this.cycles, options);
  }

  /** Loads the saved VMs: goes on with interrupted rounds, removes leftover snapshots, starts the cycles. */
  start(): Promise<void> {
    return this.cycles.start();
  }

  list(): VmStatus[] {
    return [...this.cycles.vms.values()].map((v) => vmStatus(v, this.options.state));
  }

  get(vm: string): VmStatus {
    return vmStatus(this.cycles.find(vm), this.options.state);
  }

  /** The metric families of `GET /metrics`. */
  metrics(): MetricFamily[] {
    for (const vm of this.cycles.vms.values()) this.cycles.counters.account(vm.record.vm, vm.record.rounds);
    return proxyMetrics(this.list(), this.cycles.counters);
  }

  /**
   * Registers a disk of a VM to replicate to an agent job, after checking, before any snapshot,
   * everything that would make its rounds fail: the VM and disk exist, the disk can be
   * snapshotted (no physical RDM, not independent), CBT is supported (and turned on here), the
   * datastore can be read, the job is a pushed one.
   */
  async registerDisk(name: string, key: number, input: DiskRegistrationInput): Promise<VmStatus> {
    const { registration, handle } = await checkRegistration(this.cycles.ctx, this.enablingCbt, name, key, input);

    let vm = this.cycles.vms.get(name);
    if (vm === undefined) {
      vm = {
        record: {
          version: 1,
          vm: name,
          quiesce: registration.quiesce,
          rpoSeconds: registration.rpoSeconds,
          fullCheckSeconds: registration.fullCheckSeconds,
          disks: {},
          nextRound: 0,
          rounds: [],
        },
        handle,
        queue: Promise.resolve(),
        busy: false,
        failures: 0,
      };
      this.cycles.vms.set(name, vm);
    }
    const r = vm.record;
    const existing = r.disks[String(key)];
    // Another agent or job is another replica: it starts with an initial round.
    const same = existing !== undefined && existing.agentUrl === registration.agentUrl && existing.jobId === registration.jobId;
    r.disks[String(key)] = same ? existing : { key, agentUrl: registration.agentUrl, jobId: registration.jobId };
    if (registration.compressionLevel !== undefined) r.disks[String(key)].compressionLevel = registration.compressionLevel;
    else delete r.disks[String(key)].compressionLevel;
    r.rpoSeconds = Math.min(...[registration.rpoSeconds, ...(Object.keys(r.disks).length > 1 ? [r.rpoSeconds] : [])]);
    r.quiesce = registration.quiesce;
    r.fullCheckSeconds = registration.fullCheckSeconds;
    this.options.state.saveVm(r);
    this.options.logger.log("info", "disk registered", {
      vm: name,
      disk: key,
      agent: registration.agentUrl,
      job: registration.jobId,
      rpoSeconds: r.rpoSeconds,
    });
    // A new disk's first round; a round already queued or running when the disk came takes it.
    if (!same && r.cutover === undefined) {
      const v = vm;
      if (v.settle !== undefined) clearTimeout(v.settle);
      v.settle = setTimeout(() => {
        v.settle = undefined;
        if (!this.cycles.closed) this.cycles.queueRound(v, "auto", true);
      }, this.options.registrationSettleMs ?? 2000);
      v.settle.unref();
    }
    return vmStatus(vm, this.options.state);
  }

  /** Stops replicating a disk; the VM is forgotten with its last disk. */
  async removeDisk(name: string, key: number): Promise<void> {
    const vm = this.cycles.find(name);
    await this.cycles.enqueue(vm, async () => {
      delete vm.record.disks[String(key)];
      if (Object.keys(vm.record.disks).length === 0) {
        if (vm.timer !== undefined) clearTimeout(vm.timer);
        this.cycles.vms.delete(name);
        this.cycles.counters.forget(name);
        this.options.state.removeVm(name);
      } else this.options.state.saveVm(vm.record);
    });
  }

  /** Queues a round of the VM now (after the one running, if any; joining one already queued). */
  runNow(name: string, mode: "auto" | "resync"): VmStatus {
    const vm = this.cycles.find(name);
    if (vm.record.cutover !== undefined) throw new HttpError(409, `VM ${name} is cut over; it takes no more rounds.`);
    // Kept until the round's snapshot is taken: a proxy restarted meanwhile runs it.
    vm.record.requested = { mode: mode === "resync" || vm.record.requested?.mode === "resync" ? "resync" : "auto", at: new Date().toISOString() };
    this.options.state.saveVm(vm.record);
    this.cycles.queueRound(vm, mode, false, this.options.requestSettleMs ?? 500);
    return vmStatus(vm, this.options.state);
  }

  /**
   * A consistent point of several VMs, taken in the background (`ConsistentPoints.startPoint`);
   * `point(name)` says how it went.
   */
  startPoint(request: PointRequest): PointStatus {
    return this.points.startPoint(request);
  }

  /** Ends a point: the jobs it froze are thawed (`ConsistentPoints.releasePoint`). */
  releasePoint(name: string): Promise<{ name: string; thawed: string[] }> {
    return this.points.releasePoint(name);
  }

  /** A point's status, or a 404. */
  point(name: string): PointStatus {
    return this.points.point(name);
  }

  /** Powers the source VM on again after a cutover (a rollback); its rounds go on. */
  async rollback(name: string): Promise<VmStatus> {
    const vm = this.cycles.find(name);
    await this.cycles.enqueue(vm, async () => {
      if ((await this.options.vc.powerState(await this.cycles.handle(vm))) !== "poweredOn") await this.options.vc.powerOn(await this.cycles.handle(vm));
      vm.record.cutover = undefined;
      this.options.state.saveVm(vm.record);
    });
    this.options.logger.log("info", "rolled back: the source VM runs again", { vm: name });
    this.cycles.schedule(vm);
    return vmStatus(vm, this.options.state);
  }

  /**
   * The cutover of a VM: its guest shut down (unless it is off already), a final round, and a
   * verification that reads no source data across the link: the target's digest against the
   * source-side block hashes (every block changed since the last full check re-hashed on the
   * proxy), and a sample of blocks read again on both sides. Runs in the background.
   */
  startCutover(name: string, request: CutoverRequest): VmStatus {
    const vm = this.cycles.find(name);
    if (vm.record.cutover?.state === "verified" || vm.record.cutover?.state === "running") return vmStatus(vm, this.options.state);
    if (vm.timer !== undefined) clearTimeout(vm.timer);
    vm.record.cutover = { state: "running", requestedAt: new Date().toISOString() };
    this.options.state.saveVm(vm.record);
    this.cycles
      .enqueue(vm, async () => cutover(this.cycles.ctx, vm.record, await this.cycles.handle(vm), request))
      .catch((err: unknown) => {
        vm.record.cutover = { ...vm.record.cutover!, state: "failed", finishedAt: new Date().toISOString(), error: (err as Error).message };
        this.options.state.saveVm(vm.record);
      });
    return vmStatus(vm, this.options.state);
  }

  /** Stops every cycle and the work in flight (an interrupted round goes on at the next start). */
  close(): Promise<void> {
    return this.cycles.close();
  }
}
