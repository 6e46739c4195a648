/**
 * `extents:FILE` and `{ extents: [...] }`: an explicit list of changed ranges, as vSphere changed
 * block tracking returns them (`QueryChangedDiskAreas`). Ranges may be unsorted, overlapping and
 * unaligned; they are merged, and intersected with `base:allocation` when the source offers it so
 * changed ranges that now read as zeroes are written as zeroes.
 *
 * The file holds JSON: `[{"offset":N,"length":N}, ...]`, or vSphere's own shapes
 * `[{"start":N,"length":N}, ...]` and `{"changedArea":[{"start":N,"length":N}, ...]}`.
 */
import { InputError, problem, type Problem } from "../../problems";
import { parseInputJson, readInputFile } from "../../service/input-file";
import type { BlockDevice, Extent } from "../device";
import { AllocationMap, BASE_ALLOCATION, classify, type AllocationRange } from "./block-status";
import type { ExtentSource, Segment } from "./types";

/**
 * The schema of one entry, built on first use: the copier's process (the agent, `rehost sync`)
 * does not pay for loading zod unless a round reads an extents file.
 */
function entrySchema() {
  const { z }: typeof import("zod") = require("zod");
  const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
  return z.union([z.object({ offset: byteCount, length: byteCount }), z.object({ start: byteCount, length: byteCount })]);
}

/** Reads and validates an extents file; throws `InputError` with one problem per bad entry. */
export function readExtentsFile(file: string): Extent[] {
  const text = readInputFile(file, (err) =>
    problem({
      file,
      field: "changed",
      message: `The extents file cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      expected: "a readable JSON file listing {offset, length} ranges",
      fix: "check the path given after extents:",
    }),
  );
  const json = parseInputJson(text, (err) =>
    problem({
      file,
      message: `The extents file is not JSON: ${err.message}`,
      expected: 'JSON such as [{"offset":0,"length":65536}]',
      fix: "write the changed ranges as a JSON array",
    }),
  );
  return parseExtents(json, file);
}

/** Validates a parsed extents list in any of the accepted shapes. */
export function parseExtents(json: unknown, file?: string): Extent[] {
  const list =
    json !== null && typeof json === "object" && !Array.isArray(json) && "changedArea" in json ? (json as { changedArea: unknown }).changedArea : json;
  if (!Array.isArray(list)) {
    throw new InputError(
      problem({
        file,
        received: typeof list,
        expected: "an array of {offset, length} objects",
        fix: "write the changed ranges as a JSON array",
        message: "The extents list is not an array",
      }),
    );
  }
  const problems: Problem[] = [];
  const extents: Extent[] = [];
  const schema = entrySchema();
  list.forEach((entry, index) => {
    const parsed = schema.safeParse(entry);
    if (!parsed.success) {
      problems.push(
        problem({
          file,
          field: `[${index}]`,
          received: JSON.stringify(entry),
          expected: "an object with non-negative integer offset (or start) and length",
          fix: 'give every range as {"offset": N, "length": N} in bytes',
          message: `Extent ${index} is not a byte range`,
        }),
      );
      return;
    }
    const value = parsed.data;
    extents.push({ offset: "offset" in value ? value.offset : value.start, length: value.length });
  });
  if (problems.length > 0) throw new InputError(problems);
  return extents;
}

/** Sorts and merges ranges; drops empty ones. */
export function mergeExtents(extents: readonly Extent[]): Extent[] {
  const sorted = extents.filter((e) => e.length > 0).sort((a, b) => a.offset - b.offset);
  const merged: Extent[] = [];
  for (const extent of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && extent.offset <= last.offset + last.length) {
      merged[merged.length - 1] = { offset: last.offset, length: Math.max(last.length, extent.offset + extent.length - last.offset) };
    } else {
      merged.push(extent);
    }
  }
  return merged;
}

/** An extent source over a fixed list of changed ranges; `label` names it in the journal. */
export function listSource(extents: readonly Extent[], label: string, file?: string): ExtentSource {
  const merged = mergeExtents(extents);
  return {
    name: label,
    requiredContexts: [],
    optionalContexts: [BASE_ALLOCATION],
    async *segments(source: BlockDevice): AsyncGenerator<Segment> {
      const outside = merged.filter((e) => e.offset + e.length > source.size);
      if (outside.length > 0) {
        throw new InputError(
          outside.map((e) =>
            problem({
              file,
              field: "changed",
              received: `offset ${e.offset}, length ${e.length}`,
              expected: `ranges inside the source disk (size ${source.size})`,
              fix: "use the extents recorded for this disk",
              message: `A changed range ends past the end of the source disk`,
            }),
          ),
        );
      }
      const allocation = new AllocationMap(source);
      async function* changedAllocation(): AsyncGenerator<AllocationRange> {
        for (const extent of merged) yield* allocation.ranges(extent.offset, extent.length);
      }
      yield* classify(changedAllocation(), "data", "zero");
    },
  };
}
