/**
 * Keys a document holds that its schema does not know. zod drops them silently, so a misspelt
 * optional key (`keepIP: false`, `allocatedbytes`) would be ignored; the loaders report them
 * instead, with the closest known key as the likely fix.
 */
import type { z } from "zod";
import { problem, type Problem } from "../problems";
import { formatPath, type VmLocation } from "../problems/zod";

/** Where the problems point, as for `problemsFromZod`. */
export interface UnknownKeyContext {
  readonly file?: string;
  readonly vmNameAt?: (path: readonly PropertyKey[]) => VmLocation | undefined;
}

/** One problem per key of `input` that `schema` does not declare, at any depth. */
export function unknownKeys(schema: z.ZodType, input: unknown, context: UnknownKeyContext = {}): Problem[] {
  const problems: Problem[] = [];
  walk(schema, input, [], problems, context);
  return problems;
}

interface Def {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly shape?: Record<string, z.ZodType>;
  readonly in?: z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

function walk(schema: z.ZodType, input: unknown, path: PropertyKey[], problems: Problem[], context: UnknownKeyContext): void {
  const def = defOf(schema);
  switch (def.type) {
    case "default":
    case "optional":
    case "nullable":
    case "prefault":
    case "readonly":
    case "nonoptional":
    case "catch":
      if (def.innerType) walk(def.innerType, input, path, problems, context);
      return;
    case "pipe":
      if (def.in) walk(def.in, input, path, problems, context);
      return;
    case "array":
      if (Array.isArray(input) && def.element) input.forEach((item, i) => walk(def.element!, item, [...path, i], problems, context));
      return;
    case "record":
      if (isPlainObject(input) && def.valueType)
        for (const [key, value] of Object.entries(input)) walk(def.valueType, value, [...path, key], problems, context);
      return;
    case "object": {
      if (!isPlainObject(input) || !def.shape) return;
      const known = Object.keys(def.shape);
      for (const [key, value] of Object.entries(input)) {
        const child = def.shape[key];
        if (child) {
          walk(child, value, [...path, key], problems, context);
          continue;
        }
        const located = context.vmNameAt?.([...path, key]);
        const suggestion = closest(key, known);
        const field = formatPath(located ? located.field : [...path, key]);
        const parent = formatPath(located ? located.field.slice(0, -1) : path);
        problems.push(
          problem({
            ...(context.file !== undefined ? { file: context.file } : {}),
            ...(located ? { vm: located.vm } : {}),
            field,
            received: key,
            expected: `one of ${known.join(", ")}`,
            fix: suggestion ? `did you mean ${suggestion}? Rename the key` : "remove the key",
            message: `Unknown key ${key}${parent !== "" ? ` in ${parent}` : ""}`,
          }),
        );
      }
      return;
    }
    default:
      return;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The known key nearest to `key` (case-insensitive edit distance ≤ 3), if any. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of known) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
