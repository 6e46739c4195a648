/**
 * The offline preview: runs the rehost Pulumi program for one stack under the SDK's mock runtime,
 * with that stack's config, and reports every resource it would declare, the pinned-IP table and
 * the policy verdicts. No cloud credentials and no Pulumi CLI are needed.
 *
 * A stack that references another (config keys `rehost:<something>Stack`, e.g.
 * `rehost:landingZoneStack`) gets its `StackReference` answered from that stack's own offline
 * preview, run first. Runs are sequential in one process: each installs fresh mocks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { packageRoot } from "../service/package";
import { InputError, problem } from "../problems";
import { TAGS } from "../components/tokens";
import { runUnderMocks, SECRET, type RecordedResource } from "./mocks";
import { evaluatePolicies, type OfflinePolicyConfig, type PolicyViolation } from "./policies";

export { SECRET, runUnderMocks, type RecordedResource, type MockRunOptions, type MockRun } from "./mocks";
export { evaluatePolicies, type OfflinePolicyConfig, type PolicyViolation, type PolicyInput } from "./policies";

/** Options of {@link runOfflinePreview}. */
export interface PreviewOptions {
  /** Stack name (`wave-1`): its config is `<stacksDir>/Pulumi.<stack>.yaml`. */
  readonly stack: string;
  /** Where the stack config files are. @default - the project's `stackConfigDir` */
  readonly stacksDir?: string;
  /** The directory holding `Pulumi.yaml`. @default - the nearest one above the working directory, else this package's */
  readonly projectDir?: string;
  /**
   * Per-rule enforcement levels and config of the policy pack, as in Pulumi's
   * `--policy-pack-config` file. @default - every rule at its documented level and defaults
   */
  readonly policyConfig?: OfflinePolicyConfig;
  /** Called when a stack (the one asked for, or one it references) starts and ends its run. @default - silent */
  readonly onProgress?: (event: PreviewProgress) => void;
}

/** Progress of one stack's run inside a preview. */
export interface PreviewProgress {
  readonly stack: string;
  readonly state: "running" | "done";
  /** Resources declared (when done). */
  readonly resources?: number;
  /** Wall time of the run (when done), ms. */
  readonly ms?: number;
}

/** A resource as the preview contract shows it. */
export interface PreviewResource {
  readonly type: string;
  readonly name: string;
  readonly parent: string | null;
  readonly inputs: Record<string, unknown>;
}

/** One address a migrated host keeps. */
export interface PinnedIp {
  readonly vm: string;
  readonly ip: string;
  /** `primary`, `secondary` (another IP of the primary NIC) or `eni-<n>`. */
  readonly nic: string;
  /** The vSwitch resource name, and its CIDR. */
  readonly vswitch: string;
  readonly cidr: string;
  /** The resource that holds the address. */
  readonly resource: string;
  readonly phase: string;
}

/** What {@link runOfflinePreview} returns. The JSON contract is `stack`, `resources`, `policyViolations`. */
export interface PreviewResult {
  readonly stack: string;
  readonly resources: PreviewResource[];
  readonly policyViolations: PolicyViolation[];
  readonly pinnedIps: PinnedIp[];
  /** The stack's outputs as the program returned them. */
  readonly outputs: Record<string, unknown>;
  /** Stacks previewed to answer this one's references, in the order they ran. */
  readonly referencedStacks: string[];
  /** The recorded graph with the mock ids (for policies and tests). */
  readonly recorded: RecordedResource[];
}

interface Project {
  readonly dir: string;
  readonly name: string;
  readonly main: string;
  readonly stacksDir: string;
}

interface StackRun {
  readonly resources: RecordedResource[];
  readonly outputs: Record<string, unknown>;
}

/** The keys of a stack config that name another stack. */
const REFERENCE_KEY = /^[a-zA-Z][\w-]*:\w+Stack$/;

/**
 * Previews one stack offline.
 * @throws InputError when the stack, its config or a referenced stack is wrong (exit 2)
 */
export async function runOfflinePreview(options: PreviewOptions): Promise<PreviewResult> {
  const project = findProject(options);
  const runs = new Map<string, StackRun>();
  const order: string[] = [];
  const target = await previewStack(project, options.stack, runs, order, [], undefined, options.onProgress);
  const referenced = order.filter((s) => s !== options.stack);
  const referencedResources = referenced.flatMap((s) => runs.get(s)!.resources);
  const policyViolations = await evaluatePolicies({ stack: options.stack, resources: target.resources, referencedResources, config: options.policyConfig });
  return {
    stack: options.stack,
    resources: target.resources.map(({ type, name, parent, inputs }) => ({ type, name, parent, inputs })),
    policyViolations,
    pinnedIps: pinnedIps(target.resources, [...target.resources, ...referencedResources]),
    outputs: target.outputs,
    referencedStacks: referenced,
    recorded: target.resources,
  };
}

/** Whether any violation is mandatory (the preview then exits 1). */
export function hasMandatoryViolation(result: Pick<PreviewResult, "policyViolations">): boolean {
  return result.policyViolations.some((v) => v.level === "mandatory");
}

