/**
 * Bringing hosts up from replicas: snapshot every replicated cloud disk of a set of VMs, then
 * declare one `MigratedInstance` per VM from those snapshots. Rehearsals and the cutover do the
 * same thing in different VPCs; this is the one place it is written.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { PlannedSubnet, PlannedVm } from "../plan/types";
import { MigratedInstance } from "./migrated-instance";
import { TAGS } from "./tokens";

/** Arguments of {@link declareHostsFromReplicas}. */
export interface HostsFromReplicasArgs {
  readonly vms: readonly PlannedVm[];
  /** The mirrored subnets the VMs' NICs are in. */
  readonly subnets: readonly PlannedSubnet[];
  /** Planned disk id → replicated cloud disk id (a sync gateway's data disk). */
  readonly replicaDiskIds: pulumi.Input<Record<string, string>>;
  /**
   * Planned disk id → the consistent point each snapshot is taken at (a rehearsal point's round
   * label, or the digest the cutover verified). It becomes the snapshot's description, so the
   * snapshots wait for it: that is the ordering between controllers and snapshots.
   */
  readonly pointOf: pulumi.Input<Record<string, string>>;
  /** Mirrored vSwitch id per subnet name. */
  readonly vswitchIds: pulumi.Input<Record<string, string>>;
  readonly securityGroupIds: readonly pulumi.Input<string>[];
  readonly wave: string;
  /** `rehearsal-<n>` or `cutover`. */
  readonly phase: string;
}

/** What {@link declareHostsFromReplicas} declared. */
export interface HostsFromReplicas {
  /** VM name → its instance. */
  readonly hosts: Map<string, MigratedInstance>;
  /** Planned disk id → its snapshot. */
  readonly snapshots: Map<string, alicloud.ecs.EcsSnapshot>;
}

/** Declares `${name}-snap-<diskId>` snapshots and `${name}-<vm>` instances under `parent`. */
export function declareHostsFromReplicas(parent: pulumi.Resource, name: string, args: HostsFromReplicasArgs): HostsFromReplicas {
  const replicas = pulumi.output(args.replicaDiskIds);
  const points = pulumi.output(args.pointOf);
  const vswitches = pulumi.output(args.vswitchIds);
  const vswitchIdsBySubnet: Record<string, pulumi.Output<string>> = {};
  for (const subnet of args.subnets) {
    vswitchIdsBySubnet[subnet.cidr] = vswitches.apply((ids) => {
      const id = ids[subnet.name];
      if (id === undefined) throw new Error(`no vSwitch for mirrored subnet ${subnet.name} (${subnet.cidr}); update the network stack first`);
      return id;
    });
  }
  const hosts = new Map<string, MigratedInstance>();
  const allSnapshots = new Map<string, alicloud.ecs.EcsSnapshot>();
  for (const vm of args.vms) {
    const snapshots = new Map<string, pulumi.Output<string>>();
    for (const disk of vm.disks) {
      const snapshot = new alicloud.ecs.EcsSnapshot(
        `${name}-snap-${disk.id}`,
        {
          diskId: replicas.apply((ids) => {
            const id = ids[disk.id];
            if (id === undefined) throw new Error(`no replicated cloud disk for ${disk.id}; the wave stack has not declared it`);
            return id;
          }),
          snapshotName: `${name}-${disk.id}`,
          category: "standard",
          description: points.apply((p) => `rehost ${args.phase} of ${vm.name} ${disk.label} at ${p[disk.id] ?? "the latest round"}`),
          tags: { [TAGS.wave]: args.wave, [TAGS.phase]: args.phase, [TAGS.disk]: disk.id },
        },
        { parent },
      );
      snapshots.set(disk.id, snapshot.id);
      allSnapshots.set(disk.id, snapshot);
    }
    const [system, ...data] = vm.disks;
    hosts.set(
      vm.name,
      new MigratedInstance(
        `${name}-${vm.name}`,
        {
          vm,
          vswitchIdsBySubnet,
          securityGroupIds: args.securityGroupIds,
          systemSnapshotId: snapshots.get(system.id)!,
          dataSnapshotIds: Object.fromEntries(data.map((d) => [d.id, snapshots.get(d.id)!])),
          wave: args.wave,
          phase: args.phase,
        },
        { parent },
      ),
    );
  }
  return { hosts, snapshots: allSnapshots };
}
