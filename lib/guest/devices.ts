/**
 * Device names that change between VMware and KVM, and their rewriting to filesystem UUIDs in
 * `/etc/fstab` and kernel command lines. Pure functions: the caller supplies the UUIDs.
 */

/**
 * Matches a kernel block device name that depends on the disk controller: `/dev/sda1`,
 * `/dev/hdb`, `/dev/vda2`, `/dev/xvdc1`. LVM (`/dev/mapper/…`, `/dev/VG/LV`), `UUID=`, `LABEL=`
 * and `/dev/disk/by-uuid/…` names survive the move and are left alone.
 */
export const CONTROLLER_DEVICE = /^\/dev\/(?:sd|hd|vd|xvd)[a-z]+\d*$/;

/** The UUID of each device name that has one; devices absent from the map are not rewritten. */
export type UuidMap = ReadonlyMap<string, string>;

/** One rewritten reference. */
export interface DeviceRewrite {
  readonly from: string;
  readonly to: string;
  /** The mount point (fstab) or kernel parameter (`root`, `resume`). */
  readonly where: string;
}

/** The result of rewriting one file's text. */
export interface RewriteResult {
  readonly text: string;
  readonly rewrites: readonly DeviceRewrite[];
  /** Controller-dependent names with no known UUID, left as they were. */
  readonly unresolved: readonly DeviceRewrite[];
}

/** Controller-dependent device names an fstab mounts (or swaps on), in order. */
export function fstabDevices(fstab: string): string[] {
  return fstab
    .split("\n")
    .map((line) => line.trim().split(/\s+/)[0] ?? "")
    .filter((spec) => CONTROLLER_DEVICE.test(spec));
}

/** Rewrites fstab entries whose device is controller-dependent to `UUID=…`, keeping layout. */
export function rewriteFstab(fstab: string, uuids: UuidMap): RewriteResult {
  const rewrites: DeviceRewrite[] = [];
  const unresolved: DeviceRewrite[] = [];
  const lines = fstab.split("\n").map((line) => {
    const m = /^(\s*)(\S+)(\s+)(\S+)(.*)$/.exec(line);
    if (!m || m[2]!.startsWith("#") || !CONTROLLER_DEVICE.test(m[2]!)) return line;
    const [, lead, spec, gap, mountPoint, rest] = m as unknown as [string, string, string, string, string, string];
    const uuid = uuids.get(spec);
    if (uuid === undefined) {
      unresolved.push({ from: spec, to: spec, where: mountPoint });
      return line;
    }
    const to = `UUID=${uuid}`;
    rewrites.push({ from: spec, to, where: mountPoint });
    return `${lead}${to}${gap}${mountPoint}${rest}`;
  });
  return { text: lines.join("\n"), rewrites, unresolved };
}

/** Kernel parameters that name a block device and are rewritten to `UUID=`. */
const DEVICE_PARAMETERS = ["root", "resume"];

/**
 * Rewrites one kernel command line: `root=`/`resume=` device names to `UUID=…`, and appends the
 * parameters in `add` that are not there yet (by name: `net.ifnames=1` is replaced by `net.ifnames=0`).
 */
export function rewriteKernelArgs(args: string, uuids: UuidMap, add: readonly string[] = []): RewriteResult {
  const rewrites: DeviceRewrite[] = [];
  const unresolved: DeviceRewrite[] = [];
  const words = args.split(/(\s+)/);
  const out = words.map((word) => {
    const eq = word.indexOf("=");
    if (eq < 0) return word;
    const name = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (!DEVICE_PARAMETERS.includes(name) || !CONTROLLER_DEVICE.test(value)) return word;
    const uuid = uuids.get(value);
    if (uuid === undefined) {
      unresolved.push({ from: value, to: value, where: name });
      return word;
    }
    rewrites.push({ from: value, to: `UUID=${uuid}`, where: name });
    return `${name}=UUID=${uuid}`;
  });
  let text = out.join("");
  for (const param of add) {
    const name = param.split("=")[0]!;
    const existing = new RegExp(`(^|\\s)${escapeRegExp(name)}(=\\S*)?(?=\\s|$)`);
    if (existing.test(text)) {
      const current = existing.exec(text)![0].trim();
      if (current === param) continue;
      text = text.replace(existing, `$1${param}`);
    } else {
      text = text.length === 0 ? param : `${text.replace(/\s+$/, "")} ${param}${/\s+$/.exec(text)?.[0] ?? ""}`;
    }
    rewrites.push({ from: "", to: param, where: name });
  }
  return { text, rewrites, unresolved };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
