/**
 * The one way tests run the `rehost` command: as a child process (`node bin/rehost.js`, what a
 * user runs; asynchronously with `rehostChild`, blocking with `rehostSync`, or as a process the test
 * talks to while it runs with `spawnRehost`) or in this process
 * through the same `main` the binary calls, with standard output, standard error and the exit code
 * captured (`rehostInProcess`, in `cli-in-process.ts`: it needs vitest, and the benchmarks use this
 * file). A child process costs seconds to start on a loaded machine, so each exit path keeps one
 * child-process test and the rest run in-process. `exampleInputs` spells the input options of the
 * example estates under `examples/`.
 */
import { execFile, spawn, spawnSync, type ChildProcessByStdio, type SpawnSyncReturns } from "node:child_process";
import type { Readable } from "node:stream";
import * as path from "node:path";

/** What one run of `rehost` printed, and its exit code. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The repository's root. */
export const REPO_ROOT = path.resolve(__dirname, "../..");
/** The `rehost` binary of this checkout. */
export const REHOST_BIN = path.join(REPO_ROOT, "bin", "rehost.js");
/** The example estates. */
export const EXAMPLES = path.join(REPO_ROOT, "examples");
const root = REPO_ROOT;
const bin = REHOST_BIN;

/** What a child run may change: variables added to (or, when undefined, removed from) the environment, the directory, a deadline. */
export interface ChildOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** @default the repository's root */
  readonly cwd?: string;
  /** Milliseconds before the child is killed. @default none */
  readonly timeout?: number;
}

function childEnv(env: ChildOptions["env"]): NodeJS.ProcessEnv {
  const full: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env ?? {})) {
    if (v === undefined) delete full[k];
    else full[k] = v;
  }
  return full;
}

/** Runs `node bin/rehost.js ...args` as a child process; never rejects on a non-zero exit (99: killed, no exit code). */
export function rehostChild(...args: string[]): Promise<Run> {
  return rehostChildWith({}, ...args);
}

/** {@link rehostChild} with an environment, a directory or a deadline. */
export function rehostChildWith(options: ChildOptions, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const settings = {
      cwd: options.cwd ?? root,
      env: childEnv(options.env),
      maxBuffer: 64 * 1024 * 1024,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    };
    execFile(process.execPath, [bin, ...args], settings, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `node bin/rehost.js ...args` and waits for it: the child's status, output and error, as `spawnSync` reports them. */
export function rehostSync(args: readonly string[], options: ChildOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin, ...args], {
    cwd: options.cwd ?? root,
    env: childEnv(options.env),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
  });
}

/** Where {@link exampleInputs} finds an example's files. */
export interface ExampleFiles {
  /** The inventory: a file or folder of the example, or any path. @default "inventory.yaml" */
  readonly inventory?: string;
  /** Whether to pass the example's networks.yaml. @default true */
  readonly networks?: boolean;
  /** The waves file: a file of the example, or any path. @default "waves.yaml" */
  readonly waves?: string;
}

/** `--inventory`, `--networks` and `--waves` naming the files of the example estate `examples/<example>`. */
export function exampleInputs(example: string, files: ExampleFiles = {}): string[] {
  const dir = path.join(EXAMPLES, example);
  return [
    "--inventory",
    path.resolve(dir, files.inventory ?? "inventory.yaml"),
    ...(files.networks === false ? [] : ["--networks", path.join(dir, "networks.yaml")]),
    "--waves",
    path.resolve(dir, files.waves ?? "waves.yaml"),
  ];
}

/** A `rehost` child process a test talks to while it runs ({@link spawnRehost}). */
export interface RehostProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Standard output so far. */
  readonly stdout: string;
  /** Standard error so far. */
  readonly stderr: string;
  /** Standard output and standard error so far, in the order they came. */
  readonly output: string;
  /** Resolves with the exit code (null when a signal ended it) when the process exits. */
  readonly exited: Promise<number | null>;
  /** Resolves with the exit code once the process has exited and its output streams have ended. */
  readonly closed: Promise<number | null>;
  /** Resolves once the output holds `text`; rejects when the process exits first or `timeoutMs` pass, naming `what` and the output. */
  waitFor(text: string, what: string, timeoutMs: number): Promise<void>;
  /** Kills the process (SIGKILL) if it still runs. */
  kill(): void;
}

/** Starts `node bin/rehost.js ...args` from the repository's root, standard input closed, its output collected. */
export function spawnRehost(...args: string[]): RehostProcess {
  return spawnRehostWith({}, ...args);
}

/** {@link spawnRehost} with an environment or a directory. */
export function spawnRehostWith(options: Omit<ChildOptions, "timeout">, ...args: string[]): RehostProcess {
  const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd ?? root, env: childEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let output = "";
  const listeners = new Set<() => void>();
  const heard = (): void => {
    for (const l of listeners) l();
  };
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    output += d.toString();
    heard();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    output += d.toString();
    heard();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const closed = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    get output() {
      return output;
    },
    exited,
    closed,
    waitFor: (text, what, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off("exit", early);
        };
        const check = (): void => {
          if (!output.includes(text)) return;
          done();
          resolve();
        };
        const early = (): void => {
          done();
          reject(new Error(`the process exited before ${what}: ${output}`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`the process did not reach ${what}: ${output}`));
        }, timeoutMs);
        listeners.add(check);
        child.once("exit", early);
        check();
      }),
    kill: () => {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}
