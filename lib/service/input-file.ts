/**
 * Reading a user's input file and parsing its JSON, with a failure thrown as an `InputError`
 * carrying the `Problem` the caller words for its own file (the extents list, a bandwidth
 * schedule, a TLS-PSK keys file, an inventory).
 */
import * as fs from "node:fs";
import { InputError, type Problem } from "../problems";

/** Reads `file` as UTF-8 text; when it cannot be read, throws `InputError(unreadable(err))`. */
export function readInputFile(file: string, unreadable: (err: unknown) => Problem): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError(unreadable(err));
  }
}

/** Parses `text` as JSON; when it is not JSON, throws `InputError(invalid(err))` with the parser's error. */
export function parseInputJson(text: string, invalid: (err: Error) => Problem): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(invalid(err as Error));
  }
}
