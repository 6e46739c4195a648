/**
 * The source proxy's HTTPS API contract: request bodies (validated with zod) and the status it
 * returns. The providers, the lab and `rehost status` speak it through `ProxyClient`.
 */
import { z } from "zod";
import { JobIdSchema } from "../agent/api";

/** A VM as vCenter names it (name or BIOS UUID). */
export const VmNameSchema = z
  .string()
  .min(1)
  .max(200)
  .refine((s) => !s.includes("/"), "no '/'");

/** Body of `PUT /v1/vms/:vm/disks/:key`: replicate this disk of the VM to that agent's job. */
export const DiskRegistrationSchema = z
  .object({
    /** `https://HOST:PORT` of the sync gateway's agent. */
    agentUrl: z.string().regex(/^https:\/\/[^/\s]+(:\d+)?\/?$/, "https://HOST:PORT of a sync gateway's agent"),
    /** The pushed job on that agent. */
    jobId: JobIdSchema,
    /** The recovery point wanted: a round starts when the last one is this old. 0: rounds only on request. @default 3600 */
    rpoSeconds: z
      .number()
      .int()
      .nonnegative()
      .max(30 * 86400)
      .default(3600),
    /** Take quiesced snapshots where VMware Tools run (crash-consistent ones otherwise). @default true */
    quiesce: z.boolean().default(true),
    /**
     * A full source-side check (every block hashed on the proxy and compared with the target's,
     * only hashes crossing the link) once the last one is this old; the first a period after the
     * initial round. 0: only on request and before a cutover. @default 86400
     */
    fullCheckSeconds: z
      .number()
      .int()
      .nonnegative()
      .max(365 * 86400)
      .default(86400),
    /**
     * The zstd level of this disk's frames (-7 to -1, 1 to 19), or `off` to send them as they are.
     * @default - the proxy's `--compression-level`
     */
    compressionLevel: z
      .union([
        z.literal("off"),
        z
          .number()
          .int()
          .min(-7)
          .max(19)
          .refine((n) => n !== 0, "a zstd level: -7 to -1 or 1 to 19"),
      ])
      .optional(),
  })
  .strict();
export type DiskRegistration = z.output<typeof DiskRegistrationSchema>;
/** A disk registration as sent, defaults not yet applied. */
export type DiskRegistrationInput = z.input<typeof DiskRegistrationSchema>;

/** Body of `POST /v1/vms/:vm/rounds`: run a round now. */
export const RoundNowSchema = z
  .object({
    /** `resync`: compare every block by hash (a full source-side check) instead of trusting CBT. @default "auto" */
    mode: z.enum(["auto", "resync"]).default("auto"),
  })
  .strict();

/** Body of `POST /v1/points`: a consistent point of several VMs. */
export const PointRequestSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "letters, digits, dots, dashes, underscores"),
    vms: z.array(VmNameSchema).min(1),
    /** The largest time between the first and the last VM's snapshot. @default 60 */
    maxSkewSeconds: z.number().positive().max(3600).default(60),
  })
  .strict();
export type PointRequest = z.output<typeof PointRequestSchema>;

/** Body of `POST /v1/vms/:vm/cutover`. */
export const CutoverRequestSchema = z
  .object({
    /** `guest`: shut the guest down through vCenter (power off after the timeout); `none`: it is off already. @default "guest" */
    shutdown: z.enum(["guest", "none"]).default("guest"),
    shutdownTimeoutSeconds: z.number().positive().max(86400).default(600),
    /**
     * `changed`: the blocks written since the last full source-side check and a random sample,
     * read again on both sides and compared by hash; `full`: every block, read again on both sides
     * (a downtime that grows with the disks). Only hashes cross the link either way. @default "changed"
     */
    verify: z.enum(["changed", "full"]).default("changed"),
    /** Blocks compared by reading both disks again, picked at random, per disk. @default 64 */
    sampleBlocks: z.number().int().nonnegative().max(1_000_000).default(64),
    /** A full source-side check while the VM still runs, before the shutdown (not downtime). @default true */
    fullCheckFirst: z.boolean().default(true),
  })
  .strict();
export type CutoverRequest = z.output<typeof CutoverRequestSchema>;

/** How a disk's round found its changed blocks. */
export type RoundMode = "initial" | "incremental" | "resync";

