/**
 * Reading YAML and JSON input files, with parse errors reported as `Problem`s.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { InputError, problem, type Problem } from "../problems";

/** Reads a YAML (`.yaml`, `.yml`) or JSON (`.json`) file; YAML is also the fallback for other names. */
export async function readDocument(file: string): Promise<unknown> {
  const text = await readText(file);
  if (path.extname(file).toLowerCase() === ".json") {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new InputError(
        problem({
          file,
          message: `The file is not valid JSON: ${(err as Error).message}`,
          expected: "a JSON document",
          fix: "correct the JSON syntax at the position given",
        }),
      );
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // One mistake often yields several parser errors at the same place (an unclosed `[` inside a
    // `{`): report the first at each position.
    const seen = new Set<string>();
    const first = doc.errors.filter((err) => {
      const at = err.linePos ? `${err.linePos[0].line}:${err.linePos[0].col}` : err.message;
      if (seen.has(at)) return false;
      seen.add(at);
      return true;
    });
    throw new InputError(
      first.map(
        (err): Problem =>
          problem({
            file,
            ...(err.linePos ? { field: `line ${err.linePos[0].line}, column ${err.linePos[0].col}` } : {}),
            // The position is in the field; prettyErrors repeats it at the end of the first line.
            message: `The file is not valid YAML: ${err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`,
            expected: "a YAML document",
            fix: "correct the YAML syntax at the line given",
          }),
      ),
    );
  }
  return doc.toJS({ maxAliasCount: 1000 });
}

/** Reads a whole text file; a missing or unreadable file is an `InputError`. */
export async function readText(file: string): Promise<string> {
  try {
    return await fs.promises.readFile(file, "utf8");
  } catch (err) {
    throw new InputError(unreadable(file, err));
  }
}

/** The problem for a path that cannot be read. */
export function unreadable(file: string, err: unknown): Problem {
  const code = (err as NodeJS.ErrnoException).code;
  return problem({
    file,
    message: code === "ENOENT" ? "The file does not exist" : `The file cannot be read (${code ?? (err as Error).message})`,
    expected: "a readable file",
    fix: "check the path",
  });
}
