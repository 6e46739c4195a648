/**
 * `allocated`: the allocated ranges of the source are copied; ranges `base:allocation` reports as
 * reading zeroes (holes, zero clusters) are written as zeroes and never sent as data. A source
 * without the context (a local file) is read whole, with zero detection.
 */
import type { BlockDevice } from "../device";
import { AllocationMap, BASE_ALLOCATION, classify } from "./block-status";
import type { ExtentSource, Segment, SegmentKind } from "./types";

export function allocatedSource(): ExtentSource {
  return allocationSource("allocated", "data", "zero");
}

/**
 * A source named `name` that covers the whole device by `base:allocation` (when the source offers
 * it): ranges that read as zeroes become `zeroKind` segments, the others `dataKind`. `allocated`
 * copies them; `hash` compares them.
 */
export function allocationSource(name: string, dataKind: SegmentKind, zeroKind: SegmentKind): ExtentSource {
  return {
    name,
    requiredContexts: [],
    optionalContexts: [BASE_ALLOCATION],
    async *segments(source: BlockDevice): AsyncGenerator<Segment> {
      if (source.size === 0) return;
      yield* classify(new AllocationMap(source).ranges(0, source.size), dataKind, zeroKind);
    },
  };
}
