/**
 * The landing-zone stack: the production VPC mirroring every subnet of every wave, one sync
 * vSwitch per wave, the gateway and host security groups, and the CEN link to the data centre.
 */
import * as pulumi from "@pulumi/pulumi";
import { CenLink, MirroredNetwork, type VbrLinkArgs, type VpnLinkArgs } from "../lib/components";
import type { Plan, PlannedSubnet } from "../lib/plan/types";
import { InputError, problem } from "../lib/problems";
import { secretConfig, stackFile, type LandingZoneConfig } from "./config";

/** Every mirrored subnet of the plan once (waves may share a subnet), in plan order. */
function planSubnets(plan: Plan): PlannedSubnet[] {
  const seen = new Map<string, PlannedSubnet>();
  for (const wave of plan.waves) for (const subnet of wave.subnets) if (!seen.has(subnet.name)) seen.set(subnet.name, subnet);
  return [...seen.values()];
}

/** A mirrored subnet is advertised once every wave with VMs in it has cut over. */
function advertisedSubnets(plan: Plan, cutOverWaves: readonly string[]): Set<string> {
  const done = new Set(cutOverWaves);
  const blocked = new Set<string>();
  for (const wave of plan.waves) if (!done.has(wave.name)) for (const subnet of wave.subnets) blocked.add(subnet.name);
  return new Set(
    planSubnets(plan)
      .map((s) => s.name)
      .filter((name) => !blocked.has(name)),
  );
}

/** Declares the landing zone; returns the stack outputs the wave stacks read. */
export function landingZone(plan: Plan, config: LandingZoneConfig): Record<string, pulumi.Input<unknown>> {
  const unknown = config.cutOverWaves.filter((w) => !plan.waves.some((p) => p.name === w));
  if (unknown.length > 0) {
    throw new InputError(
      unknown.map((w) =>
        problem({
          file: stackFile(),
          field: "rehost:cutOverWaves",
          received: JSON.stringify(w),
          expected: `waves of the plan: ${plan.waves.map((p) => p.name).join(", ")}`,
          fix: "list only waves that exist in the waves file",
          message: `Cut-over wave ${w} is not in the plan.`,
        }),
      ),
    );
  }
  const subnets = planSubnets(plan);
  const network = new MirroredNetwork("landing-zone", {
    cidrBlocks: plan.vpc.cidrBlocks,
    subnets,
    syncSubnets: plan.waves.map((w) => ({ name: w.name, cidr: w.syncSubnet.cidr, zone: w.syncSubnet.zone })),
    gatewayAccess: { operatorCidr: config.operatorCidr, sourceProxyCidr: config.sourceProxyCidr, agentPort: config.agentPort },
    hostSecurityGroups: config.hostSecurityGroups,
    vpcName: "rehost-production",
  });

  const zones = new Map<string, pulumi.Output<string>>();
  for (const wave of plan.waves) {
    if (!zones.has(wave.syncSubnet.zone))
      zones.set(
        wave.syncSubnet.zone,
        network.syncVswitchIds.apply((ids) => ids[wave.name]!),
      );
  }
  const advertised = advertisedSubnets(plan, config.cutOverWaves);
  const onPrem: VbrLinkArgs | VpnLinkArgs = config.link.kind === "vbr" ? config.link : { ...config.link, psk: secretConfig("linkPsk") };
  const link = new CenLink("landing-zone-link", {
    vpcId: network.vpcId,
    zoneMappings: [...zones].map(([zoneId, vswitchId]) => ({ zoneId, vswitchId })),
    onPrem,
    onPremRanges: plan.onPremRanges,
    routes: [
      ...plan.waves.map((w) => ({ name: `sync-${w.name}`, cidr: w.syncSubnet.cidr, advertised: true })),
      ...subnets.map((s) => ({ name: s.name, cidr: s.cidr, advertised: advertised.has(s.name) })),
    ],
  });

  return {
    role: "landing-zone",
    vpcId: network.vpcId,
    cidrBlocks: network.cidrBlocks,
    vswitchIds: network.vswitchIds,
    syncVswitchIds: network.syncVswitchIds,
    gatewaySecurityGroupId: network.gatewaySecurityGroupId,
    hostSecurityGroupIds: network.hostSecurityGroupIds.apply((ids) => Object.values(ids)),
    cenId: link.cenId,
    advertisedCidrs: link.advertisedCidrs,
  };
}
