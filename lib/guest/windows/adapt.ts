/**
 * The adaptation of one Windows guest for its first boot on Alibaba Cloud ECS (KVM, virtio),
 * done through a {@link GuestFs} whose system is checked read-only first: every refusal (no
 * matching drivers, a missing hive, an unsupported version) happens before anything is written.
 *
 * Then: the virtio drivers staged (`%SystemRoot%\Drivers\VirtIO`, the storage drivers' `.sys` in
 * `System32\drivers`), the storage drivers registered as boot-start services and bound to the
 * virtio PCI IDs in every control set, the staged drivers added to `DevicePath`, VMware Tools'
 * services disabled, and the first-boot service and script written (see ./firstboot.ts). The
 * hives are edited on this host with hivex and uploaded back, SYSTEM last; their originals are
 * kept under `%SystemRoot%\rehost\backup`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { AdaptReport, GuestChange } from "../report";
import type { StagedDriver, WindowsAdaptation } from "./report";
import type { GuestFs } from "../guestfs";
import type { SecondaryAddress } from "../network";
import { GuestRefused } from "../refused";
import { detectWindows, type DetectedWindows } from "./detect";
import { archNames, BOOT_DRIVERS, driverSource, matchDrivers, releaseNames, REQUIRED_DRIVERS } from "./drivers";
import { FIRSTBOOT_DIR, FIRSTBOOT_LOG, FIRSTBOOT_SERVICE, firstBootCmd, firstBootPs1, firstBootServiceKeys } from "./firstboot";
import { chooseLauncher, firstBootNics, VIRT_TOOLS_DIR } from "./firstboot-inputs";
import { changedKeys, vmwareToolsInstallations } from "./hive-changes";
import {
  bootServiceKey,
  criticalDeviceKeys,
  DEVICE_PATH_KEY,
  devicePathWithVirtio,
  driverDatabaseKeys,
  INBOX_NVME,
  VMWARE_TOOLS_SERVICES,
  type BootDriver,
  type DeviceBinding,
} from "./registrations";
import { describeValue, dword, expandSz, type RegKey } from "./registry";

/** What the Windows adaptation does, beyond the disk it works on. */
export interface AdaptWindowsOptions {
  /** The disk, as named in the report and in problems. */
  readonly disk: string;
  /** The virtio-win directory or ISO the drivers come from. */
  readonly virtioWin: string;
  /**
   * A service wrapper (`rhsrvany.exe` or `pvvxsvc.exe`) that starts the first-boot script.
   * @default - the one in /usr/share/virt-tools when present, else `cmd.exe` starts it
   */
  readonly firstBootService?: string;
  /** The plan's secondary addresses, added to the NIC at the first boot. @default - none */
  readonly staticSecondary?: readonly SecondaryAddress[];
  /** The plan's primary address of each NIC, which identifies the NIC at the first boot. @default - none: NICs by PCI order */
  readonly nicAddresses?: readonly SecondaryAddress[];
  /** From the partition table. @default "unknown" */
  readonly bootMode?: DetectedWindows["bootMode"];
  readonly signal?: AbortSignal;
  readonly onProgress?: (step: string) => void;
}

