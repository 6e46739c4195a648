/**
 * `adaptWindowsGuest` on Windows roots that are directories of this host (hives written by
 * hivex, the libguestfs inspection result supplied as libguestfs would give it): the variants
 * a libguestfs appliance per case would make slow. windows-disk.test.ts runs the same code on
 * NTFS disks through libguestfs.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  adaptWindowsGuest,
  DirectoryGuestFs,
  dword,
  expandSz,
  GuestRefused,
  HIVE_PREFIX,
  HiveFile,
  sz,
  type AdaptReport,
  type OsInspection,
} from "../../lib/guest";
import {
  fakeVirtioWin,
  isoOf,
  markDirty,
  server2008r2,
  server2019,
  softwareKeys,
  systemKeys,
  tempDir,
  windowsFiles,
  writeHive,
  writeRoot,
  type WindowsSpec,
} from "./windows-fixtures";

const noCommands = () => {
  throw new Error("Windows adaptation runs no guest command");
};

function inspectionOf(spec: WindowsSpec): OsInspection {
  return {
    root: "/dev/sda2",
    type: "windows",
    distro: "windows",
    productName: spec.productName,
    productVariant: spec.installationType,
    major: spec.major,
    minor: spec.minor,
    arch: "x86_64",
    osinfo: "",
    windowsSystemRoot: "/Windows",
  };
}

async function guestOf(spec: WindowsSpec, options: { readonly omit?: "SYSTEM" | "SOFTWARE" } = {}) {
  const root = writeRoot(await windowsFiles(spec, tempDir(), options));
  return { root, guest: new DirectoryGuestFs(root, { run: noCommands, inspection: inspectionOf(spec) }) };
}

/** Every file of a tree with the hash of its bytes: equal before and after means untouched. */
function treeHash(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(root, p)] = createHash("sha256").update(fs.readFileSync(p)).digest("hex");
    }
  };
  walk(root);
  return out;
}

async function valuesOf(root: string, hive: "SYSTEM" | "SOFTWARE", key: string) {
  return (await new HiveFile(path.join(root, "Windows/System32/config", hive), HIVE_PREFIX[hive]).read(key, 1))?.get(key.toLowerCase())?.values;
}

const plan = {
  staticSecondary: [{ device: "eth0", address: "10.1.1.21", prefixLength: 24 }],
  nicAddresses: [{ device: "eth0", address: "10.1.1.20", prefixLength: 24 }],
};

