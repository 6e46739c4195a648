/**
 * The agent bundle: what a sync gateway installs, built from the rehost the stack itself runs.
 *
 * It is the `npm pack` tarball of this package, unpacked (`package/`), with the few packages the
 * agent loads (`AGENT_DEPENDENCIES` and what they depend on, for linux-x64 with glibc) copied
 * from the node_modules the stack resolves them from into `package/node_modules`, and a manifest
 * (`rehost-bundle.json`) naming the pack tarball's SHA-256 and every dependency's version. The
 * gateway needs no npm and no registry: `node package/bin/rehost.js agent` runs from the
 * unpacked bundle. The archive is deterministic (sorted entries, fixed mtime, no owners), so the
 * same build gives the same SHA-256 and an unchanged stack changes nothing on `pulumi up`.
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError, problem } from "../problems";
import { packageRoot } from "../service/package";

/** The packages the agent command loads; their own dependencies come along. */
export const AGENT_DEPENDENCIES: readonly string[] = ["commander", "zod", "@node-rs/xxhash", "zstd-napi"];

/** The platform of a sync gateway. */
const GATEWAY_PLATFORM = { os: "linux", cpu: "x64", libc: "glibc" } as const;
/** Suffix of the native binding packages (napi-rs) built for that platform. */
const GATEWAY_BINDING_SUFFIX = "-linux-x64-gnu";

/** A built bundle. */
export interface AgentBundle {
  /** The bundle file (`.tgz`). */
  readonly file: string;
  /** SHA-256 (hex) of the bundle file: what a gateway checks before it installs anything. */
  readonly sha256: string;
  readonly bytes: number;
  /** rehost's version. */
  readonly version: string;
  /** SHA-256 of the `npm pack` tarball inside. */
  readonly packSha256: string;
  /** Name → version of every package bundled with it. */
  readonly dependencies: Readonly<Record<string, string>>;
}

/** Options of {@link buildAgentBundle}. */
export interface BuildAgentBundleOptions {
  /** Directory the bundle is written to (created). */
  readonly outDir: string;
  /** The rehost package to pack. @default - the one running (`packageRoot()`) */
  readonly packageDir?: string;
  /** The npm command. @default "npm" */
  readonly npm?: string;
}

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

/**
 * Packs rehost and builds its agent bundle in `outDir`.
 * @throws InputError when the package has no compiled files, or a dependency the gateway needs
 * (its linux-x64 native binding) is not installed where the stack runs
 */
