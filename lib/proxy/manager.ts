/**
 * The source proxy's VMs: which disks go to which agent jobs, rounds at the recovery point each
 * VM asks for (cycles that run without Pulumi), rounds on request, consistent points of several
 * VMs, and cutovers. One round per VM at a time; a VM whose jobs are frozen for a rehearsal point
 * is skipped until the thaw. On start, an interrupted round goes on with its snapshot, and
 * snapshots rehost left behind are removed.
 */
import type { AgentClient } from "../agent/client";
import { HttpError } from "../service/http";
import type { Logger } from "../service/log";
import type { ProcessGroup } from "../service/processes";
import type { VmHandle, VSphereClient } from "../vsphere/client";
import type { CutoverRequest, DiskRegistrationInput, PointRequest, PointStatus, RoundSummary, VmStatus } from "./api";
import { cutover } from "./cutover";
import { checkRegistration } from "./registration";
import type { ReaderSettings } from "./reader";
import { proxyMetrics, RoundCounters } from "./metrics";
import type { MetricFamily } from "../service/metrics";
import type { LinkSettings } from "./push";
import { removeLeftovers, RoundRefused, runRound, takeSnapshot, type RoundContext, type RoundSnapshot } from "./rounds";
import type { ProxyState, VmRecord } from "./state";
import { vmStatus, type Vm } from "./vm";

/** What the manager works with. */
export interface ProxyManagerOptions {
  readonly state: ProxyState;
  readonly vc: VSphereClient;
  /** A client of the agent at a URL, with the proxy's agent credentials. */
  agent(url: string): AgentClient;
  readonly processes: ProcessGroup;
  readonly runDir: string;
  readonly reader: ReaderSettings;
  readonly logger: Logger;
  /** First retry of a failed round, doubled per failure up to the VM's recovery point. @default 30000 */
  readonly retryDelayMs?: number;
  /**
   * A new disk's first round waits this long after the VM's last registration, so the disks of a
   * VM registered together (one Replication each, in parallel) share its first snapshot. @default 2000
   */
  readonly registrationSettleMs?: number;
  /**
   * A round asked for (`POST /v1/vms/:vm/rounds`) waits this long before its snapshot, so the
   * requests of a VM's disks (one Replication each, updated in parallel) share one round. @default 500
   */
  readonly requestSettleMs?: number;
  /** Compression and bandwidth of the pushes. @default - zstd level 1, no cap */
  readonly link?: LinkSettings;
}

/** Every VM of a proxy. */
export class ProxyManager {
  private readonly vms = new Map<string, Vm>();
  private readonly points = new Map<string, PointStatus>();
  private readonly enablingCbt = new Map<string, Promise<boolean>>();
  private readonly abort = new AbortController();
  /** Bytes and rounds since this process started, for `/metrics`. */
  private readonly counters = new RoundCounters();
  private closed = false;

  constructor(private readonly options: ProxyManagerOptions) {}

  private get ctx(): RoundContext {
    const o = this.options;
    return {
      vc: o.vc,
      state: o.state,
      agent: (url) => o.agent(url),
      processes: o.processes,
      runDir: o.runDir,
      reader: o.reader,
      logger: o.logger,
      signal: this.abort.signal,
      link: o.link,
    };
  }

  /** Loads the saved VMs: goes on with interrupted rounds, removes leftover snapshots, starts the cycles. */
  async start(): Promise<void> {
    for (const record of this.options.state.loadVms((file, err) =>
      this.options.logger.log("error", "VM file unreadable; left in place", { file, error: String(err) }),
    )) {
      const vm: Vm = { record, queue: Promise.resolve(), busy: false, failures: 0 };
      this.vms.set(record.vm, vm);
      this.counters.start(record.vm, record.rounds);
      if (record.inFlight !== undefined) {
        this.options.logger.log("info", "an interrupted round goes on", { vm: record.vm, round: record.inFlight.round, snapshot: record.inFlight.snapshot });
        this.queueRound(vm, record.requested?.mode ?? "auto");
      } else {
        this.enqueue(vm, async () => removeLeftovers(this.ctx, await this.handle(vm)));
        // A round asked for, or a new disk's first round, that had not started yet.
        if (record.requested !== undefined) this.queueRound(vm, record.requested.mode);
        else if (record.cutover === undefined && Object.values(record.disks).some((d) => d.lastRound === undefined)) this.queueRound(vm, "auto", true);
        else this.schedule(vm);
      }
    }
  }

