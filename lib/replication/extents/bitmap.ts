/**
 * `bitmap:NAME`: the ranges a qemu persistent dirty bitmap marks dirty
 * (`qemu:dirty-bitmap:NAME`, flag NBD_STATE_DIRTY), intersected with `base:allocation` so a dirty
 * range that now reads as zeroes (a write-zeroes, a discard) is written as zeroes.
 */
import { NBD_STATE_DIRTY, type BlockDevice } from "../device";
import { AllocationMap, BASE_ALLOCATION, classify, statusExtents, type AllocationRange } from "./block-status";
import type { ExtentSource, Segment } from "./types";

/** The NBD metadata context of qemu bitmap `name`. */
export function bitmapContext(name: string): string {
  return `qemu:dirty-bitmap:${name}`;
}

export function bitmapSource(name: string): ExtentSource {
  const context = bitmapContext(name);
  return {
    name: `bitmap:${name}`,
    requiredContexts: [context],
    optionalContexts: [BASE_ALLOCATION],
    async *segments(source: BlockDevice): AsyncGenerator<Segment> {
      if (source.size === 0) return;
      const allocation = new AllocationMap(source);
      async function* dirtyAllocation(): AsyncGenerator<AllocationRange> {
        for await (const extent of statusExtents(source, context, 0, source.size)) {
          if ((extent.flags & NBD_STATE_DIRTY) === 0) continue;
          yield* allocation.ranges(extent.offset, extent.length);
        }
      }
      yield* classify(dirtyAllocation(), "data", "zero");
    },
  };
}
