/**
 * The proxy's `/metrics`: per VM and disk, the bytes its rounds moved, the rounds, the recovery
 * point's age, the round failures and the predicted cutover. Counters count from the proxy's start
 * (a restart is a counter reset, as Prometheus expects); gauges come from the VMs' status.
 */
import type { MetricFamily, Sample } from "../service/metrics";
import type { RoundSummary, VmStatus } from "./api";

type DiskCounter = "rounds" | "changedBytes" | "linkBytes" | "hashBytes" | "bytesRead";

/** Counters of the rounds a proxy finished since it started, per VM and disk, and its failed rounds per VM. */
export class RoundCounters {
  private readonly counted = new Map<string, number>();
  private readonly disks = new Map<string, Map<number, Record<DiskCounter, number>>>();
  private readonly failures = new Map<string, number>();

  /** Starts counting a VM after the rounds it already has (they ran before this process). */
  start(vm: string, rounds: readonly RoundSummary[]): void {
    this.counted.set(vm, Math.max(-1, ...rounds.map((r) => r.round)));
  }

  /** Counts the VM's rounds not counted yet (rounds are numbered upwards). */
  account(vm: string, rounds: readonly RoundSummary[]): void {
    let upTo = this.counted.get(vm) ?? -1;
    const disks = this.disks.get(vm) ?? new Map<number, Record<DiskCounter, number>>();
    this.disks.set(vm, disks);
    for (const r of rounds) {
      if (r.round <= upTo || r.skipped !== undefined) continue;
      for (const d of r.disks) {
        const c = disks.get(d.key) ?? { rounds: 0, changedBytes: 0, linkBytes: 0, hashBytes: 0, bytesRead: 0 };
        c.rounds++;
        c.changedBytes += d.changedBytes;
        c.linkBytes += d.linkBytes;
        c.hashBytes += d.hashBytes;
        c.bytesRead += d.bytesRead;
        disks.set(d.key, c);
      }
      upTo = r.round;
    }
    this.counted.set(vm, upTo);
  }

  /** Forgets a VM the proxy no longer replicates (registered again, its rounds number from 0). */
  forget(vm: string): void {
    this.counted.delete(vm);
    this.disks.delete(vm);
    this.failures.delete(vm);
  }

  /** Counts a failed round of the VM. */
  failed(vm: string): void {
    this.failures.set(vm, (this.failures.get(vm) ?? 0) + 1);
  }

  disk(vm: string, key: number): Readonly<Record<DiskCounter, number>> {
    return this.disks.get(vm)?.get(key) ?? { rounds: 0, changedBytes: 0, linkBytes: 0, hashBytes: 0, bytesRead: 0 };
  }

  failuresOf(vm: string): number {
    return this.failures.get(vm) ?? 0;
  }
}

const STATES: ReadonlyArray<VmStatus["state"]> = ["idle", "queued", "round", "cut-over", "error"];

