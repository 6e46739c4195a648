/**
 * `MigrationWave`: everything one wave declares in production. In the `sync` phase: its sync
 * gateways and their replication. In the `cutover` phase additionally: the cutover controller,
 * snapshots of the verified replicas, and the migrated hosts with their pinned IPs in the
 * mirrored vSwitches. Rehearsals are separate stacks (`RehearsalEnvironment`).
 *
 * The Replication and Cutover controllers are dynamic providers (`lib/providers`). They plug in
 * through {@link WaveControllers}; without them the wave takes their results as inputs
 * (`replicationDigests`, `cutoverDigests`), so the wiring is the same either way.
 */
import * as pulumi from "@pulumi/pulumi";
import { InputError, problem } from "../problems";
import type { PlannedDisk, PlannedVm, PlannedWave } from "../plan/types";
import { declareHostsFromReplicas } from "./hosts";
import type { MigratedInstance } from "./migrated-instance";
import { SyncGateway, type SyncGatewayArgs } from "./sync-gateway";
import { AgentRelease, type AgentBundleRef } from "./agent-release";
import type { GatewayRuntime } from "./gateway-runtime";
import { COMPONENT_TYPES, TAGS } from "./tokens";

/** Phases of a wave stack. */
export type WavePhase = "sync" | "cutover";
/** Every phase, in order. */
export const WAVE_PHASES: readonly WavePhase[] = ["sync", "cutover"];

/** What a replication controller is given for one gateway. */
export interface ReplicationSeamArgs {
  readonly wave: PlannedWave;
  readonly gateway: SyncGateway;
  /** Planned gateway name (`wave-1-gw-1`). */
  readonly gatewayName: string;
  readonly disks: readonly PlannedDisk[];
  readonly vms: readonly PlannedVm[];
}

/** What a cutover controller is given for the whole wave. */
export interface CutoverSeamArgs {
  readonly wave: PlannedWave;
  readonly gateways: ReadonlyMap<string, SyncGateway>;
  /** Digest per planned disk id of the latest replication round. */
  readonly replicationDigests: pulumi.Output<Record<string, string>>;
  /** The resources every replication controller of the wave declared, in order: what the cutover waits for. */
  readonly replications: readonly pulumi.Resource[];
}

/** The result a controller hands back: one digest per planned disk id. */
export interface ControllerResult {
  readonly digests: pulumi.Output<Record<string, string>>;
  /** The controller resources it declared. @default - none */
  readonly resources?: readonly pulumi.Resource[];
}

/**
 * The seam for the dynamic providers. Each function declares its controller resources under the
 * given options (parent = the wave) and returns their digests.
 */
export interface WaveControllers {
  replication?(name: string, args: ReplicationSeamArgs, opts: pulumi.CustomResourceOptions): ControllerResult;
  cutover?(name: string, args: CutoverSeamArgs, opts: pulumi.CustomResourceOptions): ControllerResult;
}

/**
 * Arguments of {@link MigrationWave}. The agent settings (`agentToken`, `agentPsk`, `agentPort`,
 * `pskFileName`, `protectDisks`) are the {@link SyncGatewayArgs} every gateway of the wave gets.
 */
