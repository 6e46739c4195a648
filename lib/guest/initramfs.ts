/**
 * virtio drivers in the initramfs, with the distribution's own tool: update-initramfs
 * (Debian/Ubuntu), dracut (RHEL 6+, SUSE 12+), mkinitrd (SUSE 11, RHEL 5).
 * Pure functions: configuration text, rebuild and listing commands, listing parsing.
 */
import type { DetectedOs } from "./detect";

/** The drivers a KVM guest needs to find its disk and NIC on ECS. */
export const VIRTIO_MODULES = ["virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net"] as const;
export type VirtioModule = (typeof VIRTIO_MODULES)[number];

/** Where a driver is for one kernel: built in, in the initramfs, or neither. */
export type ModuleState = "builtin" | "initramfs" | "missing";

/** The initramfs image of a kernel version, as the family names it. */
export function initramfsPath(os: Pick<DetectedOs, "family" | "initramfsTool">, kernel: string): string {
  if (os.family === "debian") return `/boot/initrd.img-${kernel}`;
  if (os.family === "suse") return `/boot/initrd-${kernel}`;
  return os.initramfsTool === "mkinitrd" ? `/boot/initrd-${kernel}.img` : `/boot/initramfs-${kernel}.img`;
}

/** Module names listed in `modules.builtin` or `modules.dep` text. */
export function moduleNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const file = line.split(":")[0]!.trim();
    const m = /([^/]+)\.ko(?:\.[a-z0-9]+)?$/.exec(file);
    if (m) names.add(m[1]!.replace(/-/g, "_"));
  }
  return names;
}

/** virtio modules an initramfs listing (`lsinitramfs`, `lsinitrd`, `cpio -t`) contains. */
export function virtioInListing(listing: string): Set<VirtioModule> {
  const found = new Set<VirtioModule>();
  for (const line of listing.split("\n")) {
    const m = /(virtio_[a-z]+)\.ko(?:\.[a-z0-9]+)?\s*$/.exec(line.trim());
    if (m && (VIRTIO_MODULES as readonly string[]).includes(m[1]!)) found.add(m[1] as VirtioModule);
  }
  return found;
}

/** The configuration file that makes the tool include `modules`, given its current text. */
export function initramfsConfig(
  os: Pick<DetectedOs, "family" | "initramfsTool">,
  modules: readonly string[],
  current: string | undefined,
): { path: string; content: string } | undefined {
  if (modules.length === 0) return undefined;
  switch (os.initramfsTool) {
    case "update-initramfs": {
      const text = current ?? "";
      const present = new Set(text.split("\n").map((l) => l.trim().split(/\s+/)[0]));
      const missing = modules.filter((m) => !present.has(m));
      if (missing.length === 0) return undefined;
      const sep = text === "" || text.endsWith("\n") ? "" : "\n";
      return {
        path: "/etc/initramfs-tools/modules",
        content: `${text}${sep}# virtio drivers for Alibaba Cloud ECS (added by rehost)\n${missing.join("\n")}\n`,
      };
    }
    case "dracut":
      return {
        path: "/etc/dracut.conf.d/90-rehost-virtio.conf",
        content: `# virtio drivers for Alibaba Cloud ECS (written by rehost)\nadd_drivers+=" ${modules.join(" ")} "\n`,
      };
    case "mkinitrd": {
      if (os.family !== "suse") return undefined;
      const text = current ?? "";
      const line = /^INITRD_MODULES="([^"]*)"/m.exec(text);
      const present = (line?.[1] ?? "").split(/\s+/).filter((s) => s !== "");
      const missing = modules.filter((m) => !present.includes(m));
      if (missing.length === 0) return undefined;
      const value = `INITRD_MODULES="${[...present, ...missing].join(" ")}"`;
      return {
        path: "/etc/sysconfig/kernel",
        content: line ? text.replace(/^INITRD_MODULES="[^"]*"/m, value) : `${text}${text.endsWith("\n") || text === "" ? "" : "\n"}${value}\n`,
      };
    }
  }
}

/** The shell command that rebuilds the initramfs of one kernel. */
export function rebuildCommand(os: Pick<DetectedOs, "family" | "initramfsTool">, kernel: string, modules: readonly string[], exists: boolean): string {
  const image = initramfsPath(os, kernel);
  switch (os.initramfsTool) {
    case "update-initramfs":
      return `update-initramfs ${exists ? "-u" : "-c"} -k ${kernel}`;
    case "dracut":
      return `dracut -f ${image} ${kernel}`;
    case "mkinitrd":
      return os.family === "suse"
        ? `mkinitrd -k /boot/vmlinuz-${kernel} -i ${image}`
        : `mkinitrd -f ${modules.map((m) => `--with=${m}`).join(" ")} ${image} ${kernel}`;
  }
}

/** The shell command that lists an initramfs image's files. */
export function listCommand(os: Pick<DetectedOs, "initramfsTool">, image: string): string {
  switch (os.initramfsTool) {
    case "update-initramfs":
      return `lsinitramfs ${image}`;
    case "dracut":
      return `lsinitrd ${image} 2>/dev/null || lsinitramfs ${image}`;
    case "mkinitrd":
      return `zcat ${image} | cpio -t`;
  }
}
