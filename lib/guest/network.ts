/**
 * Network configuration for the first boot on ECS: every NIC on DHCP (the VPC's DHCP serves the
 * pinned private IP of each ENI), static secondary addresses kept, classic `ethN` names.
 * One generator per network stack; pure functions returning the files to write.
 */
import { stringify } from "yaml";
import type { NetworkStack } from "./detect";

/** A static address kept on a NIC next to its DHCP address. */
export interface SecondaryAddress {
  /** Guest interface, `eth0` for the primary NIC. @default - `eth0` */
  readonly device?: string;
  /** Dotted IPv4 address. */
  readonly address: string;
  /** Prefix length of the subnet (24 for a /24). */
  readonly prefixLength: number;
}

/** The interfaces to configure: `eth0`…`eth{n-1}`, each with its secondary addresses. */
export interface NetworkPlan {
  readonly interfaces: ReadonlyArray<{ readonly device: string; readonly secondary: readonly string[] }>;
}

/** A file the network configuration consists of. */
export interface GeneratedFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** Builds the plan: `nicCount` NICs (at least as many as the secondaries name), all DHCP. */
export function networkPlan(nicCount: number, secondary: readonly SecondaryAddress[]): NetworkPlan {
  const highest = secondary.reduce((max, s) => Math.max(max, Number((s.device ?? "eth0").slice(3))), 0);
  const count = Math.max(1, nicCount, highest + 1);
  return {
    interfaces: Array.from({ length: count }, (_, i) => ({
      device: `eth${i}`,
      secondary: secondary.filter((s) => (s.device ?? "eth0") === `eth${i}`).map((s) => `${s.address}/${s.prefixLength}`),
    })),
  };
}

const HEADER = "Written by rehost guest adaptation: DHCP serves the pinned address of this NIC on Alibaba Cloud ECS.";

/**
 * The files of one network stack. `existingInterfaces` is the current `/etc/network/interfaces`
 * (ifupdown only): its loopback and `source` lines are kept, every other stanza is replaced.
 */
export function networkFiles(stack: NetworkStack, plan: NetworkPlan, existingInterfaces?: string): GeneratedFile[] {
  switch (stack) {
    case "ifupdown":
      return [{ path: "/etc/network/interfaces", content: ifupdown(plan, existingInterfaces), mode: 0o644 }];
    case "netplan":
      return [{ path: "/etc/netplan/50-rehost.yaml", content: netplan(plan), mode: 0o600 }];
    case "networkd":
      return plan.interfaces.map((nic, i) => ({
        path: `/etc/systemd/network/${10 + i}-rehost-${nic.device}.network`,
        content: [`# ${HEADER}`, "[Match]", `Name=${nic.device}`, "", "[Network]", "DHCP=ipv4", ...nic.secondary.map((a) => `Address=${a}`), ""].join("\n"),
        mode: 0o644,
      }));
    case "ifcfg-rh":
      return plan.interfaces.map((nic) => ({
        path: `/etc/sysconfig/network-scripts/ifcfg-${nic.device}`,
        content: [
          `# ${HEADER}`,
          `DEVICE=${nic.device}`,
          "TYPE=Ethernet",
          "BOOTPROTO=dhcp",
          "ONBOOT=yes",
          "PERSISTENT_DHCLIENT=yes",
          ...nic.secondary.flatMap((a, k) => [`IPADDR${k}=${a.split("/")[0]}`, `PREFIX${k}=${a.split("/")[1]}`]),
          "",
        ].join("\n"),
        mode: 0o644,
      }));
    case "nm-keyfile":
      return plan.interfaces.map((nic) => ({
        path: `/etc/NetworkManager/system-connections/rehost-${nic.device}.nmconnection`,
        content: [
          `# ${HEADER}`,
          "[connection]",
          `id=${nic.device}`,
          "type=ethernet",
          `interface-name=${nic.device}`,
          "autoconnect=true",
          "",
          "[ipv4]",
          "method=auto",
          ...nic.secondary.map((a, k) => `address${k + 1}=${a}`),
          "",
          "[ipv6]",
          "method=ignore",
          "",
        ].join("\n"),
        mode: 0o600,
      }));
    case "ifcfg-suse":
      return plan.interfaces.map((nic) => ({
        path: `/etc/sysconfig/network/ifcfg-${nic.device}`,
        content: [`# ${HEADER}`, "BOOTPROTO='dhcp'", "STARTMODE='auto'", ...nic.secondary.map((a, k) => `IPADDR_${k}='${a}'`), ""].join("\n"),
        mode: 0o644,
      }));
  }
}

