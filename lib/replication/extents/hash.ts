/**
 * `hash`: the resync when changed-block tracking is lost. Every block of the source is compared
 * with the same block of the target by digest (xxh3-64) and only differing blocks are written.
 * Ranges the source reports as zeroes are not read from the source: the target is zeroed where it
 * is not already zero.
 */
import { allocationSource } from "./allocated";
import type { ExtentSource } from "./types";

export function hashSource(): ExtentSource {
  return allocationSource("hash", "compare", "compare-zero");
}