describe("Windows adaptation on directory roots", () => {
  it("Server 2008 R2 from an ISO: CriticalDeviceDatabase entries and boot-start services in every control set, pnputil -i -a", async () => {
    const { root, guest } = await guestOf(server2008r2);
    const iso = isoOf(fakeVirtioWin(["2k8R2", "2k12R2"], ["viostor", "NetKVM"]));
    const report = await adaptWindowsGuest(guest, { disk: "w2k8r2.raw", virtioWin: iso, ...plan });
    expect(report.ok).toBe(true);
    expect(report.os).toMatchObject({
      version: "6.1",
      build: 7601,
      release: "2k8r2",
      edition: "ServerEnterprise",
      controlSets: ["ControlSet001", "ControlSet002"],
    });
    expect(report.windows!.deviceBinding).toBe("CriticalDeviceDatabase");
    expect(report.windows!.drivers.map((d) => d.source)).toEqual(["viostor/2k8R2/amd64", "NetKVM/2k8R2/amd64"]);
    for (const cs of ["ControlSet001", "ControlSet002"]) {
      const service = await valuesOf(root, "SYSTEM", `${cs}\\Services\\viostor`);
      expect(service?.get("start")?.value).toEqual(dword(0));
      expect(service?.get("errorcontrol")?.value).toEqual(dword(1));
      for (const id of ["pci#ven_1af4&dev_1001", "pci#ven_1af4&dev_1042", "pci#ven_1af4&dev_1001&rev_00"]) {
        const cdd = await valuesOf(root, "SYSTEM", `${cs}\\Control\\CriticalDeviceDatabase\\${id}`);
        expect(cdd?.get("service")?.value, `${cs} ${id}`).toEqual(sz("viostor"));
        expect(cdd?.get("classguid")?.value).toEqual(sz("{4D36E97B-E325-11CE-BFC1-08002BE10318}"));
      }
      // Server 2008 R2 has no inbox NVMe driver: nothing to make boot-start.
      expect(await valuesOf(root, "SYSTEM", `${cs}\\Services\\stornvme`)).toBeUndefined();
    }
    expect(await new HiveFile(path.join(root, "Windows/System32/config/SYSTEM"), HIVE_PREFIX.SYSTEM).read("DriverDatabase", 1)).toBeUndefined();
    expect(fs.readFileSync(path.join(root, "Windows/System32/drivers/viostor.sys"), "utf8")).toBe("viostor 2k8R2 amd64 .sys (test file)\n");
    expect(fs.readFileSync(path.join(root, "Windows/rehost/firstboot/firstboot.ps1"), "utf8")).toContain('pnputil.exe" -i -a "$DriverDir\\*.inf"');
    expect(report.warnings).toEqual([
      expect.stringContaining("No service wrapper (rhsrvany.exe or pvvxsvc.exe"),
      "No vioscsi driver in the virtio-win set: the guest boots from virtio-blk disks only (the ECS default), not from virtio-scsi.",
    ]);
  });

  it("Server 2019 with a service wrapper: the wrapper is staged and the first-boot service runs it in every control set", async () => {
    const { root, guest } = await guestOf(server2019);
    const wrapper = path.join(tempDir(), "rhsrvany.exe");
    fs.writeFileSync(wrapper, "service wrapper (test file)\n");
    const report = await adaptWindowsGuest(guest, { disk: "w2k19.raw", virtioWin: fakeVirtioWin(["2k19"]), firstBootService: wrapper, ...plan });
    expect(report.windows!.firstBoot).toMatchObject({
      service: "rehost-firstboot",
      launcher: "rhsrvany.exe",
      script: "C:\\Windows\\rehost\\firstboot\\firstboot.ps1",
      log: "C:\\Windows\\Temp\\rehost-firstboot.log",
    });
    expect(fs.readFileSync(path.join(root, "Windows/rehost/firstboot/rhsrvany.exe"), "utf8")).toBe("service wrapper (test file)\n");
    for (const cs of ["ControlSet001", "ControlSet002"]) {
      expect((await valuesOf(root, "SYSTEM", `${cs}\\Services\\rehost-firstboot`))?.get("imagepath")?.value).toEqual(
        expandSz("%SystemRoot%\\rehost\\firstboot\\rhsrvany.exe -s rehost-firstboot"),
      );
      expect((await valuesOf(root, "SYSTEM", `${cs}\\Services\\rehost-firstboot\\Parameters`))?.get("commandline")?.value).toEqual(
        sz('cmd /c "%SystemRoot%\\rehost\\firstboot\\firstboot.cmd"'),
      );
      expect((await valuesOf(root, "SYSTEM", `${cs}\\Services\\stornvme`))?.get("start")?.value).toEqual(dword(0));
      expect((await valuesOf(root, "SYSTEM", `${cs}\\Services\\VGAuthService`))?.get("start")?.value).toEqual(dword(4));
    }
    expect(report.warnings).toEqual([]);
  });

  it("is idempotent: a second run changes nothing and the backups keep the first originals", async () => {
    const { root, guest } = await guestOf(server2019);
    const original = fs.readFileSync(path.join(root, "Windows/System32/config/SYSTEM"));
    const virtioWin = fakeVirtioWin(["2k19"]);
    const first = await adaptWindowsGuest(guest, { disk: "w.raw", virtioWin, ...plan });
    expect(first.changes.length).toBeGreaterThan(20);
    const after = treeHash(root);
    const again: AdaptReport = await adaptWindowsGuest(guest, { disk: "w.raw", virtioWin, ...plan });
    expect(again.changes).toEqual([]);
    expect(treeHash(root)).toEqual(after);
    expect(fs.readFileSync(path.join(root, "Windows/rehost/backup/System32/config/SYSTEM")).equals(original)).toBe(true);
  });

  it("refuses, untouched, a version without drivers in the set and a version rehost does not adapt", async () => {
    const { root, guest } = await guestOf(server2019);
    const before = treeHash(root);
    const err = await adaptWindowsGuest(guest, { disk: "w.raw", virtioWin: fakeVirtioWin(["2k22"], ["viostor", "NetKVM"]) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GuestRefused);
    expect((err as GuestRefused).problems[0]).toMatchObject({
      file: "w.raw",
      field: "virtioWin",
      expected: "viostor and netkvm for Windows Server 2019 Datacenter x86_64",
    });
    expect(treeHash(root)).toEqual(before);

    const onlyStorage = await adaptWindowsGuest(guest, { disk: "w.raw", virtioWin: fakeVirtioWin(["2k19"], ["viostor"]) }).catch((e: unknown) => e);
    expect((onlyStorage as GuestRefused).message).toContain("The virtio-win set has no netkvm for Windows Server 2019 Datacenter");
    expect(treeHash(root)).toEqual(before);

    const server2003: WindowsSpec = { ...server2008r2, productName: "Windows Server 2003 R2", major: 5, minor: 2, build: 3790, currentVersion: "5.2" };
    const old = await guestOf(server2003);
    const oldBefore = treeHash(old.root);
    const refused = await adaptWindowsGuest(old.guest, { disk: "w2k3.raw", virtioWin: fakeVirtioWin(["2k3"]) }).catch((e: unknown) => e);
    expect((refused as GuestRefused).reason).toBe("unsupported-version");
    expect(treeHash(old.root)).toEqual(oldBefore);
  });

  it("refuses a missing SYSTEM hive, a file that is not a hive and a SYSTEM hive without Select, untouched", async () => {
    const virtioWin = fakeVirtioWin(["2k19"]);
    const missing = await guestOf(server2019, { omit: "SYSTEM" });
    const e1 = await adaptWindowsGuest(missing.guest, { disk: "w.raw", virtioWin }).catch((e: unknown) => e);
    expect((e1 as GuestRefused).reason).toBe("missing-hive");
    expect((e1 as GuestRefused).problems[0]!.field).toBe("SYSTEM hive");

    const garbage = await guestOf(server2019);
    fs.writeFileSync(path.join(garbage.root, "Windows/System32/config/SOFTWARE"), "truncated by a failed copy");
    const before = treeHash(garbage.root);
    const e2 = await adaptWindowsGuest(garbage.guest, { disk: "w.raw", virtioWin }).catch((e: unknown) => e);
    expect((e2 as GuestRefused).message).toContain("/Windows/System32/config/SOFTWARE is not a registry hive");
    expect(treeHash(garbage.root)).toEqual(before);

    const noSelect = await guestOf(server2019);
    await writeHive(
      path.join(noSelect.root, "Windows/System32/config/SYSTEM"),
      HIVE_PREFIX.SYSTEM,
      systemKeys(server2019).filter((k) => k.path !== "Select"),
    );
    const e3 = await adaptWindowsGuest(noSelect.guest, { disk: "w.raw", virtioWin }).catch((e: unknown) => e);
    expect((e3 as GuestRefused).reason).toBe("missing-hive");
    expect((e3 as GuestRefused).problems[0]).toMatchObject({ field: "SYSTEM hive", received: "no Select\\Current value" });
  });

  it("finds the system files whatever their case (NTFS ignores it), and warns about a hive Windows did not finish writing", async () => {
    const dir = tempDir();
    const root = path.join(dir, "root");
    const files = await windowsFiles(server2019, path.join(dir, "files"));
    for (const [guestPath, local] of Object.entries(files)) {
      const target = path.join(root, guestPath.replace(/^\/Windows\//, "/WINDOWS/").replace("/System32/", "/system32/"));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(local, target);
    }
    markDirty(path.join(root, "WINDOWS/system32/config/SOFTWARE"));
    const guest = new DirectoryGuestFs(root, { run: noCommands, inspection: { ...inspectionOf(server2019), windowsSystemRoot: "/windows" } });
    const report = await adaptWindowsGuest(guest, { disk: "w.raw", virtioWin: fakeVirtioWin(["2k19"]) });
    expect(report.os).toMatchObject({ systemRoot: "/WINDOWS" });
    expect(fs.existsSync(path.join(root, "WINDOWS/system32/drivers/viostor.sys"))).toBe(true);
    expect(fs.existsSync(path.join(root, "WINDOWS/Drivers/VirtIO/netkvm.inf"))).toBe(true);
    expect(report.warnings).toContainEqual(expect.stringMatching(/^The SOFTWARE hive was not fully written by Windows \(sequence \d+ ≠ \d+\)/));
    expect(report.windows!.hives.map((h) => `${h.name} ${h.path} ${h.dirty}`)).toEqual([
      "SOFTWARE /WINDOWS/system32/config/SOFTWARE true",
      "SYSTEM /WINDOWS/system32/config/SYSTEM false",
    ]);
  });

  it("stops when aborted during the read-only checks, having written nothing", async () => {
    const { root, guest } = await guestOf(server2019);
    const before = treeHash(root);
    const controller = new AbortController();
    const done = adaptWindowsGuest(guest, {
      disk: "w.raw",
      virtioWin: fakeVirtioWin(["2k19"]),
      signal: controller.signal,
      onProgress: (step) => {
        if (step.startsWith("opening the Windows volume")) controller.abort(new Error("operator stopped the wave"));
      },
    });
    await expect(done).rejects.toThrow("operator stopped the wave");
    expect(treeHash(root)).toEqual(before);
  });

  it("creates DevicePath when the SOFTWARE hive lacks it, keeping the key's other values", async () => {
    const { root, guest } = await guestOf(server2019);
    await writeHive(
      path.join(root, "Windows/System32/config/SOFTWARE"),
      HIVE_PREFIX.SOFTWARE,
      softwareKeys(server2019).map((k) =>
        k.path === "Microsoft\\Windows\\CurrentVersion" ? { path: k.path, values: { ProgramFilesDir: sz("C:\\Program Files") } } : k,
      ),
    );
    await adaptWindowsGuest(guest, { disk: "w.raw", virtioWin: fakeVirtioWin(["2k19"]) });
    const cv = await valuesOf(root, "SOFTWARE", "Microsoft\\Windows\\CurrentVersion");
    expect(cv?.get("devicepath")?.value).toEqual(expandSz("%SystemRoot%\\inf;%SystemRoot%\\Drivers\\VirtIO"));
    expect(cv?.get("programfilesdir")?.value).toEqual(sz("C:\\Program Files"));
  });
});