export interface MigrationWaveArgs extends Pick<SyncGatewayArgs, "agentToken" | "agentPsk" | "agentPort" | "pskFileName" | "protectDisks"> {
  /** The planned wave (`Plan.waves[i]`). */
  readonly wave: PlannedWave;
  /** `sync`: gateways and replication; `cutover`: plus final round, verification and hosts. */
  readonly phase: WavePhase;
  /** The wave's sync vSwitch (landing zone). */
  readonly syncVswitchId: pulumi.Input<string>;
  /** The gateway security group (landing zone). */
  readonly gatewaySecurityGroupId: pulumi.Input<string>;
  readonly gatewayImageId: pulumi.Input<string>;
  /** The agent bundle every gateway of the wave installs (`buildAgentBundle`): uploaded to the wave's bucket. */
  readonly agentBundle: AgentBundleRef;
  /** How the gateways get Node.js (exact package versions from the image's mirror, or a runtime on the image). */
  readonly gatewayRuntime: GatewayRuntime;
  /** OSS bucket for the bundle. @default - `rehost-<account id>-<wave>-agent` */
  readonly artifactBucket?: pulumi.Input<string>;
  /** Region of the wave. @default - the sync subnet's zone without its letter (`cn-shenzhen-e` → `cn-shenzhen`) */
  readonly region?: string;
  /** Most disks per gateway. @default 16 */
  readonly maxDisksPerGateway?: number;
  /** Mirrored vSwitch id per subnet name (landing zone). Required for `cutover`. */
  readonly vswitchIds?: pulumi.Input<Record<string, string>>;
  /** Security groups of the migrated hosts (landing zone). Required for `cutover`. */
  readonly hostSecurityGroupIds?: readonly pulumi.Input<string>[];
  /** Controllers from `lib/providers`. @default - none: digests come from the inputs below */
  readonly controllers?: WaveControllers;
  /** Digests of the latest round when no replication controller is given. @default {} */
  readonly replicationDigests?: pulumi.Input<Record<string, string>>;
  /** Verified final digests when no cutover controller is given. @default {} */
  readonly cutoverDigests?: pulumi.Input<Record<string, string>>;
}

/**
 * One wave. Children: `${name}-agent` (the agent bundle in OSS and the gateways' RAM role),
 * `${name}-<gateway>` sync gateways, controllers, and in cutover `${name}-snap-<disk>`, `${name}-<vm>`.
 */
export class MigrationWave extends pulumi.ComponentResource {
  /** Gateway name → agent endpoint. */
  public readonly agentEndpoints: pulumi.Output<Record<string, string>>;
  /** Planned disk id → what its gateway's agent writes it as: the cloud disk id. */
  public readonly devices: pulumi.Output<Record<string, string>>;
  /** Planned disk id → replicated cloud disk id. */
  public readonly diskIds: pulumi.Output<Record<string, string>>;
  /** Planned disk id → digest of the latest replication round. */
  public readonly replicationDigests: pulumi.Output<Record<string, string>>;
  /** VM name → pinned private IP (cutover phase; empty before). */
  public readonly privateIps: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: MigrationWaveArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(COMPONENT_TYPES.MigrationWave, name, {}, opts);
    const wave = args.wave;
    const gateways = new Map<string, SyncGateway>();
    const replicationResults: pulumi.Output<Record<string, string>>[] = [];
    const replications: pulumi.Resource[] = [];
    const release = new AgentRelease(
      `${name}-agent`,
      {
        bundle: args.agentBundle,
        region: args.region ?? regionOfZone(wave.syncSubnet.zone),
        bucketName: args.artifactBucket,
        tags: { [TAGS.wave]: wave.name },
      },
      { parent: this },
    );
    for (const planned of wave.gateways) {
      const disks = wave.vms.flatMap((vm) => vm.disks).filter((d) => d.gateway === planned.name);
      const gateway = new SyncGateway(
        `${name}-${gatewayRole(wave.name, planned.name)}`,
        {
          instanceType: planned.instanceType,
          imageId: args.gatewayImageId,
          vswitchId: args.syncVswitchId,
          zone: wave.syncSubnet.zone,
          securityGroupIds: [args.gatewaySecurityGroupId],
          disks,
          agentToken: args.agentToken,
          agentPsk: args.agentPsk,
          release: { source: release.source, roleName: release.roleName, dependsOn: [release] },
          runtime: args.gatewayRuntime,
          agentPort: args.agentPort,
          pskFileName: args.pskFileName,
          maxDisks: args.maxDisksPerGateway,
          protectDisks: args.protectDisks,
          tags: { [TAGS.wave]: wave.name, [TAGS.gateway]: planned.name },
        },
        { parent: this },
      );
      gateways.set(planned.name, gateway);
      const replication = args.controllers?.replication;
      if (replication) {
        const vms = wave.vms.filter((vm) => vm.gateway === planned.name);
        const result = replication(
          `${name}-${gatewayRole(wave.name, planned.name)}-replication`,
          { wave, gateway, gatewayName: planned.name, disks, vms },
          { parent: this },
        );
        replicationResults.push(result.digests);
        replications.push(...(result.resources ?? []));
      }
    }
    const replicationDigests = args.controllers?.replication
      ? pulumi.all(replicationResults).apply((maps) => Object.assign({}, ...maps) as Record<string, string>)
      : pulumi.output(args.replicationDigests ?? {});

