/** The planner's gateway phase: a wave's disks packed onto sync gateways. */
import type { Settings, Wave } from "../inventory/waves";
import type { Problem } from "../problems";
import { type PackItem, packDisks } from "./packing";
import { gatewayInstanceType } from "./sizing";
import type { PlannedGateway, PlannedVm } from "./types";
import { validateGatewayDisks } from "./validate";
import { linkBytesPerSecond, round } from "./cost";

/** Packs a wave's disks onto gateways and writes the placement into its VMs and disks. */
export function placeOnGateways(
  wave: Wave,
  vms: readonly PlannedVm[],
  settings: Settings,
  generation: number,
  maxDisks: number,
  problems: Problem[],
  file?: string,
): { vms: PlannedVm[]; gateways: PlannedGateway[] } {
  const items: PackItem[] = [];
  const allocated = new Map<string, number>();
  for (const vm of vms) {
    for (const disk of vm.disks) {
      items.push({ id: disk.id, bytes: disk.sizeBytes, group: vm.name });
      allocated.set(disk.id, disk.allocatedBytes);
    }
  }
  const linkMBps = linkBytesPerSecond(settings) / 1e6;
  const minBins = Math.ceil(linkMBps / settings.gateway.maxThroughputMBps);
  const packing = packDisks(items, { maxDisks, maxBytes: settings.gateway.maxBytes, minBins });
  const waveAllocated = items.reduce((sum, i) => sum + allocated.get(i.id)!, 0);
  const placement = new Map<string, { gateway: string; slot: number }>();
  const gateways: PlannedGateway[] = packing.bins.map((bin, n) => {
    const name = `${wave.name}-gw-${n + 1}`;
    bin.forEach((item, slot) => placement.set(item.id, { gateway: name, slot }));
    const bytes = bin.reduce((sum, i) => sum + i.bytes, 0);
    const carried = bin.reduce((sum, i) => sum + allocated.get(i.id)!, 0);
    const share = waveAllocated > 0 ? carried / waveAllocated : 1 / packing.bins.length;
    const throughputMBps = round(Math.min(settings.gateway.maxThroughputMBps, linkMBps * share), 1);
    problems.push(
      ...validateGatewayDisks({ gateway: name, disks: bin.length, bytes, maxDisks: settings.gateway.maxDisks, maxBytes: settings.gateway.maxBytes, file }),
    );
    return { name, instanceType: gatewayInstanceType(throughputMBps, generation), disks: bin.length, diskIds: bin.map((i) => i.id), bytes, throughputMBps };
  });
  const byName = new Map(vms.map((vm) => [vm.name, vm] as const));
  for (const group of packing.splitGroups) {
    const vm = byName.get(group)!;
    const names = [...new Set(vm.disks.map((d) => placement.get(d.id)!.gateway))];
    problems.push({
      severity: "warning",
      file,
      vm: group,
      field: "disks",
      message: `The VM's disks do not fit on one sync gateway and are spread over ${names.join(", ")}; its rehearsal points are taken on all of them at one round boundary`,
      received: `${vm.disks.length} disks`,
      expected: `at most ${maxDisks} disks and ${settings.gateway.maxBytes} bytes on one gateway`,
      fix: "raise settings.gateway.maxBytes if the gateways allow it",
    });
  }
  const placedVms = vms.map((vm) => {
    const disks = vm.disks.map((d) => ({ ...d, ...placement.get(d.id)! }));
    return { ...vm, disks, gateway: disks[0]?.gateway ?? "" };
  });
  return { vms: placedVms, gateways };
}
