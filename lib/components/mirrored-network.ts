/**
 * `MirroredNetwork`: a VPC whose vSwitches mirror the on-prem subnets (identical CIDRs), the
 * sync vSwitches replication uses, and the security groups of sync gateways and migrated hosts.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { InputError } from "../problems";
import type { PlannedSubnet } from "../plan/types";
import { checkHostSecurityGroups, type HostSecurityGroup } from "./security-groups";
import { COMPONENT_TYPES, DEFAULT_AGENT_PORT, DEFAULT_NBD_PORT, TAGS, TAG_ROLES } from "./tokens";

/** A sync vSwitch: where sync gateways live, in a range that overlaps no source or on-prem range. */
export interface SyncSubnet {
  /** vSwitch name suffix, usually the wave name. */
  readonly name: string;
  readonly cidr: string;
  readonly zone: string;
}

/** Who may reach the sync gateways. */
export interface GatewayAccess {
  /** The operator's CIDR: the only source allowed to call the agent API. */
  readonly operatorCidr: string;
  /** The on-prem NBD proxy's CIDR: the only source allowed on the NBD port. */
  readonly sourceProxyCidr: string;
  /** Agent API port. @default 8443 */
  readonly agentPort?: number;
  /** NBD port. @default 10809 */
  readonly nbdPort?: number;
}

/** Arguments of {@link MirroredNetwork}. */
export interface MirroredNetworkArgs {
  /** VPC CIDR blocks: the first is the primary block, the others become secondary blocks. */
  readonly cidrBlocks: readonly string[];
  /** Mirrored subnets: one vSwitch each, with the subnet's own CIDR and zone. */
  readonly subnets: readonly PlannedSubnet[];
  /** Sync vSwitches. @default - none (a rehearsal VPC needs none) */
  readonly syncSubnets?: readonly SyncSubnet[];
  /** Access to the sync gateways. @default - no gateway security group is declared */
  readonly gatewayAccess?: GatewayAccess;
  /**
   * Security groups for migrated hosts. @default - one group `hosts` admitting all traffic from
   * the VPC's own CIDR blocks and nothing else
   */
  readonly hostSecurityGroups?: readonly HostSecurityGroup[];
  /** Name of the VPC as the console shows it. @default - the component name */
  readonly vpcName?: string;
  /** Tags for every child that takes tags. @default - none */
  readonly tags?: Readonly<Record<string, string>>;
}

/** A VPC mirroring the on-prem subnets. Children: `${name}-vpc`, `${name}-cidr-<n>`, `${name}-<subnet>`, `${name}-sync-<wave>`, `${name}-gateway-sg`, `${name}-hosts-<group>`. */
export class MirroredNetwork extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  /** The VPC's CIDR blocks, primary first. */
  public readonly cidrBlocks: pulumi.Output<string[]>;
  /** vSwitch id per mirrored subnet name. */
  public readonly vswitchIds: pulumi.Output<Record<string, string>>;
  /** vSwitch id per sync subnet name. */
  public readonly syncVswitchIds: pulumi.Output<Record<string, string>>;
  /** The gateway security group's id, or `""` when no gateway access was given. */
  public readonly gatewaySecurityGroupId: pulumi.Output<string>;
  /** Security group id per host group name. */
  public readonly hostSecurityGroupIds: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: MirroredNetworkArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(COMPONENT_TYPES.MirroredNetwork, name, {}, opts);
    const built = declareMirroredNetwork(this, name, args);
    this.vpcId = built.vpc.id;
    this.cidrBlocks = pulumi.output([...args.cidrBlocks]);
    this.vswitchIds = idMap(built.vswitches);
    this.syncVswitchIds = idMap(built.syncVswitches);
    this.gatewaySecurityGroupId = built.gatewayGroup ? built.gatewayGroup.id : pulumi.output("");
    this.hostSecurityGroupIds = idMap(built.hostGroups);
    this.registerOutputs({
      vpcId: this.vpcId,
      cidrBlocks: this.cidrBlocks,
      vswitchIds: this.vswitchIds,
      syncVswitchIds: this.syncVswitchIds,
      gatewaySecurityGroupId: this.gatewaySecurityGroupId,
      hostSecurityGroupIds: this.hostSecurityGroupIds,
    });
  }
}

function idMap(resources: ReadonlyMap<string, pulumi.CustomResource>): pulumi.Output<Record<string, string>> {
  const entries = [...resources].map(([key, r]) => r.id.apply((id) => [key, id] as const));
  return pulumi.all(entries).apply((pairs) => Object.fromEntries(pairs));
}

