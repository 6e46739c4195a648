/**
 * Running Pulumi code under the SDK's mock runtime and recording what it declares.
 *
 * `pulumi.runtime.setMocks` is process-global, so runs are serialized: each run installs fresh
 * mocks (which reset the runtime's options and its monitor), runs, waits for every registration
 * to finish, and hands back the recorded graph. Modules that declare resources must be imported
 * inside `fn`, after the mocks are installed. What this needs of the SDK beyond its documented API
 * lives in `sdk-internals.ts`.
 */
import * as pulumi from "@pulumi/pulumi";
import { interceptRegistrations, settleRegistrations, skipClosureSerialization } from "./sdk-internals";

/** One declared resource as the preview shows it. */
export interface RecordedResource {
  /** Pulumi type token (`alicloud:ecs/instance:Instance`, `rehost:components:SyncGateway`). */
  readonly type: string;
  readonly name: string;
  /** Name of the parent resource, or `null` at the top level. */
  readonly parent: string | null;
  /** Resolved inputs; secrets appear as {@link SECRET}. */
  readonly inputs: Record<string, unknown>;
  /** False for component resources. */
  readonly custom: boolean;
  /** The id the mock gave it (`<name>-id`), for custom resources. */
  readonly id?: string;
  /** Names of the resources it waits for: its `dependsOn` and the resources its inputs come from. */
  readonly dependencies: readonly string[];
  /** Whether `pulumi destroy` refuses to delete it. */
  readonly protect?: boolean;
  /** Whether deleting it leaves the cloud resource in place. */
  readonly retainOnDelete?: boolean;
}

/** How a secret value is shown. */
export const SECRET = "[secret]";

/** Options of one mocked run. */
export interface MockRunOptions {
  readonly project: string;
  readonly stack: string;
  /** Full config keys (`rehost:role`) to values; non-string values JSON-encoded as Pulumi does. */
  readonly config?: Readonly<Record<string, string>>;
  /** Config keys whose values are secrets. */
  readonly secretKeys?: readonly string[];
  /** Outputs of a referenced stack (by the name given to `StackReference`), or undefined if unknown. */
  readonly stackOutputs?: (name: string) => Record<string, unknown> | undefined;
}

