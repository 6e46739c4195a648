/**
 * Compute rules: no public address on migrated hosts or sync gateways, and a sync gateway never
 * carries more source disks than its limit.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { validateGatewayDisks } from "../lib/plan/validate";
import { TYPES, fromStack, isMigratedInstance, isSyncGateway, knownId, label, referenced, type Resource } from "./resources";

/** `no-public-ip`: migrated hosts and sync gateways get no public IP and no EIP. */
export function noPublicIp(): StackValidationPolicy {
  return {
    name: "no-public-ip",
    description: "Migrated hosts and sync gateways have no public IP and no EIP: they are reached over CEN only.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
      const all = fromStack(args.resources);
      const guarded = (r: Resource) => isMigratedInstance(r) || isSyncGateway(r);
      const kind = (r: Resource) => (isSyncGateway(r) ? "sync gateway" : "migrated host");
      for (const r of all.filter(guarded)) {
        const bandwidth = Number(r.props["internetMaxBandwidthOut"] ?? 0);
        if (bandwidth > 0) {
          report(`The ${kind(r)} ${label(r)} gets a public IP (internetMaxBandwidthOut = ${bandwidth}); set it to 0 and reach the host over CEN.`, r.urn);
        }
      }
      for (const eip of all.filter((x) => x.type === TYPES.eipAssociation)) {
        for (const target of referenced(eip, "instanceId", all, knownId).filter(guarded)) {
          report(`${label(eip)} binds an EIP to the ${kind(target)} ${label(target)}; remove the association and reach the host over CEN.`, eip.urn);
        }
      }
    },
  };
}

interface GatewayDiskConfig {
  /** Most source disks one sync gateway carries. */
  maxDisks: number;
}

/** `gateway-disk-limit`: a sync gateway carries at most `maxDisks` data disks (16 by default). */
export function gatewayDiskLimit(): StackValidationPolicy {
  return {
    name: "gateway-disk-limit",
    description: "A sync gateway carries at most the configured number of data disks.",
    enforcementLevel: "mandatory",
    configSchema: { properties: { maxDisks: { type: "integer", minimum: 1, default: 16 } } },
    validateStack: (args, report) => {
      const { maxDisks } = args.getConfig<GatewayDiskConfig>();
      const all = fromStack(args.resources);
      const attachments = all.filter((x) => x.type === TYPES.ecsDiskAttachment || x.type === TYPES.diskAttachment);
      for (const gateway of all.filter(isSyncGateway)) {
        const inline = Array.isArray(gateway.props["dataDisks"]) ? (gateway.props["dataDisks"] as unknown[]).length : 0;
        const attached = attachments.filter((a) => referenced(a, "instanceId", all, knownId).includes(gateway)).length;
        const disks = inline + attached;
        const problems = validateGatewayDisks({ gateway: gateway.name, disks, bytes: 0, maxBytes: Number.POSITIVE_INFINITY, maxDisks });
        for (const p of problems) {
          report(
            `The sync gateway ${label(gateway)} carries ${disks} data disks, ${p.expected ?? `at most ${maxDisks}`} allowed; spread the disks over more gateways (settings.gateway.maxDisks).`,
            gateway.urn,
          );
        }
      }
    },
  };
}
