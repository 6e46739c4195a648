/**
 * `SyncGateway`: a small ECS instance in the sync vSwitch that receives replication for many
 * source disks. Its cloud disks are separate, retained resources attached to it, so replicated
 * data survives a gateway replacement.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { InputError, problem } from "../problems";
import type { PlannedDisk } from "../plan/types";
import { DEFAULT_AGENT_PORT } from "./mirrored-network";
import { validateGatewayDisks } from "../plan/validate";
import { cloudDiskGiB, gatewayDevice } from "./rules";

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
  /** The source disks it carries, one cloud data disk each, attached in `slot` order. */
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
  /** npm package spec of the agent user data installs. @default "rehost" (the registry's latest) */
  readonly agentPackage?: string;
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

/** A sync gateway. Children: `${name}-instance`, `${name}-disk-<diskId>`, `${name}-attach-<diskId>`. */
export class SyncGateway extends pulumi.ComponentResource {
  public readonly instanceId: pulumi.Output<string>;
  public readonly privateIp: pulumi.Output<string>;
  /** `https://<private ip>:<port>`, where the agent API listens. */
  public readonly agentEndpoint: pulumi.Output<string>;
  /** Planned disk id → the block device it appears as on the gateway (`/dev/vdb`, ...). */
  public readonly devices: pulumi.Output<Record<string, string>>;
  /** Planned disk id → the cloud disk id. */
  public readonly diskIds: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: SyncGatewayArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("rehost:components:SyncGateway", name, {}, opts);
    const built = declareSyncGateway(this, name, args);
    this.instanceId = built.instance.id;
    this.privateIp = built.instance.privateIp;
    const port = args.agentPort ?? DEFAULT_AGENT_PORT;
    this.agentEndpoint = built.instance.privateIp.apply((ip) => `https://${ip}:${port}`);
    this.devices = pulumi.output(Object.fromEntries(built.sorted.map((d) => [d.id, gatewayDevice(d.slot)])));
    this.diskIds = pulumi
      .all(built.sorted.map((d) => built.disks.get(d.id)!.id.apply((id) => [d.id, id] as const)))
      .apply((pairs) => Object.fromEntries(pairs));
    this.registerOutputs({
      instanceId: this.instanceId,
      privateIp: this.privateIp,
      agentEndpoint: this.agentEndpoint,
      devices: this.devices,
      diskIds: this.diskIds,
    });
  }
}

/** What the agent on a gateway is started with. */
export interface GatewayAgentSettings {
  readonly port: number;
  /** npm package spec of the agent. */
  readonly agentPackage: string;
  /** The only devices replication may write to (the gateway's data disks). */
  readonly devices: readonly string[];
  /** File name of the PSK in the credentials directory. */
  readonly pskFileName: string;
}

/**
 * Cloud-init user data that installs the agent (`rehost agent`, docs/agent.md) and starts it with
 * its token, the PSK in its credentials directory, and the gateway's devices as its allow-list.
 */
export function gatewayUserData(token: string, psk: string, settings: GatewayAgentSettings): string {
  const pskFile = `/etc/rehost/psk/${settings.pskFileName}`;
  return [
    "#!/bin/bash",
    "set -euo pipefail",
    "install -d -m 0700 /etc/rehost /etc/rehost/psk /var/lib/rehost",
    `printf '%s' ${shellQuote(token)} > /etc/rehost/agent.token`,
    `printf 'rehost:%s\\n' ${shellQuote(psk)} > ${shellQuote(pskFile)}`,
    `chmod 0600 /etc/rehost/agent.token ${shellQuote(pskFile)}`,
    "command -v node >/dev/null || (curl -fsSL https://rpm.nodesource.com/setup_20.x | bash - && yum install -y nodejs)",
    "yum install -y nbdkit qemu-img || true",
    `npm install -g ${shellQuote(settings.agentPackage)}`,
    "cat > /etc/systemd/system/rehost-agent.service <<'UNIT'",
    "[Unit]",
    "Description=rehost sync-gateway agent",
    "After=network-online.target",
    "[Service]",
    `ExecStart=/usr/bin/env rehost agent --state /var/lib/rehost --listen 0.0.0.0:${settings.port} --token-file /etc/rehost/agent.token --credentials /etc/rehost/psk --allow ${settings.devices.join(",")}`,
    "Restart=always",
    "[Install]",
    "WantedBy=multi-user.target",
    "UNIT",
    "systemctl daemon-reload",
    "systemctl enable --now rehost-agent",
    "",
  ].join("\n");
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
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
        problem({ field: `disks[${d.id}].slot`, received: String(d.slot), expected: "a slot used once per gateway", message: `Two disks of sync gateway ${name} share slot ${d.slot}.` }),
      );
    }
    slots.add(d.slot);
  }
  const sorted = [...args.disks].sort((a, b) => a.slot - b.slot);
  const tags = { ...(args.tags ?? {}), "rehost:role": "sync-gateway" };
  const settings: GatewayAgentSettings = {
    port: args.agentPort ?? DEFAULT_AGENT_PORT,
    agentPackage: args.agentPackage ?? "rehost",
    devices: sorted.map((d) => gatewayDevice(d.slot)),
    pskFileName: args.pskFileName ?? "source.psk",
  };
  const userData = pulumi.secret(pulumi.all([args.agentToken, args.agentPsk]).apply(([token, psk]) => gatewayUserData(token, psk, settings)));

  const encrypt = args.encryptDisks ?? true;
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
    { parent },
  );

  const disks = new Map<string, alicloud.ecs.EcsDisk>();
  let previous: pulumi.Resource | undefined;
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
        tags: { ...tags, "rehost:disk": disk.id, "rehost:slot": String(disk.slot) },
      },
      { parent, protect: args.protectDisks ?? true, retainOnDelete: true },
    );
    // Attach in slot order so the gateway sees each disk at its planned device name.
    const attachment: pulumi.Resource = new alicloud.ecs.EcsDiskAttachment(
      `${name}-attach-${disk.id}`,
      { diskId: cloudDisk.id, instanceId: instance.id, deleteWithInstance: false },
      { parent, dependsOn: previous ? [previous] : [] },
    );
    previous = attachment;
    disks.set(disk.id, cloudDisk);
  }
  return { instance, disks, sorted };
}