export function buildAgentBundle(options: BuildAgentBundleOptions): AgentBundle {
  const packageDir = path.resolve(options.packageDir ?? packageRoot());
  const manifest = readPackageJson(packageDir);
  const cli = path.join(packageDir, "dist", "lib", "cli", "main.js");
  if (!fs.existsSync(cli)) {
    throw new InputError(
      problem({
        field: "packageDir",
        received: packageDir,
        expected: "a rehost package with its compiled files (dist/)",
        fix: `run npm run build in ${packageDir}`,
        message: `rehost at ${packageDir} has no ${path.relative(packageDir, cli)}: there is nothing to ship to the gateways.`,
      }),
    );
  }
  fs.mkdirSync(options.outDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(options.outDir, ".build-"));
  try {
    const packed = JSON.parse(
      execFileSync(options.npm ?? "npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], {
        cwd: packageDir,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      }),
    ) as Array<{ filename: string }>;
    const packFile = path.join(work, packed[0]!.filename);
    const packSha256 = sha256File(packFile);
    const stage = path.join(work, "stage");
    fs.mkdirSync(stage);
    tarModule().x({ file: packFile, cwd: stage, sync: true, preserveOwner: false });
    const dependencies = copyDependencies(packageDir, manifest, path.join(stage, "package"));
    const bundleManifest = {
      format: 1,
      name: manifest.name,
      version: manifest.version,
      pack: { file: path.basename(packFile), sha256: packSha256 },
      platform: `${GATEWAY_PLATFORM.os}-${GATEWAY_PLATFORM.cpu}-${GATEWAY_PLATFORM.libc}`,
      dependencies,
    };
    fs.writeFileSync(path.join(stage, "rehost-bundle.json"), `${JSON.stringify(bundleManifest, null, 2)}\n`);
    const unsorted = path.join(work, "bundle.tgz");
    tarModule().c({ file: unsorted, cwd: stage, gzip: { level: 9 }, portable: true, mtime: new Date(0), noDirRecurse: true, sync: true }, entries(stage));
    const sha256 = sha256File(unsorted);
    const file = path.join(options.outDir, `rehost-agent-${manifest.version}-${sha256.slice(0, 12)}.tgz`);
    fs.renameSync(unsorted, file);
    return { file, sha256, bytes: fs.statSync(file).size, version: manifest.version, packSha256, dependencies };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** node-tar, loaded when a bundle is built (the stacks need it; the rest of the library does not). */
function tarModule(): typeof import("tar") {
  return require("tar") as typeof import("tar");
}

/**
 * Copies the agent's dependency closure, as Node resolves it from `packageDir`, into
 * `bundleRoot/node_modules`: flat where names do not clash, nested under the dependent where two
 * versions of one package are needed. Returns name → version.
 */
function copyDependencies(packageDir: string, manifest: PackageJson, bundleRoot: string): Record<string, string> {
  const versions: Record<string, string> = {};
  const placedAt = new Map<string, string>(); // bundle directory → source directory
  const queue: Array<{ name: string; from: string; into: string; optional: boolean; requiredBy: string }> = AGENT_DEPENDENCIES.map((name) => {
    if (manifest.dependencies?.[name] === undefined) throw new Error(`rehost's package.json does not depend on ${name}, which the agent loads.`);
    return { name, from: packageDir, into: bundleRoot, optional: false, requiredBy: manifest.name };
  });
  while (queue.length > 0) {
    const next = queue.shift()!;
    const source = findPackageDir(next.name, next.from);
    if (source === undefined) {
      if (next.optional) continue;
      throw new InputError(
        problem({
          field: "dependencies",
          received: next.name,
          expected: `${next.name} installed where the stack runs`,
          fix: "run npm install in the project",
          message: `${next.requiredBy} needs ${next.name}, which is not installed next to rehost.`,
        }),
      );
    }
    const pkg = readPackageJson(source);
    if (!forGateway(pkg)) continue;
    const top = path.join(bundleRoot, "node_modules", next.name);
    const nested = path.join(next.into, "node_modules", next.name);
    const target = placedAt.get(top) === undefined || placedAt.get(top) === source ? top : nested;
    if (placedAt.get(target) === source) continue;
    if (placedAt.has(target)) throw new Error(`Two versions of ${next.name} would both go to ${target}.`);
    fs.cpSync(source, target, { recursive: true, filter: (src) => !/[\\/]node_modules$/.test(src) || src === source });
    placedAt.set(target, source);
    versions[path.relative(path.join(bundleRoot, "node_modules"), target).split(path.sep).join("/")] = pkg.version;
    for (const name of Object.keys(pkg.dependencies ?? {})) queue.push({ name, from: source, into: target, optional: false, requiredBy: pkg.name });
    const optional = Object.keys(pkg.optionalDependencies ?? {});
    for (const name of optional) queue.push({ name, from: source, into: target, optional: true, requiredBy: pkg.name });
    const binding = optional.find((name) => name.endsWith(GATEWAY_BINDING_SUFFIX));
    if (binding !== undefined && findPackageDir(binding, source) === undefined) {
      const version = pkg.optionalDependencies![binding]!;
      throw new InputError(
        problem({
          field: "dependencies",
          received: `${binding} not installed (this machine is ${process.platform}-${process.arch})`,
          expected: `${binding}@${version}, the native part of ${pkg.name} a linux-x64 gateway loads`,
          fix: `npm install --no-save --force ${binding}@${version} in the project`,
          message: `The agent bundle needs ${pkg.name}'s linux-x64 binding, which is not installed here.`,
        }),
      );
    }
  }
  return Object.fromEntries(Object.entries(versions).sort(([a], [b]) => a.localeCompare(b)));
}

/** Whether a package may run on a gateway (its `os`, `cpu` and `libc` fields allow linux-x64-glibc). */
function forGateway(pkg: PackageJson): boolean {
  const allows = (list: string[] | undefined, value: string): boolean => {
    if (list === undefined || list.length === 0) return true;
    // A list of names allows those; a list of negations (`!win32`) allows the rest.
    return list.some((v) => !v.startsWith("!")) ? list.includes(value) : !list.includes(`!${value}`);
  };
  return allows(pkg.os, GATEWAY_PLATFORM.os) && allows(pkg.cpu, GATEWAY_PLATFORM.cpu) && allows(pkg.libc, GATEWAY_PLATFORM.libc);
}

/** The directory of package `name` as Node resolves it from `from` (its node_modules, then each parent's). */
function findPackageDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(candidate, "package.json"))) return fs.realpathSync(candidate);
    if (path.dirname(dir) === dir) return undefined;
  }
}

function readPackageJson(dir: string): PackageJson {
  return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as PackageJson;
}

/** Every file, directory and link under `dir`, relative, sorted: the archive's order. */
function entries(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const child = rel === "" ? name : `${rel}/${name}`;
      out.push(child);
      if (fs.lstatSync(path.join(dir, child)).isDirectory()) walk(child);
    }
  };
  walk("");
  return out;
}

/** SHA-256 (hex) of a file. */
function sha256File(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}
