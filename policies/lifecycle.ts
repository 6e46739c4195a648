/**
 * Lifecycle rules: every migrated resource says which wave, source VM and phase it belongs to, a
 * cutover runs only inside its wave's change window, and only when its predicted downtime fits
 * its budget.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { checkBudget } from "../lib/proxy/predict";
import { DurationSchema } from "../lib/providers/inputs";
import { TAGS, TYPES, fromStack, hasAncestor, label, tagsOf, type Resource, COMPONENT_TYPES } from "./resources";

/** Resource types under a MigratedInstance that carry tags. */
const TAGGABLE = new Set<string>([
  TYPES.instance,
  TYPES.networkInterface,
  TYPES.ecsDisk,
  TYPES.disk,
  "alicloud:ecs/image:Image",
  "alicloud:ecs/ecsSnapshot:EcsSnapshot",
  "alicloud:ecs/snapshot:Snapshot",
]);

interface RequiredTagsConfig {
  /** Tag keys every migrated resource carries. */
  tags: string[];
}

/** `required-tags`: every migrated resource carries the wave, source VM and phase tags. */
export function requiredTags(): StackValidationPolicy {
  return {
    name: "required-tags",
    description: "Every migrated resource is tagged with its wave, its source VM and its phase.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: { tags: { type: "array", items: { type: "string" }, default: [TAGS.wave, TAGS.sourceVmUuid, TAGS.phase] } },
    },
    validateStack: (args, report) => {
      const { tags } = args.getConfig<RequiredTagsConfig>();
      for (const r of fromStack(args.resources)) {
        if (!TAGGABLE.has(r.type) || !isMigratedResource(r)) continue;
        const present = tagsOf(r);
        const missing = tags.filter((key) => typeof present[key] !== "string" || present[key] === "");
        if (missing.length > 0)
          report(`${label(r)} lacks the tag${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; tag it with its wave, source VM and phase.`, r.urn);
      }
    },
  };
}

function isMigratedResource(r: Resource): boolean {
  return hasAncestor(r, COMPONENT_TYPES.MigratedInstance) || tagsOf(r)[TAGS.sourceVmUuid] !== undefined;
}

interface ChangeWindowConfig {
  /** The moment the check is made for, ISO 8601; empty means now. */
  now: string;
}

/** A resource that performs the cutover: the Cutover dynamic resource (`pulumi-nodejs:dynamic/rehost:Cutover`). */
function isCutover(r: Resource): boolean {
  return /(^|[:/])Cutover$/.test(r.type);
}

/** `cutover-in-change-window`: a cutover is declared only inside its wave's change window. */
export function cutoverInChangeWindow(): StackValidationPolicy {
  return {
    name: "cutover-in-change-window",
    description: "A cutover runs only inside its wave's change window.",
    enforcementLevel: "mandatory",
    configSchema: { properties: { now: { type: "string", default: "" } } },
    validateStack: (args, report) => {
      const config = args.getConfig<ChangeWindowConfig>();
      const now = config.now ? Date.parse(config.now) : Date.now();
      for (const r of fromStack(args.resources).filter(isCutover)) {
        const window = r.props["window"] as { start?: string; end?: string } | undefined;
        if (window?.start === undefined || window.end === undefined) {
          report(`${label(r)} has no change window; give the wave a window (start and end) in the waves file before cutting over.`, r.urn);
          continue;
        }
        const start = Date.parse(window.start);
        const end = Date.parse(window.end);
        if (Number.isNaN(start) || Number.isNaN(end)) {
          report(`${label(r)} has a change window that is not ISO 8601 (${window.start} to ${window.end}); correct the waves file.`, r.urn);
        } else if (now < start || now > end) {
          report(
            `${label(r)} would cut over at ${new Date(now).toISOString()}, outside the wave's change window ${window.start} to ${window.end}; run it inside the window or move the window.`,
            r.urn,
          );
        }
      }
    },
  };
}

interface DowntimeBudgetConfig {
  /** The moment the check is made for, ISO 8601; empty means now. */
  now: string;
  /** Predicted cutover downtime in seconds per source VM (the Cutover's `vm`), as `rehost status --policy-config` writes them. */
  predictions: Record<string, number>;
}

