/**
 * Lifecycle rules: every migrated resource says which wave, source VM and phase it belongs to,
 * and a cutover runs only inside its wave's change window.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
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
        if (missing.length > 0) report(`${label(r)} lacks the tag${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; tag it with its wave, source VM and phase.`, r.urn);
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
          report(`${label(r)} would cut over at ${new Date(now).toISOString()}, outside the wave's change window ${window.start} to ${window.end}; run it inside the window or move the window.`, r.urn);
        }
      }
    },
  };
}
