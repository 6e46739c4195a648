/**
 * Synthetic Windows system disks for the Windows adaptation's tests, built from nothing
 * Microsoft ships: registry hives written by this file (an empty hive in the regf format, then
 * the keys merged with hivex's hivexregedit), a `cmd.exe` that is only a PE header (libguestfs
 * reads the architecture from it), NTFS made by mkntfs, partition tables by sfdisk, and a fake
 * virtio-win tree laid out like the real one with files the test writes.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll } from "vitest";
import { binary, dword, expandSz, GPT_TYPE, HIVE_PREFIX, HiveFile, multiSz, sz, type RegKey } from "../../lib/guest";
import { tempDir as newTempDir } from "../helpers/tmp";

/** GPT partition types of a Windows dynamic disk. */
export const GPT_LDM_METADATA = GPT_TYPE.ldmMetadata;
export const GPT_LDM_DATA = GPT_TYPE.ldmData;

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new temporary directory, removed after the test file's last test. */
export function tempDir(prefix = "rehost-win-"): string {
  const dir = newTempDir(prefix);
  made.push(dir);
  return dir;
}

/**
 * An empty registry hive: the 4 KiB base block ("regf", sequence numbers, root cell offset,
 * checksum) and one 4 KiB bin holding the root key node and its security cell, per the
 * published regf format.
 */
