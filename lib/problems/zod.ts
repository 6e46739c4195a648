/**
 * Turns zod validation issues into `Problem`s a person can act on.
 *
 * Every validator that checks input with a zod schema (inventory, networks, waves, the planner's
 * settings, the stack's config, the dynamic providers' inputs, the agent's and the proxy's request
 * bodies) maps the issues through `problemsFromZod`, the one converter in rehost, so each
 * message names the file, the VM where one is concerned, the field as a path, the value received,
 * what was expected and how to fix it.
 */
import type { z } from "zod";
import { problem, type Problem } from "./index";

/** Where a zod issue's path points into a VM: the VM's name and the path within that VM. */
export interface VmLocation {
  readonly vm: string;
  /** The rest of the path, relative to the VM (`["disks", 0, "capacityBytes"]`). */
  readonly field: readonly PropertyKey[];
}

/** What `problemsFromZod` needs besides the error. */
export interface ZodProblemContext {
  /** The file the input came from. */
  readonly file?: string;
  /** The parsed input, so the received value of each issue can be shown. */
  readonly input?: unknown;
  /** Finds the VM an issue path belongs to; return `undefined` when it concerns no VM. */
  readonly vmNameAt?: (path: readonly PropertyKey[]) => VmLocation | undefined;
  /** A path prepended to every field (the key the validated object sits under in its file). */
  readonly prefix?: readonly PropertyKey[];
}

/** Renders a path as `vms[3].disks[0].capacityBytes`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Renders a received value for a message: strings quoted, objects as JSON. */
export function renderValue(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (typeof value === "bigint") return `${value}`;
  // Whole: the JSON output carries every value in full; the terminal form shortens lines itself.
  return JSON.stringify(value);
}

/** The value at `path` inside `input`, or `undefined`. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = input;
  for (const part of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

/**
 * A `vmNameAt` for documents holding VMs in a list under `key` (`vms: [{ name, ... }]`):
 * `["vms", 3, "disks", 0]` becomes VM `input.vms[3].name` (or `vms[3]` when it has no name),
 * field `["disks", 0]`.
 */
export function vmListLocator(input: unknown, key = "vms"): (path: readonly PropertyKey[]) => VmLocation | undefined {
  return (path) => {
    if (path.length < 2 || path[0] !== key || typeof path[1] !== "number") return undefined;
    const name = valueAt(input, [key, path[1], "name"]);
    const vm = typeof name === "string" && name !== "" ? name : `${key}[${path[1]}]`;
    return { vm, field: path.slice(2) };
  };
}

/** One `Problem` per zod issue (union issues are flattened to their most specific branch). */
export function problemsFromZod(error: z.ZodError, context: ZodProblemContext = {}): Problem[] {
  return problemsFromIssues(error.issues, context);
}

/** {@link problemsFromZod} for a chosen part of an error's issues (those left after a filter). */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], context: ZodProblemContext = {}): Problem[] {
  return flatten(issues as readonly Issue[]).map((issue) => problemFromIssue(issue, context));
}

/** The fields of zod 4 issues this module reads. */
interface Issue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly input?: unknown;
  readonly expected?: string;
  readonly values?: readonly unknown[];
  readonly minimum?: number | bigint;
  readonly maximum?: number | bigint;
  readonly inclusive?: boolean;
  readonly origin?: string;
  readonly format?: string;
  readonly keys?: readonly string[];
  readonly divisor?: number;
  readonly errors?: readonly (readonly Issue[])[];
}

function flatten(issues: readonly Issue[], base: readonly PropertyKey[] = []): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === "invalid_union" && issue.errors && issue.errors.length > 0) {
      // Report the branch that got furthest (the longest path), which is what the user meant.
      const best = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0]!;
      if (best.length > 0) {
        out.push(...flatten(best, path));
        continue;
      }
    }
    out.push({ ...issue, path });
  }
  return out;
}

function depth(issues: readonly Issue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length));
}

