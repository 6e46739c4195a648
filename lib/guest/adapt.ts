/**
 * The adaptation of one Linux guest for its first boot on Alibaba Cloud ECS (KVM, virtio), done
 * through a {@link GuestFs}: virtio drivers in the initramfs, UUIDs instead of device names in
 * fstab and the boot loader, DHCP networking on `ethN` without MAC bindings or VMware Tools,
 * optionally cloud-init. Every file it replaces is first copied under `/var/lib/rehost/backup`.
 */
import { ADDED_KERNEL_PARAMETERS, BOOTLOADER_FILES, rewriteBootloaderFile } from "./bootloader";
import { detectOs } from "./detect";
import { CONTROLLER_DEVICE, fstabDevices, rewriteFstab, type DeviceRewrite } from "./devices";
import type { GuestFs } from "./guestfs";
import type { AdaptReport, GuestChange, KernelReport } from "./report";
import {
  initramfsConfig,
  initramfsPath,
  listCommand,
  moduleNames,
  rebuildCommand,
  VIRTIO_MODULES,
  virtioInListing,
  type ModuleState,
  type VirtioModule,
} from "./initramfs";
import {
  isPersistentNetRule,
  networkDirs,
  networkFiles,
  networkPlan,
  staleNetworkFiles,
  VMWARE_TOOLS_SYSV,
  VMWARE_TOOLS_UNITS,
  type SecondaryAddress,
} from "./network";

/** Where originals of replaced or moved files are kept inside the guest. */
export const BACKUP_ROOT = "/var/lib/rehost/backup";

/** What the adaptation does, beyond the disk it works on. */
export interface AdaptGuestOptions {
  /** The disk, as named in the report and in problems. */
  readonly disk: string;
  /** Static addresses kept next to DHCP (the plan's secondary IPs). @default - none */
  readonly staticSecondary?: readonly SecondaryAddress[];
  /** NICs to configure (`eth0`…). @default - 1, or more when `staticSecondary` names `eth1`… */
  readonly nicCount?: number;
  /** Enable cloud-init with Alibaba Cloud's datasource. @default - false: cloud-init, when installed, only loses its network configuration */
  readonly cloudInit?: boolean;
  /** Stops between steps (an initramfs rebuild in progress finishes first). */
  readonly signal?: AbortSignal;
  /** Called with a short description before each step. */
  readonly onProgress?: (step: string) => void;
}

