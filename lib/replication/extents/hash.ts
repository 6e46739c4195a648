/**
 * `hash`: the resync when changed-block tracking is lost. Every block of the source is compared
 * with the same block of the target by digest (xxh3-64) and only differing blocks are written.
 * Ranges the source reports as zeroes are not read from the source: the target is zeroed where it
 * is not already zero.
 */
import type { BlockDevice } from "../device";
import { AllocationMap, BASE_ALLOCATION, classify } from "./block-status";
import type { ExtentSource, Segment } from "./types";

export function hashSource(): ExtentSource {
  return {
    name: "hash",
    requiredContexts: [],
    optionalContexts: [BASE_ALLOCATION],
    async *segments(source: BlockDevice): AsyncGenerator<Segment> {
      if (source.size === 0) return;
      yield* classify(new AllocationMap(source).ranges(0, source.size), "compare", "compare-zero");
    },
  };
}
