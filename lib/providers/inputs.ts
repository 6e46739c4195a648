/**
 * Inputs of the dynamic providers: their schemas, `check` (one failure per wrong field, values
 * not known yet during a preview left alone) and `diff` (what replaces, what updates in place).
 * Credentials are never inputs (see `credentials.ts`), so nothing secret reaches the state.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { ChangedSchema, CredentialsRefSchema, JobIdSchema, TargetSchema } from "../agent/api";
import { problemsFromIssues } from "../problems/zod";

const AgentUrlSchema = z.string().regex(/^https:\/\/[^/\s]+(:\d+)?\/?$/, "https://HOST:PORT of a sync gateway's agent");
const PointSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "letters, digits, dots, dashes, underscores");
const JobIdsSchema = z
  .array(JobIdSchema)
  .min(1)
  .refine((ids) => new Set(ids).size === ids.length, "each job once");
/** Deadline of the step a resource waits for, seconds. */
const timeoutSeconds = (defaultSeconds: number) =>
  z
    .number()
    .positive()
    .max(30 * 86400)
    .default(defaultSeconds);
/** Seconds between status polls. */
const pollSeconds = z.number().positive().max(600).default(5);
/** Seconds to wait for a new gateway's agent to answer before anything is asked of it. */
const readyTimeoutSeconds = z.number().nonnegative().max(86400).default(900);
/** Seconds a delete keeps trying an agent that does not answer before it fails with what to do. */
const deleteTimeoutSeconds = z.number().nonnegative().max(86400).default(120);

const ProxyUrlSchema = z.string().regex(/^https:\/\/[^/\s]+(:\d+)?\/?$/, "https://HOST:PORT of the on-prem source proxy");

