/**
 * Every rule of the `rehost-guard` pack, by domain. Only `index.ts` constructs the PolicyPack;
 * the offline preview and the tests take the rules from here.
 */
import type { Policies } from "@pulumi/policy";
import { gatewayDiskLimit, noPublicIp } from "./compute";
import { gatewayInstanceTypes } from "./cost";
import { cutoverDowntimePredicted, cutoverInChangeWindow, cutoverWithinDowntimeBudget, requiredTags } from "./lifecycle";
import { noOpenAdminPorts, noReservedPrivateIp, pinnedIpMatchesSource, rehearsalVpcNotOnCen, syncVswitchIsolated } from "./network";
import { disksEncrypted, replicatedDisksProtected } from "./storage";

/** The pack's name, as `pulumi preview --policy-pack` reports it. */
export const POLICY_PACK_NAME = "rehost-guard";

/** All rules, freshly constructed. */
export function rehostPolicies(): Policies {
  return [
    // network
    pinnedIpMatchesSource(),
    noReservedPrivateIp(),
    rehearsalVpcNotOnCen(),
    syncVswitchIsolated(),
    noOpenAdminPorts(),
    // compute
    noPublicIp(),
    gatewayDiskLimit(),
    // storage
    disksEncrypted(),
    replicatedDisksProtected(),
    // lifecycle
    requiredTags(),
    cutoverInChangeWindow(),
    cutoverWithinDowntimeBudget(),
    cutoverDowntimePredicted(),
    // cost
    gatewayInstanceTypes(),
  ];
}
