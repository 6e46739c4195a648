/**
 * Runs the pack's rules without the Pulumi CLI, over the resources the offline preview recorded.
 *
 * The rules see the same arguments the Pulumi engine gives them (type, name, urn, props, opts,
 * parent, property dependencies); references between resources are found by the ids the mock
 * runtime assigned. Config is each rule's schema defaults, overridden per rule.
 */
import type { EnforcementLevel, Policy, PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { rehostPolicies } from "./rules";

/** One resource as the offline preview records it. */
export interface OfflineResource {
  readonly type: string;
  readonly name: string;
  /** Name of the parent resource, or null. */
  readonly parent: string | null;
  readonly inputs: Record<string, unknown>;
  /** The id the mock runtime gave it (custom resources). */
  readonly id?: string;
  readonly protect?: boolean;
  readonly retainOnDelete?: boolean;
}

/** A violation as `rehost preview` reports it. */
export interface PolicyViolation {
  readonly policy: string;
  readonly level: EnforcementLevel;
  /** The resource's name (or the stack when the rule reported no resource). */
  readonly resource: string;
  readonly message: string;
}

/** Per rule: an enforcement level and/or config values (as in Pulumi's policy config file). */
export type OfflinePolicyConfig = Record<string, EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>)>;

export interface EvaluateOptions {
  readonly project?: string;
  readonly stack?: string;
  readonly config?: OfflinePolicyConfig;
  /** The rules to run. @default - every rule of the pack */
  readonly policies?: readonly Policy[];
}

/** Evaluates every rule over `resources`; disabled rules are skipped. */
export async function evaluatePolicies(resources: readonly OfflineResource[], options: EvaluateOptions = {}): Promise<PolicyViolation[]> {
  const project = options.project ?? "rehost";
  const stack = options.stack ?? "offline";
  const policies = options.policies ?? rehostPolicies();
  const graph = buildGraph(resources, project, stack);
  const byUrn = new Map(graph.map((r) => [r.urn, r]));
  const violations: PolicyViolation[] = [];

  for (const policy of policies) {
    const { level, config } = settingsFor(policy, options.config?.[policy.name]);
    if (level === "disabled") continue;
    const getConfig = <T extends object>() => config as T;
    const push = (resource: string, message: string) => violations.push({ policy: policy.name, level, resource, message });

    const validate = (policy as Partial<ResourceValidationPolicy>).validateResource;
    if (validate !== undefined) {
      for (const r of graph) {
        const args = { ...r, stackTags: new Map<string, string>(), getConfig, isType: isTypeOf(r.type), asType: asTypeOf(r), notApplicable: notApplicable };
        const checks = Array.isArray(validate) ? validate : [validate];
        for (const check of checks) await runGuarded(() => check(args as never, (message) => push(r.name, message)));
      }
    }
    const validateStack = (policy as Partial<StackValidationPolicy>).validateStack;
    if (validateStack !== undefined) {
      const args = { resources: graph, stackTags: new Map<string, string>(), getConfig, notApplicable };
      await runGuarded(() => validateStack(args as never, (message, urn) => push(urn !== undefined ? (byUrn.get(urn)?.name ?? urn) : stack, message)));
    }
  }
  return violations;
}

/** Whether any violation is of a mandatory rule. */
export function hasMandatoryViolations(violations: readonly PolicyViolation[]): boolean {
  return violations.some((v) => v.level === "mandatory");
}

class NotApplicable extends Error {}
function notApplicable(): never {
  throw new NotApplicable();
}
async function runGuarded(fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof NotApplicable)) throw err;
  }
}

function isTypeOf(type: string) {
  return (cls: { __pulumiType?: string }) => cls.__pulumiType === type;
}
function asTypeOf(r: { type: string; props: Record<string, unknown> }) {
  return (cls: { __pulumiType?: string }) => (cls.__pulumiType === r.type ? r.props : undefined);
}

