/**
 * Cost rules: sync gateways stay small. They receive replication many-to-one; real hosts start
 * only for rehearsals and the cutover (the case study's cost model).
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { fromStack, isSyncGateway, label } from "./resources";

/** Instance types a sync gateway may use unless the pack's config says otherwise. */
const DEFAULT_GATEWAY_TYPES: readonly string[] = [
  "ecs.c7.large",
  "ecs.c7.xlarge",
  "ecs.c7.2xlarge",
  "ecs.g7.large",
  "ecs.g7.xlarge",
  "ecs.g7.2xlarge",
  "ecs.c8i.large",
  "ecs.c8i.xlarge",
  "ecs.c8i.2xlarge",
  "ecs.g8i.large",
  "ecs.g8i.xlarge",
  "ecs.g8i.2xlarge",
];

interface GatewayTypesConfig {
  allowedTypes: string[];
}

/** `gateway-instance-types`: a sync gateway's instance type is within the allowed list. */
export function gatewayInstanceTypes(): StackValidationPolicy {
  return {
    name: "gateway-instance-types",
    description: "Sync gateways use instance types from an allowed list (cost guard).",
    enforcementLevel: "advisory",
    configSchema: { properties: { allowedTypes: { type: "array", items: { type: "string" }, default: [...DEFAULT_GATEWAY_TYPES] } } },
    validateStack: (args, report) => {
      const { allowedTypes } = args.getConfig<GatewayTypesConfig>();
      for (const gateway of fromStack(args.resources).filter(isSyncGateway)) {
        const type = String(gateway.props["instanceType"] ?? "");
        if (!allowedTypes.includes(type)) {
          report(
            `The sync gateway ${label(gateway)} uses ${type || "no instance type"}, which is not in the allowed list (${allowedTypes.join(", ")}); choose an allowed type or extend allowedTypes in the pack's config.`,
            gateway.urn,
          );
        }
      }
    },
  };
}