function problemFromIssue(issue: Issue, context: ZodProblemContext): Problem {
  const located = context.vmNameAt?.(issue.path);
  const relative = located ? located.field : issue.path;
  const fieldPath = located ? relative : [...(context.prefix ?? []), ...relative];
  const field = formatPath(fieldPath);
  // The received value comes from the issue (parse with `reportInput: true`) or from the input;
  // without either, only a missing field can be told (from zod's message).
  const known = "input" in issue || context.input !== undefined;
  const received = "input" in issue ? issue.input : valueAt(context.input, issue.path);
  const missing = known ? received === undefined : /received undefined/.test(issue.message);
  const { message, expected, fix } = describe(issue, missing, field);
  const shown = issue.code === "unrecognized_keys" ? (issue.keys ?? []).join(", ") : known || missing ? renderValue(missing ? undefined : received) : undefined;
  return problem({
    ...(context.file !== undefined ? { file: context.file } : {}),
    ...(located ? { vm: located.vm } : {}),
    ...(field !== "" ? { field } : {}),
    ...(shown !== undefined ? { received: shown } : {}),
    expected,
    fix,
    message,
  });
}

function describe(issue: Issue, missing: boolean, field: string): { message: string; expected: string; fix: string } {
  const name = field === "" ? "The document" : `Field ${field}`;
  switch (issue.code) {
    case "invalid_type": {
      const expected = issue.expected ?? "another type";
      if (missing) {
        return { message: `${name} is required`, expected: article(expected), fix: `add ${field || "it"}` };
      }
      return { message: `${name} has the wrong type`, expected: article(expected), fix: `write ${field || "it"} as ${article(expected)}` };
    }
    case "too_small": {
      const bound = boundText(issue, "min");
      return { message: `${name} is too small`, expected: bound, fix: `change ${field || "it"} to ${bound}` };
    }
    case "too_big": {
      const bound = boundText(issue, "max");
      return { message: `${name} is too large`, expected: bound, fix: `change ${field || "it"} to ${bound}` };
    }
    case "invalid_value": {
      const options = (issue.values ?? []).map((v) => JSON.stringify(v)).join(", ");
      return { message: `${name} is not one of the accepted values`, expected: `one of ${options}`, fix: `use one of ${options}` };
    }
    case "invalid_format": {
      const expected = formatText(issue);
      return { message: `${name} is malformed`, expected, fix: `write ${field || "it"} as ${expected}` };
    }
    case "unrecognized_keys": {
      return { message: `${name} has keys rehost does not know`, expected: "only the documented keys", fix: "remove or correct the misspelt keys" };
    }
    case "not_multiple_of":
      return { message: `${name} is not a multiple of ${issue.divisor}`, expected: `a multiple of ${issue.divisor}`, fix: "round the value" };
    default:
      return { message: `${name} is invalid: ${issue.message}`, expected: issue.message, fix: `correct ${field || "the document"}` };
  }
}

function article(type: string): string {
  const named: Record<string, string> = {
    string: "a string",
    number: "a number",
    int: "an integer",
    boolean: "true or false",
    array: "a list",
    object: "a mapping of keys to values",
    record: "a mapping of keys to values",
  };
  return named[type] ?? type;
}

function boundText(issue: Issue, side: "min" | "max"): string {
  const bound = side === "min" ? issue.minimum : issue.maximum;
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case "array":
    case "set":
      return side === "min" ? `at least ${bound} item(s)` : `at most ${bound} item(s)`;
    case "string":
      return side === "min" ? `at least ${bound} character(s)` : `at most ${bound} character(s)`;
    default:
      if (side === "min")
        return inclusive
          ? bound === 0 || bound === 0n
            ? "zero or more"
            : `${bound} or more`
          : bound === 0 || bound === 0n
            ? "a positive number"
            : `more than ${bound}`;
      return inclusive ? `${bound} or less` : `less than ${bound}`;
  }
}

function formatText(issue: Issue): string {
  switch (issue.format) {
    case "ipv4":
      return "a dotted IPv4 address like 10.10.1.21";
    case "cidrv4":
      return "an IPv4 CIDR like 10.10.1.0/24";
    case "mac":
      return "a MAC address like 00:50:56:aa:bb:cc";
    case "datetime":
      return "an ISO 8601 timestamp with offset like 2026-03-07T22:00:00+08:00";
    case "regex":
      return issue.message;
    default:
      return issue.message;
  }
}