    let hosts = new Map<string, MigratedInstance>();
    if (args.phase === "cutover") {
      if (args.vswitchIds === undefined || args.hostSecurityGroupIds === undefined) {
        throw new InputError(
          problem({
            field: args.vswitchIds === undefined ? "vswitchIds" : "hostSecurityGroupIds",
            received: "nothing",
            expected: "the landing zone's mirrored vSwitches and host security groups",
            fix: "give the wave stack its landing-zone reference",
            message: `Wave ${wave.name} cannot cut over without the landing zone's network.`,
          }),
        );
      }
      const cutover = args.controllers?.cutover;
      const verified = cutover
        ? cutover(`${name}-cutover`, { wave, gateways, replicationDigests, replications }, { parent: this }).digests
        : pulumi.output(args.cutoverDigests ?? {});
      const diskIds = collect(gateways, (g) => g.diskIds);
      ({ hosts } = declareHostsFromReplicas(this, name, {
        vms: wave.vms,
        subnets: wave.subnets,
        replicaDiskIds: diskIds,
        pointOf: verified.apply((d) => Object.fromEntries(Object.entries(d).map(([disk, digest]) => [disk, `verified digest ${digest}`]))),
        vswitchIds: args.vswitchIds,
        securityGroupIds: args.hostSecurityGroupIds,
        wave: wave.name,
        phase: "cutover",
      }));
    }

    this.agentEndpoints = pulumi
      .all([...gateways].map(([gw, g]) => g.agentEndpoint.apply((url) => [gw, url] as const)))
      .apply((pairs) => Object.fromEntries(pairs));
    this.devices = collect(gateways, (g) => g.devices);
    this.diskIds = collect(gateways, (g) => g.diskIds);
    this.replicationDigests = replicationDigests;
    this.privateIps = pulumi.all([...hosts].map(([vm, host]) => host.privateIp.apply((ip) => [vm, ip] as const))).apply((pairs) => Object.fromEntries(pairs));
    this.registerOutputs({
      agentEndpoints: this.agentEndpoints,
      devices: this.devices,
      diskIds: this.diskIds,
      replicationDigests: this.replicationDigests,
      privateIps: this.privateIps,
    });
  }
}

/** The region of a zone: `cn-shenzhen-e` → `cn-shenzhen`, `ap-southeast-1a` → `ap-southeast-1`. */
export function regionOfZone(zone: string): string {
  return zone.replace(/-?[a-z]$/, "");
}

/** `wave-1-gw-2` in wave `wave-1` → `gw-2`: the child name then reads `wave-1-gw-2`, not `wave-1-wave-1-gw-2`. */
function gatewayRole(wave: string, gateway: string): string {
  return gateway.startsWith(`${wave}-`) ? gateway.slice(wave.length + 1) : gateway;
}

function collect(
  gateways: ReadonlyMap<string, SyncGateway>,
  pick: (g: SyncGateway) => pulumi.Output<Record<string, string>>,
): pulumi.Output<Record<string, string>> {
  return pulumi.all([...gateways.values()].map(pick)).apply((maps) => Object.assign({}, ...maps) as Record<string, string>);
}
