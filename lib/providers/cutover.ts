/**
 * `Cutover`: the last step of a VM's migration. create = shut the source down (through vSphere
 * when configured, else on the operator's `manualConfirmation`), run the final round, verify each
 * disk's source digest equals its target digest — and fail, recorded unverified with the source
 * off, so nothing depending on it launches, when they differ. A verified Cutover never runs
 * again; delete leaves the source off unless `rollbackOnDelete` is set. See
 * `operations/cutover.ts`.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Changed } from "../agent/api";
import { serializableProvider } from "./serialized";

/** Inputs of a `Cutover`. Credentials are not inputs: see docs/providers.md. */
export interface CutoverArgs {
  readonly agentUrl: pulumi.Input<string>;
  /** The source VM, by name or BIOS UUID. */
  readonly vm: pulumi.Input<string>;
  /** The VM's replication jobs, one per disk. */
  readonly jobIds: pulumi.Input<pulumi.Input<string>[]>;
  /** Number of the final round; above every round run so far. Required without `proxy` (the proxy numbers its rounds). */
  readonly round?: pulumi.Input<number>;
  /** Where the final round's changed blocks come from. @default "hash" */
  readonly changed?: pulumi.Input<Changed>;
  /**
   * Set to `true` once an operator has shut the source VM down, when no vSphere client is
   * configured (`REHOST_VCENTER_URL`). @default false
   */
  readonly manualConfirmation?: pulumi.Input<boolean>;
  /** Seconds the guest OS gets to shut down before a power-off. @default 600 */
  readonly shutdownTimeoutSeconds?: pulumi.Input<number>;
  /** Deleting the Cutover powers the source VM on again (a rollback). @default false - the source stays off */
  readonly rollbackOnDelete?: pulumi.Input<boolean>;
  /**
   * The cutover through the on-prem source proxy: a full source-side check while the VM runs,
   * the shutdown, the final CBT round, and a verification by block hashes that reads no source
   * data across the link (`verify: "full"`: every block read again on both sides).
   */
  readonly proxy?: pulumi.Input<{
    url: pulumi.Input<string>;
    verify?: pulumi.Input<"changed" | "full">;
    sampleBlocks?: pulumi.Input<number>;
    fullCheckFirst?: pulumi.Input<boolean>;
  }>;
  /**
   * Through a proxy: the change window's end (ISO 8601). Before the shutdown the cutover asks the
   * proxy for its prediction (churn over recent rounds, the link's measured throughput, each
   * round's fixed cost) and refuses, with the numbers, when the predicted downtime exceeds the
   * time left until then. @default - no check against the window's end
   */
  readonly changeWindowEnd?: pulumi.Input<string>;
  /** Through a proxy: the longest downtime allowed (`15m`, `1h`, or seconds), checked the same way. @default - no budget */
  readonly downtimeBudget?: pulumi.Input<string | number>;
  /** Cut over even when the prediction exceeds the budget or the window (recorded in `downtimeBudgetOverridden`). @default false */
  readonly ignoreDowntimeBudget?: pulumi.Input<boolean>;
  /** The guest's shutdown time the prediction allows for (`2m`, seconds). @default 60 */
  readonly expectedShutdown?: pulumi.Input<string | number>;
  /** The wave's change window, for the policy pack's `cutover-in-change-window` rule. @default - none */
  readonly window?: pulumi.Input<{ readonly start: string; readonly end: string }>;
  readonly timeoutSeconds?: pulumi.Input<number>;
  readonly pollSeconds?: pulumi.Input<number>;
}

/** The provider object (exported for tests and the lab). */
export const cutoverProvider: pulumi.dynamic.ResourceProvider = serializableProvider("cutover");

/** A VM's cutover: source shut down, final round, digests verified; delete powers the source on. */
export class Cutover extends pulumi.dynamic.Resource {
  /** How the source went down: `guest-shutdown`, `powered-off`, `already-off` or `manual`. */
  declare readonly shutdown: pulumi.Output<string>;
  /** Whether every disk's source and target digests were equal after the final round. */
  declare readonly verified: pulumi.Output<boolean>;
  /** Per job: the source and target digests. */
  declare readonly digests: pulumi.Output<Record<string, { source: string; target: string; algorithm: string; size: number }>>;
  declare readonly verifiedAt: pulumi.Output<string>;
  /** Through a proxy: seconds from the shutdown to the end of the verification. */
  declare readonly downtimeSeconds: pulumi.Output<number | undefined>;
  declare readonly finalDeltaBytes: pulumi.Output<number | undefined>;
  declare readonly sourceBytesReadOverLink: pulumi.Output<number | undefined>;
  declare readonly verifiedBytes: pulumi.Output<number | undefined>;
  /** With a budget or window end: the downtime predicted before the shutdown. */
  declare readonly predictedDowntimeSeconds: pulumi.Output<number | undefined>;
  /** The refusal that `ignoreDowntimeBudget` overrode, with its numbers. */
  declare readonly downtimeBudgetOverridden: pulumi.Output<string | undefined>;

  constructor(name: string, args: CutoverArgs, opts: pulumi.CustomResourceOptions = {}) {
    const outputs = {
      shutdown: undefined,
      verified: undefined,
      digests: undefined,
      verifiedAt: undefined,
      downtimeSeconds: undefined,
      finalDeltaBytes: undefined,
      sourceBytesReadOverLink: undefined,
      verifiedBytes: undefined,
      predictedDowntimeSeconds: undefined,
      downtimeBudgetOverridden: undefined,
    };
    super(cutoverProvider, name, { ...outputs, ...args }, opts, "rehost", "Cutover");
  }
}
