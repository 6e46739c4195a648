/**
 * The agent's HTTP API contract: request bodies (validated with zod) and the job status it returns.
 * Field names are a public contract shared by the agent, its client and the dynamic providers.
 */
import { z } from "zod";
import { isDiskId } from "./disks";

/** Job ids name a source disk (`web-01-disk-2000`): they become file names on the gateway. */
export const JobIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, "lowercase letters, digits, dots, dashes and underscores, at most 128")
  .refine((s) => !s.includes(".."), "no '..'");

/** Credentials references name a file the agent was configured with (`--credentials DIR`). */
export const CredentialsRefSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "a file name in the agent's credentials directory");

/**
 * Where a job writes: a cloud disk by its id (`d-bp1abc…`, found through `/dev/disk/by-id` and
 * checked by its serial), or an absolute path of a device or file. Either must be on the agent's
 * allow-list.
 */
export const TargetSchema = z.string().refine((t) => t.startsWith("/") || isDiskId(t), "a cloud disk id (d-…) or an absolute path");

/** Where changed blocks of a round come from. */
export const ChangedSchema = z.union([
  z.enum(["full", "allocated", "hash"]),
  z.string().regex(/^bitmap:[A-Za-z0-9._-]+$/, "bitmap:NAME"),
  z
    .object({
      extents: z.array(z.object({ offset: z.number().int().nonnegative(), length: z.number().int().positive() }).strict()).max(1_000_000),
    })
    .strict(),
]);
/** Where a round's changed blocks come from (see docs/agent.md). */
export type Changed = z.infer<typeof ChangedSchema>;

/** Where a job reads its source disk. */
const SourceSchema = z
  .object({
    /** `nbd://`, `nbds://`, `nbd+unix://` or `nbds+unix://` URI; never with a secret in it. */
    uri: z
      .string()
      .regex(/^nbds?(\+unix)?:\/\//, "an nbd://, nbds://, nbd+unix:// or nbds+unix:// URI")
      .refine((u) => !/[?&]tls-psk-file=/.test(u) && !/\/\/[^/@]*:[^/@]*@/.test(u), "no secret or key file in the URI: use `credentials`"),
    /** A PSK file the agent knows, by name (`site-a.psk`). */
    credentials: CredentialsRefSchema.optional(),
  })
  .strict();

/** A source the agent does not read itself: a source proxy pushes its rounds (`POST /v1/jobs/:id/push`). */
export const PushedSourceSchema = z
  .object({
    /** Who pushes, for people: `rehost proxy https://10.30.9.10:8444, VM web-01, disk 2000`. */
    pushedBy: z.string().min(1).max(300),
  })
  .strict();

/** Where a job's data comes from: an NBD source it reads, or a proxy that pushes. */
const JobSourceSchema = z.union([SourceSchema, PushedSourceSchema]);
/** A job's source. */
export type JobSource = z.infer<typeof JobSourceSchema>;

/** Whether a job's rounds are pushed to it rather than read by it. */
export function isPushed(source: JobSource): source is z.infer<typeof PushedSourceSchema> {
  return "pushedBy" in source;
}

/** Body of `POST /v1/jobs`: a source disk and the gateway device it is copied to. */
export const RegisterRequestSchema = z
  .object({
    id: JobIdSchema,
    source: JobSourceSchema,
    /** A cloud disk id or a device or file path from the agent's allow-list. */
    target: TargetSchema,
    /** How the initial sync reads the source. @default "allocated" */
    initial: z.enum(["full", "allocated"]).default("allocated"),
  })
  .strict();
/** A job registration as the controller sends it. */
export type RegisterRequest = z.input<typeof RegisterRequestSchema>;
/** A job registration with its defaults applied, as the agent keeps it. */
export type JobSpec = z.output<typeof RegisterRequestSchema>;

/** Body of `POST /v1/jobs/:id/rounds`. */
export const RoundRequestSchema = z
  .object({
    /** The round number the controller wants (0 retries the initial sync); asking twice for one number is idempotent. */
    round: z.number().int().nonnegative(),
    changed: ChangedSchema,
  })
  .strict();

/** Body of `PATCH /v1/jobs/:id`: a new way to reach the same source disk (the target keeps its data). */
export const UpdateRequestSchema = z.object({ source: JobSourceSchema }).strict();

/** Body of `POST /v1/jobs/:id/freeze`: the rehearsal point's name. */
export const FreezeRequestSchema = z.object({ point: z.string().min(1).max(200) }).strict();

/** Body of `POST /v1/jobs/:id/thaw`: with a point, only that point's freeze ends. */
export const ThawRequestSchema = z.object({ point: z.string().min(1).max(200).optional() }).strict();

/** States of a job (see docs/agent.md). */
export type JobState = "initial-sync" | "idle" | "syncing" | "frozen" | "stalled" | "error";

/** A disk digest as `lib/replication` computes it. */
export interface Digest {
  readonly algorithm: string;
  readonly digest: string;
  readonly size: number;
}

/** Where a round's data came from: read by the agent (`Changed`), or pushed by a proxy. */
export type RoundSource = Changed | "push";

/** A round that finished: what moved, how long it took and the target's digest afterwards. */
export interface RoundRecord {
  readonly round: number;
  readonly changed: RoundSource;
  /** The source snapshot a pushed round holds (the proxy's id of it). */
  readonly snapshot?: string;
  /** Bytes the pushed round took on the link (frames). */
  readonly linkBytes?: number;
  /** A pushed round's frames applied: DATA compressed with zstd, DATA as they were, ZERO. */
  readonly frames?: { readonly zstd: number; readonly raw: number; readonly zero: number };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly seconds: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly bytesZeroed: number;
  readonly bytesSkipped: number;
  /** Whether the round continued from a journal left by an interrupted run. */
  readonly resumed: boolean;
  readonly digest: Digest;
  /**
   * How the digest was taken: `incremental` re-hashed only the blocks the round may have changed
   * on top of the block hashes kept since the previous round; `full` read the whole target.
   */
  readonly digestMode?: "full" | "incremental";
  /** Bytes read from the target to take the digest. */
  readonly digestBytesRead?: number;
}

/** The round being worked on (or queued), with its live progress. */
export interface ActiveRound {
  readonly round: number;
  readonly changed: RoundSource;
  /** A pushed round: the snapshot it holds, and how far it is on the target. */
  readonly snapshot?: string;
  readonly pushedUpTo?: number;
  readonly requestedAt: string;
  readonly startedAt?: string;
  readonly queued: boolean;
  readonly attempts: number;
  readonly phase?: string;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly rate: number;
  readonly etaSeconds: number;
}

/** The last comparison of a job's source and target digests. */
export interface Verification {
  readonly state: "running" | "done" | "failed";
  readonly requestedAt: string;
  readonly finishedAt?: string;
  readonly source?: Digest;
  readonly target?: Digest;
  readonly equal?: boolean;
  readonly error?: string;
}

/** What `GET /v1/jobs/:id` returns. */
export interface JobStatus {
  readonly id: string;
  readonly source: JobSource;
  readonly target: string;
  readonly state: JobState;
  readonly active?: ActiveRound;
  readonly lastRound?: RoundRecord;
  readonly rounds: readonly Omit<RoundRecord, "changed">[];
  /** Seconds since the start of the last finished round: how old the target's data is. */
  readonly lagSeconds?: number;
  /** The rehearsal point the job is frozen for. */
  readonly frozenFor?: string;
  readonly verification?: Verification;
  readonly error?: string;
}
