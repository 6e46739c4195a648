/**
 * Guest adaptation: prepares a Linux system disk, cloned from a rehearsal or cutover snapshot,
 * for its first boot on Alibaba Cloud ECS. See docs/guest.md.
 *
 * ```ts
 * import { adaptDisk } from "rehost/lib/guest";
 * const report = await adaptDisk("/dev/vdb", { staticSecondary: [{ address: "10.1.1.21", prefixLength: 24 }] });
 * if (!report.ok) throw new Error(report.warnings.join("\n"));
 * ```
 */
import * as fs from "node:fs";
import { isIPv4 } from "node:net";
import type { PlannedVm } from "../plan/types";
import { InputError, problem, type Problem } from "../problems";
import { adaptGuest, type AdaptReport } from "./adapt";
import { GuestfishSession } from "./guestfish";
import type { SecondaryAddress } from "./network";

export { adaptGuest, installedKernels, BACKUP_ROOT } from "./adapt";
export type { AdaptGuestOptions, AdaptReport, GuestChange, KernelReport } from "./adapt";
export { detectOs, familyOf, parseOsRelease } from "./detect";
export type { DetectedOs, DistroFamily, InitramfsTool, NetworkStack } from "./detect";
export { DirectoryGuestFs } from "./guestfs";
export type { CommandResult, GuestFs, DirectoryGuestFsOptions } from "./guestfs";
export { GuestfishSession, applianceDevice } from "./guestfish";
export type { GuestfishDisk, GuestfishOptions } from "./guestfish";
export { rewriteFstab, rewriteKernelArgs, CONTROLLER_DEVICE } from "./devices";
export { rewriteBootloaderFile, ADDED_KERNEL_PARAMETERS } from "./bootloader";
export { networkFiles, networkPlan } from "./network";
export type { SecondaryAddress, NetworkPlan, GeneratedFile } from "./network";
export { VIRTIO_MODULES } from "./initramfs";
export type { VirtioModule, ModuleState } from "./initramfs";

/** Options of {@link adaptDisk}. */
export interface AdaptDiskOptions {
  /** Image format of every disk. @default - `qcow2` for `*.qcow2` paths, `raw` otherwise (block devices, `.raw`, `.img`) */
  readonly format?: "raw" | "qcow2";
  /**
   * The VM's data disks, in VMware order (`/dev/sdb`, `/dev/sdc`, …), so fstab entries on them
   * can be rewritten to UUIDs. @default - none: such entries are reported and left as they are
   */
  readonly dataDisks?: readonly string[];
  /** Static addresses kept next to DHCP, from the plan. @default - none */
  readonly staticSecondary?: readonly SecondaryAddress[];
  /** NICs to configure, `eth0`…. @default - 1 (more when `staticSecondary` names `eth1`…) */
  readonly nicCount?: number;
  /** Enable cloud-init with the AliYun datasource. @default false */
  readonly cloudInit?: boolean;
  /** Let libguestfs use KVM. @default false (TCG) */
  readonly kvm?: boolean;
  readonly signal?: AbortSignal;
  /** Called with a short description before each step. */
  readonly onProgress?: (step: string) => void;
}

/**
 * Adapts the Linux system on `diskPath` (an image file or block device; never the replica that
 * replication still writes to: a disk cloned from its snapshot) for KVM/virtio on ECS, through
 * libguestfs. Resolves to what was found and changed; `report.ok` is false when a kernel still
 * lacks virtio drivers. Throws `InputError` for bad options or a guest it cannot adapt.
 */
