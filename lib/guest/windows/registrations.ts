/**
 * The registry keys that let Windows boot from a virtio disk it has never seen: the storage
 * driver as a boot-start service (Windows loads only boot-start drivers before it can read its
 * disk), and the binding of the virtio PCI IDs to that service, so the kernel attaches the driver
 * before Plug and Play runs: `CriticalDeviceDatabase` up to Windows 7 / Server 2008 R2,
 * `DriverDatabase` from Windows 8 / Server 2012 (which ignore the former). The values are the
 * ones virt-v2v writes; rehost writes them in every control set. Pure functions.
 */
import { binary, dword, expandSz, multiSz, sz, type RegKey } from "./registry";

/** The SCSIAdapter device class, which Windows storage miniports belong to. */
export const SCSI_ADAPTER_CLASS = "{4D36E97B-E325-11CE-BFC1-08002BE10318}";

/** PCI IDs of the virtio devices, legacy (0.9) and modern (1.0), with the revision each reports. */
export const VIRTIO_PCI_IDS = {
  viostor: [
    { id: "VEN_1AF4&DEV_1001", rev: "REV_00" },
    { id: "VEN_1AF4&DEV_1042", rev: "REV_01" },
  ],
  vioscsi: [
    { id: "VEN_1AF4&DEV_1004", rev: "REV_00" },
    { id: "VEN_1AF4&DEV_1048", rev: "REV_01" },
  ],
} as const;

export type BootDriver = keyof typeof VIRTIO_PCI_IDS;

/** How the virtio PCI IDs are bound to the storage service. */
export type DeviceBinding = "CriticalDeviceDatabase" | "DriverDatabase";

/** The hardware IDs a virtio storage device matches: with the revision and without. */
function hardwareIds(driver: BootDriver): string[] {
  return VIRTIO_PCI_IDS[driver].flatMap((p) => [p.id, `${p.id}&${p.rev}`]);
}

/** `Services\<driver>` of one control set: a boot-start SCSI miniport. */
export function bootServiceKey(controlSet: string, driver: BootDriver): RegKey {
  return {
    path: `${controlSet}\\Services\\${driver}`,
    values: {
      Type: dword(1),
      Start: dword(0),
      ErrorControl: dword(1),
      Group: sz("SCSI miniport"),
      ImagePath: expandSz(`system32\\drivers\\${driver}.sys`),
    },
  };
}

/** `Control\CriticalDeviceDatabase\pci#…` of one control set, for Windows before 8 / 2012. */
export function criticalDeviceKeys(controlSet: string, driver: BootDriver): RegKey[] {
  return hardwareIds(driver).map((id) => ({
    path: `${controlSet}\\Control\\CriticalDeviceDatabase\\pci#${id.toLowerCase()}`,
    values: { Service: sz(driver), ClassGUID: sz(SCSI_ADAPTER_CLASS) },
  }));
}

/** The class GUID in its binary (mixed-endian) form. */
function guidBytes(guid: string): number[] {
  const h = guid.replace(/[{}-]/g, "");
  const le = (s: string) => (s.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16));
  const be = (s: string) => (s.match(/../g) ?? []).map((b) => Number.parseInt(b, 16));
  return [...le(h.slice(0, 8)), ...le(h.slice(8, 12)), ...le(h.slice(12, 16)), ...be(h.slice(16))];
}

/**
 * `DriverDatabase` keys (the SYSTEM hive's root, shared by all control sets) for Windows 8 /
 * 2012 and newer: a driver package that binds the virtio IDs to the service until `pnputil`
 * installs the real package at the first boot.
 */
export function driverDatabaseKeys(driver: BootDriver): RegKey[] {
  const inf = `rehost-${driver}.inf`;
  const pkg = `${inf}_rehost`;
  const config = `rehost_${driver}`;
  return [
    { path: `DriverDatabase\\DriverInfFiles\\${inf}`, values: { "": multiSz([pkg]), Active: sz(pkg), Configurations: multiSz([config]) } },
    ...hardwareIds(driver).map((id) => ({ path: `DriverDatabase\\DeviceIds\\PCI\\${id}`, values: { [inf]: binary([0x01, 0xff, 0x00, 0x00]) } })),
    // Version: the package's class (SCSIAdapter); Windows 10 / 2016 PnP needs it.
    {
      path: `DriverDatabase\\DriverPackages\\${pkg}`,
      values: { Version: binary([0x00, 0xff, 0x09, 0x00, 0, 0, 0, 0, ...guidBytes(SCSI_ADAPTER_CLASS), ...new Array<number>(24).fill(0)]) },
    },
    { path: `DriverDatabase\\DriverPackages\\${pkg}\\Configurations\\${config}`, values: { ConfigFlags: dword(0), Service: sz(driver) } },
    ...hardwareIds(driver).map((id) => ({ path: `DriverDatabase\\DriverPackages\\${pkg}\\Descriptors\\PCI\\${id}`, values: { Configuration: sz(config) } })),
  ];
}

/**
 * The inbox NVMe driver, made boot-start too where it exists (Windows 8.1 / 2012 R2 and newer):
 * ECS instance families whose system disk is NVMe then boot as well.
 */
export const INBOX_NVME = "stornvme";

/** VMware Tools' user-mode services, disabled offline (Start 4) until the first boot uninstalls Tools. */
export const VMWARE_TOOLS_SERVICES = ["VMTools", "VGAuthService", "vmvss", "vm3dservice", "VMwareCAFCommAmqpListener", "VMwareCAFManagementAgentHost"] as const;

/** Where Plug and Play looks for drivers of new devices (the SOFTWARE hive). */
export const DEVICE_PATH_KEY = "Microsoft\\Windows\\CurrentVersion";
/** The staged drivers, as `DevicePath` names them. */
const STAGED_DRIVER_DIR = "%SystemRoot%\\Drivers\\VirtIO";

/** `DevicePath` with the staged drivers' directory added, or `undefined` when it is there already. */
export function devicePathWithVirtio(current: string | undefined): string | undefined {
  const entries = (current ?? "%SystemRoot%\\inf").split(";").filter((e) => e !== "");
  if (entries.some((e) => e.toLowerCase() === STAGED_DRIVER_DIR.toLowerCase())) return undefined;
  return [...entries, STAGED_DRIVER_DIR].join(";");
}
