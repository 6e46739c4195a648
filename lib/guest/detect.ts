/**
 * Which Linux distribution a guest runs, and how it boots and configures its network: read from
 * the guest's own files (`/etc/os-release` first, then the older release files).
 */
import { InputError, problem } from "../problems";
import type { GuestFs } from "./guestfs";

/** The distribution families rehost adapts. */
export type DistroFamily = "rhel" | "debian" | "suse";

/** The tool that builds the guest's initramfs. */
export type InitramfsTool = "update-initramfs" | "dracut" | "mkinitrd";

/** How the guest configures its network at boot. */
export type NetworkStack = "ifupdown" | "netplan" | "networkd" | "ifcfg-rh" | "nm-keyfile" | "ifcfg-suse";

/** What detection found. */
export interface DetectedOs {
  readonly family: DistroFamily;
  /** `os-release` ID (`debian`, `ubuntu`, `rhel`, `centos`, `rocky`, `almalinux`, `sles`, `opensuse-leap`). */
  readonly id: string;
  /** `os-release` VERSION_ID, or the version parsed from an older release file. */
  readonly version: string;
  /** The major version as a number (`7` for `7.9`), 0 when unknown. */
  readonly major: number;
  readonly prettyName: string;
  readonly initramfsTool: InitramfsTool;
  readonly network: NetworkStack;
  readonly systemd: boolean;
}

const RHEL_IDS = ["rhel", "centos", "rocky", "almalinux", "ol", "fedora", "amzn", "anolis", "alinux", "euleros", "openEuler"];
const DEBIAN_IDS = ["debian", "ubuntu", "linuxmint", "uos", "kylin"];
const SUSE_IDS = ["sles", "sled", "suse", "opensuse", "opensuse-leap", "opensuse-tumbleweed"];

