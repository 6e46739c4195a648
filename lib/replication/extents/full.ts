/** `full`: every byte of the source is read and copied (zero detection still applies). */
import type { BlockDevice } from "../device";
import type { ExtentSource, Segment } from "./types";

export function fullSource(): ExtentSource {
  return {
    name: "full",
    requiredContexts: [],
    optionalContexts: [],
    async *segments(source: BlockDevice): AsyncGenerator<Segment> {
      if (source.size > 0) yield { offset: 0, length: source.size, kind: "data" };
    },
  };
}
