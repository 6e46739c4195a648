/**
 * Sizes for a person, as the CLI prints them: bytes in binary units (B, KiB, MiB, GiB, TiB).
 */

/**
 * Bytes in binary units. `"compact"` (the status table): `512 B`, `1.5 MiB`, `12 GiB`, one decimal
 * under 10 and none above. `"tenths"` (`rehost sync`'s summary and progress bar): `1.5 GiB`,
 * `12.0 GiB`, always one decimal, and bytes as given.
 */
export function formatBytes(bytes: number, precision: "compact" | "tenths" = "compact"): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (precision === "tenths") return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
  return `${i === 0 ? v.toFixed(0) : v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}
