/**
 * `RehearsalEnvironment`: a full copy of a wave booted in an isolated VPC with the production
 * CIDRs. It is never attached to CEN: the source VMs are still live with the same addresses.
 * Destroying it leaves replication untouched (it only snapshots the replicas).
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { InputError, problem, type Problem } from "../problems";
import { cidrCovers, cidrsOverlap, parseCidr } from "../net";
import type { PlannedSubnet, PlannedVm } from "../plan/types";
import { declareHostsFromReplicas } from "./hosts";
import { MirroredNetwork } from "./mirrored-network";
import { checkHostSecurityGroups, type HostSecurityGroup } from "./security-groups";
import { COMPONENT_TYPES, TAGS, TAG_ROLES } from "./tokens";

/** An optional jump host into the rehearsal VPC. */
export interface BastionArgs {
  readonly imageId: pulumi.Input<string>;
  /** @default "ecs.t6-c1m1.large" */
  readonly instanceType?: string;
  /** CIDR of the bastion's own vSwitch: inside the VPC blocks, overlapping no mirrored subnet. */
  readonly cidr: string;
  readonly zone: string;
  /** The only source allowed to SSH in (never `0.0.0.0/0`). */
  readonly operatorCidr: string;
  /** Outbound bandwidth of its public IP, Mbit/s. @default 5 */
  readonly bandwidthMbps?: number;
}

/** Arguments of {@link RehearsalEnvironment}. */
export interface RehearsalEnvironmentArgs {
  /** The production VPC's CIDR blocks (the rehearsal VPC gets the same). */
  readonly cidrBlocks: readonly string[];
  /** Mirrored subnets of the wave. */
  readonly subnets: readonly PlannedSubnet[];
  /** The wave's VMs. */
  readonly vms: readonly PlannedVm[];
  readonly wave: string;
  /** Rehearsal number, 1-based. */
  readonly rehearsal: number;
  /** Planned disk id → replicated cloud disk id (the wave stack's `diskIds` output). */
  readonly replicaDiskIds: pulumi.Input<Record<string, string>>;
  /**
   * Planned disk id → the frozen round each snapshot is taken at (the RehearsalPoint
   * controller's output). @default - each replica's latest round
   */
  readonly rehearsalPoint?: pulumi.Input<Record<string, string>>;
  /** Host security groups. @default - `MirroredNetwork`'s default */
  readonly hostSecurityGroups?: readonly HostSecurityGroup[];
  /** A bastion with a public IP for the people who validate. @default - none */
  readonly bastion?: BastionArgs;
}

/** An isolated rehearsal of one wave. Children: `${name}-network`, `${name}-snap-<disk>`, `${name}-<vm>`, `${name}-bastion*`. */
export class RehearsalEnvironment extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly cidrBlocks: pulumi.Output<string[]>;
  /** VM name → its pinned private IP. */
  public readonly privateIps: pulumi.Output<Record<string, string>>;
  /** Ids of the snapshots the hosts were built from (a thaw of replication can wait for them). */
  public readonly snapshotIds: pulumi.Output<string[]>;
  /** The bastion's public IP, or `""` without a bastion. */
  public readonly bastionPublicIp: pulumi.Output<string>;

  constructor(name: string, args: RehearsalEnvironmentArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(COMPONENT_TYPES.RehearsalEnvironment, name, {}, opts);
    if (args.bastion) {
      const problems = checkBastion(args, args.bastion);
      if (problems.length > 0) throw new InputError(problems);
    }
    const phase = `rehearsal-${args.rehearsal}`;
    const network = new MirroredNetwork(
      `${name}-network`,
      {
        cidrBlocks: args.cidrBlocks,
        subnets: args.subnets,
        hostSecurityGroups: args.hostSecurityGroups,
        vpcName: `${args.wave}-${phase}`,
        tags: { [TAGS.wave]: args.wave, [TAGS.phase]: phase },
      },
      { parent: this },
    );
    const hostGroups = network.hostSecurityGroupIds.apply((ids) => Object.values(ids));
    const groupCount = (args.hostSecurityGroups ?? [{ name: "hosts" }]).length;
    const securityGroupIds = Array.from({ length: groupCount }, (_, i) => hostGroups.apply((ids) => ids[i]));
    const { hosts, snapshots } = declareHostsFromReplicas(this, name, {
      vms: args.vms,
      subnets: args.subnets,
      replicaDiskIds: args.replicaDiskIds,
      pointOf: args.rehearsalPoint ?? {},
      vswitchIds: network.vswitchIds,
      securityGroupIds,
      wave: args.wave,
      phase,
    });
    this.vpcId = network.vpcId;
    this.cidrBlocks = network.cidrBlocks;
    this.privateIps = pulumi.all([...hosts].map(([vm, host]) => host.privateIp.apply((ip) => [vm, ip] as const))).apply((pairs) => Object.fromEntries(pairs));
    this.snapshotIds = pulumi.all([...snapshots.values()].map((s) => s.id));
    this.bastionPublicIp = args.bastion ? declareBastion(this, name, network, args.bastion) : pulumi.output("");
    this.registerOutputs({
      vpcId: this.vpcId,
      cidrBlocks: this.cidrBlocks,
      privateIps: this.privateIps,
      snapshotIds: this.snapshotIds,
      bastionPublicIp: this.bastionPublicIp,
    });
  }
}

