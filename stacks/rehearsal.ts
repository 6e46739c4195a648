/**
 * A rehearsal stack: the wave booted from its replicas in an isolated VPC with the production
 * CIDRs, never attached to CEN. `pulumi destroy` on it leaves the wave's replication running.
 */
import * as pulumi from "@pulumi/pulumi";
import { RehearsalEnvironment } from "../lib/components";
import type { Plan } from "../lib/plan/types";
import type { RehearsalConfig } from "./config";
import { rehearsalControllers } from "./controllers";
import { planWave } from "./plan";

/** Declares one rehearsal of a wave. */
export function rehearsalStack(plan: Plan, config: RehearsalConfig): Record<string, pulumi.Input<unknown>> {
  const wave = planWave(plan, config.wave);
  const waveRef = new pulumi.StackReference(config.waveStack);
  const agentEndpoints = waveRef.requireOutput("agentEndpoints") as pulumi.Output<Record<string, string>>;
  const controllers = rehearsalControllers(pulumi.getStack(), wave, agentEndpoints);
  const replicaDiskIds = pulumi.all([waveRef.requireOutput("wave"), waveRef.requireOutput("diskIds")]).apply(([name, ids]) => {
    if (name !== wave.name) throw new Error(`rehost:waveStack ${config.waveStack} migrates wave ${String(name)}, not ${wave.name}`);
    return ids as Record<string, string>;
  });
  const env = new RehearsalEnvironment(`${wave.name}-rehearsal-${config.rehearsal}`, {
    cidrBlocks: plan.vpc.cidrBlocks,
    subnets: wave.subnets,
    vms: wave.vms,
    wave: wave.name,
    rehearsal: config.rehearsal,
    replicaDiskIds,
    rehearsalPoint: controllers.pointOf,
    hostSecurityGroups: config.hostSecurityGroups,
    bastion: config.bastion,
  });
  controllers.thawAfter(env.snapshotIds);
  return {
    role: "rehearsal",
    wave: wave.name,
    rehearsal: config.rehearsal,
    vpcId: env.vpcId,
    cidrBlocks: env.cidrBlocks,
    privateIps: env.privateIps,
    bastionPublicIp: env.bastionPublicIp,
  };
}
