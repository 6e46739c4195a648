/**
 * How a source VM's parts map onto ECS: the size of the cloud disk for a source disk (at least the
 * disk category's minimum) and the image `platform` for a guest OS. No Pulumi in here, so the
 * tests can call them directly.
 */
import type { PlannedVm } from "../plan/types";
import { DISK_CATEGORIES } from "../plan/catalog";
import { diskSizeGiB } from "../plan/sizing";

/** Size in GiB of the cloud disk for a source disk of `bytes` (rounded up, at least the category's minimum). */
export function cloudDiskGiB(bytes: number, category: string, role: "system" | "data"): number {
  const limits = DISK_CATEGORIES[category];
  const min = limits ? (role === "system" ? limits.systemMinGiB : limits.dataMinGiB) : 20;
  return diskSizeGiB(bytes, min);
}

/** The ECS image `platform` for a source guest OS (what `ecs.Image` expects). */
export function imagePlatform(guestOs: PlannedVm["guestOs"]): string {
  const id = guestOs.id.toLowerCase();
  if (guestOs.family === "windows") {
    for (const year of ["2022", "2019", "2016", "2012", "2008"]) if (id.includes(year)) return `Windows Server ${year}`;
    return "Windows Server 2019";
  }
  const table: Array<[RegExp, string]> = [
    [/rhel|red ?hat/, "RedHat"],
    [/centos/, "CentOS"],
    [/ubuntu/, "Ubuntu"],
    [/debian/, "Debian"],
    [/sles|suse/, "SUSE"],
    [/oracle/, "OracleLinux"],
    [/alibaba|aliyun/, "Aliyun"],
  ];
  for (const [pattern, platform] of table) if (pattern.test(id)) return platform;
  return "Others Linux";
}
