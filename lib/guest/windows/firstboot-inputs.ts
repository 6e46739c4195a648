/**
 * What the Windows first-boot script is given besides its text: the service wrapper that starts
 * it (named by the user, else the one virt-v2v installs on this host, else `cmd.exe`), and the
 * NICs it configures, from the plan's addresses.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { SecondaryAddress } from "../network";
import type { FirstBootLauncher, FirstBootNic } from "./firstboot";

/** Where virt-v2v installs its first-boot service wrappers; used when present. */
export const VIRT_TOOLS_DIR = "/usr/share/virt-tools";
/** The service wrappers virt-v2v uses, in its order of preference. */
export const SERVICE_WRAPPERS = ["pvvxsvc.exe", "rhsrvany.exe"] as const;

/** The wrapper that starts the first-boot service: `explicit`, else the first of {@link SERVICE_WRAPPERS} in {@link VIRT_TOOLS_DIR}, else `cmd.exe`. */
export async function chooseLauncher(explicit: string | undefined): Promise<FirstBootLauncher & { path: string }> {
  if (explicit !== undefined) return { kind: "wrapper", exe: path.basename(explicit).toLowerCase(), path: explicit };
  for (const exe of SERVICE_WRAPPERS) {
    const candidate = path.join(VIRT_TOOLS_DIR, exe);
    if (fs.existsSync(candidate)) return { kind: "wrapper", exe, path: candidate };
  }
  return { kind: "cmd", path: "" };
}

/** The NICs the first-boot script configures, from the plan's addresses (`eth0` is index 0). */
export function firstBootNics(secondary: readonly SecondaryAddress[], primary: readonly SecondaryAddress[]): FirstBootNic[] {
  const index = (device: string | undefined) => Number((device ?? "eth0").slice(3));
  const count = Math.max(0, ...secondary.map((s) => index(s.device) + 1), ...primary.map((p) => index(p.device) + 1));
  return Array.from({ length: count }, (_, i) => {
    const p = primary.find((a) => index(a.device) === i);
    return {
      index: i,
      ...(p ? { primary: p.address } : {}),
      secondary: secondary.filter((s) => index(s.device) === i).map((s) => ({ address: s.address, prefixLength: s.prefixLength })),
    };
  });
}
