/**
 * Checks of command-line flags that several commands share (the services' `--cert`/`--key`, paths
 * that must exist), each giving the problems to report rather than throwing, so a command lists
 * every bad flag at once.
 */
import * as fs from "node:fs";
import { problem, type Problem } from "../problems";

/** A problem for each given path that is not an existing file (or directory). */
export function pathProblems(paths: ReadonlyArray<readonly [field: string, path: string | undefined, kind?: "file" | "directory"]>): Problem[] {
  const problems: Problem[] = [];
  for (const [field, file, kind = "file"] of paths) {
    if (file === undefined) continue;
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (stat === undefined || (kind === "directory" ? !stat.isDirectory() : !stat.isFile())) {
      problems.push(
        problem({
          field,
          received: file,
          expected: `an existing ${kind}`,
          fix: `check the path given to ${field}`,
          message: `${file} is not an existing ${kind}.`,
        }),
      );
    }
  }
  return problems;
}

/** A problem when only one of a service's `--cert` and `--key` is given. */
export function certificateProblems(cert: string | undefined, key: string | undefined): Problem[] {
  if ((cert === undefined) === (key === undefined)) return [];
  return [
    problem({
      field: cert === undefined ? "--cert" : "--key",
      expected: "both --cert and --key, or neither",
      fix: "give the certificate with its key, or neither for a self-signed one",
      message: "A certificate needs its key.",
    }),
  ];
}