/** Parses `KEY=value` / `KEY="value"` lines of an os-release file. */
export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    if (/^".*"$|^'.*'$/.test(value)) value = value.slice(1, -1).replace(/\\(["\\$`])/g, "$1");
    fields[m[1]!] = value;
  }
  return fields;
}

/** The family of an os-release ID and ID_LIKE, or `undefined` for other systems. */
export function familyOf(id: string, idLike = ""): DistroFamily | undefined {
  const ids = [id, ...idLike.split(/\s+/)].map((s) => s.toLowerCase()).filter((s) => s !== "");
  if (ids.some((s) => RHEL_IDS.map((r) => r.toLowerCase()).includes(s))) return "rhel";
  if (ids.some((s) => SUSE_IDS.includes(s) || s.startsWith("opensuse"))) return "suse";
  if (ids.some((s) => DEBIAN_IDS.includes(s))) return "debian";
  return undefined;
}

/**
 * Detects the distribution, its initramfs tool, its network stack and its init system.
 * Throws an `InputError` for a guest rehost cannot adapt (Windows, another Unix, no OS).
 */
export async function detectOs(guest: GuestFs, disk: string): Promise<DetectedOs> {
  const release = await identify(guest, disk);
  const family = release.family;
  const major = Number.parseInt(release.version.split(".")[0] ?? "", 10) || 0;
  const has = (p: string) => guest.exists(p);
  const systemd = (await has("/lib/systemd/systemd")) || (await has("/usr/lib/systemd/systemd"));
  const dracut = (await has("/usr/bin/dracut")) || (await has("/sbin/dracut")) || (await has("/usr/sbin/dracut"));
  let initramfsTool: InitramfsTool;
  if (family === "debian") initramfsTool = dracut && !(await has("/usr/sbin/update-initramfs")) ? "dracut" : "update-initramfs";
  else initramfsTool = dracut ? "dracut" : "mkinitrd";
  return { ...release, major, initramfsTool, network: await networkStack(guest, family, major), systemd };
}

async function identify(guest: GuestFs, disk: string): Promise<Omit<DetectedOs, "major" | "initramfsTool" | "network" | "systemd">> {
  const osRelease = (await guest.readFile("/etc/os-release")) ?? (await guest.readFile("/usr/lib/os-release"));
  if (osRelease !== undefined) {
    const f = parseOsRelease(osRelease);
    const id = f["ID"] ?? "";
    const family = familyOf(id, f["ID_LIKE"]);
    if (family !== undefined) {
      return { family, id, version: f["VERSION_ID"] ?? "", prettyName: f["PRETTY_NAME"] ?? id };
    }
    throw unsupported(disk, f["PRETTY_NAME"] ?? id);
  }
  const legacy: Array<[string, DistroFamily, string]> = [
    ["/etc/redhat-release", "rhel", "rhel"],
    ["/etc/centos-release", "rhel", "centos"],
    ["/etc/SuSE-release", "suse", "sles"],
    ["/etc/debian_version", "debian", "debian"],
  ];
  for (const [file, family, id] of legacy) {
    const text = await guest.readFile(file);
    if (text === undefined) continue;
    const firstLine = text.split("\n")[0]!.trim();
    const version =
      family === "suse"
        ? [/VERSION\s*=\s*(\d+)/.exec(text)?.[1], /PATCHLEVEL\s*=\s*(\d+)/.exec(text)?.[1]].filter((v) => v !== undefined).join(".")
        : (/(\d+(?:\.\d+)*)/.exec(firstLine)?.[1] ?? "");
    return { family, id: /centos/i.test(firstLine) ? "centos" : id, version, prettyName: firstLine };
  }
  if ((await guest.exists("/Windows/System32")) || (await guest.exists("/windows/system32"))) {
    throw new InputError(
      problem({
        file: disk,
        field: "guest OS",
        received: "Windows",
        expected: "a Linux guest (RHEL family, Debian/Ubuntu or SUSE)",
        message: "The disk holds Windows, which the Linux adaptation does not handle",
        fix: "adapt it with adaptDisk or adaptWindowsGuest and a virtio-win set (rehost adapt DISK --virtio-win PATH; docs/windows-guests.md)",
      }),
    );
  }
  throw unsupported(disk, "no /etc/os-release or release file");
}

function unsupported(disk: string, received: string): InputError {
  return new InputError(
    problem({
      file: disk,
      field: "guest OS",
      received,
      expected: "RHEL/CentOS/Rocky/Alma/Oracle, Debian/Ubuntu or SUSE/openSUSE",
      message: "The disk's operating system is not one rehost can adapt",
      fix: "adapt this guest by hand (virtio drivers in the initramfs, UUIDs in fstab, DHCP on eth0) and migrate it without `rehost adapt`",
    }),
  );
}

async function networkStack(guest: GuestFs, family: DistroFamily, major: number): Promise<NetworkStack> {
  const nmKeyfiles = (await guest.list("/etc/NetworkManager/system-connections")).length > 0;
  if (family === "debian") {
    const netplan = (await guest.list("/etc/netplan")).some((n) => /\.ya?ml$/.test(n));
    if (netplan || (await guest.exists("/usr/sbin/netplan"))) return "netplan";
    if (await guest.exists("/etc/network/interfaces")) return "ifupdown";
    if ((await guest.list("/etc/systemd/network")).some((n) => n.endsWith(".network"))) return "networkd";
    return nmKeyfiles ? "nm-keyfile" : "ifupdown";
  }
  if (family === "rhel") {
    const ifcfg = (await guest.list("/etc/sysconfig/network-scripts")).some((n) => n.startsWith("ifcfg-") && n !== "ifcfg-lo");
    if (ifcfg && major < 9) return "ifcfg-rh";
    if (nmKeyfiles || major >= 9) return "nm-keyfile";
    return "ifcfg-rh";
  }
  return nmKeyfiles && !(await guest.list("/etc/sysconfig/network")).some((n) => n.startsWith("ifcfg-eth")) ? "nm-keyfile" : "ifcfg-suse";
}