export function emptyHive(rootName = "ROOT"): Buffer {
  const buf = Buffer.alloc(8192);
  const filetime = BigInt(Date.UTC(2024, 0, 1)) * 10000n + 116444736000000000n;
  buf.write("regf", 0, "latin1");
  buf.writeUInt32LE(1, 4);
  buf.writeUInt32LE(1, 8);
  buf.writeBigUInt64LE(filetime, 12);
  buf.writeUInt32LE(1, 20); // major version
  buf.writeUInt32LE(5, 24); // minor version
  buf.writeUInt32LE(0, 28); // primary file
  buf.writeUInt32LE(1, 32); // direct memory load
  buf.writeUInt32LE(0x20, 36); // root cell offset
  buf.writeUInt32LE(4096, 40); // hive bins data size
  buf.writeUInt32LE(1, 44); // clustering factor
  let checksum = 0;
  for (let i = 0; i < 508; i += 4) checksum = (checksum ^ buf.readUInt32LE(i)) >>> 0;
  buf.writeUInt32LE(checksum, 508);
  const bin = 4096;
  buf.write("hbin", bin, "latin1");
  buf.writeUInt32LE(0, bin + 4);
  buf.writeUInt32LE(4096, bin + 8);
  buf.writeBigUInt64LE(filetime, bin + 20);
  const nk = 0x20;
  const nkSize = (4 + 76 + rootName.length + 7) & ~7;
  const sk = nk + nkSize;
  let o = bin + nk;
  buf.writeInt32LE(-nkSize, o);
  o += 4;
  buf.write("nk", o, "latin1");
  buf.writeUInt16LE(0x2c, o + 2); // KEY_HIVE_ENTRY | KEY_NO_DELETE | KEY_COMP_NAME
  buf.writeBigUInt64LE(filetime, o + 4);
  const u32 = (off: number, v: number) => buf.writeUInt32LE(v >>> 0, o + off);
  u32(12, 0); // access bits
  u32(16, 0); // parent
  u32(20, 0); // subkeys
  u32(24, 0); // volatile subkeys
  u32(28, 0xffffffff); // subkey list
  u32(32, 0xffffffff); // volatile subkey list
  u32(36, 0); // values
  u32(40, 0xffffffff); // value list
  u32(44, sk); // security
  u32(48, 0xffffffff); // class name
  buf.writeUInt16LE(rootName.length, o + 72);
  buf.write(rootName, o + 76, "latin1");
  // A self-relative security descriptor with a NULL DACL.
  const descriptor = Buffer.from([1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const skSize = (4 + 20 + descriptor.length + 7) & ~7;
  o = bin + sk;
  buf.writeInt32LE(-skSize, o);
  buf.write("sk", o + 4, "latin1");
  buf.writeUInt32LE(sk, o + 8);
  buf.writeUInt32LE(sk, o + 12);
  buf.writeUInt32LE(1, o + 16);
  buf.writeUInt32LE(descriptor.length, o + 20);
  descriptor.copy(buf, o + 24);
  const free = sk + skSize;
  buf.writeInt32LE(4096 - free, bin + free);
  return buf;
}

/** Makes a hive look as Windows leaves one it has not finished writing: primary sequence ahead of the secondary. */
export function markDirty(file: string): void {
  const b = fs.readFileSync(file);
  b.writeUInt32LE(b.readUInt32LE(4) + 1, 4);
  let checksum = 0;
  for (let i = 0; i < 508; i += 4) checksum = (checksum ^ b.readUInt32LE(i)) >>> 0;
  b.writeUInt32LE(checksum, 508);
  fs.writeFileSync(file, b);
}

/** Writes a hive with `keys` to `file` (an empty hive, then hivexregedit --merge). */
export async function writeHive(file: string, prefix: string, keys: readonly RegKey[]): Promise<void> {
  fs.writeFileSync(file, emptyHive());
  await new HiveFile(file, prefix).merge(keys);
}

/** A PE header saying console program for `arch`: what `file` and libguestfs read from cmd.exe. */
export function peExecutable(arch: "x86_64" | "i386"): Buffer {
  const b = Buffer.alloc(512);
  b.write("MZ", 0, "latin1");
  b.writeUInt32LE(0x40, 0x3c);
  b.write("PE\0\0", 0x40, "latin1");
  const coff = 0x44;
  b.writeUInt16LE(arch === "x86_64" ? 0x8664 : 0x14c, coff);
  b.writeUInt16LE(arch === "x86_64" ? 0xf0 : 0xe0, coff + 16);
  b.writeUInt16LE(0x22, coff + 18);
  b.writeUInt16LE(arch === "x86_64" ? 0x20b : 0x10b, coff + 20);
  b.writeUInt16LE(3, coff + 20 + 68); // console subsystem
  return b;
}

/** A Windows installation to fake. */
export interface WindowsSpec {
  readonly productName: string;
  readonly major: number;
  readonly minor: number;
  readonly build: number;
  readonly edition: string;
  readonly installationType: "Server" | "Client" | "Server Core";
  /** `CurrentVersion` as Windows writes it (6.3 for every Windows 10/2016+). */
  readonly currentVersion: string;
  readonly controlSets: number;
  /** Windows 8 / 2012 and newer have `DriverDatabase` at the SYSTEM hive's root. */
  readonly driverDatabase: boolean;
  readonly vmwareTools: boolean;
}

export const server2019: WindowsSpec = {
  productName: "Windows Server 2019 Datacenter",
  major: 10,
  minor: 0,
  build: 17763,
  edition: "ServerDatacenter",
  installationType: "Server",
  currentVersion: "6.3",
  controlSets: 2,
  driverDatabase: true,
  vmwareTools: true,
};

export const server2008r2: WindowsSpec = {
  productName: "Windows Server 2008 R2 Enterprise",
  major: 6,
  minor: 1,
  build: 7601,
  edition: "ServerEnterprise",
  installationType: "Server",
  currentVersion: "6.1",
  controlSets: 2,
  driverDatabase: false,
  vmwareTools: true,
};

export const VMWARE_TOOLS_CODE = "{9B5F5B4E-6A19-4A4F-8E7C-6B0F1E2C3D4A}";

/** The SYSTEM hive's keys of a VMware guest: every control set with VMware's drivers and Tools. */
export function systemKeys(spec: WindowsSpec): RegKey[] {
  const keys: RegKey[] = [{ path: "Select", values: { Current: dword(1), Default: dword(1), LastKnownGood: dword(2), Failed: dword(0) } }];
  for (let n = 1; n <= spec.controlSets; n++) {
    const cs = `ControlSet${String(n).padStart(3, "0")}`;
    keys.push(
      { path: `${cs}\\Control\\ComputerName\\ComputerName`, values: { ComputerName: sz("APP-01") } },
      {
        path: `${cs}\\Services\\pvscsi`,
        values: { Type: dword(1), Start: dword(0), ErrorControl: dword(1), Group: sz("SCSI miniport"), ImagePath: expandSz("System32\\drivers\\pvscsi.sys") },
      },
      {
        path: `${cs}\\Services\\LSI_SAS`,
        values: { Type: dword(1), Start: dword(3), ErrorControl: dword(1), Group: sz("SCSI miniport"), ImagePath: expandSz("System32\\drivers\\lsi_sas.sys") },
      },
      { path: `${cs}\\Services\\vmxnet3ndis6`, values: { Type: dword(1), Start: dword(3), ImagePath: expandSz("System32\\drivers\\vmxnet3.sys") } },
      {
        path: `${cs}\\Services\\Tcpip\\Parameters\\Interfaces\\{6A2B7F2E-61B0-4C44-9F2D-0D1B1E9C5A10}`,
        values: { EnableDHCP: dword(0), IPAddress: multiSz(["10.1.1.20"]), SubnetMask: multiSz(["255.255.255.0"]) },
      },
    );
    if (spec.major >= 10 || (spec.major === 6 && spec.minor === 3))
      keys.push({ path: `${cs}\\Services\\stornvme`, values: { Type: dword(1), Start: dword(3), ImagePath: expandSz("System32\\drivers\\stornvme.sys") } });
    if (spec.vmwareTools) {
      keys.push(
        {
          path: `${cs}\\Services\\VMTools`,
          values: { Type: dword(0x10), Start: dword(2), ImagePath: expandSz('"C:\\Program Files\\VMware\\VMware Tools\\vmtoolsd.exe"') },
        },
        { path: `${cs}\\Services\\VGAuthService`, values: { Type: dword(0x10), Start: dword(2) } },
      );
    }
  }
  if (spec.driverDatabase) keys.push({ path: "DriverDatabase\\DeviceIds\\PCI\\VEN_15AD&DEV_07C0", values: { "oem1.inf": binary([1, 0xff, 0, 0]) } });
  return keys;
}

/** The SOFTWARE hive's keys: the version, DevicePath, and VMware Tools' Uninstall entry. */
export function softwareKeys(spec: WindowsSpec): RegKey[] {
  const keys: RegKey[] = [
    {
      path: "Microsoft\\Windows NT\\CurrentVersion",
      values: {
        ProductName: sz(spec.productName),
        CurrentVersion: sz(spec.currentVersion),
        CurrentBuildNumber: sz(String(spec.build)),
        CurrentBuild: sz(String(spec.build)),
        EditionID: sz(spec.edition),
        InstallationType: sz(spec.installationType),
        ...(spec.major >= 10 ? { CurrentMajorVersionNumber: dword(spec.major), CurrentMinorVersionNumber: dword(spec.minor) } : {}),
      },
    },
    { path: "Microsoft\\Windows\\CurrentVersion", values: { DevicePath: expandSz("%SystemRoot%\\inf"), ProgramFilesDir: sz("C:\\Program Files") } },
  ];
  if (spec.vmwareTools) {
    keys.push({
      path: `Microsoft\\Windows\\CurrentVersion\\Uninstall\\${VMWARE_TOOLS_CODE}`,
      values: {
        DisplayName: sz("VMware Tools"),
        DisplayVersion: sz("12.3.5.22544099"),
        Publisher: sz("VMware, Inc."),
        UninstallString: sz(`MsiExec.exe /X${VMWARE_TOOLS_CODE}`),
      },
    });
  }
  return keys;
}

/** The files of a Windows root, host path by guest path (hives written by hivex). */
export async function windowsFiles(spec: WindowsSpec, dir: string, options: { readonly omit?: "SYSTEM" | "SOFTWARE" } = {}): Promise<Record<string, string>> {
  fs.mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {};
  const put = (guestPath: string, content: Buffer | string) => {
    const local = path.join(dir, guestPath.replace(/\//g, "_"));
    fs.writeFileSync(local, content);
    files[guestPath] = local;
  };
  put("/Windows/System32/cmd.exe", peExecutable("x86_64"));
  put("/Windows/System32/drivers/pvscsi.sys", "pvscsi driver (test file)\n");
  put("/Windows/System32/drivers/stornvme.sys", "inbox NVMe driver (test file)\n");
  put("/Windows/inf/machine.inf", "; test file\n");
  for (const [name, keys] of [
    ["SYSTEM", systemKeys(spec)],
    ["SOFTWARE", softwareKeys(spec)],
  ] as const) {
    if (options.omit === name) continue;
    const local = path.join(dir, `hive-${name}`);
    await writeHive(local, HIVE_PREFIX[name], keys);
    files[`/Windows/System32/config/${name}`] = local;
  }
  return files;
}

/** Copies `files` into a directory tree (a guest root for DirectoryGuestFs). */
export function writeRoot(files: Record<string, string>, root: string = tempDir("rehost-win-root-")): string {
  for (const [guestPath, local] of Object.entries(files)) {
    const target = path.join(root, guestPath);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(local, target);
  }
  return root;
}

/**
 * A virtio-win tree like the real one (`viostor/2k19/amd64/viostor.{inf,sys,cat}`, NetKVM, …)
 * for the given releases, with files naming what they are.
 */
export function fakeVirtioWin(
  releases: readonly string[],
  drivers: readonly string[] = ["viostor", "vioscsi", "NetKVM", "Balloon", "pvpanic", "viorng"],
): string {
  const root = tempDir("rehost-virtio-win-");
  for (const driver of drivers) {
    for (const release of releases) {
      for (const arch of ["amd64", "x86", "ARM64"]) {
        const dir = path.join(root, driver, release, arch);
        fs.mkdirSync(dir, { recursive: true });
        for (const ext of ["inf", "sys", "cat", "pdb"])
          fs.writeFileSync(path.join(dir, `${driver.toLowerCase()}.${ext}`), `${driver} ${release} ${arch} .${ext} (test file)\n`);
      }
    }
  }
  fs.writeFileSync(path.join(root, "virtio-win_license.txt"), "test tree\n");
  return root;
}

/** An ISO 9660 image of `dir`, made by xorriso. */
export function isoOf(dir: string): string {
  const iso = path.join(tempDir("rehost-iso-"), "virtio-win.iso");
  execFileSync("xorriso", ["-as", "mkisofs", "-quiet", "-R", "-J", "-V", "virtio-win", "-o", iso, dir], { stdio: ["ignore", "ignore", "pipe"] });
  return iso;
}

const MiB = 1024 * 1024;

/** A partition of a disk to build. */
export interface PartitionSpec {
  /** sfdisk `type=` (`7`, `42`, or a GPT type GUID). */
  readonly type: string;
  readonly sizeMiB: number;
  /** Made with mkntfs; `bitlocker` stamps `-FVE-FS-` over its OEM ID afterwards. */
  readonly ntfs?: "plain" | "bitlocker";
  readonly bootable?: boolean;
}

/** A raw disk with the partitions (starting at 1 MiB, one after the other) and their NTFS volumes. */
export function buildDisk(file: string, label: "dos" | "gpt", partitions: readonly PartitionSpec[]): { file: string; starts: number[] } {
  const total = 2 + partitions.reduce((n, p) => n + p.sizeMiB, 0);
  fs.writeFileSync(file, "");
  fs.truncateSync(file, total * MiB);
  let start = 1;
  const starts: number[] = [];
  const script = [`label: ${label}`];
  for (const p of partitions) {
    script.push(`start=${start * 2048}, size=${p.sizeMiB * 2048}, type=${p.type}${p.bootable ? ", bootable" : ""}`);
    starts.push(start * MiB);
    start += p.sizeMiB;
  }
  const r = spawnSync("sfdisk", ["-q", file], { input: `${script.join("\n")}\n` });
  if (r.status !== 0) throw new Error(`sfdisk: ${r.stderr.toString()}`);
  partitions.forEach((p, i) => {
    if (p.ntfs === undefined) return;
    const volume = `${file}.part${i + 1}`;
    fs.writeFileSync(volume, "");
    fs.truncateSync(volume, p.sizeMiB * MiB);
    const m = spawnSync("mkntfs", ["-q", "-F", "-f", "-L", `vol${i + 1}`, "-p", String(starts[i]! / 512), "-H", "255", "-S", "63", volume]);
    if (m.status !== 0) throw new Error(`mkntfs: ${m.stderr.toString()}`);
    const bytes = fs.readFileSync(volume);
    if (p.ntfs === "bitlocker") bytes.write("-FVE-FS-", 3, "latin1");
    const fd = fs.openSync(file, "r+");
    fs.writeSync(fd, bytes, 0, bytes.length, starts[i]!);
    fs.closeSync(fd);
    fs.rmSync(volume);
  });
  return { file, starts };
}

/** Copies `files` (guest path → host path) onto partition 1 of each disk, in one libguestfs appliance. */
export function populate(disks: ReadonlyArray<{ readonly file: string; readonly partition: number; readonly files: Record<string, string> }>): void {
  const script: string[] = ["run"];
  const letters = "abcdefghijklmnopqrstuvwxyz";
  disks.forEach((d, i) => {
    script.push(`mount /dev/sd${letters[i]}${d.partition} /`);
    const dirs = new Set(Object.keys(d.files).map((p) => path.posix.dirname(p)));
    for (const dir of dirs) script.push(`mkdir-p "${dir}"`);
    for (const [guestPath, local] of Object.entries(d.files)) script.push(`upload "${local}" "${guestPath}"`);
    script.push("umount-all");
  });
  const args = disks.flatMap((d) => ["--format=raw", "-a", d.file]);
  const r = spawnSync("guestfish", args, {
    input: `${script.join("\n")}\n`,
    env: { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`guestfish could not populate the test disks: ${r.stderr}`);
}

/** The SHA-256 of a file: proves a refused disk was left as it was. */
export function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/**
 * Reads a file of the NTFS volume at byte `start` of a raw disk with ntfs-3g's ntfscat, on this
 * host and without mounting: a reader independent of libguestfs. `undefined` when absent.
 */
export function ntfsRead(disk: string, start: number, sizeMiB: number, guestPath: string): Buffer | undefined {
  const volume = path.join(tempDir("rehost-ntfs-"), "volume");
  const fd = fs.openSync(disk, "r");
  const bytes = Buffer.alloc(sizeMiB * MiB);
  fs.readSync(fd, bytes, 0, bytes.length, start);
  fs.closeSync(fd);
  fs.writeFileSync(volume, bytes);
  const r = spawnSync("ntfscat", ["-f", volume, guestPath.replace(/^\//, "")], { maxBuffer: 256 * MiB });
  fs.rmSync(volume);
  return r.status === 0 ? r.stdout : undefined;
}
