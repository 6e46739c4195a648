/**
 * Reading YAML and JSON input files, with parse errors reported as `Problem`s.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { InputError, problem, type Problem } from "../problems";
import { parseInputJson } from "../service/input-file";

/** Reads a YAML (`.yaml`, `.yml`) or JSON (`.json`) file; YAML is also the fallback for other names. */
export async function readDocument(file: string): Promise<unknown> {
  const text = await readText(file);
  if (path.extname(file).toLowerCase() === ".json") {
    return parseInputJson(text, (err) =>
      problem({
        file,
        message: `The file is not valid JSON: ${err.message}`,
        expected: "a JSON document",
        fix: "correct the JSON syntax at the position given",
      }),
    );
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
      first.map((err): Problem =>
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
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    // An "alias bomb" (aliases of aliases expanding to millions of nodes) is refused by the
    // parser; so is any other document that cannot become plain data.
    const excessive = /alias/i.test((err as Error).message);
    throw new InputError(
      problem({
        file,
        message: excessive
          ? `The YAML document expands its aliases (*name) more than ${MAX_ALIASES} times`
          : `The YAML document cannot be read as data: ${(err as Error).message}`,
        received: excessive ? "aliases that expand to a very large document" : (err as Error).message,
        expected: "a YAML document of plain maps and lists",
        fix: excessive ? "write the values out instead of repeating nested aliases" : "correct the document",
      }),
    );
  }
}

/** Aliases a YAML document may expand, so a small file cannot grow into an enormous one. */
const MAX_ALIASES = 1000;

/** Reads a whole text file in the encoding `decodeText` finds; a missing or unreadable file is an `InputError`. */
async function readText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (err) {
    throw new InputError(unreadable(file, err));
  }
  return decodeText(bytes).text;
}

/** The encodings `decodeText` tells apart. */
export type TextEncoding = "utf-8" | "utf-16le" | "utf-16be" | "windows-1252";

/**
 * The text of a file whose encoding is not declared, as Windows tools write them: a byte-order
 * mark (UTF-8, UTF-16 LE or BE) decides; without one, NUL bytes at every other position mean
 * UTF-16 (little- or big-endian by their side); else UTF-8 when the bytes are valid UTF-8, and
 * Windows-1252 (a superset of Latin-1) when they are not. The mark is not part of the text.
 */
export function decodeText(bytes: Uint8Array): { text: string; encoding: TextEncoding } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return { text: buf.subarray(3).toString("utf8"), encoding: "utf-8" };
  if (buf[0] === 0xff && buf[1] === 0xfe) return { text: buf.subarray(2).toString("utf16le"), encoding: "utf-16le" };
  if (buf[0] === 0xfe && buf[1] === 0xff) return { text: Buffer.from(buf.subarray(2)).swap16().toString("utf16le"), encoding: "utf-16be" };
  const sample = buf.subarray(0, Math.min(buf.length, 4096) & ~1);
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < sample.length; i += 2) {
    if (sample[i] === 0) evenNul++;
    if (sample[i + 1] === 0) oddNul++;
  }
  const pairs = sample.length / 2;
  if (pairs > 0 && oddNul > pairs * 0.3 && evenNul < pairs * 0.05) return { text: buf.subarray(0, buf.length & ~1).toString("utf16le"), encoding: "utf-16le" };
  if (pairs > 0 && evenNul > pairs * 0.3 && oddNul < pairs * 0.05)
    return {
      text: Buffer.from(buf.subarray(0, buf.length & ~1))
        .swap16()
        .toString("utf16le"),
      encoding: "utf-16be",
    };
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(buf), encoding: "utf-8" };
  } catch {
    return { text: new TextDecoder("windows-1252").decode(buf), encoding: "windows-1252" };
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
