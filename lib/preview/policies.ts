/**
 * The offline preview's policy verdicts: the `rehost-guard` pack (`policies/`) evaluated over the
 * stack's recorded graph, following references into the stacks it reads. A `mandatory` violation
 * makes `rehost preview` exit 1.
 */
import { evaluateStack, type OfflinePolicyConfig, type PolicyViolation } from "../../policies/offline";
import type { RecordedResource } from "./mocks";

export type { OfflinePolicyConfig, PolicyViolation } from "../../policies/offline";

/** What the pack sees: one stack's whole recorded graph. */
export interface PolicyInput {
  readonly stack: string;
  readonly resources: readonly RecordedResource[];
  /** Resources of the stacks this one references (the landing zone of a wave, ...). */
  readonly referencedResources: readonly RecordedResource[];
  /** Per-rule enforcement levels and config, as in Pulumi's `--policy-pack-config` file. */
  readonly config?: OfflinePolicyConfig;
}

/** Runs every rule of the pack over the graph. */
export function evaluatePolicies(input: PolicyInput): Promise<PolicyViolation[]> {
  return evaluateStack({ stack: input.stack, resources: input.resources, referencedResources: input.referencedResources }, { config: input.config });
}
