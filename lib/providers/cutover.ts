/**
 * `Cutover`: the last step of a VM's migration. create = shut the source down (through vSphere
 * when configured, else on the operator's `manualConfirmation`), run the final round, verify each
 * disk's source digest equals its target digest — and fail, so nothing depending on it launches,
 * when they differ. delete = roll back: power the source on again.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Changed } from "../agent/api";
import { loadInputs, loadRuntime } from "./load";

/** Inputs of a `Cutover`. Credentials are not inputs: see docs/providers.md. */
export interface CutoverArgs {
  readonly agentUrl: pulumi.Input<string>;
  /** The source VM, by name or BIOS UUID. */
  readonly vm: pulumi.Input<string>;
  /** The VM's replication jobs, one per disk. */
  readonly jobIds: pulumi.Input<pulumi.Input<string>[]>;
  /** Number of the final round; above every round run so far. */
  readonly round: pulumi.Input<number>;
  /** Where the final round's changed blocks come from. @default "hash" */
  readonly changed?: pulumi.Input<Changed>;
  /**
   * Set to `true` once an operator has shut the source VM down, when no vSphere client is
   * configured (`REHOST_VCENTER_URL`). @default false
   */
  readonly manualConfirmation?: pulumi.Input<boolean>;
  /** Seconds the guest OS gets to shut down before a power-off. @default 600 */
  readonly shutdownTimeoutSeconds?: pulumi.Input<number>;
  /** The wave's change window, for the policy pack's `cutover-in-change-window` rule. @default - none */
  readonly window?: pulumi.Input<{ readonly start: string; readonly end: string }>;
  readonly timeoutSeconds?: pulumi.Input<number>;
  readonly pollSeconds?: pulumi.Input<number>;
}

/** The provider object (exported for tests and for `serializeFunction`). */
export const cutoverProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds, news) {
    const { checkWith, CutoverInputsSchema } = loadInputs();
    const result = checkWith(CutoverInputsSchema, news);
    if (result.failures.length === 0 && news.manualConfirmation !== true && !loadRuntime().vsphereConfigured()) {
      result.failures.push({
        property: "manualConfirmation",
        reason: "no vSphere client is configured (REHOST_VCENTER_URL), so shut the source VM down yourself and set manualConfirmation: true",
      });
    }
    return result;
  },
  async diff(_id, olds, news) {
    const { diffInputs, INPUT_KEYS } = loadInputs();
    const mutable = ["timeoutSeconds", "pollSeconds", "shutdownTimeoutSeconds", "window"];
    return diffInputs(olds, news, INPUT_KEYS.cutover.filter((k) => !mutable.includes(k)), INPUT_KEYS.cutover);
  },
  async create(inputs) {
    return loadRuntime().createCutover(inputs);
  },
  async update(_id, olds, news) {
    return { outs: { ...olds, ...news } };
  },
  async delete(_id, olds) {
    await loadRuntime().deleteCutover(olds);
  },
};

/** A VM's cutover: source shut down, final round, digests verified; delete powers the source on. */
export class Cutover extends pulumi.dynamic.Resource {
  /** How the source went down: `guest-shutdown`, `powered-off`, `already-off` or `manual`. */
  declare readonly shutdown: pulumi.Output<string>;
  /** Per job: the equal source and target digests. */
  declare readonly digests: pulumi.Output<Record<string, { source: string; target: string; algorithm: string; size: number }>>;
  declare readonly verifiedAt: pulumi.Output<string>;

  constructor(name: string, args: CutoverArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(cutoverProvider, name, { shutdown: undefined, digests: undefined, verifiedAt: undefined, ...args }, opts, "rehost", "Cutover");
  }
}
