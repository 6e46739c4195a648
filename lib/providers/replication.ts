/**
 * `Replication`: one source disk replicated to a sync gateway's disk by its agent.
 * With `proxy`, the on-prem source proxy reads and pushes, and takes rounds at `proxy.rpo` on its own.
 * create = wait for the agent, register the job, return once its initial sync runs; update when
 * `round` goes up = run an incremental round and wait; a new agent URL, source or credentials
 * re-point the job; refresh = the job as the agent sees it; delete = unregister (the target disk
 * keeps its data). See `operations/replication.ts` and docs/providers.md.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Changed } from "../agent/api";
import { serializableProvider } from "./serialized";

/** Inputs of a `Replication`. Credentials are not inputs: see docs/providers.md. */
export interface ReplicationArgs {
  /** `https://HOST:PORT` of the gateway's agent. */
  readonly agentUrl: pulumi.Input<string>;
  /** The job's id on the agent (`${vm}-disk-${key}`). Changing it replaces the resource. */
  readonly jobId: pulumi.Input<string>;
  /** NBD URI of the source disk, without secrets, that the agent reads; or `proxy`. */
  readonly source?: pulumi.Input<string>;
  /**
   * The source through the on-prem proxy (`rehost proxy`): it takes a vSphere snapshot per round,
   * reads the blocks CBT says changed and pushes them; rounds run at `rpo` on their own.
   */
  readonly proxy?: pulumi.Input<{
    /** `https://HOST:PORT` of the source proxy. */
    url: pulumi.Input<string>;
    /** The VM as vCenter names it. */
    vm: pulumi.Input<string>;
    /** The disk's device key (2000, 2001, …). */
    diskKey: pulumi.Input<number>;
    /** The recovery point wanted (`15m`, `1h`, or seconds); 0: rounds only on request. @default "1h" */
    rpo?: pulumi.Input<string | number>;
    /** @default true */
    quiesce?: pulumi.Input<boolean>;
    /** Period of the background full source-side check. @default "1d" */
    fullCheck?: pulumi.Input<string | number>;
  }>;
  /** Name of a PSK file in the agent's credentials directory. @default - none (plain NBD) */
  readonly credentials?: pulumi.Input<string>;
  /** The replica disk on the gateway: its cloud disk id (`d-bp1abc…`), or a device or file path. Changing it replaces the resource. */
  readonly target: pulumi.Input<string>;
  /** How the initial sync reads the source. @default "allocated" */
  readonly initial?: pulumi.Input<"full" | "allocated">;
  /** The incremental round wanted; raise it (config `rehost:round`) to run a round. @default 0 */
  readonly round?: pulumi.Input<number>;
  /** Where a round's changed blocks come from. @default "hash" */
  readonly changed?: pulumi.Input<Changed>;
  /** Wait in `create` until the initial sync is done. @default false - create returns once the sync runs */
  readonly waitForInitialSync?: pulumi.Input<boolean>;
  /** Seconds `create` watches the new job for an early failure. @default 10 */
  readonly settleSeconds?: pulumi.Input<number>;
  /** Seconds to wait for the agent to answer at all (a new gateway boots). @default 900 */
  readonly readyTimeoutSeconds?: pulumi.Input<number>;
  /** Seconds a destroy keeps trying an agent that does not answer. @default 120 */
  readonly deleteTimeoutSeconds?: pulumi.Input<number>;
  /** Deadline of a round the resource waits for, seconds. @default 3600 */
  readonly timeoutSeconds?: pulumi.Input<number>;
  /** Seconds between status polls. @default 5 */
  readonly pollSeconds?: pulumi.Input<number>;
}

/** The provider object (exported for tests and the lab). */
export const replicationProvider: pulumi.dynamic.ResourceProvider = serializableProvider("replication");

/** One source disk replicated by a gateway's agent; raise `round` for an incremental round. */
export class Replication extends pulumi.dynamic.Resource {
  declare readonly jobId: pulumi.Output<string>;
  declare readonly state: pulumi.Output<string>;
  /** Last finished round (0 = initial sync; -1 while it runs). */
  declare readonly lastRound: pulumi.Output<number>;
  /** Percent done of the round running now (100 when none runs). */
  declare readonly progress: pulumi.Output<number>;
  /** Bytes written to the target over every round. */
  declare readonly bytesCopied: pulumi.Output<number>;
  declare readonly lastRoundBytes: pulumi.Output<number>;
  declare readonly lastRoundAt: pulumi.Output<string>;
  declare readonly lastRoundSeconds: pulumi.Output<number>;
  /** Target digest after the last round. */
  declare readonly digest: pulumi.Output<string>;
  declare readonly digestAlgorithm: pulumi.Output<string>;
  /** When the last round's data was taken (with a proxy: its snapshot): the recovery point. */
  declare readonly recoveryPointAt: pulumi.Output<string>;

  constructor(name: string, args: ReplicationArgs, opts: pulumi.CustomResourceOptions = {}) {
    const outputs = {
      state: undefined,
      lastRound: undefined,
      progress: undefined,
      bytesCopied: undefined,
      lastRoundBytes: undefined,
      lastRoundAt: undefined,
      lastRoundSeconds: undefined,
      digest: undefined,
      digestAlgorithm: undefined,
      recoveryPointAt: undefined,
    };
    super(replicationProvider, name, { ...outputs, ...args }, opts, "rehost", "Replication");
  }
}