/** Adapts the Windows guest seen through `guest` (mounted read-only until the checks pass). */
export async function adaptWindowsGuest(guest: GuestFs, options: AdaptWindowsOptions): Promise<AdaptReport> {
  const started = Date.now();
  const changes: GuestChange[] = [];
  const warnings: string[] = [];
  const step = (what: string) => {
    options.signal?.throwIfAborted();
    options.onProgress?.(what);
  };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "rehost-windows-"));
  try {
    // 1. Read-only: what the guest is, and whether rehost can adapt it.
    step("detecting Windows (libguestfs inspection, registry hives)");
    const { os: win, system, software } = await detectWindows(guest, options.disk, work, options.bootMode ?? "unknown");
    if (win.major < 6 || (win.major === 6 && win.minor < 1)) {
      throw new GuestRefused(options.disk, "unsupported-version", {
        field: "guest OS",
        received: `${win.prettyName} (${win.version})`,
        expected: "Windows 7 / Server 2008 R2 (6.1) or newer",
        message: "rehost adapts Windows 7 / Server 2008 R2 and newer (the first-boot script needs PowerShell 2.0)",
        fix: "upgrade the guest on the source VM, or install the virtio drivers on it by hand before the last round",
      });
    }
    for (const h of [system, software]) {
      if (h.header.dirty) {
        warnings.push(
          `The ${h.name} hive was not fully written by Windows (sequence ${h.header.primarySequence} ≠ ${h.header.secondarySequence}): changes still in its .LOG1/.LOG2 files are not in it. A snapshot of a running VM gives this; for cutover, shut the VM down first.`,
        );
      }
    }

    step(`finding virtio drivers for ${win.prettyName} in ${options.virtioWin}`);
    const source = driverSource(options.virtioWin);
    const available = await source.list();
    const version = { major: win.major, minor: win.minor, build: win.build, variant: win.variant, arch: win.arch };
    const matches = matchDrivers(available, version);
    const missing = REQUIRED_DRIVERS.filter((d) => !matches.some((m) => m.name === d));
    if (missing.length > 0 || win.release === undefined) {
      const releases = [
        ...new Set(
          available.flatMap((f) => f.toLowerCase().split("/").slice(0, -1)).filter((e) => /^(?:2k\d+(?:r2)?|w\d+(?:\.1)?|win\d+(?:r2|\.1)?|xp|vista)$/.test(e)),
        ),
      ].sort();
      throw new GuestRefused(options.disk, "no-drivers", {
        field: "virtioWin",
        received: `${options.virtioWin}: ${matches.length === 0 ? "no drivers" : `only ${matches.map((m) => m.name).join(", ")}`} for ${releaseNames(version).join("/") || win.version} ${archNames(win.arch).join("/") || win.arch}${releases.length > 0 ? ` (it has ${releases.join(", ")})` : ""}`,
        expected: `${REQUIRED_DRIVERS.join(" and ")} for ${win.prettyName} ${win.arch}`,
        message: `The virtio-win set has no ${missing.join(" or ") || "drivers"} for ${win.prettyName} (${win.version}, build ${win.build}, ${win.arch})`,
        fix: "give a virtio-win ISO or directory (--virtio-win) that supports this Windows version, such as a current virtio-win release or Alibaba Cloud's virtio package",
      });
    }
    const release = win.release;
    const launcher = await chooseLauncher(options.firstBootService);
    const vmwareTools = await vmwareToolsInstallations(software);
    const binding: DeviceBinding = (await system.file.subkeys("")).some((k) => k.toLowerCase() === "driverdatabase")
      ? "DriverDatabase"
      : "CriticalDeviceDatabase";

    // 2. Writable from here on: every check has passed.
    step("opening the Windows volume for writing");
    try {
      await guest.writable();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (/hibernat|unclean|refused to mount|fast restart/i.test(message)) {
        throw new GuestRefused(options.disk, "hibernated", {
          field: "disk",
          received: message.split("\n")[0]!,
          expected: "an NTFS volume Windows closed cleanly",
          message: "Windows was hibernated or shut down with Fast Startup, so its volume cannot be written safely",
          fix: "on the source VM run `powercfg /h off` (or shut down with `shutdown /s /t 0`) before the next replication round",
        });
      }
      throw err;
    }
    const sr = win.systemRoot;
    const backupRoot = await existingCase(guest, `${sr}/rehost/backup`);
    const backupOf = (guestPath: string) => `${backupRoot}${guestPath.slice(sr.length)}`;
    const writeFile = async (area: GuestChange["area"], guestPath: string, local: string, detail: string) => {
      if (await sameFile(guest, guestPath, local, work)) return false;
      await guest.upload(local, guestPath);
      changes.push({ area, action: "write", path: guestPath, detail });
      return true;
    };

    step("staging the virtio drivers");
    const hostDrivers = path.join(work, "virtio-win");
    await source.extract(
      matches.flatMap((m) => m.files),
      hostDrivers,
    );
    const driversDir = await existingCase(guest, `${sr}/System32/drivers`);
    const stagedDir = await existingCase(guest, `${sr}/Drivers/VirtIO`);
    const staged: StagedDriver[] = [];
    for (const m of matches) {
      const files: string[] = [];
      for (const f of m.files) {
        const target = `${stagedDir}/${path.posix.basename(f).toLowerCase()}`;
        await writeFile("drivers", target, path.join(hostDrivers, f), `${m.name} from ${m.source}`);
        files.push(target);
      }
      const bootStart = (BOOT_DRIVERS as readonly string[]).includes(m.name);
      const sys = m.files.find((f) => path.posix.basename(f).toLowerCase() === `${m.name}.sys`);
      if (bootStart && sys !== undefined) {
        const target = `${driversDir}/${m.name}.sys`;
        await writeFile("drivers", target, path.join(hostDrivers, sys), `${m.name} boot-start driver`);
        files.push(target);
      }
      staged.push({ name: m.name, source: m.source, files, bootStart: bootStart && sys !== undefined });
    }
    const bootDrivers = staged.filter((s) => s.bootStart).map((s) => s.name as BootDriver);

    step("writing the first-boot script");
    const fbDir = await existingCase(guest, `${sr}/${FIRSTBOOT_DIR}`);
    const nics = firstBootNics(options.staticSecondary ?? [], options.nicAddresses ?? []);
    const put = async (name: string, content: string, detail: string) => {
      const local = path.join(work, name);
      fs.writeFileSync(local, content);
      await writeFile("firstboot", `${fbDir}/${name}`, local, detail);
    };
    await put("firstboot.cmd", firstBootCmd(), `run by the ${FIRSTBOOT_SERVICE} service at the first boot; logs to ${FIRSTBOOT_LOG}`);
    await put(
      "firstboot.ps1",
      firstBootPs1({ major: win.major, nics, vmwareTools: vmwareTools.map((t) => t.productCode) }),
      "pnputil, ghost NICs, secondary addresses, VMware Tools",
    );
    if (launcher.kind === "wrapper") await writeFile("firstboot", `${fbDir}/${launcher.exe}`, launcher.path, "service wrapper that starts firstboot.cmd");
    const actions = [
      `pnputil installs ${staged.map((s) => s.name).join(", ")}`,
      "remove ghost VMware NICs",
      ...nics
        .filter((n) => n.secondary.length > 0)
        .map((n) => `eth${n.index}${n.primary ? ` (${n.primary})` : ""}: add ${n.secondary.map((s) => `${s.address}/${s.prefixLength}`).join(", ")}`),
      ...vmwareTools.map((t) => `uninstall ${t.displayName} ${t.version} (${t.productCode})`),
    ];

    step("registering boot-start services in every control set");
    const systemKeys: RegKey[] = [];
    const services = new Map<string, string[]>();
    for (const cs of win.controlSets) {
      const existing = (await system.file.read(`${cs}\\Services`, 2)) ?? new Map();
      const has = (name: string) => existing.has(`${cs}\\services\\${name}`.toLowerCase());
      for (const d of bootDrivers) {
        systemKeys.push(bootServiceKey(cs, d));
        services.set(d, [...(services.get(d) ?? []), cs]);
        if (binding === "CriticalDeviceDatabase") systemKeys.push(...criticalDeviceKeys(cs, d));
      }
      if (has(INBOX_NVME)) {
        systemKeys.push({ path: `${cs}\\Services\\${INBOX_NVME}`, values: { Start: dword(0) } });
        services.set(INBOX_NVME, [...(services.get(INBOX_NVME) ?? []), cs]);
      }
      for (const s of VMWARE_TOOLS_SERVICES) if (has(s)) systemKeys.push({ path: `${cs}\\Services\\${s}`, values: { Start: dword(4) } });
      systemKeys.push(...firstBootServiceKeys(cs, launcher));
    }
    if (binding === "DriverDatabase") for (const d of bootDrivers) systemKeys.push(...driverDatabaseKeys(d));

    step("adding the staged drivers to DevicePath");
    const softwareKeys: RegKey[] = [];
    const cv = (await software.file.read(DEVICE_PATH_KEY, 1))?.get(DEVICE_PATH_KEY.toLowerCase());
    const devicePath = cv?.values.get("devicepath")?.value;
    const newDevicePath = devicePathWithVirtio(devicePath && (devicePath.type === "expand_sz" || devicePath.type === "sz") ? devicePath.data : undefined);
    if (newDevicePath !== undefined) softwareKeys.push({ path: DEVICE_PATH_KEY, values: { DevicePath: expandSz(newDevicePath) } });

    step("writing the registry hives");
    const hives: WindowsAdaptation["hives"][number][] = [];
    for (const [hive, keys] of [
      [software, softwareKeys],
      [system, systemKeys],
    ] as const) {
      const backup = backupOf(hive.guestPath);
      hives.push({ name: hive.name, path: hive.guestPath, backup, dirty: hive.header.dirty });
      const diff = await changedKeys(hive, keys);
      if (diff.length === 0) continue;
      if (!(await guest.exists(backup))) await guest.copy(hive.guestPath, backup);
      await hive.file.merge(diff);
      await guest.upload(hive.file.file, hive.guestPath);
      for (const k of diff) {
        changes.push({
          area: "registry",
          action: "write",
          path: `HKLM\\${hive.name}\\${k.path}`,
          detail: Object.entries(k.values)
            .map(([n, v]) => `${n === "" ? "(default)" : n}=${describeValue(v)}`)
            .join(", "),
          backup,
        });
      }
    }

    const windows: WindowsAdaptation = {
      virtioWin: options.virtioWin,
      release,
      drivers: staged,
      services: [...services.entries()].map(([name, controlSets]) => ({ name, start: 0, controlSets })),
      deviceBinding: binding,
      firstBoot: {
        service: FIRSTBOOT_SERVICE,
        launcher: launcher.kind === "wrapper" ? launcher.exe : "cmd",
        script: `C:\\${sr.slice(1).replace(/\//g, "\\")}\\${FIRSTBOOT_DIR.replace(/\//g, "\\")}\\firstboot.ps1`,
        log: FIRSTBOOT_LOG,
        actions,
      },
      vmwareTools,
      hives,
    };
    if (launcher.kind === "cmd") {
      warnings.push(
        `No service wrapper (rhsrvany.exe or pvvxsvc.exe, in ${VIRT_TOOLS_DIR} or --firstboot-service): cmd.exe starts the first-boot script, and the service manager logs one failed start of ${FIRSTBOOT_SERVICE} at the first boot.`,
      );
    }
    if (!staged.some((s) => s.name === "vioscsi"))
      warnings.push("No vioscsi driver in the virtio-win set: the guest boots from virtio-blk disks only (the ECS default), not from virtio-scsi.");
    return {
      disk: options.disk,
      os: win,
      kernels: [],
      changes,
      rewrites: [],
      warnings: [...new Set(warnings)],
      ok: bootDrivers.includes("viostor"),
      durationMs: Date.now() - started,
      windows,
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** `guestPath` with its existing leading components spelled as the guest spells them (NTFS ignores case). */
async function existingCase(guest: GuestFs, guestPath: string): Promise<string> {
  const parts = guestPath.split("/").filter((p) => p !== "");
  for (let n = parts.length; n > 0; n--) {
    const found = await guest.resolvePath(`/${parts.slice(0, n).join("/")}`);
    if (found !== undefined) return [found, ...parts.slice(n)].join("/");
  }
  return guestPath;
}

/** True when the guest file has exactly the bytes of the local file. */
async function sameFile(guest: GuestFs, guestPath: string, local: string, work: string): Promise<boolean> {
  if (!(await guest.exists(guestPath))) return false;
  const copy = path.join(work, "compare");
  await guest.download(guestPath, copy);
  const same = fs.readFileSync(copy).equals(fs.readFileSync(local));
  fs.rmSync(copy, { force: true });
  return same;
}
