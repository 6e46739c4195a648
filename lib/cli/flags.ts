/**
 * Checks of command-line flags that several commands share (the services' `--listen`, `--cert`/`--key`, paths
 * that must exist), each giving the problems to report rather than throwing, so a command lists
 * every bad flag at once; and the flags that set the library's fields, so a library problem naming
 * a field (`changed`, `blockSize`, `ca`) reaches the user naming the flag (`--changed`, `--block-size`,
 * `--ca`) through `withFieldNames`.
 */
import * as fs from "node:fs";
import { problem, type FieldNames, type Problem } from "../problems";
import { PASSWORD_ENV } from "../vsphere/password";

/** The `rehost sync` flag that sets each `SyncOptions` field. */
export const SYNC_FLAGS: FieldNames = {
  changed: "--changed",
  journal: "--journal",
  bandwidth: "--bandwidth",
  connections: "--connections",
  blockSize: "--block-size",
  checkpointInterval: "--checkpoint-interval",
};

/** `connectVSphere`'s options as these commands take them; the password only ever comes from the environment (or a prompt). */
export const VCENTER_FLAGS: FieldNames = {
  url: "--vcenter",
  user: "--user",
  password: PASSWORD_ENV,
  ca: "--ca",
  thumbprint: "--thumbprint",
  insecure: "--insecure",
};

/** `--listen HOST:PORT` read: the host (an IPv6 address without its brackets), the port, and what is wrong with it. */
export function listenAddress(value: string, example: string): { host: string; port: number; problems: Problem[] } {
  const problems: Problem[] = [];
  const listen = /^(.+):(\d{1,5})$/.exec(value);
  const port = listen === null ? NaN : Number(listen[2]);
  if (listen === null || port > 65535) {
    problems.push(
      problem({
        field: "--listen",
        received: value,
        expected: "HOST:PORT with a port up to 65535",
        fix: `e.g. --listen ${example}`,
        message: "The listen address is not HOST:PORT.",
      }),
    );
  }
  return { host: listen === null ? "" : listen[1].replace(/^\[|\]$/g, ""), port, problems };
}

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