/** What a mocked run produced. */
export interface MockRun<T> {
  readonly resources: RecordedResource[];
  readonly result: T;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` under fresh mocks and records every resource it registers. Runs never overlap: a
 * second call waits for the first to finish.
 */
export function runUnderMocks<T>(options: MockRunOptions, fn: () => Promise<T> | T): Promise<MockRun<T>> {
  const run = queue.then(() => runOnce(options, fn));
  queue = run.catch(() => undefined);
  return run;
}

async function runOnce<T>(options: MockRunOptions, fn: () => Promise<T> | T): Promise<MockRun<T>> {
  const resources: RecordedResource[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        if (args.type === "pulumi:pulumi:StackReference") {
          const name = String(args.inputs.name);
          const outputs = options.stackOutputs?.(name);
          if (outputs === undefined) throw new Error(`stack reference ${name}: no such stack in the offline preview`);
          return { id: name, state: { name, outputs, secretOutputNames: [] } };
        }
        const id = `${args.name}-id`;
        return { id, state: { ...args.inputs, ...mockOutputs(args.type, args.name, id, args.inputs) } };
      },
      call: (args) => args.inputs,
    },
    options.project,
    options.stack,
    true,
  );
  pulumi.runtime.setAllConfig({ ...(options.config ?? {}) }, [...(options.secretKeys ?? [])]);

  interceptRegistrations((req) => {
    const type = req.getType();
    if (type === "pulumi:pulumi:Stack") return;
    const parentUrn = req.getParent();
    const custom = req.getCustom();
    resources.push({
      type,
      name: req.getName(),
      parent: parentUrn ? (parentUrn.split("::").pop() ?? null) : null,
      inputs: withoutProvider(redact(pulumi.runtime.deserializeProperties(req.getObject() as StructOf, false)) as Record<string, unknown>),
      custom,
      dependencies: req.getDependenciesList().map((urn) => urn.split("::").pop() ?? urn),
      ...(custom ? { id: `${req.getName()}-id` } : {}),
      ...(req.getProtect() ? { protect: true } : {}),
      ...(req.getRetainondelete() ? { retainOnDelete: true } : {}),
    });
  });

  // An error thrown inside an `apply` surfaces as an unhandled rejection, and the outputs that
  // depend on it never settle: end the run with that error instead of waiting for them.
  let fail: (reason: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  const failures: unknown[] = [];
  const onRejection = (reason: unknown) => {
    failures.push(reason);
    fail(reason);
  };
  process.on("unhandledRejection", onRejection);
  // The SDK captures a stack trace per resource and per internal promise; formatting and
  // source-mapping them (tsx turns source maps on) costs more than the rest of the run. While it
  // runs, source maps are off and internal traces are one frame deep; errors keep their message.
  const sourceMaps = (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true;
  if (sourceMaps) process.setSourceMapsEnabled(false);
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 1;
  const restoreClosures = skipClosureSerialization();
  try {
    const work = (async () => {
      const returned = await fn();
      const result = (await resolve(returned)) as T;
      await settleRegistrations();
      return result;
    })();
    const result = await Promise.race([work, failed]);
    // Let late rejections of this run arrive before declaring it good.
    await new Promise((r) => setImmediate(r));
    if (failures.length > 0) throw failures[0];
    return { resources, result };
  } finally {
    process.off("unhandledRejection", onRejection);
    if (sourceMaps) process.setSourceMapsEnabled(true);
    Error.stackTraceLimit = stackTraceLimit;
    restoreClosures();
  }
}

/** The protobuf `Struct` that `pulumi.runtime.deserializeProperties` takes. */
type StructOf = Parameters<typeof pulumi.runtime.deserializeProperties>[0];

/** Resolves outputs (possibly nested in objects) to plain values; rejects when one of them failed. */
async function resolve(value: unknown): Promise<unknown> {
  if (value === undefined || value === null) return value;
  const output = pulumi.output(value as pulumi.Input<unknown>) as unknown as { promise(): Promise<unknown> };
  return await output.promise();
}

/** Dynamic resources carry their serialized provider code as `__provider`: not an input anyone reads. */
function withoutProvider(inputs: Record<string, unknown>): Record<string, unknown> {
  if (!("__provider" in inputs)) return inputs;
  const { __provider: _code, ...rest } = inputs;
  return rest;
}

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return SECRET;
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, redact(v)]));
  }
  return value;
}

/**
 * Outputs the cloud (or a controller) would compute and the programs read: attribute ids of CEN
 * resources, the private IP of an instance whose IP is not pinned (`dhcp:<name>`, a placeholder no
 * real address can be mistaken for), what a remote command prints (`preview:<name>`), and the digests of the rehost controllers (`preview:<job>`).
 */
function mockOutputs(type: string, name: string, id: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case "alicloud:ecs/instance:Instance":
      return {
        privateIp: inputs.privateIp ?? `dhcp:${name}`,
        publicIp: Number(inputs.internetMaxBandwidthOut ?? 0) > 0 ? `public:${name}` : "",
      };
    case "alicloud:cen/transitRouter:TransitRouter":
      return { transitRouterId: id };
    case "alicloud:cen/transitRouterVpcAttachment:TransitRouterVpcAttachment":
    case "alicloud:cen/transitRouterVbrAttachment:TransitRouterVbrAttachment":
    case "alicloud:cen/transitRouterVpnAttachment:TransitRouterVpnAttachment":
      return { transitRouterAttachmentId: id };
    case "alicloud:cen/transitRouterRouteTable:TransitRouterRouteTable":
      return { transitRouterRouteTableId: id };
    case "command:remote:Command":
      return { stdout: `preview:${name}`, stderr: "" };
    case "pulumi-nodejs:dynamic/rehost:Replication":
      return { state: "preview", lastRound: inputs.round ?? 0, digest: `preview:${String(inputs.jobId)}`, digestAlgorithm: "preview" };
    case "pulumi-nodejs:dynamic/rehost:Cutover": {
      const jobs = (inputs.jobIds as string[] | undefined) ?? [];
      const digest = (job: string) => ({ source: `preview:${job}`, target: `preview:${job}`, algorithm: "preview", size: 0 });
      return { shutdown: "preview", digests: Object.fromEntries(jobs.map((job) => [job, digest(job)])), verifiedAt: "preview" };
    }
    case "pulumi-nodejs:dynamic/rehost:RehearsalPoint": {
      const jobs = (inputs.jobIds as string[] | undefined) ?? [];
      return { digests: Object.fromEntries(jobs.map((job) => [job, { round: 0, digest: job, algorithm: "preview" }])), frozenAt: "preview" };
    }
    default:
      return {};
  }
}
