import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MEMORY_PER_VCPU_GIB, findInstanceType, instanceTypes } from "../../lib/plan/catalog";
import { type PackItem, packDisks } from "../../lib/plan/packing";
import { diskSizeGiB, familyKindFor, gatewayInstanceType, sizeInstance } from "../../lib/plan/sizing";

const GiB = 2 ** 30;

/** Disks of VMs: each VM 1–20 disks of 1 GiB–4 TiB. */
const estate = fc
  .array(fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 60 })
  .map((vms) => vms.flatMap((disks, v) => disks.map((gib, k): PackItem => ({ id: `vm${v}-disk-${k}`, bytes: gib * GiB, group: `vm${v}` }))));
const limits = fc.record({
  maxDisks: fc.integer({ min: 1, max: 16 }),
  maxBytes: fc.integer({ min: 4096, max: 64 * 1024 }).map((g) => g * GiB),
  minBins: fc.integer({ min: 1, max: 4 }),
});

describe("packDisks", () => {
  it("places every disk exactly once and no gateway over its limits", () => {
    fc.assert(
      fc.property(estate, limits, (items, lim) => {
        const { bins } = packDisks(items, lim);
        const placed = bins.flat().map((i) => i.id);
        expect(placed.slice().sort()).toEqual(items.map((i) => i.id).sort());
        for (const bin of bins) {
          expect(bin.length).toBeGreaterThan(0);
          expect(bin.length).toBeLessThanOrEqual(lim.maxDisks);
          expect(bin.reduce((s, i) => s + i.bytes, 0)).toBeLessThanOrEqual(lim.maxBytes);
        }
      }),
    );
  });

  it("keeps a VM's disks on one gateway whenever they fit on one, and names the others", () => {
    fc.assert(
      fc.property(estate, limits, (items, lim) => {
        const { bins, splitGroups } = packDisks(items, lim);
        const gatewaysOf = new Map<string, Set<number>>();
        bins.forEach((bin, b) => bin.forEach((i) => gatewaysOf.set(i.group, (gatewaysOf.get(i.group) ?? new Set()).add(b))));
        for (const [group, set] of gatewaysOf) {
          const disks = items.filter((i) => i.group === group);
          const fits = disks.length <= lim.maxDisks && disks.reduce((s, i) => s + i.bytes, 0) <= lim.maxBytes;
          if (fits) expect(set.size).toBe(1);
          expect(splitGroups.includes(group)).toBe(!fits);
        }
      }),
    );
  });

  it("uses no more gateways than one per disk and no fewer than the limits require", () => {
    fc.assert(
      fc.property(estate, limits, (items, lim) => {
        const { bins } = packDisks(items, lim);
        const total = items.reduce((s, i) => s + i.bytes, 0);
        expect(bins.length).toBeLessThanOrEqual(items.length);
        expect(bins.length).toBeGreaterThanOrEqual(Math.max(Math.ceil(items.length / lim.maxDisks), Math.ceil(total / lim.maxBytes)));
      }),
    );
  });

  it("is deterministic", () => {
    fc.assert(
      fc.property(estate, limits, (items, lim) => {
        expect(
          JSON.stringify(
            packDisks(
              items.map((i) => ({ ...i })),
              lim,
            ),
          ),
        ).toBe(JSON.stringify(packDisks(items, lim)));
      }),
    );
  });

  it.each([
    // 40 single-disk VMs of equal size over 16-disk gateways: 3 gateways, evenly loaded.
    [Array.from({ length: 40 }, (_, v) => ({ id: `d${v}`, bytes: GiB, group: `vm${v}` })), [14, 13, 13]],
    // One VM with 20 disks cannot stay together: it is spread over two gateways.
    [Array.from({ length: 20 }, (_, k) => ({ id: `d${k}`, bytes: GiB, group: "big" })), [10, 10]],
  ])("packs table case %#", (items, sizes) => {
    const { bins } = packDisks(items, { maxDisks: 16, maxBytes: 32 * 1024 * GiB });
    expect(bins.map((b) => b.length)).toEqual(sizes);
  });

  it("spreads over minBins gateways to carry the link's throughput", () => {
    const items = Array.from({ length: 8 }, (_, v) => ({ id: `d${v}`, bytes: GiB, group: `vm${v}` }));
    expect(packDisks(items, { maxDisks: 16, maxBytes: 2 ** 50, minBins: 4 }).bins.map((b) => b.length)).toEqual([2, 2, 2, 2]);
  });

  it("puts a disk larger than maxBytes alone on its own gateway", () => {
    const items = [
      { id: "huge", bytes: 40 * GiB, group: "a" },
      { id: "small", bytes: GiB, group: "b" },
    ];
    const { bins } = packDisks(items, { maxDisks: 16, maxBytes: 32 * GiB });
    expect(bins.map((b) => b.map((i) => i.id))).toEqual([["huge"], ["small"]]);
  });
});

