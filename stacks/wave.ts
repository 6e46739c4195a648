/**
 * A wave stack: the wave's sync gateways and replication (`phase: sync`), and at cutover the final
 * round, verification and the migrated hosts in the landing zone's mirrored vSwitches.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { MigrationWave } from "../lib/components";
import { buildAgentBundle, type AgentBundle } from "../lib/components/agent-bundle";
import type { Plan } from "../lib/plan/types";
import * as crypto from "node:crypto";
import { packageVersion } from "../lib/service/package";
import { offlinePreview, secretConfig, type WaveStackConfig } from "./config";
import { waveControllers } from "./controllers";
import { planWave } from "./plan";

const bundles = new Map<string, AgentBundle>();

/** What the offline preview shows instead of a bundle: it packs nothing (`pulumi up` and `pulumi preview` do). */
const OFFLINE_BUNDLE = "offline preview: the agent bundle is built by pulumi preview and pulumi up";

/**
 * The agent bundle of the rehost running this program, built once per process into
 * `<project>/.rehost/bundles` (a Pulumi preview or update of several stacks packs once). The
 * offline preview (`rehost preview`) builds none and shows a placeholder.
 */
function agentBundle(projectDir: string): Pick<AgentBundle, "file" | "sha256" | "version"> {
  if (offlinePreview()) return { file: OFFLINE_BUNDLE, sha256: crypto.createHash("sha256").update(OFFLINE_BUNDLE).digest("hex"), version: packageVersion() };
  const outDir = path.join(projectDir, ".rehost", "bundles");
  let bundle = bundles.get(outDir);
  if (bundle === undefined) {
    bundle = buildAgentBundle({ outDir });
    bundles.set(outDir, bundle);
  }
  return bundle;
}

/** Declares one wave; returns the outputs rehearsal stacks read. */
export function waveStack(plan: Plan, config: WaveStackConfig, plannedMaxDisks: number, projectDir: string): Record<string, pulumi.Input<unknown>> {
  const wave = planWave(plan, config.wave);
  const bundle = agentBundle(projectDir);
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
    agentBundle: bundle,
    gatewayRuntime: config.gatewayRuntime,
    artifactBucket: config.artifactBucket,
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
    agentVersion: bundle.version,
    agentBundleSha256: bundle.sha256,
    agentEndpoints: migration.agentEndpoints,
    devices: migration.devices,
    diskIds: migration.diskIds,
    replicationDigests: migration.replicationDigests,
    privateIps: migration.privateIps,
  };
}
