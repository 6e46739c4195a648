/**
 * Storage rules: disks encrypted at rest, and replicated data disks protected from deletion so
 * that a gateway replacement or a mistaken destroy never loses replicated data.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { TAGS, TYPES, fromArgs, fromStack, hasAncestor, label, tagsOf, COMPONENT_TYPES } from "./resources";

/** `disks-encrypted`: every cloud disk rehost declares is encrypted (advisory by default). */
export function disksEncrypted(): ResourceValidationPolicy {
  return {
    name: "disks-encrypted",
    description: "Cloud disks of migrated hosts and sync gateways are encrypted at rest.",
    enforcementLevel: "advisory",
    validateResource: (args, report) => {
      const r = fromArgs(args);
      if (r.type === TYPES.ecsDisk || r.type === TYPES.disk) {
        if (r.props["encrypted"] !== true) report(`${label(r)} is not encrypted; set encrypted: true (and a KMS key if your policy requires one).`);
        return;
      }
      if (r.type !== TYPES.instance) return;
      if (r.props["systemDiskEncrypted"] !== true) report(`${label(r)} has an unencrypted system disk; set systemDiskEncrypted: true.`);
      const dataDisks = Array.isArray(r.props["dataDisks"]) ? (r.props["dataDisks"] as Array<Record<string, unknown>>) : [];
      dataDisks.forEach((disk, i) => {
        if (disk["encrypted"] !== true) report(`${label(r)} has an unencrypted data disk ${String(disk["name"] ?? i)}; set encrypted: true on it.`);
      });
    },
  };
}

/** `replicated-disks-protected`: a sync gateway's replica disks are protected or retained on delete. */
export function replicatedDisksProtected(): StackValidationPolicy {
  return {
    name: "replicated-disks-protected",
    description: "Replicated data disks are protected from deletion (protect or retainOnDelete).",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
      for (const r of fromStack(args.resources)) {
        if (r.type !== TYPES.ecsDisk && r.type !== TYPES.disk) continue;
        const replica = tagsOf(r)[TAGS.disk] !== undefined && hasAncestor(r, COMPONENT_TYPES.SyncGateway);
        if (!replica) continue;
        const opts = (r as { opts?: { protect?: boolean; retainOnDelete?: boolean } }).opts ?? {};
        if (opts.protect !== true && opts.retainOnDelete !== true) {
          report(
            `The replica ${label(r)} can be deleted with its stack; declare it with protect: true or retainOnDelete: true so replicated data survives.`,
            r.urn,
          );
        }
      }
    },
  };
}