/** The proxy's metric families from its VMs' status and its counters. */
export function proxyMetrics(vms: readonly VmStatus[], counters: RoundCounters): MetricFamily[] {
  const perDisk = (pick: (vm: VmStatus, d: VmStatus["disks"][number]) => number | undefined): Sample[] =>
    vms.flatMap((vm) =>
      vm.disks.flatMap((d) => {
        const value = pick(vm, d);
        return value === undefined ? [] : [{ labels: { vm: vm.vm, disk: d.key, job: d.jobId }, value }];
      }),
    );
  const perVm = (pick: (vm: VmStatus) => number | undefined): Sample[] =>
    vms.flatMap((vm) => {
      const value = pick(vm);
      return value === undefined ? [] : [{ labels: { vm: vm.vm }, value }];
    });
  const counter = (field: DiskCounter) => perDisk((vm, d) => counters.disk(vm.vm, d.key)[field]);
  const now = Date.now();
  return [
    { name: "rehost_proxy_vms", help: "VMs the proxy replicates.", type: "gauge", samples: [{ value: vms.length }] },
    {
      name: "rehost_proxy_vm_state",
      help: "1 for the state each VM is in (idle, queued, round, cut-over, error).",
      type: "gauge",
      samples: vms.flatMap((vm) => STATES.map((state) => ({ labels: { vm: vm.vm, state }, value: vm.state === state ? 1 : 0 }))),
    },
    { name: "rehost_proxy_rounds_total", help: "Rounds of each disk finished since the proxy started.", type: "counter", samples: counter("rounds") },
    {
      name: "rehost_proxy_changed_bytes_total",
      help: "Bytes the rounds' changed ranges covered, per disk, since the proxy started.",
      type: "counter",
      samples: counter("changedBytes"),
    },
    {
      name: "rehost_proxy_link_bytes_total",
      help: "Bytes of frames put on the link to the agents, per disk, since the proxy started.",
      type: "counter",
      samples: counter("linkBytes"),
    },
    {
      name: "rehost_proxy_hash_bytes_total",
      help: "Bytes of block hashes put on the link (full source-side checks), per disk, since the proxy started.",
      type: "counter",
      samples: counter("hashBytes"),
    },
    {
      name: "rehost_proxy_read_bytes_total",
      help: "Bytes read from frozen source disks, per disk, since the proxy started.",
      type: "counter",
      samples: counter("bytesRead"),
    },
    {
      name: "rehost_proxy_round_failures_total",
      help: "Rounds of each VM that failed since the proxy started.",
      type: "counter",
      samples: vms.map((vm) => ({ labels: { vm: vm.vm }, value: counters.failuresOf(vm.vm) })),
    },
    {
      name: "rehost_proxy_error",
      help: "1 when the VM's last round failed (its retry is scheduled), 0 otherwise.",
      type: "gauge",
      samples: vms.map((vm) => ({ labels: { vm: vm.vm }, value: vm.error !== undefined ? 1 : 0 })),
    },
    {
      name: "rehost_proxy_recovery_point_age_seconds",
      help: "Seconds since the snapshot of the VM's last round: how old its replicas' data is.",
      type: "gauge",
      samples: perVm((vm) => vm.recoveryPointAgeSeconds),
    },
    {
      name: "rehost_proxy_disk_recovery_point_age_seconds",
      help: "Seconds since the snapshot of the disk's last round.",
      type: "gauge",
      samples: perDisk((_vm, d) => (d.lastRoundAt !== undefined ? Math.max(0, (now - Date.parse(d.lastRoundAt)) / 1000) : undefined)),
    },
    {
      name: "rehost_proxy_recovery_point_objective_seconds",
      help: "The recovery point each VM asks for (0: rounds only on request).",
      type: "gauge",
      samples: perVm((vm) => vm.rpoSeconds),
    },
    { name: "rehost_proxy_last_round", help: "Number of the disk's last round.", type: "gauge", samples: perDisk((_vm, d) => d.lastRound) },
    { name: "rehost_proxy_last_round_seconds", help: "Seconds the VM's last round took.", type: "gauge", samples: perVm((vm) => vm.lastRound?.seconds) },
    { name: "rehost_proxy_disk_size_bytes", help: "Size of each replicated disk.", type: "gauge", samples: perDisk((_vm, d) => d.sizeBytes) },
    {
      name: "rehost_proxy_churn_bytes_per_second",
      help: "Bytes the guest changes per second, from its recent incremental rounds.",
      type: "gauge",
      samples: perVm((vm) => (vm.prediction?.churnRounds ? vm.prediction.churnBytesPerSecond : undefined)),
    },
    {
      name: "rehost_proxy_throughput_bytes_per_second",
      help: "Link bytes per second while the VM's rounds push, fitted from its recent rounds.",
      type: "gauge",
      samples: perVm((vm) => vm.prediction?.throughputBytesPerSecond),
    },
    {
      name: "rehost_proxy_predicted_final_delta_bytes",
      help: "Bytes the cutover's final round is predicted to move.",
      type: "gauge",
      samples: perVm((vm) => (vm.prediction?.known ? vm.prediction.finalDeltaBytes : undefined)),
    },
    {
      name: "rehost_proxy_predicted_downtime_seconds",
      help: "Predicted downtime of the VM's cutover: shutdown allowance, final round, verification.",
      type: "gauge",
      samples: perVm((vm) => (vm.prediction?.known ? vm.prediction.downtimeSeconds : undefined)),
    },
  ];
}