describe("sizing", () => {
  it.each([
    [1, 1024, 7, "ecs.c7.large"],
    [2, 4096, 7, "ecs.c7.large"],
    [2, 8192, 7, "ecs.g7.large"],
    [2, 6144, 7, "ecs.g7.large"],
    [4, 16384, 7, "ecs.g7.xlarge"],
    [8, 65536, 7, "ecs.r7.2xlarge"],
    [6, 24576, 7, "ecs.g7.2xlarge"],
    [16, 32768, 6, "ecs.c6.4xlarge"],
    [48, 196608, 6, "ecs.g6.13xlarge"],
    [12, 49152, 8, "ecs.g8i.3xlarge"],
    [128, 1048576, 7, "ecs.r7.32xlarge"],
  ])("%d vCPU, %d MiB, generation %d → %s", (cpus, mem, gen, expected) => {
    expect(sizeInstance(cpus, mem, gen)?.name).toBe(expected);
  });

  it("has no type for a VM larger than the largest of the generation", () => {
    expect(sizeInstance(256, 4096, 7)).toBeUndefined();
    expect(sizeInstance(4, 2 * 1024 * 1024, 7)).toBeUndefined();
  });

  it("picks the smallest type of the VM's family that covers vCPU and memory", () => {
    const vm = fc.record({
      cpus: fc.integer({ min: 1, max: 128 }),
      memoryMiB: fc.integer({ min: 512, max: 1024 * 1024 }),
      generation: fc.constantFrom(6, 7, 8),
    });
    fc.assert(
      fc.property(vm, ({ cpus, memoryMiB, generation }) => {
        const t = sizeInstance(cpus, memoryMiB, generation);
        const candidates = instanceTypes(generation).filter((c) => c.vcpus >= cpus && c.memoryGiB * 1024 >= memoryMiB);
        if (!t) return candidates.length === 0;
        expect(t.vcpus).toBeGreaterThanOrEqual(cpus);
        expect(t.memoryGiB * 1024).toBeGreaterThanOrEqual(memoryMiB);
        expect(t.generation).toBe(generation);
        // Nothing smaller in the same family also fits.
        expect(candidates.filter((c) => c.kind === t.kind && c.vcpus < t.vcpus)).toEqual([]);
        // The family is the VM's own ratio or one with more memory per vCPU.
        expect(MEMORY_PER_VCPU_GIB[t.kind]).toBeGreaterThanOrEqual(MEMORY_PER_VCPU_GIB[familyKindFor(cpus, memoryMiB)]);
        return true;
      }),
    );
  });

  it("knows real type names with their shapes", () => {
    expect(findInstanceType("ecs.g7.xlarge")).toMatchObject({ vcpus: 4, memoryGiB: 16, kind: "g", generation: 7 });
    expect(findInstanceType("ecs.r6.26xlarge")).toMatchObject({ vcpus: 104, memoryGiB: 832 });
    expect(findInstanceType("ecs.c8i.48xlarge")).toMatchObject({ vcpus: 192, memoryGiB: 384 });
    expect(findInstanceType("ecs.g7.13xlarge")).toBeUndefined();
  });

  it.each([
    [10 * GiB, 20, 20],
    [20 * GiB + 1, 20, 21],
    [500 * GiB, 20, 500],
  ])("disk of %d bytes → %d GiB minimum → %d GiB", (bytes, min, expected) => {
    expect(diskSizeGiB(bytes, min)).toBe(expected);
  });

  it.each([
    [50, 7, "ecs.c7.large"],
    [100, 7, "ecs.c7.large"],
    [150, 7, "ecs.c7.xlarge"],
    [400, 6, "ecs.c6.2xlarge"],
    [700, 8, "ecs.c8i.4xlarge"],
  ])("a gateway carrying %d MB/s in generation %d is %s", (mbps, gen, expected) => {
    expect(gatewayInstanceType(mbps, gen)).toBe(expected);
  });
});