/** Problems with a bastion: SSH open to the internet, or a vSwitch CIDR outside the VPC or on a mirrored subnet. */
function checkBastion(args: RehearsalEnvironmentArgs, bastion: BastionArgs): Problem[] {
  const problems: Problem[] = checkHostSecurityGroups([{ name: "bastion", rules: [{ protocol: "tcp", ports: "22/22", cidr: bastion.operatorCidr }] }]).map(
    (p) => ({
      ...p,
      field: "bastion.operatorCidr",
    }),
  );
  const where = { field: "bastion.cidr", received: bastion.cidr };
  if (parseCidr(bastion.cidr) === undefined) {
    problems.push(problem({ ...where, expected: "a CIDR like 172.30.0.0/28", message: "The bastion's vSwitch CIDR is not a canonical IPv4 CIDR." }));
  } else if (!args.cidrBlocks.some((block) => cidrCovers(block, bastion.cidr))) {
    problems.push(
      problem({
        ...where,
        expected: `inside one of ${args.cidrBlocks.join(", ")}`,
        fix: "pick a range inside the VPC's blocks, e.g. the wave's sync subnet",
        message: "The bastion's vSwitch lies outside the VPC's CIDR blocks.",
      }),
    );
  } else {
    const clash = args.subnets.find((s) => cidrsOverlap(s.cidr, bastion.cidr));
    if (clash)
      problems.push(
        problem({
          ...where,
          expected: `no overlap with mirrored subnet ${clash.name} (${clash.cidr})`,
          fix: "pick a range no source VM uses, e.g. the wave's sync subnet",
          message: "The bastion's vSwitch overlaps a mirrored subnet.",
        }),
      );
  }
  return problems;
}

function declareBastion(parent: RehearsalEnvironment, name: string, network: MirroredNetwork, bastion: BastionArgs): pulumi.Output<string> {
  const vswitch = new alicloud.vpc.Switch(
    `${name}-bastion-vswitch`,
    { vpcId: network.vpcId, vswitchName: `${name}-bastion`, cidrBlock: bastion.cidr, zoneId: bastion.zone, description: "rehost rehearsal bastion" },
    { parent },
  );
  const sg = new alicloud.ecs.SecurityGroup(
    `${name}-bastion-sg`,
    { vpcId: network.vpcId, securityGroupName: `${name}-bastion`, description: "SSH from the operator only" },
    { parent },
  );
  new alicloud.ecs.SecurityGroupRule(
    `${name}-bastion-ssh`,
    {
      securityGroupId: sg.id,
      type: "ingress",
      ipProtocol: "tcp",
      portRange: "22/22",
      cidrIp: bastion.operatorCidr,
      policy: "accept",
      description: "SSH from the operator",
    },
    { parent },
  );
  const instance = new alicloud.ecs.Instance(
    `${name}-bastion`,
    {
      instanceName: `${name}-bastion`,
      instanceType: bastion.instanceType ?? "ecs.t6-c1m1.large",
      imageId: bastion.imageId,
      vswitchId: vswitch.id,
      securityGroups: [sg.id],
      systemDiskEncrypted: true,
      internetMaxBandwidthOut: bastion.bandwidthMbps ?? 5,
      internetChargeType: "PayByTraffic",
      tags: { [TAGS.role]: TAG_ROLES.bastion },
    },
    { parent },
  );
  return instance.publicIp;
}
