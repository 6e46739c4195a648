/**
 * The virtio drivers for one Windows version, from a virtio-win directory or ISO the user
 * supplies (the drivers are neither in Debian nor fetchable by rehost). The virtio-win layout is
 * `<driver>/<release>/<arch>/<files>` (`viostor/2k19/amd64/viostor.inf`); older ISOs used
 * `drivers/<arch>/Win2012R2/…`. A file matches the guest when one element of its path names the
 * guest's release and another its architecture, the rule virt-v2v applies.
 *
 * ISOs are listed and read with `xorriso` (Debian `xorriso`), without mounting them.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** The drivers rehost stages, in the order they are reported. */
export const VIRTIO_DRIVERS = ["viostor", "vioscsi", "netkvm", "balloon", "pvpanic"] as const;
export type VirtioDriver = (typeof VIRTIO_DRIVERS)[number];

/** Without these the guest cannot boot (virtio-blk system disk) or be reached (virtio-net) on ECS. */
export const REQUIRED_DRIVERS: readonly VirtioDriver[] = ["viostor", "netkvm"];

/** Boot-start storage drivers: their `.sys` goes to `System32\drivers` and they get a service. */
export const BOOT_DRIVERS: readonly VirtioDriver[] = ["viostor", "vioscsi"];

/** What a Windows installation is, as far as driver matching cares. */
export interface WindowsVersion {
  readonly major: number;
  readonly minor: number;
  /** `CurrentBuildNumber` (17763 for Server 2019). */
  readonly build: number;
  /** `InstallationType`: `Client` for desktop editions, `Server` or `Server Core` otherwise. */
  readonly variant: string;
  /** libguestfs architecture: `x86_64`, `i386`, `aarch64`. */
  readonly arch: string;
}

/**
 * The virtio-win release directory names of a Windows version, most specific first:
 * `["2k19", "win2019"]` for Server 2019. `[]` for versions virtio-win has no drivers for.
 */
export function releaseNames(v: Pick<WindowsVersion, "major" | "minor" | "build" | "variant">): string[] {
  const client = v.variant.toLowerCase() === "client";
  const key = `${v.major}.${v.minor}`;
  switch (key) {
    case "5.1":
      return ["xp", "winxp"];
    case "5.2":
      return ["2k3", "win2003"];
    case "6.0":
      return client ? ["vista"] : ["2k8", "win2008"];
    case "6.1":
      return client ? ["w7", "win7"] : ["2k8r2", "win2008r2"];
    case "6.2":
      return client ? ["w8", "win8"] : ["2k12", "win2012"];
    case "6.3":
      return client ? ["w8.1", "win8.1"] : ["2k12r2", "win2012r2"];
    case "10.0":
      if (client) return v.build >= 22000 ? ["w11", "win11"] : ["w10", "win10"];
      if (v.build >= 26100) return ["2k25", "win2025"];
      if (v.build >= 20348) return ["2k22", "win2022"];
      if (v.build >= 17763) return ["2k19", "win2019"];
      return ["2k16", "win2016"];
    default:
      return [];
  }
}

/** The virtio-win architecture directory names of a libguestfs architecture. */
export function archNames(arch: string): string[] {
  if (arch === "x86_64") return ["amd64"];
  if (arch === "i386") return ["x86", "i386"];
  if (arch === "aarch64") return ["arm64"];
  return [];
}

/** One driver found for the guest. */
export interface DriverMatch {
  readonly name: VirtioDriver;
  /** The directory it came from, relative to the virtio-win root (`viostor/2k19/amd64`). */
  readonly source: string;
  /** Its files, relative to the virtio-win root. */
  readonly files: readonly string[];
}

/**
 * The drivers among `files` (paths relative to the virtio-win root, `/`-separated) for `version`:
 * one directory per driver, the one holding `<driver>.inf` under a release and an architecture
 * element of the guest. Debug symbols (`.pdb`) are left out.
 */
export function matchDrivers(files: readonly string[], version: WindowsVersion): DriverMatch[] {
  const releases = releaseNames(version);
  const arches = archNames(version.arch);
  if (releases.length === 0 || arches.length === 0) return [];
  const byDir = new Map<string, string[]>();
  for (const file of files) {
    const dir = path.posix.dirname(file);
    const elements = dir.toLowerCase().split("/");
    if (!elements.some((e) => releases.includes(e)) || !elements.some((e) => arches.includes(e))) continue;
    if (/\.pdb$/i.test(file)) continue;
    byDir.set(dir, [...(byDir.get(dir) ?? []), file]);
  }
  const matches: DriverMatch[] = [];
  for (const name of VIRTIO_DRIVERS) {
    const dirs = [...byDir.entries()]
      .filter(([, fs]) => fs.some((f) => path.posix.basename(f).toLowerCase() === `${name}.inf`))
      .sort(([a], [b]) => releaseRank(a, releases) - releaseRank(b, releases) || a.localeCompare(b));
    const chosen = dirs[0];
    if (chosen) matches.push({ name, source: chosen[0], files: [...chosen[1]].sort() });
  }
  return matches;
}

function releaseRank(dir: string, releases: readonly string[]): number {
  const elements = dir.toLowerCase().split("/");
  const i = releases.findIndex((r) => elements.includes(r));
  return i < 0 ? releases.length : i;
}

/** A virtio-win tree: a directory or an ISO image. */
export interface DriverSource {
  /** The directory or ISO, as given. */
  readonly location: string;
  /** Every regular file, relative to the root, `/`-separated. */
  list(): Promise<string[]>;
  /** Copies `files` (relative paths) under `dir` on this host, keeping their relative paths. */
  extract(files: readonly string[], dir: string): Promise<void>;
}

/** The source at `location`: a directory, or an ISO 9660 image read with xorriso. */
export function driverSource(location: string): DriverSource {
  return fs.statSync(location).isDirectory() ? directorySource(location) : isoSource(location);
}

function directorySource(root: string): DriverSource {
  return {
    location: root,
    async list() {
      const out: string[] = [];
      const walk = (rel: string) => {
        for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
          const child = rel === "" ? entry.name : `${rel}/${entry.name}`;
          const stat = fs.statSync(path.join(root, child));
          if (stat.isDirectory()) walk(child);
          else if (stat.isFile()) out.push(child);
        }
      };
      walk("");
      return out.sort();
    },
    async extract(files, dir) {
      for (const f of files) {
        const target = path.join(dir, f);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.copyFileSync(path.join(root, f), target);
      }
    },
  };
}

function isoSource(iso: string): DriverSource {
  return {
    location: iso,
    async list() {
      const { stdout } = await xorriso(["-indev", iso, "-find", "/", "-type", "f"]);
      return stdout
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.startsWith("'/"))
        .map((l) => l.slice(2, -1).replace(/'"'"'/g, "'"))
        .sort();
    },
    async extract(files, dir) {
      if (files.length === 0) return;
      await xorriso(["-indev", iso, "-osirrox", "on", "-extract_l", "/", dir, ...files.map((f) => `/${f}`), "--"]);
    },
  };
}

function xorriso(args: string[]): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile("xorriso", ["-abort_on", "FAILURE", ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT")
        reject(new Error("xorriso is not installed: install the Debian package xorriso to read a virtio-win ISO, or give the unpacked directory"));
      else if (err) reject(new Error(`xorriso could not read the virtio-win ISO: ${stderr.trim().split("\n").slice(-3).join(" ")}`));
      else resolve({ stdout });
    });
  });
}
