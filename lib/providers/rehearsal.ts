/**
 * `RehearsalPoint` and `RehearsalThaw`: a consistent point of a wave's disks for a rehearsal.
 * The point freezes every job at a round boundary and returns the targets' digests, so snapshot
 * resources can depend on it; the thaw, which depends on the snapshots, lets replication go on.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadInputs, loadRuntime } from "./load";

/** Inputs of a `RehearsalPoint`. */
export interface RehearsalPointArgs {
  readonly agentUrl: pulumi.Input<string>;
  /** The wave's replication jobs on that agent. */
  readonly jobIds: pulumi.Input<pulumi.Input<string>[]>;
  /** The point's name (e.g. the rehearsal stack's name). */
  readonly point: pulumi.Input<string>;
  /** Deadline for every job to reach a round boundary, seconds. @default 86400 */
  readonly timeoutSeconds?: pulumi.Input<number>;
  /** @default 5 */
  readonly pollSeconds?: pulumi.Input<number>;
}

/** Inputs of a `RehearsalThaw`. */
export interface RehearsalThawArgs {
  readonly agentUrl: pulumi.Input<string>;
  readonly jobIds: pulumi.Input<pulumi.Input<string>[]>;
  readonly point: pulumi.Input<string>;
  /** Ids of the snapshots taken at the point: the thaw waits until they exist. */
  readonly snapshots?: pulumi.Input<pulumi.Input<string>[]>;
  readonly timeoutSeconds?: pulumi.Input<number>;
  readonly pollSeconds?: pulumi.Input<number>;
}

/** The `RehearsalPoint` provider object. */
export const rehearsalPointProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds, news) {
    const { checkWith, RehearsalPointInputsSchema } = loadInputs();
    return checkWith(RehearsalPointInputsSchema, news);
  },
  async diff(_id, olds, news) {
    const { diffInputs, INPUT_KEYS } = loadInputs();
    return diffInputs(olds, news, ["agentUrl", "jobIds", "point"], INPUT_KEYS.rehearsalPoint);
  },
  async create(inputs) {
    return loadRuntime().createRehearsalPoint(inputs);
  },
  async update(_id, olds, news) {
    return { outs: { ...olds, ...news } };
  },
  async delete(_id, olds) {
    await loadRuntime().thawJobs(olds.agentUrl, olds.jobIds);
  },
};

/** The `RehearsalThaw` provider object. */
export const rehearsalThawProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds, news) {
    const { checkWith, RehearsalThawInputsSchema } = loadInputs();
    return checkWith(RehearsalThawInputsSchema, news);
  },
  async diff(_id, olds, news) {
    const { diffInputs, INPUT_KEYS } = loadInputs();
    return diffInputs(olds, news, ["agentUrl", "jobIds", "point"], INPUT_KEYS.rehearsalThaw);
  },
  async create(inputs) {
    return loadRuntime().createRehearsalThaw(inputs);
  },
  async update(_id, olds, news) {
    return { outs: { ...olds, ...news } };
  },
  async delete() {
    // Thawing is done once; there is nothing to undo.
  },
};

/** A consistent point of a wave's jobs: frozen at a round boundary, with the targets' digests. */
export class RehearsalPoint extends pulumi.dynamic.Resource {
  /** Per job: the round held and the target's digest after it. */
  declare readonly digests: pulumi.Output<Record<string, { round: number; digest: string; algorithm: string }>>;
  declare readonly frozenAt: pulumi.Output<string>;

  constructor(name: string, args: RehearsalPointArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(rehearsalPointProvider, name, { digests: undefined, frozenAt: undefined, ...args }, opts, "rehost", "RehearsalPoint");
  }
}

/** Ends a rehearsal point's freeze once the snapshots taken at it exist. */
export class RehearsalThaw extends pulumi.dynamic.Resource {
  declare readonly thawedAt: pulumi.Output<string>;

  constructor(name: string, args: RehearsalThawArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(rehearsalThawProvider, name, { thawedAt: undefined, ...args }, opts, "rehost", "RehearsalThaw");
  }
}
