/**
 * Guest adaptation: prepares a Linux or Windows system disk, cloned from a rehearsal or cutover
 * snapshot, for its first boot on Alibaba Cloud ECS. See docs/guest.md and docs/windows-guests.md.
 *
 * ```ts
 * import { adaptDisk } from "rehost/guest";
 * const report = await adaptDisk("/dev/vdb", { staticSecondary: [{ address: "10.1.1.21", prefixLength: 24 }] });
 * if (!report.ok) throw new Error(report.warnings.join("\n"));
 * ```
 */
import * as fs from "node:fs";
import { isIPv4 } from "node:net";
import type { PlannedVm } from "../plan/types";
import { InputError, problem, type Problem } from "../problems";
import { adaptGuest } from "./adapt";
import { GuestfishSession } from "./guestfish";
import type { SecondaryAddress } from "./network";
import { GuestRefused } from "./refused";
import type { AdaptReport } from "./report";
import { adaptWindowsGuest } from "./windows/adapt";
import { bootMode, GPT_TYPE, isDynamicDisk, looksLikeWindows, MBR_LDM, readDiskLayout } from "./windows/layout";

export { adaptGuest, installedKernels, BACKUP_ROOT } from "./adapt";
export type { AdaptGuestOptions } from "./adapt";
export type { AdaptReport, GuestChange, KernelReport } from "./report";
export { detectOs, familyOf, parseOsRelease } from "./detect";
export type { DetectedOs, DistroFamily, InitramfsTool, NetworkStack } from "./detect";
export { DirectoryGuestFs } from "./guestfs";
export type { CommandResult, GuestFs, DirectoryGuestFsOptions, OsInspection } from "./guestfs";
export { GuestfishSession, applianceDevice } from "./guestfish";
export type { GuestfishDisk, GuestfishOptions } from "./guestfish";
export { rewriteFstab, rewriteKernelArgs, CONTROLLER_DEVICE } from "./devices";
export { rewriteBootloaderFile, ADDED_KERNEL_PARAMETERS } from "./bootloader";
export { networkFiles, networkPlan } from "./network";
export type { SecondaryAddress, NetworkPlan, GeneratedFile } from "./network";
export { VIRTIO_MODULES } from "./initramfs";
export type { VirtioModule, ModuleState } from "./initramfs";
export { GuestRefused } from "./refused";
export type { RefusalReason } from "./refused";
export { adaptWindowsGuest } from "./windows/adapt";
export { firstBootNics, SERVICE_WRAPPERS, VIRT_TOOLS_DIR } from "./windows/firstboot-inputs";
export type { AdaptWindowsOptions } from "./windows/adapt";
export type { StagedDriver, WindowsAdaptation } from "./windows/report";
export { detectWindows } from "./windows/detect";
export type { DetectedWindows } from "./windows/detect";
export { archNames, driverSource, matchDrivers, releaseNames, VIRTIO_DRIVERS, REQUIRED_DRIVERS, BOOT_DRIVERS } from "./windows/drivers";
export type { DriverMatch, DriverSource, VirtioDriver, WindowsVersion } from "./windows/drivers";
export {
  FIRSTBOOT_DONE,
  FIRSTBOOT_LOG,
  FIRSTBOOT_SERVICE,
  firstBootCmd,
  firstBootPs1,
  firstBootServiceKeys,
  parseFirstBootLog,
  prefixToMask,
} from "./windows/firstboot";
export type { FirstBootLauncher, FirstBootLog, FirstBootNic, FirstBootPlan } from "./windows/firstboot";
export { HiveFile } from "./windows/hive";
export type { HiveHeader } from "./windows/hive";
export { bootMode, isDynamicDisk, looksLikeWindows, parsePartitionTable, readDiskLayout, volumeSignature, GPT_TYPE, MBR_LDM } from "./windows/layout";
export type { DiskLayout, Partition, VolumeSignature } from "./windows/layout";
export {
  bootServiceKey,
  criticalDeviceKeys,
  devicePathWithVirtio,
  driverDatabaseKeys,
  SCSI_ADAPTER_CLASS,
  VIRTIO_PCI_IDS,
  VMWARE_TOOLS_SERVICES,
} from "./windows/registrations";
export type { BootDriver, DeviceBinding } from "./windows/registrations";
export { binary, describeValue, dword, expandSz, HIVE_PREFIX, multiSz, parseReg, renderReg, sameValue, sz } from "./windows/registry";
export type { RegKey, RegKeyRead, RegValue } from "./windows/registry";

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
  /**
   * Windows: the virtio-win directory or ISO the drivers come from (required for a Windows disk;
   * the drivers are not in Debian).
   */
  readonly virtioWin?: string;
  /**
   * Windows: a service wrapper (`rhsrvany.exe` or `pvvxsvc.exe`, as virt-v2v uses) that starts
   * the first-boot script. @default - /usr/share/virt-tools/{pvvxsvc,rhsrvany}.exe when present, else cmd.exe
   */
  readonly firstBootService?: string;
  /** Windows: the planned primary address of each NIC, which finds the NIC at the first boot. @default - none (NICs in PCI order) */
  readonly nicAddresses?: readonly SecondaryAddress[];
  readonly signal?: AbortSignal;
  /** Called with a short description before each step. */
  readonly onProgress?: (step: string) => void;
}