function declareMirroredNetwork(parent: MirroredNetwork, name: string, args: MirroredNetworkArgs) {
  const syncSubnets = args.syncSubnets ?? [];
  const hostGroups: readonly HostSecurityGroup[] = args.hostSecurityGroups ?? [
    { name: "hosts", rules: args.cidrBlocks.map((cidr) => ({ protocol: "all" as const, ports: "-1/-1", cidr, description: "traffic from inside the VPC" })) },
  ];
  const problems = checkHostSecurityGroups(hostGroups);
  if (args.cidrBlocks.length === 0) {
    problems.push({
      severity: "error",
      field: "cidrBlocks",
      received: "[]",
      expected: "at least one CIDR block",
      message: `MirroredNetwork ${name} has no VPC CIDR block.`,
    });
  }
  if (problems.length > 0) throw new InputError(problems);

  const tags = { ...(args.tags ?? {}) };
  const vpc = new alicloud.vpc.Network(
    `${name}-vpc`,
    { vpcName: args.vpcName ?? name, cidrBlock: args.cidrBlocks[0], description: "rehost: mirrors the on-prem subnets", tags },
    { parent },
  );
  const secondary = args.cidrBlocks
    .slice(1)
    .map((cidr, i) => new alicloud.vpc.Ipv4CidrBlock(`${name}-cidr-${i + 1}`, { vpcId: vpc.id, secondaryCidrBlock: cidr }, { parent }));

  const vswitches = new Map<string, alicloud.vpc.Switch>();
  for (const subnet of args.subnets) {
    vswitches.set(
      subnet.name,
      new alicloud.vpc.Switch(
        `${name}-${subnet.name}`,
        {
          vpcId: vpc.id,
          vswitchName: subnet.name,
          cidrBlock: subnet.cidr,
          zoneId: subnet.zone,
          description: `rehost: mirror of on-prem portgroup ${subnet.portgroup}`,
          tags: { ...tags, [TAGS.portgroup]: subnet.portgroup },
        },
        { parent, dependsOn: secondary },
      ),
    );
  }
  const syncVswitches = new Map<string, alicloud.vpc.Switch>();
  for (const sync of syncSubnets) {
    syncVswitches.set(
      sync.name,
      new alicloud.vpc.Switch(
        `${name}-sync-${sync.name}`,
        {
          vpcId: vpc.id,
          vswitchName: `sync-${sync.name}`,
          cidrBlock: sync.cidr,
          zoneId: sync.zone,
          description: "rehost: replication traffic, separate from the mirrored subnets",
          tags: { ...tags, [TAGS.role]: TAG_ROLES.syncVswitch },
        },
        { parent, dependsOn: secondary },
      ),
    );
  }

  let gatewayGroup: alicloud.ecs.SecurityGroup | undefined;
  if (args.gatewayAccess) {
    const access = args.gatewayAccess;
    gatewayGroup = new alicloud.ecs.SecurityGroup(
      `${name}-gateway-sg`,
      {
        vpcId: vpc.id,
        securityGroupName: `${name}-gateway`,
        description: "rehost sync gateways: agent API from the operator, NBD from the source proxy",
        tags,
      },
      { parent },
    );
    const agentPort = access.agentPort ?? DEFAULT_AGENT_PORT;
    const nbdPort = access.nbdPort ?? DEFAULT_NBD_PORT;
    new alicloud.ecs.SecurityGroupRule(
      `${name}-gateway-agent`,
      {
        securityGroupId: gatewayGroup.id,
        type: "ingress",
        ipProtocol: "tcp",
        portRange: `${agentPort}/${agentPort}`,
        cidrIp: access.operatorCidr,
        policy: "accept",
        description: "agent API from the operator",
      },
      { parent },
    );
    new alicloud.ecs.SecurityGroupRule(
      `${name}-gateway-nbd`,
      {
        securityGroupId: gatewayGroup.id,
        type: "ingress",
        ipProtocol: "tcp",
        portRange: `${nbdPort}/${nbdPort}`,
        cidrIp: access.sourceProxyCidr,
        policy: "accept",
        description: "NBD from the source proxy",
      },
      { parent },
    );
  }

  const groups = new Map<string, alicloud.ecs.SecurityGroup>();
  for (const group of hostGroups) {
    const sg = new alicloud.ecs.SecurityGroup(
      `${name}-hosts-${group.name}`,
      { vpcId: vpc.id, securityGroupName: `${name}-${group.name}`, description: `rehost migrated hosts: ${group.name}`, tags },
      { parent },
    );
    group.rules.forEach((rule, i) => {
      new alicloud.ecs.SecurityGroupRule(
        `${name}-hosts-${group.name}-${i}`,
        {
          securityGroupId: sg.id,
          type: "ingress",
          ipProtocol: rule.protocol,
          portRange: rule.ports,
          cidrIp: rule.cidr,
          policy: "accept",
          description: rule.description,
        },
        { parent },
      );
    });
    groups.set(group.name, sg);
  }
  return { vpc, vswitches, syncVswitches, gatewayGroup, hostGroups: groups };
}