function findProject(options: PreviewOptions): Project {
  let dir = options.projectDir !== undefined ? path.resolve(options.projectDir) : undefined;
  if (dir === undefined) {
    for (let d = process.cwd(); ; d = path.dirname(d)) {
      if (fs.existsSync(path.join(d, "Pulumi.yaml"))) {
        dir = d;
        break;
      }
      if (path.dirname(d) === d) break;
    }
  }
  dir ??= packageRoot();
  const file = path.join(dir, "Pulumi.yaml");
  if (!fs.existsSync(file)) {
    throw new InputError(
      problem({
        field: "--project",
        received: dir,
        expected: "a directory holding Pulumi.yaml",
        fix: "run from the project or pass --project DIR",
        message: `No Pulumi project in ${dir}.`,
      }),
    );
  }
  const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { name?: string; main?: string; stackConfigDir?: string };
  const stacksDir = options.stacksDir !== undefined ? path.resolve(options.stacksDir) : path.join(dir, doc.stackConfigDir ?? ".");
  return { dir, name: doc.name ?? "project", main: path.resolve(dir, doc.main ?? "index.ts"), stacksDir };
}

/** The stack name a reference points to: `org/project/stack` → `stack`. */
function referencedStack(reference: string): string {
  return reference.split("/").pop() ?? reference;
}

interface StackConfigFile {
  readonly file: string;
  readonly config: Record<string, string>;
  readonly secretKeys: string[];
}

