/**
 * Inputs of the dynamic providers, validated by their `check` with one failure per field.
 * Credentials are never inputs: the agent token and certificate pin come from the environment
 * (see `runtime.ts`), so nothing secret reaches the Pulumi state.
 */
import { z } from "zod";
import { ChangedSchema, CredentialsRefSchema, JobIdSchema } from "../agent/api";

const AgentUrlSchema = z.string().regex(/^https:\/\/[^/\s]+(:\d+)?\/?$/, "https://HOST:PORT of a sync gateway's agent");
const Timeouts = {
  /** Deadline of the whole operation, seconds. @default 86400 (a day) */
  timeoutSeconds: z.number().positive().max(30 * 86400).default(86_400),
  /** Seconds between status polls. @default 5 */
  pollSeconds: z.number().positive().max(600).default(5),
};

/** Inputs of `Replication`, with defaults. */
export const ReplicationInputsSchema = z
  .object({
    agentUrl: AgentUrlSchema,
    jobId: JobIdSchema,
    /** NBD URI of the source disk (no secret in it). */
    source: z.string().regex(/^nbds?(\+unix)?:\/\//, "an nbd://, nbds://, nbd+unix:// or nbds+unix:// URI"),
    /** Name of a PSK file in the agent's credentials directory. */
    credentials: CredentialsRefSchema.optional(),
    /** Device or file on the gateway (from the agent's allow-list). */
    target: z.string().startsWith("/", "an absolute path"),
    initial: z.enum(["full", "allocated"]).default("allocated"),
    /** Incremental round wanted; raising it runs a round. 0 is the initial sync. */
    round: z.number().int().nonnegative().default(0),
    /** Where a round's changed blocks come from. @default "hash" */
    changed: ChangedSchema.default("hash"),
    /** Wait for the initial sync in `create`. @default true */
    waitForInitialSync: z.boolean().default(true),
    ...Timeouts,
  })
  .strict();
/** `Replication` inputs after `check`. */
export type ReplicationInputs = z.output<typeof ReplicationInputsSchema>;

/** Inputs of `RehearsalPoint`, with defaults. */
export const RehearsalPointInputsSchema = z
  .object({
    agentUrl: AgentUrlSchema,
    jobIds: z.array(JobIdSchema).min(1).refine((ids) => new Set(ids).size === ids.length, "each job once"),
    /** The point's name (the rehearsal stack's name). */
    point: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "letters, digits, dots, dashes, underscores"),
    ...Timeouts,
  })
  .strict();
/** `RehearsalPoint` inputs after `check`. */
export type RehearsalPointInputs = z.output<typeof RehearsalPointInputsSchema>;

/** Inputs of `RehearsalThaw`, with defaults. */
export const RehearsalThawInputsSchema = z
  .object({
    agentUrl: AgentUrlSchema,
    jobIds: z.array(JobIdSchema).min(1),
    point: z.string().min(1),
    /** Ids of the snapshots taken at the point; only here so the thaw waits for them. */
    snapshots: z.array(z.string()).default([]),
    ...Timeouts,
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
    jobIds: z.array(JobIdSchema).min(1).refine((ids) => new Set(ids).size === ids.length, "each job once"),
    /** Number of the final round (above every round run so far). */
    round: z.number().int().positive(),
    changed: ChangedSchema.default("hash"),
    /**
     * `true` states that an operator has shut the source VM down. Required when no vSphere client
     * is configured (REHOST_VCENTER_URL unset); ignored otherwise.
     */
    manualConfirmation: z.boolean().default(false),
    /** Seconds the guest gets to shut down before it is powered off. @default 600 */
    shutdownTimeoutSeconds: z.number().positive().default(600),
    /**
     * The wave's change window (ISO 8601). The provider does not enforce it: the policy pack's
     * `cutover-in-change-window` rule fails a preview or an update outside it.
     */
    window: z.object({ start: z.string().min(1), end: z.string().min(1) }).strict().optional(),
    ...Timeouts,
  })
  .strict();
/** `Cutover` inputs after `check`. */
export type CutoverInputs = z.output<typeof CutoverInputsSchema>;

/** A `check` failure as Pulumi wants it. */
export interface CheckFailure {
  readonly property: string;
  readonly reason: string;
}

/** Validates `news` with `schema`: the defaulted inputs, or one failure per wrong field. */
export function checkWith<T extends z.ZodTypeAny>(schema: T, news: Record<string, unknown>): { inputs: z.output<T>; failures: CheckFailure[] } {
  const withoutProvider = Object.fromEntries(Object.entries(news).filter(([k]) => k !== "__provider"));
  const result = schema.safeParse(withoutProvider);
  // The dynamic-provider host keeps its serialized provider under `__provider`: pass it through.
  if (result.success) return { inputs: "__provider" in news ? ({ ...(result.data as object), __provider: news.__provider } as z.output<T>) : result.data, failures: [] };
  return {
    inputs: news as z.output<T>,
    failures: result.error.issues.map((issue) => ({
      property: issue.path.length > 0 ? issue.path.map(String).join(".") : "",
      reason: `${issue.message}${issue.path.length > 0 ? ` (field ${issue.path.join(".")})` : ""}`,
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
 * changed input key is an in-place update. Keys starting with `__` (the serialized provider) are
 * not inputs.
 */
export function diffInputs(olds: Record<string, unknown>, news: Record<string, unknown>, immutable: readonly string[], inputKeys: readonly string[]): InputsDiff {
  const differs = (k: string): boolean => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null);
  const replaces = immutable.filter(differs);
  const changed = inputKeys.filter(differs);
  return { changes: changed.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
}

/** Input keys of each provider (what `diff` compares). */
export const INPUT_KEYS = {
  replication: Object.keys(ReplicationInputsSchema.shape),
  rehearsalPoint: Object.keys(RehearsalPointInputsSchema.shape),
  rehearsalThaw: Object.keys(RehearsalThawInputsSchema.shape),
  cutover: Object.keys(CutoverInputsSchema.shape),
} as const;
