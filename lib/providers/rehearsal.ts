/**
 * `RehearsalPoint` and `RehearsalThaw`: a consistent point of a wave's disks for a rehearsal.
 * The point freezes every job at a round boundary and returns the targets' digests, so snapshot
 * resources can depend on it; the thaw, which depends on the snapshots, lets replication go on.
 * Both name the point, so ending one rehearsal never ends another's freeze. See
 * `operations/rehearsal.ts`.
 */
import * as pulumi from "@pulumi/pulumi";
import { serializableProvider } from "./serialized";

/** Inputs of a `RehearsalPoint`. */
export interface RehearsalPointArgs {
  readonly agentUrl: pulumi.Input<string>;
  /** The wave's replication jobs on that agent. */
  readonly jobIds: pulumi.Input<pulumi.Input<string>[]>;
  /** The point's name (e.g. the rehearsal stack's name). */
  readonly point: pulumi.Input<string>;
  /**
   * Take the point through the on-prem source proxy: the snapshots of `vms` within `maxSkew`
   * (`30s`, `2m`, or seconds) of each other, each VM's round pushed, every job frozen there.
   */
  readonly proxy?: pulumi.Input<{ url: pulumi.Input<string>; vms: pulumi.Input<pulumi.Input<string>[]>; maxSkew?: pulumi.Input<string | number> }>;
  /** Deadline for every job to reach a round boundary, seconds. @default 3600 */
  readonly timeoutSeconds?: pulumi.Input<number>;
  /** Seconds a destroy keeps trying an agent that does not answer. @default 120 */
  readonly deleteTimeoutSeconds?: pulumi.Input<number>;
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
export const rehearsalPointProvider: pulumi.dynamic.ResourceProvider = serializableProvider("rehearsalPoint");

/** The `RehearsalThaw` provider object. */
export const rehearsalThawProvider: pulumi.dynamic.ResourceProvider = serializableProvider("rehearsalThaw");

/** A consistent point of a wave's jobs: frozen at a round boundary, with the targets' digests. */
export class RehearsalPoint extends pulumi.dynamic.Resource {
  /** Per job: the round held and the target's digest after it. */
  declare readonly digests: pulumi.Output<Record<string, { round: number; digest: string; algorithm: string }>>;
  declare readonly frozenAt: pulumi.Output<string>;
  /** Through a proxy: seconds between the first and the last VM's snapshot. */
  declare readonly skewSeconds: pulumi.Output<number | undefined>;

  constructor(name: string, args: RehearsalPointArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(rehearsalPointProvider, name, { digests: undefined, frozenAt: undefined, skewSeconds: undefined, ...args }, opts, "rehost", "RehearsalPoint");
  }
}

/** Ends a rehearsal point's freeze once the snapshots taken at it exist. */
export class RehearsalThaw extends pulumi.dynamic.Resource {
  declare readonly thawedAt: pulumi.Output<string>;

  constructor(name: string, args: RehearsalThawArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(rehearsalThawProvider, name, { thawedAt: undefined, ...args }, opts, "rehost", "RehearsalThaw");
  }
}
