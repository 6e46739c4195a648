/**
 * Problems found in user input, and the error that carries them.
 *
 * Every validator in rehost reports `Problem`s instead of throwing on the first one, so a user
 * sees every mistake of a file at once. A `Problem` names where (file, VM, field), what was
 * received, what was expected and how to fix it. The CLI prints them and exits with code 2.
 */

export type Severity = "error" | "warning";

export interface Problem {
  readonly severity: Severity;
  /** The input file the problem is in, when there is one. */
  readonly file?: string;
  /** The source VM the problem concerns (its name). */
  readonly vm?: string;
  /** The field, as a dotted path (`nics[0].ipv4[1]`, `waves[2].members`). */
  readonly field?: string;
  /** The value received, rendered for a person. */
  readonly received?: string;
  /** What was expected instead. */
  readonly expected?: string;
  /** How to fix it. */
  readonly fix?: string;
  /** One complete sentence saying what is wrong. */
  readonly message: string;
}

/** Thrown when input cannot be used; the CLI prints every problem and exits with code 2. */
export class InputError extends Error {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[] | Problem) {
    const list = Array.isArray(problems) ? problems : [problems as Problem];
    super(list.map(formatProblem).join("\n"));
    this.name = "InputError";
    this.problems = list;
  }
}

/** Shorthand for an error-severity problem. */
export function problem(fields: Omit<Problem, "severity">): Problem {
  return { severity: "error", ...fields };
}

/** Throws an `InputError` if any problem is an error; returns the warnings otherwise. */
export function throwIfErrors(problems: readonly Problem[]): Problem[] {
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length > 0) throw new InputError(problems);
  return problems.filter((p) => p.severity !== "error");
}

/** One line per problem: `file: VM vm, field f: message (received x; expected y) — fix`. */
export function formatProblem(p: Problem): string {
  const where = [p.file, p.vm !== undefined ? `VM ${p.vm}` : undefined, p.field !== undefined ? `field ${p.field}` : undefined]
    .filter((s) => s !== undefined)
    .join(", ");
  const detail = [p.received !== undefined ? `received ${p.received}` : undefined, p.expected !== undefined ? `expected ${p.expected}` : undefined]
    .filter((s) => s !== undefined)
    .join("; ");
  return `${p.severity}: ${where ? `${where}: ` : ""}${p.message}${detail ? ` (${detail})` : ""}${p.fix ? `. Fix: ${p.fix}` : ""}`;
}

/** What a caller calls the fields of a library's options: CLI flags (`--ca`), settings (`REHOST_VCENTER_CA_FILE`). */
export type FieldNames = Readonly<Record<string, string | undefined>>;

/** The name `names` gives `field`, or `field` itself. */
function nameOf(field: string, names: FieldNames): string {
  return (Object.hasOwn(names, field) ? names[field] : undefined) ?? field;
}

/** `text` with each `` `field` `` renamed from `names` (a library's warning, say); other backquoted words are kept. */
export function textWithFieldNames(text: string, names: FieldNames): string {
  return text.replace(/`([A-Za-z]+)`/g, (whole, field: string) => (Object.hasOwn(names, field) ? nameOf(field, names) : whole));
}

/**
 * A library's input error with its fields named the caller's way: the `field` of each problem and
 * the `` `field` ``s in its text renamed from `names`, so the CLI names its flags and a provider its
 * settings. Fields `names` does not know (a VM, an entry of a file) are kept; any other error is
 * returned as it is.
 */
export function withFieldNames(err: unknown, names: FieldNames): unknown {
  if (!(err instanceof InputError)) return err;
  const rename = (text: string): string => textWithFieldNames(text, names);
  return new InputError(
    err.problems.map((p) => ({
      ...p,
      ...(p.field !== undefined ? { field: nameOf(p.field, names) } : {}),
      message: rename(p.message),
      ...(p.expected !== undefined ? { expected: rename(p.expected) } : {}),
      ...(p.fix !== undefined ? { fix: rename(p.fix) } : {}),
    })),
  );
}
