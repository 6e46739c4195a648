/**
 * The proxy's VMs in memory and the cycle of their rounds, which runs without Pulumi: one piece of
 * work per VM at a time (a queue each), a round when the VM's recovery point is reached or when
 * one is asked for, a backoff after a failure, the background full check when its period passed,
 * a round skipped while a job is frozen for a rehearsal point. On start, an interrupted round goes
 * on with its snapshot, and snapshots rehost left behind are removed.
 */
import type { AgentClient } from "../agent/client";
import { HttpError } from "../service/http";
import type { Logger } from "../service/log";
import type { ProcessGroup } from "../service/processes";
import type { VmHandle, VSphereClient } from "../vsphere/client";
import type { RoundSummary } from "./api";
import { RoundCounters } from "./metrics";
import type { LinkSettings } from "./push";
import type { ReaderSettings } from "./reader";
import { removeLeftovers, RoundRefused, runRound, type RoundContext } from "./rounds";
import type { ProxyState, VmRecord } from "./state";
import type { Vm } from "./vm";

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

/** Every VM of a proxy and its cycle of rounds. */
export class VmCycles {
  readonly vms = new Map<string, Vm>();
  private readonly abort = new AbortController();
  /** Bytes and rounds since this process started, for `/metrics`. */
  readonly counters = new RoundCounters();
  /** Set by `close()`: no work starts any more. */
  closed = false;

  constructor(private readonly options: ProxyManagerOptions) {}

  get ctx(): RoundContext {
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

  /** Queues a round; `onlyForNewDisks`: skipped if, when its turn comes, every disk has had one. */
  queueRound(vm: Vm, mode: "auto" | "resync", onlyForNewDisks = false, settleMs = 0): void {
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

  /** The VM of that name, or a 404. */
  find(name: string): Vm {
    const vm = this.vms.get(name);
    if (vm === undefined) throw new HttpError(404, `VM ${name} is not replicated by this proxy.`);
    return vm;
  }

  /** The VM's vSphere handle, looked up once. */
  async handle(vm: Vm): Promise<VmHandle> {
    vm.handle ??= await this.options.vc.findVm(vm.record.vm);
    return vm.handle;
  }

  /** Runs `work` after the VM's queued work; no work starts once the proxy is closing. */
  enqueue<T>(vm: Vm, work: () => Promise<T>): Promise<T> {
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
  schedule(vm: Vm): void {
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
}
