/**
 * `MigratedInstance`: the cloud twin of one source VM. Its primary private IP is pinned to the
 * VM's address inside the mirrored vSwitch of the same CIDR, so the VPC's DHCP hands the guest
 * exactly the source's address; the system disk comes from an image built from a snapshot and the
 * data disks from snapshots. It never gets a public IP.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { InputError, problem, throwIfErrors } from "../problems";
import { validatePinnedIp } from "../plan/validate";
import type { PlannedVm } from "../plan/types";
import { cloudDiskGiB, imagePlatform } from "./ecs-mapping";
import { COMPONENT_TYPES, TAGS } from "./tokens";

/** Arguments of {@link MigratedInstance}. */
export interface MigratedInstanceArgs {
  /** The planned VM: name, uuid, NICs and IPs, instance type, disks. */
  readonly vm: PlannedVm;
  /** vSwitch id per mirrored subnet CIDR (`PlannedNic.subnet`). */
  readonly vswitchIdsBySubnet: Readonly<Record<string, pulumi.Input<string>>>;
  /** Security groups of every NIC. */
  readonly securityGroupIds: readonly pulumi.Input<string>[];
  /** Snapshot of the system disk (the VM's first disk) the image is built from. */
  readonly systemSnapshotId: pulumi.Input<string>;
  /** Snapshot per data disk, keyed by planned disk id. */
  readonly dataSnapshotIds: Readonly<Record<string, pulumi.Input<string>>>;
  /** Wave the VM belongs to (a tag). */
  readonly wave: string;
  /** Phase the instance serves: `rehearsal-<n>` or `cutover` (a tag). */
  readonly phase: string;
  /** Extra tags. @default - none */
  readonly tags?: Readonly<Record<string, string>>;
  /** Encrypt the system and data disks at rest. @default true */
  readonly encryptDisks?: boolean;
  /** KMS key for the encrypted disks. @default - the account's default service key for ECS */
  readonly kmsKeyId?: pulumi.Input<string>;
}

/** One migrated VM. Children: `${name}-image`, `${name}-instance`, `${name}-eni-<n>`, `${name}-eni-<n>-attach`. */
export class MigratedInstance extends pulumi.ComponentResource {
  public readonly instanceId: pulumi.Output<string>;
  /** The pinned primary private IP (the source VM's). */
  public readonly privateIp: pulumi.Output<string>;
  public readonly imageId: pulumi.Output<string>;

  constructor(name: string, args: MigratedInstanceArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(COMPONENT_TYPES.MigratedInstance, name, {}, opts);
    const built = declareMigratedInstance(this, name, args);
    this.instanceId = built.instance.id;
    this.privateIp = built.instance.privateIp;
    this.imageId = built.image.id;
    this.registerOutputs({ instanceId: this.instanceId, privateIp: this.privateIp, imageId: this.imageId });
  }
}

function vswitchFor(args: MigratedInstanceArgs, subnet: string, field: string): pulumi.Input<string> {
  const id = args.vswitchIdsBySubnet[subnet];
  if (id === undefined) {
    throw new InputError(
      problem({
        vm: args.vm.name,
        field,
        received: subnet,
        expected: `one of the mirrored subnets ${Object.keys(args.vswitchIdsBySubnet).join(", ") || "(none)"}`,
        fix: "add the subnet to the landing zone (re-plan and update the landing-zone stack)",
        message: `VM ${args.vm.name} has a NIC in subnet ${subnet}, which has no mirrored vSwitch.`,
      }),
    );
  }
  return id;
}