function readStackConfig(project: Project, stack: string, referencedBy: { file: string; key: string } | undefined): StackConfigFile {
  const file = path.join(project.stacksDir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) {
    const available = fs.existsSync(project.stacksDir)
      ? fs
          .readdirSync(project.stacksDir)
          .flatMap((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1] ?? [])
          .sort()
      : [];
    throw new InputError(
      problem({
        file: referencedBy?.file,
        field: referencedBy?.key ?? "--stack",
        received: JSON.stringify(stack),
        expected: available.length > 0 ? `one of the stacks ${available.join(", ")}` : `a stack config file in ${project.stacksDir}`,
        fix: referencedBy ? `pulumi config set ${referencedBy.key} <stack>` : "pass --stack with an existing stack, or --stacks DIR",
        message: referencedBy
          ? `${referencedBy.key} names stack ${stack}, which has no config file ${path.relative(project.dir, file)}.`
          : `Stack ${stack} has no config file ${path.relative(project.dir, file)}.`,
      }),
    );
  }
  let doc: { config?: Record<string, unknown> };
  try {
    doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as typeof doc;
  } catch (err) {
    throw new InputError(
      problem({ file, received: (err as Error).message.split("\n")[0], expected: "YAML", message: `Stack config ${file} is not valid YAML.` }),
    );
  }
  // The program learns it runs offline, so it shows secrets it needs but the file lacks as placeholders.
  const config: Record<string, string> = { "rehost:offlinePreview": "true" };
  const secretKeys: string[] = [];
  for (const [rawKey, value] of Object.entries(doc.config ?? {})) {
    const key = rawKey.includes(":") ? rawKey : `${project.name}:${rawKey}`;
    if (value !== null && typeof value === "object" && "secure" in (value as object)) {
      // Encrypted values cannot be read offline: the program sees a placeholder.
      config[key] = SECRET;
      secretKeys.push(key);
    } else {
      config[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  return { file: path.relative(project.dir, file), config, secretKeys };
}

async function previewStack(
  project: Project,
  stack: string,
  runs: Map<string, StackRun>,
  order: string[],
  chain: readonly string[],
  referencedBy: { file: string; key: string } | undefined,
  onProgress: PreviewOptions["onProgress"],
): Promise<StackRun> {
  const done = runs.get(stack);
  if (done) return done;
  const settings = readStackConfig(project, stack, referencedBy);
  if (chain.includes(stack)) {
    throw new InputError(
      problem({
        file: referencedBy?.file,
        field: referencedBy?.key,
        received: [...chain, stack].join(" → "),
        expected: "stacks that do not reference each other in a cycle",
        message: `Stack ${stack} references itself through ${chain.join(", ")}.`,
      }),
    );
  }
  const references = new Map<string, string>();
  for (const [key, value] of Object.entries(settings.config)) {
    if (!REFERENCE_KEY.test(key)) continue;
    const target = referencedStack(value);
    await previewStack(project, target, runs, order, [...chain, stack], { file: settings.file, key }, onProgress);
    references.set(value, target);
  }
  onProgress?.({ stack, state: "running" });
  const started = performance.now();
  const run = await runUnderMocks(
    {
      project: project.name,
      stack,
      config: settings.config,
      secretKeys: settings.secretKeys,
      stackOutputs: (name) => runs.get(references.get(name) ?? referencedStack(name))?.outputs,
    },
    async () => {
      const loaded = loadProgram(project.main);
      return typeof loaded === "function" ? await (loaded as (projectDir: string) => unknown)(project.dir) : loaded;
    },
  ).catch((err: unknown) => {
    const input = asInputError(err);
    if (input === undefined) throw err;
    // The program names its config file as Pulumi keeps it (`stacks/Pulumi.<stack>.yaml`); name the one read.
    const assumed = `stacks/Pulumi.${stack}.yaml`;
    throw new InputError(input.problems.map((p) => (p.file === assumed ? { ...p, file: settings.file } : p)));
  });
  const result: StackRun = { resources: run.resources, outputs: (run.result ?? {}) as Record<string, unknown> };
  runs.set(stack, result);
  order.push(stack);
  onProgress?.({ stack, state: "done", resources: result.resources.length, ms: performance.now() - started });
  return result;
}

const programs = new Map<string, unknown>();

/**
 * Loads the program module once per process and returns its export (a function the preview calls
 * for every stack). Where TypeScript is already loadable (the `rehost` CLI registers tsx) it is a
 * plain `require`; elsewhere tsx's API loads it.
 */
function loadProgram(main: string): unknown {
  if (!programs.has(main)) programs.set(main, loadProgramModule(main));
  return programs.get(main);
}

/**
 * Whether TypeScript was loadable by plain `require` when this module loaded (the CLI registers
 * tsx globally first). Decided once: tsx's API leaves a `.ts` handler behind that only serves its
 * own namespace, so asking again after a first program load would answer wrongly.
 */
const TYPESCRIPT_REGISTERED = require.extensions[".ts"] !== undefined;

function loadProgramModule(main: string): unknown {
  const load = (): unknown => {
    if (!main.endsWith(".ts") || TYPESCRIPT_REGISTERED) return require(main);
    let tsx: { require(id: string, fromFile: string): unknown };
    try {
      tsx = require("tsx/cjs/api");
    } catch {
      throw new InputError(
        problem({
          file: "Pulumi.yaml",
          field: "main",
          received: main,
          expected: "a JavaScript program, or tsx installed to load TypeScript",
          fix: "compile the program (tsc) and point main at the .js file, or npm install --save-dev tsx",
          message: `The program ${main} is TypeScript and tsx is not installed.`,
        }),
      );
    }
    return tsx.require(main, __filename);
  };
  const loaded = load() as { default?: unknown };
  return loaded !== null && typeof loaded === "object" && "default" in loaded && loaded.default !== undefined ? loaded.default : loaded;
}

/**
 * The program may be loaded by a separate module loader (tsx's API), whose `InputError` is another
 * class: recognise it by shape so the CLI still exits 2 with every problem.
 */
function asInputError(err: unknown): InputError | undefined {
  if (err instanceof InputError) return err;
  const candidate = err as { name?: unknown; problems?: unknown } | null;
  if (candidate !== null && typeof candidate === "object" && candidate.name === "InputError" && Array.isArray(candidate.problems)) {
    return new InputError(candidate.problems as InputError["problems"]);
  }
  return undefined;
}

const INSTANCE = "alicloud:ecs/instance:Instance";
const ENI = "alicloud:ecs/ecsNetworkInterface:EcsNetworkInterface";

function pinnedIps(resources: readonly RecordedResource[], lookup: readonly RecordedResource[]): PinnedIp[] {
  const byId = new Map(lookup.filter((r) => r.id !== undefined).map((r) => [r.id!, r]));
  const hostOf = new Map<string, { vm: string; phase: string }>();
  const rows: PinnedIp[] = [];
  const vswitch = (id: unknown) => {
    const r = typeof id === "string" ? byId.get(id) : undefined;
    return { vswitch: r?.name ?? String(id), cidr: typeof r?.inputs.cidrBlock === "string" ? r.inputs.cidrBlock : "" };
  };
  for (const r of resources) {
    if (r.type !== INSTANCE) continue;
    const tags = (r.inputs.tags ?? {}) as Record<string, string>;
    const vm = tags[TAGS.sourceVm];
    if (vm === undefined) continue;
    const phase = tags[TAGS.phase] ?? "";
    if (r.parent) hostOf.set(r.parent, { vm, phase });
    const where = vswitch(r.inputs.vswitchId);
    if (typeof r.inputs.privateIp === "string") rows.push({ vm, ip: r.inputs.privateIp, nic: "primary", ...where, resource: r.name, phase });
    for (const ip of (r.inputs.secondaryPrivateIps as string[] | undefined) ?? []) rows.push({ vm, ip, nic: "secondary", ...where, resource: r.name, phase });
  }
  for (const r of resources) {
    if (r.type !== ENI || !r.parent) continue;
    const host = hostOf.get(r.parent);
    if (!host) continue;
    const where = vswitch(r.inputs.vswitchId);
    const nic = r.name.slice(r.parent.length + 1);
    const ips = [r.inputs.primaryIpAddress, ...((r.inputs.privateIpAddresses as string[] | undefined) ?? [])].filter(
      (ip): ip is string => typeof ip === "string",
    );
    for (const ip of ips) rows.push({ vm: host.vm, ip, nic, ...where, resource: r.name, phase: host.phase });
  }
  return rows;
}