function settingsFor(policy: Policy, given: OfflinePolicyConfig[string] | undefined): { level: EnforcementLevel; config: Record<string, unknown> } {
  const defaults = schemaDefaults(policy.configSchema);
  if (typeof given === "string") return { level: given, config: defaults };
  const { enforcementLevel, ...values } = given ?? {};
  return { level: enforcementLevel ?? policy.enforcementLevel ?? "advisory", config: { ...defaults, ...values } };
}

function schemaDefaults(schema: PolicyConfigSchema | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, property] of Object.entries(schema?.properties ?? {})) {
    const value = (property as { default?: unknown }).default;
    if (value !== undefined) out[key] = structuredClone(value);
  }
  return out;
}

interface GraphResource {
  type: string;
  name: string;
  urn: string;
  props: Record<string, unknown>;
  opts: {
    protect: boolean;
    retainOnDelete: boolean;
    ignoreChanges: string[];
    aliases: string[];
    additionalSecretOutputs: string[];
    customTimeouts: { createSeconds: number; updateSeconds: number; deleteSeconds: number };
    parent?: string;
  };
  parent?: GraphResource;
  dependencies: GraphResource[];
  propertyDependencies: Record<string, GraphResource[]>;
}

/** Links the recorded resources into the shape the engine gives stack rules. */
function buildGraph(resources: readonly OfflineResource[], project: string, stack: string): GraphResource[] {
  const urnOf = (r: OfflineResource) => `urn:pulumi:${stack}::${project}::${r.type}::${r.name}`;
  const nodes = resources.map<GraphResource>((r) => ({
    type: r.type,
    name: r.name,
    urn: urnOf(r),
    props: r.id !== undefined ? { ...r.inputs, __id: r.id } : { ...r.inputs },
    opts: {
      protect: r.protect === true,
      retainOnDelete: r.retainOnDelete === true,
      ignoreChanges: [],
      aliases: [],
      additionalSecretOutputs: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    },
    dependencies: [],
    propertyDependencies: {},
  }));
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const byId = new Map<string, GraphResource>();
  resources.forEach((r, i) => r.id !== undefined && byId.set(r.id, nodes[i]!));
  resources.forEach((r, i) => {
    const node = nodes[i]!;
    if (r.parent !== null) {
      node.parent = byName.get(r.parent);
      node.opts.parent = node.parent?.urn;
    }
    for (const [key, value] of Object.entries(r.inputs)) {
      const deps = [
        ...new Set(
          idsIn(value)
            .map((id) => byId.get(id))
            .filter((d): d is GraphResource => d !== undefined && d !== node),
        ),
      ];
      if (deps.length > 0) node.propertyDependencies[key] = deps;
    }
    node.dependencies = [...new Set(Object.values(node.propertyDependencies).flat())];
  });
  return nodes;
}

function idsIn(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(idsIn);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(idsIn);
  return [];
}

/** One stack's recorded graph, with the graphs of the stacks it references. */
export interface StackGraph {
  readonly stack: string;
  readonly resources: readonly OfflineResource[];
  /** Resources of referenced stacks (a wave's landing zone): rules follow references into them. */
  readonly referencedResources?: readonly OfflineResource[];
}

/**
 * Evaluates the pack over one stack for the offline preview. Rules see the referenced stacks'
 * resources too (a migrated host's vSwitch lives in the landing zone), but only violations on the
 * stack's own resources, or on the stack as a whole, are reported.
 */
export async function evaluateStack(graph: StackGraph, options: Omit<EvaluateOptions, "stack"> = {}): Promise<PolicyViolation[]> {
  const own = new Set(graph.resources.map((r) => r.name));
  const all = [...graph.resources, ...(graph.referencedResources ?? []).filter((r) => !own.has(r.name))];
  const violations = await evaluatePolicies(all, { ...options, stack: graph.stack });
  return violations.filter((v) => own.has(v.resource) || v.resource === graph.stack);
}
