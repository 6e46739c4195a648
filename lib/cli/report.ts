/**
 * Problems as the `rehost` command prints them: for a person at a terminal, grouped by VM, one
 * short line per problem (what, where, the fix), wrapped to the terminal's width and coloured by
 * severity; for a pipe or a file, the long form of `formatProblem`, one problem per line, which
 * tools can grep. `--format json` carries every field of every problem.
 */
import { styleText } from "node:util";
import { formatProblem, type Problem } from "../problems";

/** A stream the command writes to (standard error, or standard output for the table). */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Whether to colour what goes to `stream`: a terminal, unless NO_COLOR is set; FORCE_COLOR forces it. */
export function colourFor(stream: OutputStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return stream.isTTY === true && env.TERM !== "dumb";
}

/** How `formatProblemsShort` lays problems out. */
export interface ShortFormat {
  /** Columns to wrap at. @default 100 */
  readonly width?: number;
  readonly colour?: boolean;
  /** Wrapped lines one problem may take before it is cut with a pointer to the full text. @default 3 */
  readonly maxLines?: number;
}

const paint = (colour: boolean, format: Parameters<typeof styleText>[0], text: string): string =>
  colour ? styleText(format, text, { validateStream: false }) : text;

/** Words of `text` wrapped to `width` columns; the lines after the first are indented by `indent`. */
export function wrap(text: string, width: number, indent: string): string[] {
  const words = text.split(/\s+/).filter((w) => w !== "");
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    const limit = lines.length === 0 ? width : width - indent.length;
    if (line !== "" && line.length + 1 + word.length > limit) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : indent + l));
}

/**
 * Problems for a person: those concerning no VM first, then one group per VM (in first-mention
 * order) under a `VM name` heading; each problem is its severity, its field and file, its message
 * and its fix, wrapped, and cut after `maxLines` lines with a pointer to `--format json`.
 */
export function formatProblemsShort(problems: readonly Problem[], format: ShortFormat = {}): string {
  const width = Math.max(40, format.width ?? 100);
  const colour = format.colour ?? false;
  const maxLines = format.maxLines ?? 3;
  const groups = new Map<string | undefined, Problem[]>();
  groups.set(undefined, []);
  for (const p of problems) {
    const list = groups.get(p.vm);
    if (list) list.push(p);
    else groups.set(p.vm, [p]);
  }
  const out: string[] = [];
  const counts = { error: 0, warning: 0 };
  for (const [vm, list] of groups) {
    if (list.length === 0) continue;
    const indent = vm === undefined ? "" : "  ";
    if (vm !== undefined) out.push(paint(colour, "bold", `VM ${vm}`));
    for (const p of list) {
      counts[p.severity]++;
      const label = p.severity === "error" ? paint(colour, "red", "error") : paint(colour, "yellow", "warning");
      const where = [p.field, vm === undefined ? p.file : undefined].filter((x) => x !== undefined).join(" in ");
      const text = `${where !== "" ? `${where}: ` : ""}${p.message}${p.fix !== undefined ? `. Fix: ${p.fix}` : ""}`;
      // The label's colour codes take no columns: wrap the plain text.
      const plainLabel = p.severity;
      let lines = wrap(`${plainLabel} ${text}`, width - indent.length, "    ");
      if (lines.length > maxLines) {
        lines = lines.slice(0, maxLines);
        let last = lines[maxLines - 1]!;
        const pointer = " … (full text: --format json)";
        // Cut at a word boundary so the pointer fits on the last line.
        while (last.length + pointer.length > width - indent.length && last.includes(" ", 5)) last = last.slice(0, last.lastIndexOf(" "));
        lines[maxLines - 1] = `${last}${pointer}`;
      }
      lines[0] = label + lines[0]!.slice(plainLabel.length);
      for (const line of lines) out.push(indent + line);
    }
  }
  const summary = [
    counts.error > 0 ? paint(colour, "red", `${counts.error} error(s)`) : undefined,
    counts.warning > 0 ? paint(colour, "yellow", `${counts.warning} warning(s)`) : undefined,
  ].filter((x) => x !== undefined);
  if (summary.length > 0) out.push(summary.join(", "));
  return out.length > 0 ? `${out.join("\n")}\n` : "";
}

/** The width to wrap at for `stream`: the terminal's columns, else `COLUMNS`, else 100. */
export function widthOf(stream: OutputStream, env: NodeJS.ProcessEnv = process.env): number {
  if (stream.columns !== undefined && stream.columns > 0) return stream.columns;
  const fromEnv = Number(env.COLUMNS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 100;
}

/** Writes `problems` to `stream`: the short, grouped form on a terminal, the long form elsewhere. */
export function writeProblems(stream: OutputStream, problems: readonly Problem[], env: NodeJS.ProcessEnv = process.env): void {
  if (problems.length === 0) return;
  if (stream.isTTY === true) {
    stream.write(formatProblemsShort(problems, { width: widthOf(stream, env), colour: colourFor(stream, env) }));
    return;
  }
  stream.write(problems.map((p) => `${formatProblem(p)}\n`).join(""));
}