/** `30s`, `15m`, `1h`, `2d` or a number of seconds: a duration in seconds. */
export const DurationSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  // Stack config values are strings: "3600" is seconds as much as 3600 is.
  const match = typeof value === "string" ? /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?$/.exec(value.trim()) : null;
  const seconds =
    typeof value === "number"
      ? value
      : match !== null
        ? Number(match[1]) * { s: 1, m: 60, min: 60, h: 3600, d: 86400 }[(match[2] ?? "s") as "s" | "m" | "min" | "h" | "d"]
        : Number.NaN;
  if (!Number.isFinite(seconds) || seconds < 0 || (typeof value === "number" && !Number.isInteger(value))) {
    ctx.addIssue({ code: "custom", message: `expected a duration such as 30s, 15m, 1h or 2d, or whole seconds; received ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return Math.round(seconds);
});

/** How a `Replication` reaches its source through the on-prem proxy (`rehost proxy`). */
const ProxySourceSchema = z
  .object({
    /** `https://HOST:PORT` of the source proxy. */
    url: ProxyUrlSchema,
    /** The VM as vCenter names it (name or BIOS UUID). */
    vm: z.string().min(1),
    /** The disk's device key in vSphere (2000, 2001, …). */
    diskKey: z.number().int().nonnegative(),
    /** The recovery point wanted: the proxy takes a round when the last one is this old, without Pulumi. 0: rounds only on request. */
    rpo: DurationSchema.default(3600),
    /** Quiesced snapshots where VMware Tools run. */
    quiesce: z.boolean().default(true),
    /** The period of the background full source-side check. 0: only before the cutover. */
    fullCheck: DurationSchema.default(86400),
  })
  .strict();

/** Inputs of `Replication`, with defaults. */
export const ReplicationInputsSchema = z
  .object({
    agentUrl: AgentUrlSchema,
    jobId: JobIdSchema,
    /** NBD URI of the source disk (no secret in it); or `proxy`. */
    source: z
      .string()
      .regex(/^nbds?(\+unix)?:\/\//, "an nbd://, nbds://, nbd+unix:// or nbds+unix:// URI")
      .optional(),
    /** The source through the on-prem proxy: snapshot-consistent rounds of vSphere CBT at the recovery point asked for; or `source`. */
    proxy: ProxySourceSchema.optional(),
    /** Name of a PSK file in the agent's credentials directory. */
    credentials: CredentialsRefSchema.optional(),
    /** The replica disk by its cloud disk id, or a device or file on the gateway (from the agent's allow-list). */
    target: TargetSchema,
    initial: z.enum(["full", "allocated"]).default("allocated"),
    /** Incremental round wanted; raising it runs a round. 0 is the initial sync. */
    round: z.number().int().nonnegative().default(0),
    /** Where a round's changed blocks come from. */
    changed: ChangedSchema.default("hash"),
    /** `create` waits for the initial sync to finish (else it returns once the sync runs). */
    waitForInitialSync: z.boolean().default(false),
    /** Seconds `create` watches a new job for an early failure before it returns. */
    settleSeconds: z.number().nonnegative().max(3600).default(10),
    readyTimeoutSeconds,
    deleteTimeoutSeconds,
    timeoutSeconds: timeoutSeconds(3600),
    pollSeconds,
  })
  .strict()
  .refine((i) => (i.source === undefined) !== (i.proxy === undefined), {
    message: "give exactly one of source (an NBD URI the agent reads) and proxy (the on-prem source proxy pushes)",
    path: ["source"],
  });
/** `Replication` inputs after `check`. */
export type ReplicationInputs = z.output<typeof ReplicationInputsSchema>;

/** Inputs of `RehearsalPoint`, with defaults. */
export const RehearsalPointInputsSchema = z
  .object({
    agentUrl: AgentUrlSchema,
    jobIds: JobIdsSchema,
    /** The point's name (the rehearsal stack's name). */
    point: PointSchema,
    /**
     * Take the point through the source proxy: the snapshots of `vms` within `maxSkew` of each
     * other, each VM's round pushed with its snapshot, then every job frozen at that round.
     */
    proxy: z
      .object({ url: ProxyUrlSchema, vms: z.array(z.string().min(1)).min(1), maxSkew: DurationSchema.default(60) })
      .strict()
      .optional(),
    deleteTimeoutSeconds,
    timeoutSeconds: timeoutSeconds(3600),
    pollSeconds,
  })
  .strict();
/** `RehearsalPoint` inputs after `check`. */
export type RehearsalPointInputs = z.output<typeof RehearsalPointInputsSchema>;

/** Inputs of `RehearsalThaw`, with defaults. */
export const RehearsalThawInputsSchema = z
  .object({
    agentUrl: AgentUrlSchema,
    jobIds: JobIdsSchema,
    point: PointSchema,
    /** Ids of the snapshots taken at the point; only here so the thaw waits for them. */
    snapshots: z.array(z.string()).default([]),
    timeoutSeconds: timeoutSeconds(600),
    pollSeconds,
  })
  .strict();
/** `RehearsalThaw` inputs after `check`. */
export type RehearsalThawInputs = z.output<typeof RehearsalThawInputsSchema>;

/** Inputs of `Cutover`, with defaults. */
export const CutoverInputsSchema = z
  .object({
    agentUrl: AgentUrlSchema,
    /** The source VM (name or BIOS UUID), shut down through vSphere when it is configured. */
    vm: z.string().min(1),
    /** The VM's replication jobs (one per disk). */
    jobIds: JobIdsSchema,
    /** Number of the final round (above every round run so far); required without `proxy` (the proxy numbers its rounds). */
    round: z.number().int().positive().optional(),
    /**
     * The cutover through the source proxy: a full source-side check while the VM runs, the
     * shutdown, the final CBT round, and a verification by block hashes that reads no source data
     * across the link (`verify: full` reads every block again on both sides).
     */
    proxy: z
      .object({
        url: ProxyUrlSchema,
        verify: z.enum(["changed", "full"]).default("changed"),
        sampleBlocks: z.number().int().nonnegative().default(64),
        fullCheckFirst: z.boolean().default(true),
      })
      .strict()
      .optional(),
    changed: ChangedSchema.default("hash"),
    /**
     * `true` states that an operator has shut the source VM down. Required when no vSphere client
     * is configured; ignored otherwise.
     */
    manualConfirmation: z.boolean().default(false),
    /** Seconds the guest gets to shut down before it is powered off. */
    shutdownTimeoutSeconds: z.number().positive().default(600),
    /** Deleting the Cutover powers the source VM on again (a rollback). Off: the source stays off. */
    rollbackOnDelete: z.boolean().default(false),
    /**
     * The wave's change window (ISO 8601). The provider does not enforce it: the policy pack's
     * `cutover-in-change-window` rule fails a preview or an update outside it.
     */
    window: z
      .object({ start: z.string().min(1), end: z.string().min(1) })
      .strict()
      .optional(),
    /**
     * Through a proxy: the end of the change window (ISO 8601). Before the shutdown, the cutover
     * asks the proxy for its prediction and refuses when the predicted downtime exceeds the time
     * left until then.
     */
    changeWindowEnd: z
      .string()
      .refine((t) => /^\d{4}-\d\d-\d\dT/.test(t) && !Number.isNaN(Date.parse(t)), "an ISO 8601 time such as 2026-03-07T06:00:00+08:00")
      .optional(),
    /** Through a proxy: the longest downtime allowed (`15m`, `1h`, seconds); refused before the shutdown when the prediction exceeds it. */
    downtimeBudget: DurationSchema.optional(),
    /** Cut over even when the predicted downtime exceeds the budget or the change window (the refusal's numbers are still logged). */
    ignoreDowntimeBudget: z.boolean().default(false),
    /** The guest's shutdown time the prediction allows for. */
    expectedShutdown: DurationSchema.default(60),
    timeoutSeconds: timeoutSeconds(3600),
    pollSeconds,
  })
  .strict()
  .superRefine((inputs, ctx) => {
    if (inputs.proxy === undefined && inputs.round === undefined)
      ctx.addIssue({ code: "custom", path: ["round"], message: "the number of the final round (above every round run so far) is required without proxy" });
  });
/** `Cutover` inputs after `check`. */
export type CutoverInputs = z.output<typeof CutoverInputsSchema>;

/** A `check` failure as Pulumi wants it. */
interface CheckFailure {
  readonly property: string;
  readonly reason: string;
}

/** What `check` returns. */
export interface CheckResult<T> {
  readonly inputs: T;
  readonly failures: CheckFailure[];
}

/** Paths (as key lists) of every value not known yet (the SDK's unknown sentinel). */
function unknownPaths(value: unknown, at: readonly PropertyKey[] = []): PropertyKey[][] {
  if (value === pulumi.runtime.unknownValue) return [[...at]];
  if (Array.isArray(value)) return value.flatMap((v, i) => unknownPaths(v, [...at, i]));
  if (value !== null && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => unknownPaths(v, [...at, k]));
  return [];
}

const startsWith = (a: readonly PropertyKey[], b: readonly PropertyKey[]): boolean => b.every((part, i) => String(a[i]) === String(part));

/**
 * Validates `news` with `schema`: the defaulted inputs, or one failure per wrong field. A value the
 * engine does not know yet (during a preview: a new gateway's address, a snapshot id) is not
 * judged, nor is a rule over a value that contains one; the check runs again with the real
 * value before the resource is created. The serialized provider under `__provider` passes
 * through.
 */
export function checkWith<T extends z.ZodObject>(schema: T, news: Record<string, unknown>): CheckResult<z.output<T>> {
  const withoutProvider = Object.fromEntries(Object.entries(news).filter(([k]) => k !== "__provider"));
  const keepProvider = (inputs: object): z.output<T> => ("__provider" in news ? { ...inputs, __provider: news.__provider } : inputs) as z.output<T>;
  const result = schema.safeParse(withoutProvider);
  if (result.success) return { inputs: keepProvider(result.data as object), failures: [] };
  const unknown = unknownPaths(withoutProvider);
  const issues = result.error.issues.filter((issue) => !unknown.some((u) => startsWith(u, issue.path) || startsWith(issue.path, u)));
  if (issues.length === 0) {
    // Only values not known yet failed: keep them, and apply the defaults of the missing fields.
    const defaults: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      if (key in withoutProvider) continue;
      const d = field.safeParse(undefined);
      if (d.success && d.data !== undefined) defaults[key] = d.data;
    }
    return { inputs: keepProvider({ ...defaults, ...withoutProvider }), failures: [] };
  }
  return {
    inputs: news as z.output<T>,
    failures: problemsFromIssues(issues, { input: withoutProvider }).map((p) => ({
      property: p.field ?? "",
      reason: `${p.message}${p.received !== undefined ? ` (received ${p.received}; expected ${p.expected})` : ` (expected ${p.expected})`}${p.fix !== undefined ? `. Fix: ${p.fix}` : ""}`,
    })),
  };
}

/** What `diff` returns. */
export interface InputsDiff {
  readonly changes: boolean;
  readonly replaces: string[];
  readonly deleteBeforeReplace: boolean;
}

/**
 * Compares old outputs with new inputs: `replaces` lists the changed `immutable` keys; any other
 * changed input key is an in-place update. A changed serialized provider (`__provider`, e.g. a
 * newer rehost) is an update too, so the state carries the code that will delete the resource
 * (a no-change update would keep the old one).
 */
export function diffInputs(
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
  immutable: readonly string[],
  inputKeys: readonly string[],
): InputsDiff {
  const differs = (k: string): boolean => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null);
  const replaces = immutable.filter(differs);
  const providerChanged = typeof news.__provider === "string" && news.__provider !== pulumi.runtime.unknownValue && news.__provider !== olds.__provider;
  const changed = inputKeys.filter(differs);
  return { changes: changed.length > 0 || providerChanged, replaces, deleteBeforeReplace: replaces.length > 0 };
}

/** Input keys of each provider (what `diff` compares). */
export const INPUT_KEYS = {
  replication: Object.keys(ReplicationInputsSchema.shape),
  rehearsalPoint: Object.keys(RehearsalPointInputsSchema.shape),
  rehearsalThaw: Object.keys(RehearsalThawInputsSchema.shape),
  cutover: Object.keys(CutoverInputsSchema.shape),
} as const;
