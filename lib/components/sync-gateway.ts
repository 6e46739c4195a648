/**
 * `SyncGateway`: a small ECS instance in the sync vSwitch that receives replication for many
 * source disks. Its cloud disks are separate, retained resources attached to it, so replicated
 * data survives a gateway replacement.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { InputError, problem } from "../problems";
import type { PlannedDisk } from "../plan/types";
import { validateGatewayDisks } from "../plan/validate";
import { cloudDiskGiB } from "./ecs-mapping";
import { gatewayUserData, type GatewayBundleSource } from "./gateway-bootstrap";
import { checkGatewayRuntime, type GatewayRuntime } from "./gateway-runtime";
import { COMPONENT_TYPES, DEFAULT_AGENT_PORT, TAGS, TAG_ROLES } from "./tokens";

/** Where a gateway's agent bundle is and the RAM role it reads it with: an `AgentRelease`, or the same facts. */
export interface GatewayRelease {
  readonly source: pulumi.Input<GatewayBundleSource>;
  readonly roleName: pulumi.Input<string>;
  /** What the instance waits for before it boots (the bundle object and the role's policy). @default - nothing */
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** Arguments of {@link SyncGateway}. */
export interface SyncGatewayArgs {
  /** ECS instance type (from the plan's gateway). */
  readonly instanceType: string;
  /** Image of the gateway (a Linux the agent runs on). */
  readonly imageId: pulumi.Input<string>;
  /** The sync vSwitch the gateway lives in. */
  readonly vswitchId: pulumi.Input<string>;
  /** Zone of the sync vSwitch: the gateway's disks are created there. */
  readonly zone: string;
  /** Security groups, usually the gateway group of `MirroredNetwork`. */
  readonly securityGroupIds: readonly pulumi.Input<string>[];
  /** The source disks it carries, one cloud data disk each (the agent finds each by its disk id, not by slot). */
  readonly disks: readonly PlannedDisk[];
  /** Agent API token; pass a Pulumi secret. */
  readonly agentToken: pulumi.Input<string>;
  /** TLS-PSK key (hex) for NBD over TLS to the source proxy; pass a Pulumi secret. */
  readonly agentPsk: pulumi.Input<string>;
  /** Agent API port. @default 8443 */
  readonly agentPort?: number;
  /**
   * File name the PSK is stored under in the agent's credentials directory; replication jobs name
   * it (`rehost:sourceCredentials`). @default "source.psk"
   */
  readonly pskFileName?: string;
  /** Most disks the gateway may carry. @default 16 */
  readonly maxDisks?: number;
  /** The agent bundle in OSS and the RAM role the gateway reads it with (one per wave). */
  readonly release: GatewayRelease;
  /** How the gateway gets Node.js: exact package versions from the image's mirror, or a runtime on the image. */
  readonly runtime: GatewayRuntime;
  /** System disk size, GiB. @default 40 */
  readonly systemDiskGiB?: number;
  /**
   * Protect the data disks against `pulumi destroy`. They are always retained on delete
   * (`retainOnDelete`), so replicated data outlives the stack in any case.
   * @default true
   */
  readonly protectDisks?: boolean;
  /** Encrypt the system disk and every replica disk at rest. @default true */
  readonly encryptDisks?: boolean;
  /** KMS key for the encrypted disks. @default - the account's default service key for ECS */
  readonly kmsKeyId?: pulumi.Input<string>;
  /** Tags for the instance and its disks. @default - none */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * A sync gateway. Children: `${name}-instance`, `${name}-ram-role` (the release's role attached
 * to it), `${name}-disk-<diskId>`, `${name}-attach-<diskId>`.
 */
export class SyncGateway extends pulumi.ComponentResource {
  public readonly instanceId: pulumi.Output<string>;
  public readonly privateIp: pulumi.Output<string>;
  /** `https://<private ip>:<port>`, where the agent API listens. */
  public readonly agentEndpoint: pulumi.Output<string>;
  /**
   * Planned disk id → the target the gateway's agent knows the replica by: its cloud disk id
   * (`d-bp1abc…`), which the agent resolves through `/dev/disk/by-id` whatever the attach order.
   */
  public readonly devices: pulumi.Output<Record<string, string>>;
  /** Planned disk id → the cloud disk id. */
  public readonly diskIds: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: SyncGatewayArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(COMPONENT_TYPES.SyncGateway, name, {}, opts);
    const built = declareSyncGateway(this, name, args);
    this.instanceId = built.instance.id;
    this.privateIp = built.instance.privateIp;
    const port = args.agentPort ?? DEFAULT_AGENT_PORT;
    this.agentEndpoint = built.instance.privateIp.apply((ip) => `https://${ip}:${port}`);
    this.diskIds = pulumi
      .all(built.sorted.map((d) => built.disks.get(d.id)!.id.apply((id) => [d.id, id] as const)))
      .apply((pairs) => Object.fromEntries(pairs));
    this.devices = this.diskIds;
    this.registerOutputs({
      instanceId: this.instanceId,
      privateIp: this.privateIp,
      agentEndpoint: this.agentEndpoint,
      devices: this.devices,
      diskIds: this.diskIds,
    });
  }
}

function declareSyncGateway(parent: SyncGateway, name: string, args: SyncGatewayArgs) {
  const limitProblems = validateGatewayDisks({
    gateway: name,
    disks: args.disks.length,
    bytes: args.disks.reduce((sum, d) => sum + d.sizeBytes, 0),
    maxDisks: args.maxDisks ?? 16,
    maxBytes: Number.POSITIVE_INFINITY,
  });
  if (limitProblems.length > 0) throw new InputError(limitProblems);
  const slots = new Set<number>();
  for (const d of args.disks) {
    if (slots.has(d.slot)) {
      throw new InputError(
        problem({
          field: `disks[${d.id}].slot`,
          received: String(d.slot),
          expected: "a slot used once per gateway",
          message: `Two disks of sync gateway ${name} share slot ${d.slot}.`,
        }),
      );
    }
    slots.add(d.slot);
  }
  const sorted = [...args.disks].sort((a, b) => a.slot - b.slot);
  const runtimeProblems = checkGatewayRuntime(args.runtime, "runtime");
  if (runtimeProblems.length > 0) throw new InputError(runtimeProblems);
  const tags = { ...(args.tags ?? {}), [TAGS.role]: TAG_ROLES.syncGateway };
  const encrypt = args.encryptDisks ?? true;

  // The disks first: the agent's allow-list in the user data names them by id.
  const disks = new Map<string, alicloud.ecs.EcsDisk>();
  for (const disk of sorted) {
    const cloudDisk = new alicloud.ecs.EcsDisk(
      `${name}-disk-${disk.id}`,
      {
        diskName: disk.id,
        zoneId: args.zone,
        size: cloudDiskGiB(disk.sizeBytes, disk.category, "data"),
        category: disk.category,
        encrypted: encrypt,
        kmsKeyId: encrypt ? args.kmsKeyId : undefined,
        deleteWithInstance: false,
        description: `rehost replica of ${disk.label} (${disk.id})`,
        tags: { ...tags, [TAGS.disk]: disk.id, [TAGS.slot]: String(disk.slot) },
      },
      { parent, protect: args.protectDisks ?? true, retainOnDelete: true },
    );
    disks.set(disk.id, cloudDisk);
  }

  const port = args.agentPort ?? DEFAULT_AGENT_PORT;
  const pskFileName = args.pskFileName ?? "source.psk";
  const userData = pulumi.secret(
    pulumi
      .all([args.agentToken, args.agentPsk, args.release.source, pulumi.all(sorted.map((d) => disks.get(d.id)!.id))])
      .apply(([token, psk, bundle, allow]) => gatewayUserData({ port, allow, token, psk, pskFileName, bundle, runtime: args.runtime })),
  );

  const instance = new alicloud.ecs.Instance(
    `${name}-instance`,
    {
      instanceName: name,
      hostName: name,
      instanceType: args.instanceType,
      imageId: args.imageId,
      vswitchId: args.vswitchId,
      securityGroups: [...args.securityGroupIds],
      systemDiskCategory: "cloud_essd",
      systemDiskSize: args.systemDiskGiB ?? 40,
      systemDiskEncrypted: encrypt,
      systemDiskKmsKeyId: encrypt ? args.kmsKeyId : undefined,
      internetMaxBandwidthOut: 0,
      userData,
      tags,
    },
    // The bundle and its read policy exist before the gateway boots and asks for them. User data
    // runs once, at the first boot: a later change (a new rehost, another disk) is not applied by
    // updating the instance, which would only restart it; run the bootstrap again on it instead.
    { parent, dependsOn: args.release.dependsOn ?? [], ignoreChanges: ["userData"] },
  );
  new alicloud.ecs.RamRoleAttachment(`${name}-ram-role`, { instanceId: instance.id, ramRoleName: args.release.roleName }, { parent });

  for (const disk of sorted) {
    // Any attach order: the agent finds each disk by its serial (the disk id), not by device name.
    new alicloud.ecs.EcsDiskAttachment(
      `${name}-attach-${disk.id}`,
      { diskId: disks.get(disk.id)!.id, instanceId: instance.id, deleteWithInstance: false },
      { parent },
    );
  }
  return { instance, disks, sorted };
}
