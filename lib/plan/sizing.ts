/**
 * Sizing: the ECS instance type of a VM, the ECS size of its disks and the sync-gateway type.
 */
import { type FamilyKind, GATEWAY_TIERS, type InstanceType, MEMORY_PER_VCPU_GIB, familyName, instanceTypes } from "./catalog";

const KINDS: readonly FamilyKind[] = ["c", "g", "r"];

/** The family kind whose memory:vCPU ratio fits a VM: `c` up to 2 GiB per vCPU, `g` up to 4, `r` above. */
export function familyKindFor(cpus: number, memoryMiB: number): FamilyKind {
  const perVcpu = memoryMiB / 1024 / cpus;
  return KINDS.find((k) => perVcpu <= MEMORY_PER_VCPU_GIB[k]) ?? "r";
}

/**
 * The smallest instance type of `generation` with at least `cpus` vCPUs and `memoryMiB` memory:
 * first in the family the VM's ratio points to, then in the families with more memory per vCPU.
 * @returns `undefined` when no type of the generation is large enough.
 */
export function sizeInstance(cpus: number, memoryMiB: number, generation: number): InstanceType | undefined {
  const types = instanceTypes(generation);
  const memoryGiB = memoryMiB / 1024;
  const start = KINDS.indexOf(familyKindFor(cpus, memoryMiB));
  for (const kind of KINDS.slice(start)) {
    const fit = types.find((t) => t.kind === kind && t.vcpus >= cpus && t.memoryGiB >= memoryGiB);
    if (fit) return fit;
  }
  return undefined;
}

/** The ECS disk size in GiB for a source disk: its capacity rounded up, at least `minGiB`. */
export function diskSizeGiB(capacityBytes: number, minGiB: number): number {
  return Math.max(minGiB, Math.ceil(capacityBytes / 2 ** 30));
}

/** The sync-gateway type for the throughput it carries: a compute type of the generation. */
export function gatewayInstanceType(throughputMBps: number, generation: number): string {
  const tier = GATEWAY_TIERS.find((t) => throughputMBps <= t.maxMBps) ?? GATEWAY_TIERS[GATEWAY_TIERS.length - 1]!;
  return `ecs.${familyName("c", generation)}.${tier.size}`;
}
