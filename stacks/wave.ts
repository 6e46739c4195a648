/**
 * A wave stack: the wave's sync gateways and replication (`phase: sync`), and at cutover the final
 * round, verification and the migrated hosts in the landing zone's mirrored vSwitches.
 */
import * as pulumi from "@pulumi/pulumi";
import { MigrationWave } from "../lib/components";
import type { Plan } from "../lib/plan/types";
import { secretConfig, type WaveStackConfig } from "./config";
import { waveControllers } from "./controllers";
import { planWave } from "./plan";

/** Declares one wave; returns the outputs rehearsal stacks read. */
export function waveStack(plan: Plan, config: WaveStackConfig, plannedMaxDisks: number): Record<string, pulumi.Input<unknown>> {
  const wave = planWave(plan, config.wave);
  const landingZone = new pulumi.StackReference(config.landingZoneStack);
  const syncVswitchIds = landingZone.requireOutput("syncVswitchIds") as pulumi.Output<Record<string, string>>;
  const hostGroups = landingZone.requireOutput("hostSecurityGroupIds") as pulumi.Output<string[]>;
  const groupCount = (config.hostSecurityGroups ?? [{ name: "hosts" }]).length;
  const migration = new MigrationWave(wave.name, {
    wave,
    phase: config.phase,
    syncVswitchId: syncVswitchIds.apply((ids) => {
      const id = ids[wave.name];
      if (id === undefined) throw new Error(`the landing zone has no sync vSwitch for wave ${wave.name}; run pulumi up on the landing-zone stack first`);
      return id;
    }),
    gatewaySecurityGroupId: landingZone.requireOutput("gatewaySecurityGroupId") as pulumi.Output<string>,
    gatewayImageId: config.gatewayImageId,
    agentToken: secretConfig("agentToken"),
    agentPsk: secretConfig("agentPsk"),
    agentPort: config.agentPort,
    pskFileName: config.sourceCredentials,
    maxDisksPerGateway: config.maxDisksPerGateway ?? plannedMaxDisks,
    vswitchIds: landingZone.requireOutput("vswitchIds") as pulumi.Output<Record<string, string>>,
    hostSecurityGroupIds: Array.from({ length: groupCount }, (_, i) => hostGroups.apply((ids) => ids[i]!)),
    controllers: waveControllers(wave, config),
  });
  return {
    role: "wave",
    wave: wave.name,
    phase: config.phase,
    round: config.round,
    agentEndpoints: migration.agentEndpoints,
    devices: migration.devices,
    diskIds: migration.diskIds,
    replicationDigests: migration.replicationDigests,
    privateIps: migration.privateIps,
  };
}
