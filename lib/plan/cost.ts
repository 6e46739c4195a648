/** The planner's last phase: a wave's initial-sync time and its cost with and without sync gateways. */
import type { Settings, Wave } from "../inventory/waves";
import { CURRENCY, findInstanceType } from "./catalog";
import { sizeInstance } from "./sizing";
import type { PlannedGateway, PlannedVm, WaveEstimate } from "./types";

const HOURS_PER_MONTH = 730;

/** Bytes per second replication gets from the link. */
export function linkBytesPerSecond(settings: Settings): number {
  return ((settings.link.bandwidthMbps * 1e6) / 8) * settings.link.efficiency;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function hourlyPrice(instanceType: string, cpus: number, memoryMiB: number, prices: Readonly<Record<string, number>>): number {
  const known = findInstanceType(instanceType) ?? sizeInstance(cpus, memoryMiB, 7);
  const kind = known?.kind ?? "g";
  const vcpus = known?.vcpus ?? cpus;
  return vcpus * (prices[`instance.${kind}.vcpuHour`] ?? 0);
}

/**
 * Time and cost of a wave: the initial sync over the link (capped by the gateways' throughput),
 * one daily incremental round, and the migration period's cost with sync gateways (plus the
 * hosts during rehearsals) against running every target host for the whole period.
 */
export function estimate(
  vms: readonly PlannedVm[],
  gateways: readonly PlannedGateway[],
  wave: Wave,
  settings: Settings,
  prices: Readonly<Record<string, number>>,
): WaveEstimate {
  const allocatedBytes = vms.reduce((sum, vm) => sum + vm.disks.reduce((s, d) => s + d.allocatedBytes, 0), 0);
  const gatewayRate = gateways.reduce((sum, g) => sum + g.throughputMBps * 1e6, 0);
  const rate = Math.min(linkBytesPerSecond(settings), gatewayRate > 0 ? gatewayRate : Infinity);
  const hours = (bytes: number): number => (rate > 0 ? bytes / rate / 3600 : 0);
  const incrementalRoundBytes = Math.round(allocatedBytes * settings.dailyChangeRate);
  const periodHours = settings.migrationDays * 24;
  const months = periodHours / HOURS_PER_MONTH;
  const diskCost = vms.reduce(
    (sum, vm) =>
      sum + vm.disks.reduce((s, d) => s + (d.sizeGiB ?? Math.ceil(d.sizeBytes / 2 ** 30)) * (prices[`disk.${d.category}.gibMonth`] ?? 0) * months, 0),
    0,
  );
  const hostsHourly = vms.reduce((sum, vm) => sum + hourlyPrice(vm.instanceType, vm.cpus, vm.memoryMiB, prices), 0);
  const gatewaysHourly = gateways.reduce((sum, g) => sum + hourlyPrice(g.instanceType, 1, 1024, prices), 0);
  const rehearsalHours = wave.rehearsals * (prices["rehearsal.hours"] ?? 0);
  return {
    initialSyncHours: round(hours(allocatedBytes), 2),
    incrementalRoundBytes,
    incrementalRoundHours: round(hours(incrementalRoundBytes), 2),
    costGateway: round(gatewaysHourly * periodHours + hostsHourly * rehearsalHours + diskCost, 2),
    costFullHosts: round(hostsHourly * periodHours + diskCost, 2),
    currency: CURRENCY,
    allocatedBytes,
    periodDays: settings.migrationDays,
    syncRateMBps: round(rate / 1e6, 1),
  };
}