/** A Cutover's budget and change window end, when it declares either; undefined otherwise. */
function budgetOf(r: Resource): { budget?: number; end?: number; endText?: string; invalid?: string } | undefined {
  const budget = r.props["downtimeBudget"] as unknown;
  const end = r.props["changeWindowEnd"] as unknown;
  if (budget === undefined && end === undefined) return undefined;
  const parsed = budget === undefined ? undefined : DurationSchema.safeParse(budget);
  if (parsed !== undefined && !parsed.success) return { invalid: `a downtimeBudget of ${JSON.stringify(budget)}, which is not a duration such as 15m` };
  const endAt = typeof end === "string" ? Date.parse(end) : undefined;
  if (end !== undefined && (endAt === undefined || Number.isNaN(endAt)))
    return { invalid: `a changeWindowEnd of ${JSON.stringify(end)}, which is not ISO 8601` };
  return { ...(parsed?.success ? { budget: parsed.data } : {}), ...(endAt !== undefined ? { end: endAt, endText: end as string } : {}) };
}

/**
 * `cutover-within-downtime-budget`: a Cutover with a downtime budget or a change window end is
 * declared only when its VM's predicted downtime fits (the prediction from `rehost status
 * --policy-config`); `ignoreDowntimeBudget: true` exempts it. The same check the provider makes
 * before the shutdown, with `checkBudget` from `lib/proxy/predict.ts`.
 */
export function cutoverWithinDowntimeBudget(): StackValidationPolicy {
  return {
    name: "cutover-within-downtime-budget",
    description: "A cutover with a downtime budget or change window end is declared only when its VM's predicted downtime fits what is left.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: { now: { type: "string", default: "" }, predictions: { type: "object", additionalProperties: { type: "number" }, default: {} } },
    },
    validateStack: (args, report) => {
      const config = args.getConfig<DowntimeBudgetConfig>();
      const now = config.now ? Date.parse(config.now) : Date.now();
      for (const r of fromStack(args.resources).filter(isCutover)) {
        const limits = budgetOf(r);
        if (limits === undefined || r.props["ignoreDowntimeBudget"] === true) continue;
        if (limits.invalid !== undefined) {
          report(`${label(r)} has ${limits.invalid}; correct it in the stack.`, r.urn);
          continue;
        }
        const vm = String(r.props["vm"] ?? "");
        const predicted = config.predictions?.[vm];
        if (typeof predicted !== "number") continue;
        const verdict = checkBudget(predicted, { downtimeBudgetSeconds: limits.budget, changeWindowEnd: limits.end, now });
        if (verdict !== undefined && !verdict.fits) {
          const left =
            verdict.boundBy === "budget"
              ? `its downtime budget of ${limits.budget} s`
              : `the ${verdict.secondsLeft.toFixed(0)} s left until the change window ends at ${limits.endText}`;
          report(
            `${label(r)} would take VM ${vm} down for a predicted ${predicted.toFixed(1)} s, more than ${left}; let replication catch up, widen the window or the budget, or set ignoreDowntimeBudget: true.`,
            r.urn,
          );
        }
      }
    },
  };
}

/** `cutover-downtime-predicted`: a Cutover with a downtime budget has a prediction to check it against at preview. */
export function cutoverDowntimePredicted(): StackValidationPolicy {
  return {
    name: "cutover-downtime-predicted",
    description: "A cutover with a downtime budget or change window end has a predicted downtime to check it against at preview.",
    enforcementLevel: "advisory",
    configSchema: { properties: { predictions: { type: "object", additionalProperties: { type: "number" }, default: {} } } },
    validateStack: (args, report) => {
      const config = args.getConfig<Pick<DowntimeBudgetConfig, "predictions">>();
      for (const r of fromStack(args.resources).filter(isCutover)) {
        if (budgetOf(r) === undefined || r.props["ignoreDowntimeBudget"] === true) continue;
        const vm = String(r.props["vm"] ?? "");
        if (typeof config.predictions?.[vm] !== "number") {
          report(
            `${label(r)} has a downtime budget but no prediction for VM ${vm} is known at preview; pass rehost status --policy-config as the policy pack config (the provider still checks before the shutdown).`,
            r.urn,
          );
        }
      }
    },
  };
}
