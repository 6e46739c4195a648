/**
 * Boot-loader configuration rewriting: GRUB 2 (`grub.cfg`, `/etc/default/grub`), BootLoaderSpec
 * entries and `grubenv` (RHEL 8+), GRUB legacy (`menu.lst`, `grub.conf`) and `/etc/kernel/cmdline`.
 * Every kernel command line gets `root=`/`resume=` as UUIDs plus the parameters rehost adds.
 * Pure functions over file text.
 */
import { rewriteKernelArgs, type DeviceRewrite, type RewriteResult, type UuidMap } from "./devices";

/**
 * Parameters added to every kernel command line: classic `eth0` naming, so the DHCP
 * configuration written for `eth0` applies whatever PCI slot the cloud NIC sits in (the names
 * Alibaba Cloud's own images use).
 */
export const ADDED_KERNEL_PARAMETERS = ["net.ifnames=0", "biosdevname=0"] as const;

/** Boot-loader files rehost looks for, relative to the guest root. */
export const BOOTLOADER_FILES = [
  "/etc/default/grub",
  "/boot/grub/grub.cfg",
  "/boot/grub2/grub.cfg",
  "/boot/grub/menu.lst",
  "/boot/grub/grub.conf",
  "/boot/grub2/grubenv",
  "/etc/kernel/cmdline",
] as const;

type Kind = "default-grub" | "grub-cfg" | "grub-legacy" | "grubenv" | "bls-entry" | "kernel-cmdline";

/** Which rewriting applies to a boot-loader file, from its path. */
function bootloaderKind(guestPath: string): Kind | undefined {
  if (guestPath === "/etc/default/grub") return "default-grub";
  if (guestPath === "/etc/kernel/cmdline") return "kernel-cmdline";
  if (guestPath.endsWith("/grubenv")) return "grubenv";
  if (guestPath.endsWith("/menu.lst") || guestPath.endsWith("/grub.conf")) return "grub-legacy";
  if (guestPath.endsWith("/grub.cfg")) return "grub-cfg";
  if (guestPath.startsWith("/boot/loader/entries/") && guestPath.endsWith(".conf")) return "bls-entry";
  return undefined;
}

/** Rewrites one boot-loader file; `text` is unchanged when nothing applies. */
export function rewriteBootloaderFile(guestPath: string, text: string, uuids: UuidMap, add: readonly string[] = ADDED_KERNEL_PARAMETERS): RewriteResult {
  switch (bootloaderKind(guestPath)) {
    case "default-grub":
      return rewriteDefaultGrub(text, uuids, add);
    case "grub-cfg":
      return rewriteMatchingLines(text, /^(\s*(?:linux|linux16|linuxefi)\s+\S+)(.*)$/, uuids, add);
    case "grub-legacy":
      return rewriteMatchingLines(text, /^(\s*kernel\s+\S+)(.*)$/, uuids, add);
    case "bls-entry":
      return rewriteMatchingLines(text, /^(\s*options)(\s.*)$/, uuids, add, (args) => !args.includes("$kernelopts"));
    case "grubenv":
      return rewriteGrubenv(text, uuids, add);
    case "kernel-cmdline":
      return rewriteMatchingLines(text, /^()(\S.*)$/, uuids, add);
    default:
      return { text, rewrites: [], unresolved: [] };
  }
}

function rewriteMatchingLines(
  text: string,
  pattern: RegExp,
  uuids: UuidMap,
  add: readonly string[],
  applies: (args: string) => boolean = () => true,
): RewriteResult {
  const rewrites: DeviceRewrite[] = [];
  const unresolved: DeviceRewrite[] = [];
  const lines = text.split("\n").map((line) => {
    const m = pattern.exec(line);
    if (!m || !applies(m[2]!)) return line;
    const r = rewriteKernelArgs(m[2]!, uuids, add);
    rewrites.push(...r.rewrites);
    unresolved.push(...r.unresolved);
    const glued = m[1] === "" || m[1]!.endsWith("=") || /^\s/.test(r.text);
    const args = glued ? r.text : ` ${r.text}`;
    return `${m[1]}${args}`;
  });
  return { text: lines.join("\n"), rewrites, unresolved };
}

function rewriteDefaultGrub(text: string, uuids: UuidMap, add: readonly string[]): RewriteResult {
  const rewrites: DeviceRewrite[] = [];
  const unresolved: DeviceRewrite[] = [];
  let sawCmdline = false;
  const lines = text.split("\n").map((line) => {
    const cmd = /^(\s*GRUB_CMDLINE_LINUX=)(["']?)(.*?)\2\s*$/.exec(line);
    if (cmd) {
      sawCmdline = true;
      const r = rewriteKernelArgs(cmd[3]!, uuids, add);
      rewrites.push(...r.rewrites);
      unresolved.push(...r.unresolved);
      return `${cmd[1]}"${r.text}"`;
    }
    if (/^\s*GRUB_DISABLE_LINUX_UUID\s*=\s*["']?true["']?\s*$/.test(line)) {
      rewrites.push({ from: "GRUB_DISABLE_LINUX_UUID=true", to: "GRUB_DISABLE_LINUX_UUID=false", where: "GRUB_DISABLE_LINUX_UUID" });
      return "GRUB_DISABLE_LINUX_UUID=false";
    }
    return line;
  });
  if (!sawCmdline && add.length > 0) {
    const r = rewriteKernelArgs("", uuids, add);
    rewrites.push(...r.rewrites);
    const end = lines.length > 0 && lines[lines.length - 1] === "" ? lines.length - 1 : lines.length;
    lines.splice(end, 0, `GRUB_CMDLINE_LINUX="${r.text}"`);
  }
  return { text: lines.join("\n"), rewrites, unresolved };
}

/** `grubenv` is a 1024-byte block padded with `#`; the rewrite keeps its size. */
function rewriteGrubenv(text: string, uuids: UuidMap, add: readonly string[]): RewriteResult {
  const body = text.replace(/#+$/, "");
  const r = rewriteMatchingLines(body, /^(kernelopts=)(.*)$/, uuids, add);
  if (r.text === body) return { text, rewrites: [], unresolved: r.unresolved };
  const size = Math.max(1024, Buffer.byteLength(text));
  const padding = size - Buffer.byteLength(r.text);
  if (padding < 0) return { text, rewrites: [], unresolved: [...r.unresolved, { from: "kernelopts", to: "kernelopts", where: "grubenv is full" }] };
  return { text: r.text + "#".repeat(padding), rewrites: r.rewrites, unresolved: r.unresolved };
}
