/**
 * The seam between the offline preview and the policy pack (`policies/`). The preview hands every
 * recorded resource to {@link evaluatePolicies}; the verdicts of the rules that exist come back
 * as violations. A `mandatory` violation makes `rehost preview` exit 1.
 *
 * The policy pack plugs its rules in with {@link registerPolicyEvaluator}; until it does, no rule
 * runs and the list is empty.
 */
import type { RecordedResource } from "./mocks";

/** Enforcement level of a policy, as CrossGuard names them. */
export type PolicyLevel = "mandatory" | "advisory" | "disabled";

/** One failed rule on one resource. */
export interface PolicyViolation {
  /** Policy name, kebab-case (`no-public-ip-on-migrated-hosts`). */
  readonly policy: string;
  readonly level: PolicyLevel;
  /** Name of the resource concerned. */
  readonly resource: string;
  /** One complete sentence naming the resource. */
  readonly message: string;
}

/** What a policy evaluator sees: one stack's whole recorded graph. */
export interface PolicyInput {
  readonly stack: string;
  readonly resources: readonly RecordedResource[];
  /** Resources of the stacks this one references (the landing zone of a wave, ...). */
  readonly referencedResources: readonly RecordedResource[];
}

/** A function that checks a stack's graph and returns its violations. */
export type PolicyEvaluator = (input: PolicyInput) => PolicyViolation[] | Promise<PolicyViolation[]>;

const evaluators: PolicyEvaluator[] = [];

/** Adds an evaluator every later preview runs. */
export function registerPolicyEvaluator(evaluator: PolicyEvaluator): void {
  evaluators.push(evaluator);
}

/** Runs every registered evaluator over the graph. */
export async function evaluatePolicies(input: PolicyInput): Promise<PolicyViolation[]> {
  const violations: PolicyViolation[] = [];
  for (const evaluate of evaluators) violations.push(...(await evaluate(input)));
  return violations;
}
