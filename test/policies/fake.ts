/** Fake validation arguments, shaped as the Pulumi engine passes them to policy rules. */
import type { Policy, PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

export interface FakeResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
  parent?: FakeResource;
  protect?: boolean;
  /** Property name → resources the engine says it depends on. */
  deps?: Record<string, FakeResource[]>;
}

export function resource(type: string, name: string, props: Record<string, unknown>, extra: Partial<FakeResource> = {}): FakeResource {
  return { type, name, props, ...extra };
}

function defaults(policy: Policy): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(policy.configSchema?.properties ?? {})) out[k] = (v as { default?: unknown }).default;
  return out;
}

const urn = (r: FakeResource) => `urn:pulumi:test::rehost::${r.type}::${r.name}`;

function toPolicyResource(r: FakeResource, cache: Map<FakeResource, PolicyResource>): PolicyResource {
  const known = cache.get(r);
  if (known) return known;
  const out = {
    type: r.type,
    name: r.name,
    urn: urn(r),
    props: r.props,
    opts: {
      protect: r.protect === true,
      ignoreChanges: [],
      aliases: [],
      additionalSecretOutputs: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    },
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
  } as unknown as PolicyResource;
  cache.set(r, out);
  (out as { parent?: PolicyResource }).parent = r.parent ? toPolicyResource(r.parent, cache) : undefined;
  for (const [k, list] of Object.entries(r.deps ?? {})) out.propertyDependencies[k] = list.map((d) => toPolicyResource(d, cache));
  return out;
}

/** Runs a resource rule over one resource; returns the violation messages. */
export async function checkResource(policy: Policy, r: FakeResource, config: Record<string, unknown> = {}): Promise<string[]> {
  const messages: string[] = [];
  const args = {
    ...toPolicyResource(r, new Map()),
    stackTags: new Map(),
    getConfig: () => ({ ...defaults(policy), ...config }),
    notApplicable: () => {
      throw new Error("not applicable");
    },
  };
  const validate = (policy as ResourceValidationPolicy).validateResource;
  for (const check of Array.isArray(validate) ? validate : [validate]) await check!(args as never, (m: string) => messages.push(m));
  return messages;
}

/** Runs a stack rule over resources; returns `[resourceName, message]` pairs. */
export async function checkStack(policy: Policy, resources: FakeResource[], config: Record<string, unknown> = {}): Promise<Array<[string, string]>> {
  const cache = new Map<FakeResource, PolicyResource>();
  const list = resources.map((r) => toPolicyResource(r, cache));
  const out: Array<[string, string]> = [];
  await (policy as StackValidationPolicy).validateStack(
    { resources: list, stackTags: new Map(), getConfig: () => ({ ...defaults(policy), ...config }) } as never,
    (m, u) => out.push([list.find((r) => r.urn === u)?.name ?? "stack", m]),
  );
  return out;
}
