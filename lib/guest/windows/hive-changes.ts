/**
 * What the Windows adaptation reads back from the guest's registry hives before it writes them:
 * the VMware Tools installations the first-boot script uninstalls, and which of the keys it means
 * to write differ from what a hive already holds (only those are merged into it).
 */
import type { GuestHive } from "./detect";
import { sameValue, type RegKey, type RegValue } from "./registry";

/** The keys of `keys` whose values differ from the hive's, with only the differing values. */
export async function changedKeys(hive: GuestHive, keys: readonly RegKey[]): Promise<RegKey[]> {
  const out: RegKey[] = [];
  const merged = new Map<string, { path: string; values: Record<string, RegValue> }>();
  for (const k of keys) {
    const entry = merged.get(k.path.toLowerCase()) ?? { path: k.path, values: {} };
    Object.assign(entry.values, k.values);
    merged.set(k.path.toLowerCase(), entry);
  }
  for (const k of merged.values()) {
    const current = (await hive.file.read(k.path, 1))?.get(k.path.toLowerCase());
    const values = Object.fromEntries(Object.entries(k.values).filter(([name, v]) => !sameValue(current?.values.get(name.toLowerCase())?.value, v)));
    if (current === undefined || Object.keys(values).length > 0) out.push({ path: k.path, values });
  }
  return out;
}

/** VMware Tools installations (MSI product codes) in the Uninstall keys of the SOFTWARE hive. */
export async function vmwareToolsInstallations(software: GuestHive): Promise<Array<{ displayName: string; version: string; productCode: string }>> {
  const found: Array<{ displayName: string; version: string; productCode: string }> = [];
  for (const root of ["Microsoft\\Windows\\CurrentVersion\\Uninstall", "WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"]) {
    const keys = await software.file.read(root, 2);
    for (const k of keys?.values() ?? []) {
      const text = (name: string) => {
        const v = k.values.get(name)?.value;
        return v !== undefined && (v.type === "sz" || v.type === "expand_sz") ? v.data : "";
      };
      const code = k.path.split("\\").pop() ?? "";
      if (/^VMware Tools\b/i.test(text("displayname")) && /^\{[0-9A-Fa-f-]{36}\}$/.test(code) && !found.some((f) => f.productCode === code)) {
        found.push({ displayName: text("displayname"), version: text("displayversion"), productCode: code });
      }
    }
  }
  return found;
}
