/**
 * What an extent source produces: the byte ranges of one sync round and what to do with each.
 *
 * Sources yield segments in increasing offset order, never overlapping. The copier cuts them into
 * requests; the journal relies on the order being the same when a round is resumed.
 */
import type { BlockDevice } from "../device";

/**
 * - `data`: read from the source, write to the target (zero detection may turn it into zeroes);
 * - `zero`: the source reads as zeroes here: write zeroes, never send data;
 * - `compare`: read source and target, write only when their block digests differ;
 * - `compare-zero`: the source reads as zeroes here: zero the target only where it is not zero.
 */
export type SegmentKind = "data" | "zero" | "compare" | "compare-zero";

/** One range of a round. */
export interface Segment {
  readonly offset: number;
  readonly length: number;
  readonly kind: SegmentKind;
}

/** Where the changed blocks of a round come from. */
export interface ExtentSource {
  /** How the journal and the progress events name this source (`allocated`, `bitmap:b0`, ...). */
  readonly name: string;
  /** The metadata contexts the source device must be opened with (others are optional). */
  readonly requiredContexts: readonly string[];
  /** The metadata contexts used when the source offers them. */
  readonly optionalContexts: readonly string[];
  /** The segments of the round, in increasing offset order. */
  segments(source: BlockDevice): AsyncIterable<Segment>;
}
