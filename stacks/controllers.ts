/**
 * The seam between the stacks and the dynamic providers (`lib/providers`): Replication,
 * RehearsalPoint / RehearsalThaw and Cutover. The components only consume their results
 * (`WaveControllers`, `RehearsalEnvironmentArgs.rehearsalPoint`); this module declares them.
 *
 * - Replication: one per source disk, on the agent of the gateway that carries it, writing to the
 *   disk's replica there, named by its cloud disk id; `rehost:round` drives incremental rounds.
 * - Cutover: one per VM and gateway (a VM whose disks sit on two gateways gets two; the second
 *   finds the source already off), final round `rehost:round + 1`, after every replication (the
 *   replication callback returns its resources; the wave hands them to the cutover callback).
 * - RehearsalPoint: one per gateway of the wave, named after the rehearsal stack; the snapshots
 *   are taken at the digests it returns, and RehearsalThaw (after the snapshots) lets
 *   replication go on.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ControllerResult, CutoverSeamArgs, ReplicationSeamArgs, WaveControllers } from "../lib/components";
import type { PlannedWave } from "../lib/plan/types";
import { Cutover, RehearsalPoint, RehearsalThaw, Replication } from "../lib/providers";
import type { WaveStackConfig } from "./config";

/** The NBD URI of a source disk: the proxy's base URI with the disk id as export name. */
function sourceUri(base: string, diskId: string): string {
  return `${base.replace(/\/+$/, "")}/${diskId}`;
}

/** Controllers of a wave stack: replication per disk, and at cutover one Cutover per VM and gateway. */
export function waveControllers(wave: PlannedWave, config: WaveStackConfig): WaveControllers {
  return {
    replication(name: string, args: ReplicationSeamArgs, opts: pulumi.CustomResourceOptions): ControllerResult {
      const replications: Replication[] = [];
      const digests = args.disks.map((disk) => {
        const replication = new Replication(
          `${name}-${disk.id}`,
          {
            agentUrl: args.gateway.agentEndpoint,
            jobId: disk.id,
            source: sourceUri(config.sourceNbd, disk.id),
            credentials: config.sourceCredentials,
            target: args.gateway.devices.apply((devices) => devices[disk.id]!),
            round: config.round,
          },
          // After the gateway and all its children (instance, disks, attachments): the provider
          // then waits for the agent to answer before it registers the job.
          { ...opts, dependsOn: [args.gateway] },
        );
        replications.push(replication);
        return replication.digest.apply((digest) => [disk.id, digest] as const);
      });
      return { digests: pulumi.all(digests).apply((pairs) => Object.fromEntries(pairs)), resources: replications };
    },
    cutover(name: string, args: CutoverSeamArgs, opts: pulumi.CustomResourceOptions): ControllerResult {
      const digests: pulumi.Output<Record<string, string>>[] = [];
      for (const vm of wave.vms) {
        const gateways = [...new Set(vm.disks.map((d) => d.gateway))];
        for (const gw of gateways) {
          const gateway = args.gateways.get(gw)!;
          const cutover = new Cutover(
            gateways.length === 1 ? `${name}-${vm.name}` : `${name}-${vm.name}-${gw}`,
            {
              agentUrl: gateway.agentEndpoint,
              vm: vm.uuid,
              jobIds: vm.disks.filter((d) => d.gateway === gw).map((d) => d.id),
              round: config.round + 1,
              manualConfirmation: config.manualConfirmation,
              ...(wave.window !== undefined ? { window: { start: wave.window.start, end: wave.window.end } } : {}),
            },
            { ...opts, dependsOn: [...args.replications] },
          );
          digests.push(cutover.digests.apply((d) => Object.fromEntries(Object.entries(d ?? {}).map(([job, v]) => [job, v.target]))));
        }
      }
      return { digests: pulumi.all(digests).apply((maps) => Object.assign({}, ...maps) as Record<string, string>) };
    },
  };
}

/** What the rehearsal stack declares around its environment. */
export interface RehearsalControllers {
  /** Planned disk id → `round N, digest D`: where each snapshot is taken. */
  readonly pointOf: pulumi.Output<Record<string, string>>;
  /** Declares the thaw once the snapshots exist. */
  thawAfter(snapshotIds: pulumi.Output<string[]>): void;
}

/** A RehearsalPoint per gateway of the wave (on the wave stack's agents), and the thaw after the snapshots. */
export function rehearsalControllers(stack: string, wave: PlannedWave, agentEndpoints: pulumi.Output<Record<string, string>>): RehearsalControllers {
  const point = stack;
  const perGateway = wave.gateways.map((gw) => {
    const jobIds = wave.vms
      .flatMap((vm) => vm.disks)
      .filter((d) => d.gateway === gw.name)
      .map((d) => d.id);
    const agentUrl = agentEndpoints.apply((urls) => urls[gw.name]!);
    const frozen = new RehearsalPoint(`${stack}-point-${gw.name}`, { agentUrl, jobIds, point });
    return { gw, jobIds, agentUrl, frozen };
  });
  const pointOf = pulumi
    .all(perGateway.map((p) => p.frozen.digests))
    .apply((maps) =>
      Object.fromEntries(maps.flatMap((m) => Object.entries(m ?? {}).map(([job, v]) => [job, `round ${v.round}, digest ${v.algorithm}:${v.digest}`]))),
    );
  return {
    pointOf,
    thawAfter(snapshotIds) {
      for (const p of perGateway) {
        new RehearsalThaw(`${stack}-thaw-${p.gw.name}`, { agentUrl: p.agentUrl, jobIds: p.jobIds, point, snapshots: snapshotIds });
      }
    },
  };
}