/** Adapts the guest seen through `guest`. */
export async function adaptGuest(guest: GuestFs, options: AdaptGuestOptions): Promise<AdaptReport> {
  const started = Date.now();
  const changes: GuestChange[] = [];
  const warnings: string[] = [];
  const rewrites: DeviceRewrite[] = [];
  const step = (what: string) => {
    options.signal?.throwIfAborted();
    options.onProgress?.(what);
    options.signal?.throwIfAborted();
  };

  step("detecting the distribution");
  const os = await detectOs(guest, options.disk);

  const backup = async (path: string, text: string) => {
    const copy = `${BACKUP_ROOT}${path}`;
    if (!(await guest.exists(copy))) await guest.writeFile(copy, text, 0o600);
    return copy;
  };
  const replace = async (area: GuestChange["area"], path: string, content: string, detail: string, mode = 0o644) => {
    const current = await guest.readFile(path);
    if (current === content) return;
    const kept = current === undefined ? undefined : await backup(path, current);
    await guest.writeFile(path, content, mode);
    changes.push({ area, action: "write", path, detail, ...(kept ? { backup: kept } : {}) });
  };
  const moveAside = async (area: GuestChange["area"], path: string, detail: string) => {
    const copy = `${BACKUP_ROOT}${path}`;
    if (await guest.exists(copy)) await guest.remove(copy);
    await guest.move(path, copy);
    changes.push({ area, action: "move", path, detail, backup: copy });
  };

  // Device names → UUIDs, for fstab and the boot loader.
  step("rewriting fstab and boot loader to UUIDs");
  const fstab = await guest.readFile("/etc/fstab");
  const bootFiles = await bootloaderFiles(guest);
  const bootTexts = new Map<string, string>();
  for (const file of bootFiles) {
    const text = await guest.readFile(file);
    if (text !== undefined) bootTexts.set(file, text);
  }
  const deviceNames = new Set<string>(fstab === undefined ? [] : fstabDevices(fstab));
  for (const text of bootTexts.values()) {
    for (const m of text.matchAll(/\b(?:root|resume)=(\/dev\/\S+)/g)) if (CONTROLLER_DEVICE.test(m[1]!)) deviceNames.add(m[1]!);
  }
  const uuids = new Map<string, string>();
  for (const device of deviceNames) {
    const uuid = await guest.filesystemUuid(device);
    if (uuid !== undefined) uuids.set(device, uuid);
  }
  if (fstab === undefined) warnings.push("The guest has no /etc/fstab.");
  else {
    const r = rewriteFstab(fstab, uuids);
    rewrites.push(...r.rewrites);
    for (const u of r.unresolved)
      warnings.push(`fstab mounts ${u.from} on ${u.where} but that device is not attached: attach the disk (dataDisks) or fix the entry by hand.`);
    for (const spec of fstab.split("\n").map((l) => l.trim().split(/\s+/)[0] ?? "")) {
      if (/^\/dev\/disk\/by-(id|path)\//.test(spec))
        warnings.push(`fstab names ${spec}, which encodes the VMware controller and will not exist on ECS: replace it by UUID= by hand.`);
    }
    if (r.rewrites.length > 0) await replace("fstab", "/etc/fstab", r.text, r.rewrites.map((w) => `${w.where}: ${w.from} → ${w.to}`).join("; "));
  }
  if (bootTexts.size === 0) warnings.push("No boot-loader configuration found (GRUB 2, GRUB legacy, BootLoaderSpec): the kernel command line was not changed.");
  for (const [file, text] of bootTexts) {
    const r = rewriteBootloaderFile(file, text, uuids, ADDED_KERNEL_PARAMETERS);
    rewrites.push(...r.rewrites.filter((w) => w.from !== ""));
    for (const u of r.unresolved) warnings.push(`${file}: ${u.where}=${u.from} names a device that is not attached; left as is.`);
    if (r.text !== text) {
      const detail = [...new Set(r.rewrites.map((w) => (w.from === "" ? `+${w.to}` : `${w.where}: ${w.from} → ${w.to}`)))].join("; ");
      await replace("bootloader", file, r.text, detail, file.endsWith("grub.cfg") || file.endsWith("grubenv") ? 0o600 : 0o644);
    }
  }

  step("configuring the network for DHCP");
  for (const name of await guest.list("/etc/udev/rules.d")) {
    const path = `/etc/udev/rules.d/${name}`;
    const text = (await guest.readFile(path)) ?? "";
    if (isPersistentNetRule(name, text)) await moveAside("network", path, "udev rule binding interface names to the VMware MAC addresses");
  }
  const dirs: Record<string, string[]> = {};
  for (const dir of networkDirs(os.network)) dirs[dir] = await guest.list(dir);
  for (const stale of staleNetworkFiles(os.network, dirs)) await moveAside("network", stale, "configuration of the VMware NICs");
  const plan = networkPlan(options.nicCount ?? 1, options.staticSecondary ?? []);
  const existingInterfaces = os.network === "ifupdown" ? await guest.readFile("/etc/network/interfaces") : undefined;
  for (const file of networkFiles(os.network, plan, existingInterfaces)) {
    const detail = plan.interfaces.map((n) => `${n.device}: DHCP${n.secondary.length > 0 ? ` + ${n.secondary.join(", ")}` : ""}`).join("; ");
    await replace("network", file.path, file.content, `${os.network}: ${detail}`, file.mode);
  }

  step("disabling VMware Tools");
  for (const dir of await guest.list("/etc/systemd/system")) {
    if (!dir.endsWith(".wants")) continue;
    for (const unit of await guest.list(`/etc/systemd/system/${dir}`)) {
      if (!VMWARE_TOOLS_UNITS.test(unit)) continue;
      const link = `/etc/systemd/system/${dir}/${unit}`;
      await guest.remove(link);
      changes.push({ area: "vmware-tools", action: "remove", path: link, detail: `systemctl disable ${unit}` });
    }
  }
  for (const level of ["0", "1", "2", "3", "4", "5", "6", "S"]) {
    const dir = `/etc/rc${level}.d`;
    for (const link of await guest.list(dir)) {
      if (VMWARE_TOOLS_SYSV.test(link)) await moveAside("vmware-tools", `${dir}/${link}`, "SysV start link of VMware Tools");
    }
  }

  step("cloud-init");
  const cloudInitInstalled = (await guest.exists("/usr/bin/cloud-init")) || (await guest.exists("/usr/local/bin/cloud-init"));
  if (cloudInitInstalled) {
    await replace(
      "cloud-init",
      "/etc/cloud/cloud.cfg.d/99-rehost-network.cfg",
      "# Written by rehost: the network configuration is the one guest adaptation wrote.\nnetwork: {config: disabled}\n",
      "cloud-init keeps the DHCP configuration rehost wrote",
    );
    if (options.cloudInit === true) {
      await replace(
        "cloud-init",
        "/etc/cloud/cloud.cfg.d/90-rehost-aliyun.cfg",
        "# Written by rehost: Alibaba Cloud ECS metadata.\ndatasource_list: [ AliYun, None ]\n",
        "datasource AliYun",
      );
      if (await guest.exists("/etc/cloud/cloud-init.disabled")) await moveAside("cloud-init", "/etc/cloud/cloud-init.disabled", "cloud-init enabled");
    }
  } else if (options.cloudInit === true) {
    warnings.push("cloud-init was requested but is not installed in the guest: install it on the source VM before the next round.");
  }

  step("virtio drivers in the initramfs");
  const kernels = await installedKernels(guest);
  if (kernels.length === 0) warnings.push("No kernel found (/boot/vmlinuz-* with /lib/modules/*): the guest cannot boot.");
  const kernelInfo: Array<{ version: string; image: string; needed: VirtioModule[]; builtin: Set<string>; inImage: Set<VirtioModule> }> = [];
  for (const version of kernels) {
    const builtin = moduleNames((await guest.readFile(`/lib/modules/${version}/modules.builtin`)) ?? "");
    const available = moduleNames((await guest.readFile(`/lib/modules/${version}/modules.dep`)) ?? "");
    const image = initramfsPath(os, version);
    const inImage = (await guest.exists(image)) ? virtioInListing((await guest.run(listCommand(os, image))).output) : new Set<VirtioModule>();
    const needed = VIRTIO_MODULES.filter((m) => !builtin.has(m));
    for (const m of needed)
      if (!available.has(m)) warnings.push(`Kernel ${version} has no ${m} module: it cannot boot on ECS; install a newer kernel on the source.`);
    kernelInfo.push({ version, image, needed: needed.filter((m) => available.has(m)), builtin, inImage });
  }
  const wanted = [...new Set(kernelInfo.flatMap((k) => k.needed))];
  const configPath =
    os.initramfsTool === "update-initramfs" ? "/etc/initramfs-tools/modules" : os.initramfsTool === "mkinitrd" ? "/etc/sysconfig/kernel" : undefined;
  const config = initramfsConfig(os, wanted, configPath ? await guest.readFile(configPath) : undefined);
  if (config) await replace("initramfs", config.path, config.content, `${os.initramfsTool} includes ${wanted.join(", ")}`);
  const kernelReports: KernelReport[] = [];
  for (const k of kernelInfo) {
    let inImage = k.inImage;
    const missing = k.needed.filter((m) => !inImage.has(m));
    let rebuilt = false;
    if (missing.length > 0) {
      step(`rebuilding ${k.image} (${os.initramfsTool})`);
      const command = rebuildCommand(os, k.version, k.needed, await guest.exists(k.image));
      const result = await guest.run(command);
      changes.push({ area: "initramfs", action: "run", path: k.image, detail: command });
      rebuilt = true;
      if (result.status !== 0) warnings.push(`${command} failed (exit ${result.status}): ${lastLines(result.output)}`);
      inImage = virtioInListing((await guest.run(listCommand(os, k.image))).output);
    }
    const modules = Object.fromEntries(VIRTIO_MODULES.map((m) => [m, k.builtin.has(m) ? "builtin" : inImage.has(m) ? "initramfs" : "missing"])) as Record<
      VirtioModule,
      ModuleState
    >;
    kernelReports.push({ version: k.version, initramfs: k.image, modules, rebuilt });
  }
  // Files written from outside the guest carry no SELinux label: relabel at first boot.
  const selinux = /^\s*SELINUX\s*=\s*(enforcing|permissive)\s*$/m.exec((await guest.readFile("/etc/selinux/config")) ?? "")?.[1];
  if (selinux !== undefined && changes.length > 0 && !(await guest.exists("/.autorelabel"))) {
    await guest.writeFile("/.autorelabel", "");
    changes.push({
      area: "selinux",
      action: "write",
      path: "/.autorelabel",
      detail: `SELinux is ${selinux}: the first boot relabels the files rehost wrote (one extra reboot)`,
    });
  }
  const bootCritical: VirtioModule[] = ["virtio_pci", "virtio_blk"];
  const ok = kernelReports.length > 0 && kernelReports.every((k) => bootCritical.every((m) => k.modules[m] !== "missing"));
  return { disk: options.disk, os, kernels: kernelReports, changes, rewrites, warnings: [...new Set(warnings)], ok, durationMs: Date.now() - started };
}

/** Kernel versions with both modules and an image in /boot, newest last. */
export async function installedKernels(guest: GuestFs): Promise<string[]> {
  const versions: string[] = [];
  for (const version of await guest.list("/lib/modules")) {
    if (await guest.exists(`/boot/vmlinuz-${version}`)) versions.push(version);
  }
  return versions.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

async function bootloaderFiles(guest: GuestFs): Promise<string[]> {
  const files: string[] = [...BOOTLOADER_FILES];
  for (const entry of await guest.list("/boot/loader/entries")) if (entry.endsWith(".conf")) files.push(`/boot/loader/entries/${entry}`);
  for (const vendor of await guest.list("/boot/efi/EFI")) files.push(`/boot/efi/EFI/${vendor}/grub.cfg`);
  return files;
}

function lastLines(text: string, n = 5): string {
  return text.trim().split("\n").slice(-n).join(" | ");
}