/**
 * Adapts the Linux or Windows system on `diskPath` (an image file or block device; never the
 * replica that replication still writes to: a disk cloned from its snapshot) for KVM/virtio on
 * ECS, through libguestfs. Resolves to what was found and changed; `report.ok` is false when a
 * kernel still lacks virtio drivers. Throws `InputError` for bad options or a guest it cannot
 * adapt, and `GuestRefused` for a disk it will not touch (a Windows dynamic disk, BitLocker, no
 * matching drivers, a missing hive): then nothing was written.
 */
export async function adaptDisk(diskPath: string, options: AdaptDiskOptions = {}): Promise<AdaptReport> {
  const problems = validateAdaptOptions(diskPath, options);
  if (problems.length > 0) throw new InputError(problems);
  options.onProgress?.("reading the partition table");
  const format = options.format ?? (diskPath.endsWith(".qcow2") ? "qcow2" : "raw");
  const layout = await readDiskLayout(diskPath, format);
  if (isDynamicDisk(layout)) {
    const ldm = layout.partitions.filter((p) => p.mbrType === MBR_LDM || p.gptType === GPT_TYPE.ldmMetadata || p.gptType === GPT_TYPE.ldmData);
    throw new GuestRefused(diskPath, "dynamic-disk", {
      field: "disk",
      received: `a Windows dynamic disk (${ldm.map((p) => `partition ${p.number}: ${p.mbrType !== undefined ? `MBR type 0x${p.mbrType.toString(16)}` : `GPT type ${p.gptType}`}`).join(", ")})`,
      expected: "a basic disk (MBR or GPT partitions)",
      message: "The disk is a Windows dynamic disk: its volumes live in the Logical Disk Manager database, which rehost does not edit",
      fix: "convert the system disk to a basic disk on the source VM (mirror-free simple volumes: Disk Management or a partition tool), or migrate this VM by hand",
    });
  }
  const encrypted = layout.partitions.filter((p) => p.signature === "bitlocker");
  if (encrypted.length > 0) {
    throw new GuestRefused(diskPath, "bitlocker", {
      field: "disk",
      received: `BitLocker on ${encrypted.map((p) => `partition ${p.number}`).join(", ")} (-FVE-FS- boot sector)`,
      expected: "unencrypted volumes",
      message: "A volume of the disk is BitLocker-encrypted: rehost cannot read or change it, and Windows would ask for the recovery key on ECS",
      fix: "decrypt the volume on the source VM (`manage-bde -off C:`) and let the next replication round carry the change",
    });
  }
  if (looksLikeWindows(layout)) return adaptWindowsDisk(diskPath, format, bootMode(layout), options);
  return adaptLinuxDisk(diskPath, options);
}