/** What one disk's round moved. */
export interface DiskRoundSummary {
  readonly key: number;
  readonly jobId: string;
  readonly mode: RoundMode;
  /** Bytes the round's changed ranges cover (CBT's answer, or the differing blocks of a resync). */
  readonly changedBytes: number;
  /** Bytes of frames put on the link (headers and payloads). */
  readonly linkBytes: number;
  /** Bytes of block hashes put on the link (a resync's comparison). */
  readonly hashBytes: number;
  /** Bytes the proxy read from the frozen disk (data and the blocks it hashed). */
  readonly bytesRead: number;
  /** The agent's digest of the target after the round, and whether the proxy's source-side hashes give the same. */
  readonly targetDigest: string;
  readonly digestsAgree: boolean;
  /** How the round's DATA frames were encoded (records written before compression lack it). */
  readonly compression?: DiskCompression;
}

/** The codec's account of one disk's round, over every push of it (a resumed one included). */
export interface DiskCompression {
  /** `zstd <version>` or `none` (compression off). */
  readonly codec: string;
  readonly level?: number;
  /** Bytes of the DATA ranges sent, before the codec, and of their payloads on the link. */
  readonly dataBytes: number;
  readonly payloadBytes: number;
  /** `dataBytes / payloadBytes`. */
  readonly ratio: number;
  /** DATA frames sent compressed, sent as they are (compression did not pay, or is off), and ZERO frames. */
  readonly zstdFrames: number;
  readonly rawFrames: number;
  readonly zeroFrames: number;
  /** Frames the agent refused because their bytes did not match their hash; each was sent again uncompressed. */
  readonly refusedFrames: number;
}

/** One round of a VM. */
export interface RoundSummary {
  readonly round: number;
  /** When the snapshot was taken: the round's recovery point. */
  readonly snapshotAt: string;
  readonly finishedAt: string;
  readonly seconds: number;
  /** `quiesced` (VMware Tools flushed the guest) or `crash` (as after a power loss). */
  readonly consistency: "quiesced" | "crash";
  readonly point?: string;
  readonly disks: readonly DiskRoundSummary[];
  /** Set when the round did nothing: a job is frozen for a rehearsal point. */
  readonly skipped?: string;
}

/** A disk as the proxy replicates it. */
export interface DiskStatus {
  readonly key: number;
  readonly agentUrl: string;
  readonly jobId: string;
  readonly sizeBytes?: number;
  readonly lastRound?: number;
  readonly lastRoundAt?: string;
  /** The round of the last full source-side check (every block compared by hash), and when its snapshot was taken. */
  readonly fullCheckRound?: number;
  readonly fullCheckAt?: string;
  /** Bytes of the 1 MiB blocks written since then: what a cutover's `changed` verification reads again. */
  readonly changedSinceFullCheckBytes?: number;
}

/** One disk's verification at a cutover. */
export interface CutoverDiskCheck {
  readonly key: number;
  readonly jobId: string;
  readonly sizeBytes: number;
  /** The digest of the proxy's source-side block hashes, and the target's after the final round. */
  readonly sourceDigest: string;
  readonly targetDigest: string;
  /** Blocks read again on both sides and compared: written since the last full check, the sample, or all. */
  readonly changedBlocks: number;
  readonly sampleBlocks: number;
  readonly comparedBlocks: number;
  /** Blocks whose hashes differ (nothing may launch when any does). */
  readonly differingBlocks: number[];
}

/** The verification of a cutover. */
export interface CutoverStatus {
  readonly state: "running" | "verified" | "failed";
  readonly requestedAt: string;
  readonly finishedAt?: string;
  readonly shutdown?: string;
  readonly verify?: "changed" | "full";
  /** The full source-side check taken before the shutdown, if any. */
  readonly fullCheckRound?: number;
  readonly round?: number;
  /** From the shutdown request to the verification's end. */
  readonly downtimeSeconds?: number;
  /** Where the downtime went: the guest's shutdown, the final round (snapshot, CBT, read, push), the verification, the snapshot's removal. */
  readonly phases?: {
    readonly shutdownSeconds: number;
    readonly finalRoundSeconds: number;
    readonly verifySeconds: number;
    readonly snapshotRemovalSeconds: number;
  };
  /** Bytes the final round's changed ranges cover. */
  readonly finalDeltaBytes?: number;
  /** Bytes of source data (with their frame headers) that crossed the link during the downtime: the final delta. */
  readonly sourceBytesReadOverLink?: number;
  /** Bytes of block hashes and block numbers sent to the agents for the verification. */
  readonly hashBytesOverLink?: number;
  /** Bytes read again on both sides and compared by hash. */
  readonly verifiedBytes?: number;
  readonly disks?: readonly CutoverDiskCheck[];
  readonly error?: string;
}

