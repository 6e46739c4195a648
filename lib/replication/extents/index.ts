/** Extent sources by name, and the parser of `SyncOptions.changed`. */
import { createHash } from "node:crypto";
import * as path from "node:path";
import { InputError, problem } from "../../problems";
import type { Extent } from "../device";
import { allocatedSource } from "./allocated";
import { bitmapSource } from "./bitmap";
import { fullSource } from "./full";
import { hashSource } from "./hash";
import { listSource, readExtentsFile } from "./list";
import type { ExtentSource } from "./types";

export type { ExtentSource, Segment, SegmentKind } from "./types";
export { bitmapContext } from "./bitmap";
export { parseExtents, mergeExtents, readExtentsFile } from "./list";

/** What `SyncOptions.changed` accepts. */
export type ChangedSpec = "full" | "allocated" | `bitmap:${string}` | `extents:${string}` | "hash" | { extents: Extent[] };

/** Builds the extent source a `changed` value names; throws `InputError` on a bad value. */
export function extentSourceFor(changed: ChangedSpec): ExtentSource {
  if (typeof changed === "object") {
    const digest = createHash("sha256").update(JSON.stringify(changed.extents)).digest("hex").slice(0, 16);
    return listSource(changed.extents, `extents:inline-${digest}`);
  }
  if (changed === "full") return fullSource();
  if (changed === "allocated") return allocatedSource();
  if (changed === "hash") return hashSource();
  if (changed.startsWith("bitmap:") && changed.length > "bitmap:".length) return bitmapSource(changed.slice("bitmap:".length));
  if (changed.startsWith("extents:") && changed.length > "extents:".length) {
    const file = changed.slice("extents:".length);
    return listSource(readExtentsFile(file), `extents:${path.resolve(file)}`, file);
  }
  throw new InputError(
    problem({
      field: "changed",
      received: JSON.stringify(changed),
      expected: "full, allocated, bitmap:NAME, extents:FILE or hash",
      fix: "name one of the extent sources, e.g. bitmap:bitmap0",
      message: `The extent source ${JSON.stringify(changed)} is not known`,
    }),
  );
}