async function adaptLinuxDisk(diskPath: string, options: AdaptDiskOptions): Promise<AdaptReport> {
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
  return adaptThenClose(session, options, () =>
    adaptGuest(session, {
      disk: diskPath,
      ...(options.staticSecondary ? { staticSecondary: options.staticSecondary } : {}),
      ...(options.nicCount !== undefined ? { nicCount: options.nicCount } : {}),
      ...(options.cloudInit !== undefined ? { cloudInit: options.cloudInit } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    }),
  );
}

async function adaptWindowsDisk(diskPath: string, format: "raw" | "qcow2", boot: "bios" | "uefi" | "unknown", options: AdaptDiskOptions): Promise<AdaptReport> {
  if (options.virtioWin === undefined) {
    throw new InputError(
      problem({
        file: diskPath,
        field: "virtioWin",
        expected: "a virtio-win directory or ISO",
        message: "The disk holds Windows, whose virtio drivers rehost cannot fetch",
        fix: "give the virtio-win ISO (or its unpacked directory) with virtioWin (--virtio-win PATH)",
      }),
    );
  }
  options.onProgress?.("starting the libguestfs appliance");
  const session = await GuestfishSession.open([{ path: diskPath, format }, ...(options.dataDisks ?? []).map((p) => ({ path: p, format }))], {
    mount: "none",
    ...(options.kvm !== undefined ? { kvm: options.kvm } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    const inspection = await session.inspect();
    if (inspection?.type !== "windows") {
      await session.close();
      // An NTFS partition on a Linux system disk: the Linux adaptation takes it.
      return adaptLinuxDisk(diskPath, { ...options, format });
    }
    await session.mountInspected({ readonly: true });
  } catch (err) {
    await session.close();
    throw err;
  }
  const virtioWin = options.virtioWin;
  return adaptThenClose(session, options, () =>
    adaptWindowsGuest(session, {
      disk: diskPath,
      virtioWin,
      bootMode: boot,
      ...(options.firstBootService !== undefined ? { firstBootService: options.firstBootService } : {}),
      ...(options.staticSecondary ? { staticSecondary: options.staticSecondary } : {}),
      ...(options.nicAddresses ? { nicAddresses: options.nicAddresses } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    }),
  );
}

/** Runs `adapt` on the open `session`, then closes it, which syncs the disk (a failed close fails the adaptation), or closes it when `adapt` fails. */
async function adaptThenClose(session: GuestfishSession, options: AdaptDiskOptions, adapt: () => Promise<AdaptReport>): Promise<AdaptReport> {
  try {
    const report = await adapt();
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
  if (options.virtioWin !== undefined) {
    const stat = fs.statSync(options.virtioWin, { throwIfNoEntry: false });
    if (stat === undefined || !(stat.isDirectory() || stat.isFile() || stat.isBlockDevice())) {
      problems.push(
        problem({
          file: options.virtioWin,
          field: "virtioWin",
          received: stat === undefined ? options.virtioWin : `${options.virtioWin} (neither a directory nor an ISO file)`,
          expected: "a virtio-win directory or ISO",
          message: stat === undefined ? "The virtio-win directory or ISO does not exist" : "The virtio-win path is not a directory or an ISO",
          fix: "give the virtio-win ISO (virtio-win.iso) or the directory it was unpacked to",
        }),
      );
    }
  }
  if (options.firstBootService !== undefined) {
    const stat = fs.statSync(options.firstBootService, { throwIfNoEntry: false });
    if (stat === undefined || !stat.isFile() || !/\.exe$/i.test(options.firstBootService)) {
      problems.push(
        problem({
          file: options.firstBootService,
          field: "firstBootService",
          received: options.firstBootService,
          expected: "an existing rhsrvany.exe or pvvxsvc.exe",
          message: "The first-boot service wrapper is not an existing .exe file",
          fix: "give the path of rhsrvany.exe or pvvxsvc.exe, or leave the option out to start the script with cmd.exe",
        }),
      );
    }
  }
  problems.push(...addressProblems("nicAddresses", options.nicAddresses ?? []));
  const seen = new Set<string>();
  for (const [i, s] of (options.staticSecondary ?? []).entries()) {
    const field = `staticSecondary[${i}]`;
    if (!isIPv4(s.address)) {
      problems.push(
        problem({
          field: `${field}.address`,
          received: JSON.stringify(s.address),
          expected: "a dotted IPv4 address",
          message: "A secondary address is not an IPv4 address",
          fix: "write it as 10.1.1.21",
        }),
      );
    }
    if (!Number.isInteger(s.prefixLength) || s.prefixLength < 8 || s.prefixLength > 32) {
      problems.push(
        problem({
          field: `${field}.prefixLength`,
          received: String(s.prefixLength),
          expected: "an integer from 8 to 32",
          message: "A secondary address has an invalid prefix length",
          fix: "use the prefix length of the NIC's subnet (24 for a /24)",
        }),
      );
    }
    if (s.device !== undefined && !/^eth\d{1,2}$/.test(s.device)) {
      problems.push(
        problem({
          field: `${field}.device`,
          received: s.device,
          expected: "eth0, eth1, …",
          message: "A secondary address names an interface rehost does not configure",
          fix: "name the NIC by its position: eth0 for the primary NIC",
        }),
      );
    }
    const key = `${s.device ?? "eth0"} ${s.address}`;
    if (seen.has(key))
      problems.push(
        problem({ field, received: key, expected: "each address once", message: "A secondary address is listed twice", fix: "remove the duplicate" }),
      );
    seen.add(key);
  }
  if (options.nicCount !== undefined && (!Number.isInteger(options.nicCount) || options.nicCount < 1 || options.nicCount > 8)) {
    problems.push(
      problem({
        field: "nicCount",
        received: String(options.nicCount),
        expected: "an integer from 1 to 8",
        message: "The NIC count is invalid",
        fix: "give the number of NICs of the VM",
      }),
    );
  }
  return problems;
}

function addressProblems(name: string, addresses: readonly SecondaryAddress[]): Problem[] {
  const problems: Problem[] = [];
  const devices = new Set<string>();
  for (const [i, a] of addresses.entries()) {
    const field = `${name}[${i}]`;
    if (!isIPv4(a.address))
      problems.push(
        problem({
          field: `${field}.address`,
          received: JSON.stringify(a.address),
          expected: "a dotted IPv4 address",
          message: "A NIC's primary address is not an IPv4 address",
          fix: "write it as 10.1.1.20",
        }),
      );
    if (a.device !== undefined && !/^eth\d{1,2}$/.test(a.device))
      problems.push(
        problem({
          field: `${field}.device`,
          received: a.device,
          expected: "eth0, eth1, …",
          message: "A NIC's primary address names an interface rehost does not know",
          fix: "name the NIC by its position: eth0 for the primary NIC",
        }),
      );
    const device = a.device ?? "eth0";
    if (devices.has(device))
      problems.push(
        problem({
          field,
          received: device,
          expected: "one primary address per NIC",
          message: "A NIC has two primary addresses",
          fix: "keep the address the VPC's DHCP serves; list the others as secondary addresses",
        }),
      );
    devices.add(device);
  }
  return problems;
}

/**
 * The network options of a planned VM: one DHCP interface per NIC (`eth0` is the primary ENI),
 * every address after a NIC's first as a static secondary with its subnet's prefix length, and
 * each NIC's first address (the one the VPC's DHCP serves, which identifies the NIC on Windows).
 */
export function adaptOptionsFromPlan(vm: PlannedVm): Pick<AdaptDiskOptions, "nicCount" | "staticSecondary" | "nicAddresses"> {
  const nics = [...vm.nics].sort((a, b) => Number(b.primary) - Number(a.primary));
  const staticSecondary: SecondaryAddress[] = [];
  const nicAddresses: SecondaryAddress[] = [];
  nics.forEach((nic, i) => {
    const prefixLength = Number(nic.subnet.split("/")[1] ?? "32");
    if (nic.ips[0] !== undefined) nicAddresses.push({ device: `eth${i}`, address: nic.ips[0], prefixLength });
    for (const address of nic.ips.slice(1)) staticSecondary.push({ device: `eth${i}`, address, prefixLength });
  });
  return { nicCount: Math.max(1, nics.length), staticSecondary, nicAddresses };
}