function declareMigratedInstance(parent: MigratedInstance, name: string, args: MigratedInstanceArgs) {
  const vm = args.vm;
  const primary = vm.nics.find((n) => n.primary) ?? vm.nics[0];
  if (primary === undefined) {
    throw new InputError(
      problem({
        vm: vm.name,
        field: "nics",
        received: "no NIC",
        expected: "at least one NIC",
        fix: "give the VM a NIC in the inventory",
        message: `VM ${vm.name} has no network interface to pin.`,
      }),
    );
  }
  // The planner's own check: every kept address is inside its NIC's subnet and not reserved.
  if (vm.keepIp) {
    throwIfErrors(
      vm.nics.flatMap((nic, n) => nic.ips.map((ip, i) => validatePinnedIp({ vm: vm.name, field: `nics[${n}].ips[${i}]`, ip, cidr: nic.subnet }))).flat(),
    );
  }
  const [system, ...data] = vm.disks;
  const tags = {
    ...(args.tags ?? {}),
    [TAGS.wave]: args.wave,
    [TAGS.sourceVmUuid]: vm.uuid,
    [TAGS.sourceVm]: vm.name,
    [TAGS.phase]: args.phase,
    ...(primary.ips[0] !== undefined ? { [TAGS.sourceIp]: primary.ips[0] } : {}),
  };
  const encrypt = args.encryptDisks ?? true;
  const kmsKeyId = encrypt ? args.kmsKeyId : undefined;
  for (const disk of data) {
    if (args.dataSnapshotIds[disk.id] === undefined) {
      throw new InputError(
        problem({
          vm: vm.name,
          field: `disks[${disk.id}]`,
          received: "no snapshot",
          expected: "a snapshot id",
          message: `Data disk ${disk.id} of VM ${vm.name} has no snapshot to restore from.`,
        }),
      );
    }
  }

  const image = new alicloud.ecs.Image(
    `${name}-image`,
    {
      imageName: `${name}-system`,
      snapshotId: args.systemSnapshotId,
      architecture: "x86_64",
      platform: imagePlatform(vm.guestOs),
      bootMode: vm.firmware === "efi" ? "UEFI" : "BIOS",
      description: `rehost: system disk of ${vm.name} (${vm.uuid})`,
      tags,
    },
    { parent },
  );

  const securityGroups = [...args.securityGroupIds];
  const instance = new alicloud.ecs.Instance(
    `${name}-instance`,
    {
      instanceName: vm.name,
      instanceType: vm.instanceType,
      imageId: image.id,
      vswitchId: vswitchFor(args, primary.subnet, "nics[0].subnet"),
      // keepIp false: the VPC's DHCP picks a free address instead of the source's.
      privateIp: vm.keepIp ? primary.ips[0] : undefined,
      secondaryPrivateIps: vm.keepIp && primary.ips.length > 1 ? primary.ips.slice(1) : undefined,
      securityGroups,
      systemDiskCategory: system?.category ?? "cloud_essd",
      systemDiskSize: cloudDiskGiB(system?.sizeBytes ?? 0, system?.category ?? "cloud_essd", "system"),
      systemDiskEncrypted: encrypt,
      systemDiskKmsKeyId: kmsKeyId,
      dataDisks: data.map((disk) => ({
        name: disk.id,
        size: cloudDiskGiB(disk.sizeBytes, disk.category, "data"),
        category: disk.category,
        snapshotId: args.dataSnapshotIds[disk.id],
        encrypted: encrypt,
        kmsKeyId,
        deleteWithInstance: true,
        description: `${disk.label} of ${vm.name}`,
      })),
      internetMaxBandwidthOut: 0,
      tags,
    },
    { parent },
  );

  vm.nics
    .filter((nic) => nic !== primary)
    .forEach((nic, i) => {
      const n = i + 1;
      const eni = new alicloud.ecs.EcsNetworkInterface(
        `${name}-eni-${n}`,
        {
          networkInterfaceName: `${vm.name}-eni-${n}`,
          vswitchId: vswitchFor(args, nic.subnet, `nics[${n}].subnet`),
          primaryIpAddress: vm.keepIp ? nic.ips[0] : undefined,
          privateIpAddresses: vm.keepIp && nic.ips.length > 1 ? nic.ips.slice(1) : undefined,
          securityGroupIds: securityGroups,
          description: `rehost: NIC ${nic.mac} of ${vm.name}`,
          tags,
        },
        { parent },
      );
      new alicloud.ecs.EcsNetworkInterfaceAttachment(`${name}-eni-${n}-attach`, { instanceId: instance.id, networkInterfaceId: eni.id }, { parent });
    });

  return { image, instance };
}