/** What `GET /v1/vms/:vm` returns. */
export interface VmStatus {
  readonly vm: string;
  readonly rpoSeconds: number;
  readonly quiesce: boolean;
  readonly disks: readonly DiskStatus[];
  /**
   * `idle`; `queued` (a round is asked for and waits its turn); `round` (one runs); `cut-over`;
   * `error` (the last round failed: `error` says why, and a retry is scheduled).
   */
  readonly state: "idle" | "queued" | "round" | "cut-over" | "error";
  readonly lastRound?: RoundSummary;
  readonly rounds: readonly RoundSummary[];
  /** The round being taken, if any. */
  readonly inFlight?: { readonly round: number; readonly since: string; readonly snapshot?: string };
  /** Seconds since the last round's snapshot: how old the replicas' data is. */
  readonly recoveryPointAgeSeconds?: number;
  readonly nextRoundAt?: string;
  readonly cutover?: CutoverStatus;
  readonly error?: string;
  /**
   * The cutover predicted from the VM's recent rounds (churn, throughput, fixed cost; see
   * `predict.ts`), for a cutover with the defaults (a full check first, 60 s of shutdown, `changed`
   * verification with 64 sample blocks). Absent before the first round and once cut over.
   */
  readonly prediction?: CutoverPrediction;
}

/** A consistent point. */
export interface PointStatus {
  readonly name: string;
  readonly state: "running" | "held" | "failed";
  readonly vms: readonly string[];
  /** Seconds from the first snapshot request to the last snapshot taken: an upper bound of the VMs' skew. */
  readonly skewSeconds?: number;
  /** Per job: the round the point holds and the target's digest after it. */
  readonly jobs?: Readonly<Record<string, { round: number; digest: string; algorithm: string }>>;
  readonly error?: string;
}

/** How the throughput and the fixed cost were found. */
export type ThroughputBasis = "fit" | "average" | "none";

/** What the rounds say, before any cutover is asked for. */
export interface RoundMeasures {
  /** Incremental rounds the churn is measured over, and the wall seconds they cover. */
  readonly churnRounds: number;
  readonly churnWindowSeconds: number;
  /** Bytes changed per second of wall time (0 when no incremental round exists yet). */
  readonly churnBytesPerSecond: number;
  /** Link bytes per second while a round pushes (undefined when no round moved bytes). */
  readonly throughputBytesPerSecond?: number;
  /** Seconds every round costs whatever it moves: snapshot, CBT, digests, removal. */
  readonly fixedRoundSeconds: number;
  readonly throughputBasis: ThroughputBasis;
  /** Rounds the throughput and fixed cost come from. */
  readonly fitRounds: number;
  /** Bytes on the link per byte changed (frames, compression); 1 when unmeasured. */
  readonly linkBytesPerChangedByte: number;
  /** Bytes per second a full source-side check read and hashed, its fixed cost left out (undefined when none ran). */
  readonly readBytesPerSecond?: number;
  /** Seconds the last full source-side check (a resync round) took. */
  readonly lastFullCheckSeconds?: number;
}

/** The predicted cutover of a VM. */
export interface CutoverPrediction extends RoundMeasures {
  /** When the prediction was made. */
  readonly at: string;
  /** Seconds of guest writes the final delta holds: from the last snapshot before the shutdown to the final one. */
  readonly finalDeltaWindowSeconds: number;
  readonly finalDeltaBytes: number;
  /** The final round: fixed cost and the final delta over the link at the measured throughput. */
  readonly finalDeltaSeconds: number;
  /** Bytes read again on both sides to verify, and how long that takes at the read rate. */
  readonly verifyBytes: number;
  readonly verifySeconds: number;
  /** The shutdown allowance taken. */
  readonly shutdownSeconds: number;
  /** Shutdown, final round and verification: how long the VM is down. */
  readonly downtimeSeconds: number;
  /** Whether the figures rest on measurements: false before any incremental round and any push. */
  readonly known: boolean;
  /** What the prediction lacked, in words (empty when `known`). */
  readonly missing: readonly string[];
}
