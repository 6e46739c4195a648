/**
 * The real Pulumi engine in tests: the CLI and language host this repository builds
 * (scripts/pulumi-engine.sh), a file backend and passphrase secrets in a directory of the test,
 * and projects whose node_modules hold rehost the way an installed package does.
 */
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

let engine: string | undefined;

/** The folder holding `pulumi`, built (or found in the cache) by scripts/pulumi-engine.sh. */
export function engineDir(): string {
  engine ??= execFileSync("bash", [path.join(ROOT, "scripts", "pulumi-engine.sh")], {
    encoding: "utf8",
    env: { ...process.env, REHOST_SETUP_QUIET: "1" },
    maxBuffer: 64 * 1024 * 1024,
  })
    .trim()
    .split("\n")
    .pop()!;
  return engine;
}

/** What one `pulumi` command printed. */
export interface PulumiResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A Pulumi workspace of a test: its home, its file backend and its passphrase. */
export class PulumiWorkspace {
  readonly home: string;
  readonly backend: string;

  constructor(readonly dir: string) {
    this.home = path.join(dir, "pulumi-home");
    this.backend = path.join(dir, "pulumi-state");
    fs.mkdirSync(this.home, { recursive: true });
    fs.mkdirSync(this.backend, { recursive: true });
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${engineDir()}${path.delimiter}${process.env.PATH ?? ""}`,
      PULUMI_HOME: this.home,
      PULUMI_BACKEND_URL: `file://${this.backend}`,
      PULUMI_CONFIG_PASSPHRASE: "rehost-tests",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
      NO_COLOR: "1",
      ...extra,
    };
  }

  /** Runs `pulumi ARGS` in `cwd`; resolves with its output whatever its exit code. */
  run(cwd: string, args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<PulumiResult> {
    return new Promise((resolve) => {
      execFile(
        path.join(engineDir(), "pulumi"),
        [...args, "--non-interactive"],
        { cwd, env: this.env(options.env), timeout: options.timeoutMs ?? 240_000, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Runs `pulumi ARGS` and fails with its whole output when it exits non-zero. */
  async ok(cwd: string, args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    const result = await this.run(cwd, args, options);
    if (result.code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  }
}

/**
 * Makes `dir` a project folder whose node_modules hold rehost as an installed package does — its
 * package.json and its compiled files (`dist`, linked from this checkout), nothing of the
 * checkout's own dependencies beside it — and @pulumi/pulumi. So the language host finds no
 * cloud package there and asks the engine for no plugin.
 */
export function linkRehostPackage(dir: string): void {
  const modules = path.join(dir, "node_modules");
  const pkg = path.join(modules, "rehost");
  fs.mkdirSync(pkg, { recursive: true });
  fs.mkdirSync(path.join(modules, "@pulumi"), { recursive: true });
  fs.copyFileSync(path.join(ROOT, "package.json"), path.join(pkg, "package.json"));
  fs.symlinkSync(path.join(ROOT, "dist"), path.join(pkg, "dist"));
  fs.symlinkSync(path.join(ROOT, "node_modules", "@pulumi", "pulumi"), path.join(modules, "@pulumi", "pulumi"));
}

/** The repository's root (for its policy pack and its compiled files). */
export const REPOSITORY_ROOT = ROOT;
