/**
 * Which Windows a system disk holds: libguestfs inspection (system root, product, version,
 * architecture, libosinfo ID) completed from the registry hives (build number, edition, every
 * control set and the current one), which are downloaded to this host for hivex to read.
 */
import * as path from "node:path";
import { InputError, problem } from "../../problems";
import type { GuestFs } from "../guestfs";
import { GuestRefused } from "../refused";
import { releaseNames } from "./drivers";
import { HiveFile, type HiveHeader } from "./hive";
import { HIVE_PREFIX, type RegValue } from "./registry";

/** What detection found on a Windows disk. */
export interface DetectedWindows {
  readonly family: "windows";
  readonly id: "windows";
  /** `major.minor` (`10.0`, `6.1`). */
  readonly version: string;
  readonly major: number;
  readonly minor: number;
  /** `CurrentBuildNumber` (17763 for Server 2019), 0 when absent. */
  readonly build: number;
  /** `ProductName` (`Windows Server 2019 Datacenter`). */
  readonly prettyName: string;
  /** `EditionID` (`ServerDatacenter`), `""` when absent. */
  readonly edition: string;
  /** `InstallationType` (`Server`, `Server Core`, `Client`). */
  readonly variant: string;
  readonly arch: string;
  /** libosinfo short ID from libguestfs (`win2k19`). */
  readonly osinfo: string;
  /** The virtio-win release directory its drivers come from (`2k19`), undefined when none exists. */
  readonly release?: string;
  /** The system root as a guest path (`/Windows`). */
  readonly systemRoot: string;
  /** Every `ControlSetNNN` of the SYSTEM hive. */
  readonly controlSets: readonly string[];
  /** The control set `Select\Current` names. */
  readonly currentControlSet: string;
  /** From the partition table: UEFI (GPT with an EFI system partition) or BIOS (MBR). */
  readonly bootMode: "bios" | "uefi" | "unknown";
}

/** A hive of the guest, downloaded to this host. */
export interface GuestHive {
  readonly name: "SYSTEM" | "SOFTWARE";
  /** Its guest path (`/Windows/System32/config/SYSTEM`). */
  readonly guestPath: string;
  readonly file: HiveFile;
  readonly header: HiveHeader;
}

/** Detection's result: the system and the hives, ready to be read and changed. */
export interface WindowsGuest {
  readonly os: DetectedWindows;
  readonly system: GuestHive;
  readonly software: GuestHive;
}

/**
 * Detects the Windows on `guest` (which libguestfs has inspected) and downloads its hives
 * into `work`. Throws `InputError` when the disk holds no Windows, `GuestRefused` when a hive
 * is missing or unreadable.
 */
export async function detectWindows(guest: GuestFs, disk: string, work: string, bootMode: DetectedWindows["bootMode"] = "unknown"): Promise<WindowsGuest> {
  const inspection = await guest.inspect();
  if (inspection === undefined || inspection.type !== "windows" || inspection.windowsSystemRoot === undefined) {
    throw new InputError(
      problem({
        file: disk,
        field: "guest OS",
        received: inspection === undefined ? "no operating system" : `${inspection.type} (${inspection.productName})`,
        expected: "a Windows system disk",
        message: "libguestfs found no Windows installation on the disk",
        fix: "give the VM's system disk (the one holding \\Windows)",
      }),
    );
  }
  const systemRoot = (await guest.resolvePath(inspection.windowsSystemRoot)) ?? inspection.windowsSystemRoot;
  const hive = async (name: "SYSTEM" | "SOFTWARE"): Promise<GuestHive> => {
    const guestPath = await guest.resolvePath(`${systemRoot}/System32/config/${name}`);
    if (guestPath === undefined) {
      throw new GuestRefused(disk, "missing-hive", {
        field: `${name} hive`,
        received: `no ${systemRoot}/System32/config/${name}`,
        expected: `the ${name} registry hive`,
        message: `The Windows installation has no ${name} hive: its drivers and services cannot be registered`,
        fix: "give the complete system disk of the VM, cloned from a snapshot taken after Windows started at least once",
      });
    }
    const local = path.join(work, name);
    await guest.download(guestPath, local);
    const file = new HiveFile(local, HIVE_PREFIX[name]);
    let header: HiveHeader;
    try {
      header = file.header();
    } catch {
      throw new GuestRefused(disk, "missing-hive", {
        field: `${name} hive`,
        received: `${guestPath} without the regf signature`,
        expected: "a registry hive",
        message: `${guestPath} is not a registry hive`,
        fix: "restore the hive from a backup on the source VM (or run its repair) before the next replication round",
      });
    }
    return { name, guestPath, file, header };
  };
  const system = await hive("SYSTEM");
  const software = await hive("SOFTWARE");

  const currentVersion = (await software.file.read("Microsoft\\Windows NT\\CurrentVersion", 1))?.get("microsoft\\windows nt\\currentversion");
  const value = (name: string): RegValue | undefined => currentVersion?.values.get(name.toLowerCase())?.value;
  const text = (name: string) => {
    const v = value(name);
    return v !== undefined && (v.type === "sz" || v.type === "expand_sz") ? v.data : "";
  };
  const controlSets = (await system.file.subkeys("")).filter((k) => /^ControlSet\d{3}$/i.test(k)).sort();
  const select = (await system.file.read("Select", 1))?.get("select");
  const current = select?.values.get("current")?.value;
  if (current?.type !== "dword" || controlSets.length === 0) {
    throw new GuestRefused(disk, "missing-hive", {
      field: "SYSTEM hive",
      received: controlSets.length === 0 ? "no ControlSetNNN key" : "no Select\\Current value",
      expected: "Select\\Current and the control sets it names",
      message: "The SYSTEM hive has no usable control set",
      fix: "restore the hive from a backup on the source VM before the next replication round",
    });
  }
  const currentControlSet = controlSets.find((c) => c.toLowerCase() === `controlset${String(current.data).padStart(3, "0")}`);
  if (currentControlSet === undefined) {
    throw new GuestRefused(disk, "missing-hive", {
      field: "SYSTEM hive",
      received: `Select\\Current = ${current.data}, control sets ${controlSets.join(", ")}`,
      expected: "Select\\Current naming an existing control set",
      message: "The SYSTEM hive's current control set does not exist",
      fix: "restore the hive from a backup on the source VM before the next replication round",
    });
  }
  const major = inspection.major;
  const minor = inspection.minor;
  const build = Number.parseInt(text("CurrentBuildNumber"), 10) || 0;
  const variant =
    inspection.productVariant !== "unknown" && inspection.productVariant !== "" ? inspection.productVariant : text("InstallationType") || "Server";
  const release = releaseNames({ major, minor, build, variant })[0];
  const os: DetectedWindows = {
    family: "windows",
    id: "windows",
    version: `${major}.${minor}`,
    major,
    minor,
    build,
    prettyName: inspection.productName !== "unknown" ? inspection.productName : text("ProductName"),
    edition: text("EditionID"),
    variant,
    arch: inspection.arch,
    osinfo: inspection.osinfo,
    ...(release !== undefined ? { release } : {}),
    systemRoot,
    controlSets,
    currentControlSet,
    bootMode,
  };
  return { os, system, software };
}