  list(): VmStatus[] {
    return [...this.vms.values()].map((v) => vmStatus(v, this.options.state));
  }

  get(vm: string): VmStatus {
    return vmStatus(this.find(vm), this.options.state);
  }

  /** The metric families of `GET /metrics`. */
  metrics(): MetricFamily[] {
    for (const vm of this.vms.values()) this.counters.account(vm.record.vm, vm.record.rounds);
    return proxyMetrics(this.list(), this.counters);
  }

  /**
   * Registers a disk of a VM to replicate to an agent job, after checking, before any snapshot,
   * everything that would make its rounds fail: the VM and disk exist, the disk can be
   * snapshotted (no physical RDM, not independent), CBT is supported (and turned on here), the
   * datastore can be read, the job is a pushed one.
   */
  async registerDisk(name: string, key: number, input: DiskRegistrationInput): Promise<VmStatus> {
    const { registration, handle } = await checkRegistration(this.ctx, this.enablingCbt, name, key, input);

    let vm = this.vms.get(name);
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
      this.vms.set(name, vm);
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
        if (!this.closed) this.queueRound(v, "auto", true);
      }, this.options.registrationSettleMs ?? 2000);
      v.settle.unref();
    }
    return vmStatus(vm, this.options.state);
  }

  /** Stops replicating a disk; the VM is forgotten with its last disk. */
  async removeDisk(name: string, key: number): Promise<void> {
    const vm = this.find(name);
    await this.enqueue(vm, async () => {
      delete vm.record.disks[String(key)];
      if (Object.keys(vm.record.disks).length === 0) {
        if (vm.timer !== undefined) clearTimeout(vm.timer);
        this.vms.delete(name);
        this.counters.forget(name);
        this.options.state.removeVm(name);
      } else this.options.state.saveVm(vm.record);
    });
  }

  /** Queues a round of the VM now (after the one running, if any; joining one already queued). */
  runNow(name: string, mode: "auto" | "resync"): VmStatus {
    const vm = this.find(name);
    if (vm.record.cutover !== undefined) throw new HttpError(409, `VM ${name} is cut over; it takes no more rounds.`);
    // Kept until the round's snapshot is taken: a proxy restarted meanwhile runs it.
    vm.record.requested = { mode: mode === "resync" || vm.record.requested?.mode === "resync" ? "resync" : "auto", at: new Date().toISOString() };
    this.options.state.saveVm(vm.record);
    this.queueRound(vm, mode, false, this.options.requestSettleMs ?? 500);
    return vmStatus(vm, this.options.state);
  }

  /** Queues a round; `onlyForNewDisks`: skipped if, when its turn comes, every disk has had one. */
  private queueRound(vm: Vm, mode: "auto" | "resync", onlyForNewDisks = false, settleMs = 0): void {
    if (vm.pending !== undefined) {
      if (mode === "resync") vm.pending.mode = "resync";
      vm.pending.onlyForNewDisks &&= onlyForNewDisks;
      return;
    }
    const pending = { mode, onlyForNewDisks };
    vm.pending = pending;
    void this.enqueue(vm, async () => {
      // Requests arriving meanwhile join this round.
      if (settleMs > 0) {
        vm.settling = true;
        await new Promise((r) => setTimeout(r, settleMs)).finally(() => (vm.settling = false));
      }
      vm.pending = undefined;
      const covered = vm.record.inFlight === undefined && Object.values(vm.record.disks).every((d) => d.lastRound !== undefined);
      if (pending.onlyForNewDisks && covered) return undefined;
      return this.round(vm, { mode: pending.mode });
    }).catch(() => undefined);
  }

  /**
   * A consistent point of several VMs: their snapshots taken one right after the other (the
   * skew reported, and refused above `maxSkewSeconds`), each VM's round pushed with its snapshot,
   * then every job frozen at that round on its agent. Runs in the background; `point(name)` says
   * how it went.
   */
  startPoint(request: PointRequest): PointStatus {
    const existing = this.points.get(request.name) ?? this.options.state.loadPoint(request.name);
    if (existing !== undefined && existing.state !== "failed") return existing;
    const vms = request.vms.map((n) => this.find(n));
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
      const vm = this.vms.get(vmName);
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

  /** Powers the source VM on again after a cutover (a rollback); its rounds go on. */
  async rollback(name: string): Promise<VmStatus> {
    const vm = this.find(name);
    await this.enqueue(vm, async () => {
      if ((await this.options.vc.powerState(await this.handle(vm))) !== "poweredOn") await this.options.vc.powerOn(await this.handle(vm));
      vm.record.cutover = undefined;
      this.options.state.saveVm(vm.record);
    });
    this.options.logger.log("info", "rolled back: the source VM runs again", { vm: name });
    this.schedule(vm);
    return vmStatus(vm, this.options.state);
  }

  point(name: string): PointStatus {
    const point = this.points.get(name) ?? this.options.state.loadPoint(name);
    if (point === undefined) throw new HttpError(404, `No point ${name} on this proxy.`);
    return point;
  }

  /**
   * The cutover of a VM: its guest shut down (unless it is off already), a final round, and a
   * verification that reads no source data across the link: the target's digest against the
   * source-side block hashes (every block changed since the last full check re-hashed on the
   * proxy), and a sample of blocks read again on both sides. Runs in the background.
   */
  startCutover(name: string, request: CutoverRequest): VmStatus {
    const vm = this.find(name);
    if (vm.record.cutover?.state === "verified" || vm.record.cutover?.state === "running") return vmStatus(vm, this.options.state);
    if (vm.timer !== undefined) clearTimeout(vm.timer);
    vm.record.cutover = { state: "running", requestedAt: new Date().toISOString() };
    this.options.state.saveVm(vm.record);
    this.enqueue(vm, async () => cutover(this.ctx, vm.record, await this.handle(vm), request)).catch((err: unknown) => {
      vm.record.cutover = { ...vm.record.cutover!, state: "failed", finishedAt: new Date().toISOString(), error: (err as Error).message };
      this.options.state.saveVm(vm.record);
    });
    return vmStatus(vm, this.options.state);
  }

  /** Stops every cycle and the work in flight (an interrupted round goes on at the next start). */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort(new Error("proxy stopping"));
    for (const vm of this.vms.values()) {
      if (vm.timer !== undefined) clearTimeout(vm.timer);
      if (vm.settle !== undefined) clearTimeout(vm.settle);
    }
    await Promise.allSettled([...this.vms.values()].map((v) => v.queue));
  }

  private find(name: string): Vm {
    const vm = this.vms.get(name);
    if (vm === undefined) throw new HttpError(404, `VM ${name} is not replicated by this proxy.`);
    return vm;
  }

  private async handle(vm: Vm): Promise<VmHandle> {
    vm.handle ??= await this.options.vc.findVm(vm.record.vm);
    return vm.handle;
  }

  private enqueue<T>(vm: Vm, work: () => Promise<T>): Promise<T> {
    const run = vm.queue.then(async () => {
      if (this.closed) throw new Error("proxy stopping");
      vm.busy = true;
      try {
        return await work();
      } finally {
        vm.busy = false;
        // Before a later round can push the ones just finished out of the record (a VM just forgotten is not counted again).
        if (this.vms.get(vm.record.vm) === vm) this.counters.account(vm.record.vm, vm.record.rounds);
      }
    });
    vm.queue = run.catch(() => undefined);
    return run;
  }

  /** A round of the VM, skipped while any of its jobs is frozen; the next one scheduled either way. */
  private async round(vm: Vm, options: { mode?: "auto" | "resync" }): Promise<RoundSummary | undefined> {
    const record = vm.record;
    // Saved with the round's snapshot (takeSnapshot), from when the round in flight stands for the
    // request; kept if the round fails, so a restart still runs it.
    const requested = record.requested;
    record.requested = undefined;
    try {
      if (record.inFlight === undefined) {
        for (const disk of Object.values(record.disks)) {
          const job = await this.options.agent(disk.agentUrl).get(disk.jobId);
          if (job.state === "frozen") {
            this.options.logger.log("info", "round skipped: a job is frozen for a rehearsal point", { vm: record.vm, job: disk.jobId, point: job.frozenFor });
            if (requested !== undefined) this.options.state.saveVm(record);
            return undefined;
          }
        }
      }
      const mode = options.mode === "resync" || this.fullCheckDue(record) ? "resync" : "auto";
      if (mode === "resync" && options.mode !== "resync")
        this.options.logger.log("info", "full source-side check due: this round compares every block by hash", { vm: record.vm });
      vm.retryMode = mode;
      const summary = await runRound(this.ctx, record, await this.handle(vm), { ...options, mode });
      vm.failures = 0;
      vm.retryMode = undefined;
      this.options.logger.log("info", "round finished", {
        vm: record.vm,
        round: summary.round,
        seconds: summary.seconds,
        changedBytes: summary.disks.reduce((n, d) => n + d.changedBytes, 0),
        linkBytes: summary.disks.reduce((n, d) => n + d.linkBytes, 0),
      });
      return summary;
    } catch (err) {
      vm.failures++;
      this.counters.failed(record.vm);
      record.error = (err as Error).message;
      if (record.inFlight === undefined) record.requested ??= requested;
      this.options.state.saveVm(record);
      this.options.logger.log(err instanceof RoundRefused ? "error" : "warn", "round failed", { vm: record.vm, attempt: vm.failures, error: record.error });
      return undefined;
    } finally {
      this.schedule(vm);
    }
  }

  /** Whether the VM's background full check is due: its period passed since the last one (or the first round). */
  private fullCheckDue(record: VmRecord): boolean {
    const period = (record.fullCheckSeconds ?? 86400) * 1000;
    if (period <= 0 || record.inFlight !== undefined || record.rounds.length === 0) return false;
    const since = Object.values(record.disks).map((d) => Date.parse(d.fullCheckAt ?? record.rounds[0].snapshotAt));
    return since.some((t) => Date.now() - t >= period);
  }

  /** Sets the VM's next round: when its recovery point is reached, or a backoff after a failure. */
  private schedule(vm: Vm): void {
    if (this.closed || vm.record.cutover !== undefined) return;
    if (vm.timer !== undefined) clearTimeout(vm.timer);
    const rpo = vm.record.rpoSeconds * 1000;
    if (rpo <= 0 && vm.failures === 0) return;
    const last = vm.record.rounds.at(-1);
    const due =
      vm.failures > 0
        ? Date.now() + Math.min(Math.max(rpo, 60_000), (this.options.retryDelayMs ?? 30_000) * 2 ** (vm.failures - 1))
        : last === undefined
          ? Date.now()
          : Date.parse(last.snapshotAt) + rpo;
    vm.nextAt = Math.max(due, Date.now());
    vm.timer = setTimeout(() => {
      vm.timer = undefined;
      if (!vm.busy) this.queueRound(vm, vm.failures > 0 ? (vm.retryMode ?? "auto") : "auto");
      else this.schedule(vm);
    }, vm.nextAt - Date.now());
    vm.timer.unref();
  }

  private async takePoint(request: PointRequest, vms: Vm[]): Promise<PointStatus> {
    // Every VM's queue is held while its snapshot is taken, so no cycle runs in between.
    const releases: Array<() => void> = [];
    const held = vms.map(
      (vm) =>
        new Promise<void>((ready) => {
          void this.enqueue(
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
        if (vm.record.inFlight !== undefined) await runRound(this.ctx, vm.record, await this.handle(vm), {});
      }
      // Every VM's snapshot at once. The skew is bounded from above: from the first request to
      // the last answer (each snapshot froze its VM somewhere in between).
      const taken = await Promise.all(
        vms.map(async (vm) => {
          const round = Math.max(vm.record.nextRound, ...Object.values(vm.record.disks).map((d) => (d.lastRound ?? -1) + 1));
          const snapshot = await takeSnapshot(this.ctx, vm.record, await this.handle(vm), round, request.name);
          snapshots.set(vm, snapshot);
          return snapshot;
        }),
      );
      const skewSeconds = (Math.max(...taken.map((t) => Date.parse(t.at))) - Math.min(...taken.map((t) => Date.parse(t.requestedAt ?? t.at)))) / 1000;
      if (skewSeconds > request.maxSkewSeconds)
        throw new RoundRefused(`The snapshots of point ${request.name} are ${skewSeconds} s apart, more than the ${request.maxSkewSeconds} s allowed.`);
      const jobs: Record<string, { round: number; digest: string; algorithm: string }> = {};
      for (const vm of vms) {
        await runRound(this.ctx, vm.record, await this.handle(vm), { point: request.name }, snapshots.get(vm));
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