export async function adaptDisk(diskPath: string, options: AdaptDiskOptions = {}): Promise<AdaptReport> {
  const problems = validateAdaptOptions(diskPath, options);
  if (problems.length > 0) throw new InputError(problems);
  const disks = [diskPath, ...(options.dataDisks ?? [])].map((p) => ({ path: p, ...(options.format ? { format: options.format } : {}) }));
  options.onProgress?.("starting the libguestfs appliance");
  const session = await GuestfishSession.open(disks, {
    ...(options.kvm !== undefined ? { kvm: options.kvm } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  }).catch((err: unknown) => {
    if (err instanceof Error && /no operating system was found/i.test(err.message)) {
      throw new InputError(
        problem({
          file: diskPath,
          field: "disk",
          received: "a disk without an operating system",
          expected: "the VM's system disk",
          message: "libguestfs found no operating system on the disk",
          fix: "give the system disk first and the data disks with dataDisks (--data-disk)",
        }),
      );
    }
    throw err;
  });
  try {
    const report = await adaptGuest(session, {
      disk: diskPath,
      ...(options.staticSecondary ? { staticSecondary: options.staticSecondary } : {}),
      ...(options.nicCount !== undefined ? { nicCount: options.nicCount } : {}),
      ...(options.cloudInit !== undefined ? { cloudInit: options.cloudInit } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    options.onProgress?.("syncing and closing the disk");
    await session.close();
    return report;
  } finally {
    await session.close();
  }
}

/** Every problem of `adaptDisk`'s arguments, one per mistake. */
export function validateAdaptOptions(diskPath: string, options: AdaptDiskOptions): Problem[] {
  const problems: Problem[] = [];
  for (const [i, disk] of [diskPath, ...(options.dataDisks ?? [])].entries()) {
    const stat = fs.statSync(disk, { throwIfNoEntry: false });
    if (stat === undefined || !(stat.isFile() || stat.isBlockDevice())) {
      problems.push(
        problem({
          file: disk,
          field: i === 0 ? "disk" : `dataDisks[${i - 1}]`,
          received: stat === undefined ? disk : `${disk} (${stat.isDirectory() ? "a directory" : "neither a file nor a block device"})`,
          expected: "an existing image file or block device",
          message: stat === undefined ? "The disk does not exist" : "The disk is not an image file or a block device",
          fix: "give the path of the disk cloned from the rehearsal or cutover snapshot",
        }),
      );
    }
  }
  const seen = new Set<string>();
  for (const [i, s] of (options.staticSecondary ?? []).entries()) {
    const field = `staticSecondary[${i}]`;
    if (!isIPv4(s.address)) {
      problems.push(problem({ field: `${field}.address`, received: JSON.stringify(s.address), expected: "a dotted IPv4 address", message: "A secondary address is not an IPv4 address", fix: "write it as 10.1.1.21" }));
    }
    if (!Number.isInteger(s.prefixLength) || s.prefixLength < 8 || s.prefixLength > 32) {
      problems.push(problem({ field: `${field}.prefixLength`, received: String(s.prefixLength), expected: "an integer from 8 to 32", message: "A secondary address has an invalid prefix length", fix: "use the prefix length of the NIC's subnet (24 for a /24)" }));
    }
    if (s.device !== undefined && !/^eth\d{1,2}$/.test(s.device)) {
      problems.push(problem({ field: `${field}.device`, received: s.device, expected: "eth0, eth1, …", message: "A secondary address names an interface rehost does not configure", fix: "name the NIC by its position: eth0 for the primary NIC" }));
    }
    const key = `${s.device ?? "eth0"} ${s.address}`;
    if (seen.has(key)) problems.push(problem({ field, received: key, expected: "each address once", message: "A secondary address is listed twice", fix: "remove the duplicate" }));
    seen.add(key);
  }
  if (options.nicCount !== undefined && (!Number.isInteger(options.nicCount) || options.nicCount < 1 || options.nicCount > 8)) {
    problems.push(problem({ field: "nicCount", received: String(options.nicCount), expected: "an integer from 1 to 8", message: "The NIC count is invalid", fix: "give the number of NICs of the VM" }));
  }
  return problems;
}

/**
 * The network options of a planned VM: one DHCP interface per NIC (`eth0` is the primary ENI),
 * and every address after a NIC's first as a static secondary with its subnet's prefix length.
 */
export function adaptOptionsFromPlan(vm: PlannedVm): Pick<AdaptDiskOptions, "nicCount" | "staticSecondary"> {
  const nics = [...vm.nics].sort((a, b) => Number(b.primary) - Number(a.primary));
  const staticSecondary: SecondaryAddress[] = [];
  nics.forEach((nic, i) => {
    const prefixLength = Number(nic.subnet.split("/")[1] ?? "32");
    for (const address of nic.ips.slice(1)) staticSecondary.push({ device: `eth${i}`, address, prefixLength });
  });
  return { nicCount: Math.max(1, nics.length), staticSecondary };
}
