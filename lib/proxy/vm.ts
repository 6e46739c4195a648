/**
 * One VM of the proxy in memory (its saved record, its vSphere handle, the queue of its work and
 * its timers) and its status as the API reports it (`GET /v1/vms`, `GET /v1/vms/:vm`).
 */
import { DIGEST_BLOCK } from "../replication/sha256-blocks";
import type { VmHandle } from "../vsphere/client";
import type { VmStatus } from "./api";
import { predictCutover } from "./predict";
import type { ProxyState, VmRecord } from "./state";

/** A VM of the proxy, in memory. */
export interface Vm {
  record: VmRecord;
  handle?: VmHandle;
  /** The work queued on this VM: one round (or point, or cutover) at a time. */
  queue: Promise<unknown>;
  busy: boolean;
  timer?: NodeJS.Timeout;
  nextAt?: number;
  /** The first round of newly registered disks, waiting for the VM's registrations to settle. */
  settle?: NodeJS.Timeout;
  /** A round queued and not started yet: later requests join it (a resync request upgrades it). */
  pending?: { mode: "auto" | "resync"; onlyForNewDisks: boolean };
  failures: number;
  /** A requested round waiting for the VM's other requests (`requestSettleMs`). */
  settling?: boolean;
  /** The mode a failed round asked for: its retry keeps it (a requested full check stays one). */
  retryMode?: "auto" | "resync";
}

/** What the API says of a VM: its disks, its state, its rounds, the prediction of its cutover. */
export function vmStatus(vm: Vm, state: ProxyState): VmStatus {
  const r = vm.record;
  const last = r.rounds.at(-1);
  return {
    vm: r.vm,
    rpoSeconds: r.rpoSeconds,
    quiesce: r.quiesce,
    disks: Object.values(r.disks).map((d) => {
      const since = d.sizeBytes !== undefined ? state.loadChanged(r.vm, d.key, d.sizeBytes) : undefined;
      return {
        key: d.key,
        agentUrl: d.agentUrl,
        jobId: d.jobId,
        sizeBytes: d.sizeBytes,
        lastRound: d.lastRound,
        lastRoundAt: d.lastRoundAt,
        fullCheckRound: d.fullCheckRound,
        fullCheckAt: d.fullCheckAt,
        ...(since !== undefined ? { changedSinceFullCheckBytes: since.list().length * DIGEST_BLOCK } : {}),
      };
    }),
    state:
      r.cutover?.state === "verified"
        ? "cut-over"
        : (vm.busy && vm.settling !== true) || r.inFlight !== undefined
          ? "round"
          : vm.pending !== undefined || vm.settle !== undefined
            ? "queued"
            : r.error !== undefined
              ? "error"
              : "idle",
    lastRound: last,
    rounds: r.rounds.slice(-20),
    ...(r.inFlight !== undefined ? { inFlight: { round: r.inFlight.round, since: r.inFlight.startedAt, snapshot: r.inFlight.snapshot } } : {}),
    ...(last !== undefined ? { recoveryPointAgeSeconds: Math.max(0, (Date.now() - Date.parse(last.snapshotAt)) / 1000) } : {}),
    ...(vm.nextAt !== undefined && vm.timer !== undefined ? { nextRoundAt: new Date(vm.nextAt).toISOString() } : {}),
    ...(r.cutover !== undefined ? { cutover: r.cutover } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.cutover?.state !== "verified" && r.rounds.length > 0
      ? { prediction: predictCutover(r.rounds, { now: Date.now(), diskSizes: Object.values(r.disks).map((d) => d.sizeBytes ?? 0) }) }
      : {}),
  };
}