function ifupdown(plan: NetworkPlan, existing = ""): string {
  const kept = existing
    .split("\n")
    .filter((l) => /^\s*source(-directory)?\s/.test(l))
    .map((l) => l.trim());
  const lines = [`# ${HEADER}`, ...(kept.length > 0 ? kept : ["source /etc/network/interfaces.d/*"]), "", "auto lo", "iface lo inet loopback"];
  for (const nic of plan.interfaces) {
    lines.push("", `auto ${nic.device}`, `iface ${nic.device} inet dhcp`);
    // ifupdown applies every stanza of an interface: the static ones add the secondary addresses.
    for (const address of nic.secondary) lines.push(`iface ${nic.device} inet static`, `\taddress ${address}`);
  }
  return `${lines.join("\n")}\n`;
}

function netplan(plan: NetworkPlan): string {
  const ethernets: Record<string, unknown> = {};
  for (const nic of plan.interfaces) {
    ethernets[nic.device] = { dhcp4: true, ...(nic.secondary.length > 0 ? { addresses: [...nic.secondary] } : {}) };
  }
  return `# ${HEADER}\n${stringify({ network: { version: 2, ethernets } })}`;
}

/**
 * Files of the network stack that bind the old NICs (names, MACs, static addresses) and are
 * moved aside, given the entries of the relevant directories.
 */
export function staleNetworkFiles(stack: NetworkStack, dirs: Readonly<Record<string, readonly string[]>>): string[] {
  const inDir = (dir: string, keep: (name: string) => boolean) => (dirs[dir] ?? []).filter(keep).map((n) => `${dir}/${n}`);
  switch (stack) {
    case "ifupdown":
      return inDir("/etc/network/interfaces.d", (n) => !n.startsWith("."));
    case "netplan":
      return inDir("/etc/netplan", (n) => /\.ya?ml$/.test(n) && n !== "50-rehost.yaml");
    case "networkd":
      return inDir("/etc/systemd/network", (n) => /\.(network|link)$/.test(n) && !n.includes("-rehost-"));
    case "ifcfg-rh":
      return [
        ...inDir("/etc/sysconfig/network-scripts", (n) => n.startsWith("ifcfg-") && n !== "ifcfg-lo"),
        ...inDir("/etc/NetworkManager/system-connections", (n) => !n.startsWith("rehost-")),
      ];
    case "nm-keyfile":
      return [
        ...inDir("/etc/NetworkManager/system-connections", (n) => !n.startsWith("rehost-")),
        ...inDir("/etc/sysconfig/network-scripts", (n) => n.startsWith("ifcfg-") && n !== "ifcfg-lo"),
      ];
    case "ifcfg-suse":
      return inDir("/etc/sysconfig/network", (n) => n.startsWith("ifcfg-") && n !== "ifcfg-lo");
  }
}

/** Directories {@link staleNetworkFiles} needs listed for a stack. */
export function networkDirs(stack: NetworkStack): string[] {
  switch (stack) {
    case "ifupdown":
      return ["/etc/network/interfaces.d"];
    case "netplan":
      return ["/etc/netplan"];
    case "networkd":
      return ["/etc/systemd/network"];
    case "ifcfg-rh":
    case "nm-keyfile":
      return ["/etc/sysconfig/network-scripts", "/etc/NetworkManager/system-connections"];
    case "ifcfg-suse":
      return ["/etc/sysconfig/network"];
  }
}

/** True for udev rules that pin an interface name to a MAC address (`70-persistent-net.rules`). */
export function isPersistentNetRule(name: string, text: string): boolean {
  if (/persistent-net\.rules$/.test(name)) return true;
  return /SUBSYSTEM=="net"/.test(text) && /ATTR\{address\}==/.test(text) && /NAME\s*:?=/.test(text);
}

/** systemd units and SysV scripts of VMware Tools / open-vm-tools. */
export const VMWARE_TOOLS_UNITS =
  /^(?:vmtoolsd|open-vm-tools|vmware-tools|vmware-tools-thinprint|vgauth|vgauthd|vmware-vmblock-fuse|run-vmblock\\x2dfuse)\.(?:service|mount)$/;
/** SysV start links of VMware Tools (`S19vmware-tools`). */
export const VMWARE_TOOLS_SYSV = /^S\d\d(?:vmware-tools|vmware-tools-thinprint|open-vm-tools|vmtoolsd)$/;
