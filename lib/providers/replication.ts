/**
 * `Replication`: one source disk replicated to a sync gateway's disk by its agent.
 * create = register the job and wait for the initial sync; update when `round` goes up = run an
 * incremental round and wait; delete = unregister (the target disk keeps its data).
 */
import * as pulumi from "@pulumi/pulumi";
import type { Changed } from "../agent/api";
import { loadInputs, loadRuntime } from "./load";

/** Inputs of a `Replication`. Credentials are not inputs: see docs/providers.md. */
export interface ReplicationArgs {
  /** `https://HOST:PORT` of the gateway's agent. */
  readonly agentUrl: pulumi.Input<string>;
  /** The job's id on the agent (`${vm}-disk-${key}`). */
  readonly jobId: pulumi.Input<string>;
  /** NBD URI of the source disk, without secrets. */
  readonly source: pulumi.Input<string>;
  /** Name of a PSK file in the agent's credentials directory. @default - none (plain NBD) */
  readonly credentials?: pulumi.Input<string>;
  /** The gateway device the disk is written to (`/dev/vdb`). */
  readonly target: pulumi.Input<string>;
  /** How the initial sync reads the source. @default "allocated" */
  readonly initial?: pulumi.Input<"full" | "allocated">;
  /** The incremental round wanted; raise it (config `rehost:round`) to run a round. @default 0 */
  readonly round?: pulumi.Input<number>;
  /** Where a round's changed blocks come from. @default "hash" */
  readonly changed?: pulumi.Input<Changed>;
  /** Wait in `create` until the initial sync is done. @default true */
  readonly waitForInitialSync?: pulumi.Input<boolean>;
  /** Deadline of one create/update, seconds. @default 86400 */
  readonly timeoutSeconds?: pulumi.Input<number>;
  /** Seconds between status polls. @default 5 */
  readonly pollSeconds?: pulumi.Input<number>;
}

const IMMUTABLE = ["agentUrl", "jobId", "source", "credentials", "target", "initial"];

/** The provider object (exported for tests and for `serializeFunction`). */
export const replicationProvider: pulumi.dynamic.ResourceProvider = {
  async check(olds, news) {
    const { checkWith, ReplicationInputsSchema } = loadInputs();
    const result = checkWith(ReplicationInputsSchema, news);
    if (result.failures.length === 0 && typeof olds?.round === "number" && typeof news.round === "number" && news.round < olds.round) {
      result.failures.push({ property: "round", reason: `round cannot go down (from ${olds.round} to ${news.round}); rounds only move forward` });
    }
    return result;
  },
  async diff(_id, olds, news) {
    const { diffInputs, INPUT_KEYS } = loadInputs();
    return diffInputs(olds, news, IMMUTABLE, INPUT_KEYS.replication);
  },
  async create(inputs) {
    return loadRuntime().createReplication(inputs);
  },
  async update(_id, olds, news) {
    return loadRuntime().updateReplication(olds, news);
  },
  async delete(_id, olds) {
    await loadRuntime().deleteReplication(olds);
  },
};

/** One source disk replicated by a gateway's agent; raise `round` for an incremental round. */
export class Replication extends pulumi.dynamic.Resource {
  declare readonly jobId: pulumi.Output<string>;
  declare readonly state: pulumi.Output<string>;
  /** Last finished round (0 = initial sync). */
  declare readonly lastRound: pulumi.Output<number>;
  /** Bytes written to the target over every round. */
  declare readonly bytesCopied: pulumi.Output<number>;
  declare readonly lastRoundBytes: pulumi.Output<number>;
  declare readonly lastRoundAt: pulumi.Output<string>;
  declare readonly lastRoundSeconds: pulumi.Output<number>;
  /** Target digest after the last round. */
  declare readonly digest: pulumi.Output<string>;
  declare readonly digestAlgorithm: pulumi.Output<string>;

  constructor(name: string, args: ReplicationArgs, opts: pulumi.CustomResourceOptions = {}) {
    const outputs = { state: undefined, lastRound: undefined, bytesCopied: undefined, lastRoundBytes: undefined, lastRoundAt: undefined, lastRoundSeconds: undefined, digest: undefined, digestAlgorithm: undefined };
    super(replicationProvider, name, { ...outputs, ...args }, opts, "rehost", "Replication");
  }
}
