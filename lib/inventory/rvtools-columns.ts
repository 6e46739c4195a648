/**
 * The RVTools tables as the loader sees them: the tabs and columns it reads (by name, under every
 * header RVTools writes), a tab's rows of cell text, and how one cell is read — numbers in a
 * locale's format, addresses, OS and controller text, booleans, summary rows.
 */
import { problem, type Problem } from "../problems";
import { isIpv4, isLinkLocal } from "../net";
import type { GuestOs } from "./schema";

/** The RVTools tabs the loader reads. */
export type RvtoolsTab = "vInfo" | "vDisk" | "vNetwork";

export const TABS: readonly RvtoolsTab[] = ["vInfo", "vDisk", "vNetwork"];

/** A column the loader reads: the header RVTools writes in its workbook and its other names. */
export interface RvtoolsColumn {
  readonly key: string;
  /** The header as RVTools 4.x writes it in its xlsx workbook. */
  readonly header: string;
  /** Other accepted headers: the prefixed names of the CSV export, the headers of RVTools 3.x. */
  readonly aliases: readonly string[];
  readonly required: boolean;
}

function column(key: string, header: string, aliases: readonly string[], required = false): RvtoolsColumn {
  return { key, header, aliases, required };
}

/** Every column read, per tab. */
export const RVTOOLS_COLUMNS: Readonly<Record<RvtoolsTab, readonly RvtoolsColumn[]>> = {
  vInfo: [
    column("name", "VM", ["vInfoVMName", "vInfoVM"], true),
    column("powerState", "Powerstate", ["vInfoPowerstate"], true),
    column("template", "Template", ["vInfoTemplate"]),
    column("cpus", "CPUs", ["vInfoCPUs"], true),
    column("memory", "Memory", ["vInfoMemory", "Memory MiB", "Memory MB"], true),
    column("provisioned", "Provisioned MiB", ["vInfoProvisioned", "vInfoProvisionedMiB", "Provisioned MB", "vInfoProvisionedMB"]),
    column("inUse", "In Use MiB", ["vInfoInUse", "vInfoInUseMiB", "In Use MB", "vInfoInUseMB"]),
    column("firmware", "Firmware", ["vInfoFirmware"]),
    column("os", "OS according to the configuration file", ["vInfoOS", "vInfoOSConfig", "OS"], true),
    column("osTools", "OS according to the VMware Tools", ["vInfoOSTools"]),
    column("uuid", "VM UUID", ["vInfoUUID", "vInfoVMUUID", "UUID", "BIOS UUID"], true),
    column("folder", "Folder", ["vInfoFolder"]),
    column("resourcePool", "Resource pool", ["vInfoResourcePool", "vInfoResourcepool"]),
    column("annotation", "Annotation", ["vInfoAnnotation"]),
    column("datacenter", "Datacenter", ["vInfoDataCenter", "vInfoDatacenter"]),
    column("cluster", "Cluster", ["vInfoCluster"]),
    column("host", "Host", ["vInfoHost"]),
  ],
  vDisk: [
    column("vm", "VM", ["vDiskVMName", "vDiskVM"], true),
    column("template", "Template", ["vDiskTemplate"]),
    column("label", "Disk", ["vDiskName", "vDiskDisk"], true),
    column("key", "Disk Key", ["vDiskKey", "vDiskDiskKey"]),
    column("capacity", "Capacity MiB", ["vDiskCapacityMiB", "vDiskCapacity", "Capacity MB", "vDiskCapacityMB"], true),
    column("thin", "Thin", ["vDiskThin"]),
    column("mode", "Disk Mode", ["vDiskDiskMode", "vDiskMode"]),
    column("raw", "Raw", ["vDiskRaw"]),
    column("rawMode", "Raw Com. Mode", ["Raw Comp. Mode", "vDiskRawComMode", "vDiskRawCompMode"]),
    column("controller", "Controller", ["vDiskController"]),
    // RVTools 4.x writes the disk's file under `Disk Path` and the VM's folder under `Path`.
    column("path", "Disk Path", ["vDiskDiskPath", "Path", "vDiskPath"]),
  ],
  vNetwork: [
    column("vm", "VM", ["vNetworkVMName", "vNetworkVM"], true),
    column("template", "Template", ["vNetworkTemplate"]),
    column("label", "NIC label", ["vNetworkNICLabel", "vNetworkLabel"]),
    column("adapter", "Adapter", ["vNetworkAdapter"]),
    column("network", "Network", ["vNetworkName", "vNetworkNetwork", "vNetworkPortgroup"], true),
    column("mac", "Mac Address", ["vNetworkMacAddress", "vNetworkMAC"], true),
    column("ipv4", "IPv4 Address", ["vNetworkIPv4Address", "vNetworkIP4Address", "vNetworkIpv4", "IP Address", "vNetworkIPAddress"], true),
  ],
};

/** The numeric columns of each tab, whose cells decide a file's number format. */
export const NUMERIC: Readonly<Record<RvtoolsTab, readonly string[]>> = {
  vInfo: ["cpus", "memory", "provisioned", "inUse"],
  vDisk: ["key", "capacity"],
  vNetwork: [],
};

/** One tab read from a CSV file or a worksheet: headers and rows of cell text. */
export interface RvtoolsTable {
  /** The file (or `workbook.xlsx#vInfo`) the rows come from, for messages. */
  readonly source: string;
  readonly headers: readonly string[];
  readonly rows: readonly RvtoolsRow[];
  /** The CSV delimiter, when the table is a CSV file (a hint for the number format). */
  readonly delimiter?: string;
}

/** A data row: its row number in the file (1 is the header) and its cells. */
export interface RvtoolsRow {
  readonly line: number;
  readonly cells: readonly string[];
}

const normalise = (header: string): string => header.toLowerCase().replace(/[^a-z0-9]/g, "");

/** Column indexes by key; a problem per missing required column (naming the file and the column). */
export function resolveColumns(table: RvtoolsTable, tab: RvtoolsTab): { index: Record<string, number>; problems: Problem[] } {
  const positions = new Map<string, number>();
  table.headers.forEach((h, i) => {
    const key = normalise(h);
    if (!positions.has(key)) positions.set(key, i);
  });
  const index: Record<string, number> = {};
  const problems: Problem[] = [];
  for (const col of RVTOOLS_COLUMNS[tab]) {
    const at = [col.header, ...col.aliases].map((n) => positions.get(normalise(n))).find((i) => i !== undefined);
    if (at !== undefined) index[col.key] = at;
    else if (col.required) {
      problems.push(
        problem({
          file: table.source,
          field: col.header,
          received: `columns ${table.headers.filter((h) => h !== "").join(", ") || "(none)"}`,
          expected: `a column named "${col.header}" (or "${col.aliases[0]}")`,
          fix: `export the ${tab} tab again with the ${col.header} column`,
          message: `The ${tab} tab has no "${col.header}" column`,
        }),
      );
    }
  }
  return { index, problems };
}

/**
 * The custom-attribute columns of vInfo: RVTools writes one column per vSphere custom field
 * between `Annotation` and `Datacenter`. Returns their indexes and names (the headers as written).
 */
export function attributeColumns(headers: readonly string[], index: Readonly<Record<string, number>>): Array<{ at: number; name: string }> {
  const from = index.annotation;
  const to = index.datacenter;
  if (from === undefined || to === undefined || to <= from + 1) return [];
  const known = new Set(Object.values(index));
  const out: Array<{ at: number; name: string }> = [];
  for (let i = from + 1; i < to; i++) {
    const name = (headers[i] ?? "").trim();
    if (!known.has(i) && name !== "") out.push({ at: i, name: name.replace(/^vInfo/, "") });
  }
  return out;
}

const DIGITS = /^[0-9]{1,15}$/;

/** How a file writes numbers: the decimal separator; the other separators are thousands separators. */
export interface NumberFormat {
  readonly decimal: "." | ",";
}

/**
 * The number format of a file from its numeric cells: a decimal comma when cells such as `2,5`,
 * `1.048.576,00` or `40.960` (with a `;` delimiter) say so; a decimal point otherwise. A cell
 * like `1,024` says nothing alone: in a comma-delimited file it had to be quoted, so its comma
 * separates thousands.
 */
export function detectNumberFormat(samples: Iterable<string>, delimiter?: string): NumberFormat {
  let comma = 0;
  let point = 0;
  for (const raw of samples) {
    if (DIGITS.test(raw)) continue;
    const s = raw.trim().replace(/[\s\u00a0\u202f'’]/g, "");
    if (s === "" || /^-?\d+$/.test(s)) continue;
    const lastComma = s.lastIndexOf(",");
    const lastPoint = s.lastIndexOf(".");
    if (lastComma >= 0 && lastPoint >= 0) {
      if (lastComma > lastPoint) comma++;
      else point++;
    } else if (/^-?\d+,(\d{1,2}|\d{4,})$/.test(s) || /^-?\d{1,3}(\.\d{3}){2,}$/.test(s)) comma++;
    else if (/^-?\d+\.(\d{1,2}|\d{4,})$/.test(s) || /^-?\d{1,3}(,\d{3}){2,}$/.test(s)) point++;
  }
  if (comma > point) return { decimal: "," };
  if (point > comma) return { decimal: "." };
  return { decimal: delimiter === ";" || delimiter === "\t" ? "," : "." };
}

/**
 * A number as a locale export writes it: spaces, non-breaking spaces and apostrophes between
 * digit groups dropped, the thousands separator of `format` dropped where it groups three
 * digits, its decimal separator read as the point. `undefined` when the text is no number.
 */
export function parseNumber(text: string, format: NumberFormat = { decimal: "." }): number | undefined {
  if (DIGITS.test(text)) return Number(text);
  let s = text.trim().replace(/[\s\u00a0\u202f'’]/g, "");
  if (s === "") return undefined;
  if (format.decimal === ",") {
    if (/^-?\d{1,3}(\.\d{3})+(,\d+)?$/.test(s)) s = s.replace(/\./g, "");
    s = s.replace(",", ".");
  } else if (/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, "");
  if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/** Names a summary row carries in its first cell (`Total`, `Sum`, `Gesamt`, `合计`). */
export const SUMMARY_NAME = /^(grand\s*)?(totals?|sum|summe|gesamt|totaal|totale|somme|合计|總計|总计|小计|合計)\b\s*:?/iu;

/** Proportional share of a VM's `In Use MiB` given to each disk, in bytes (capped at capacity). */
export function allocatedFromInUse(capacities: readonly number[], inUseMiB: number | undefined): Array<number | undefined> {
  const total = capacities.reduce((a, b) => a + b, 0);
  if (inUseMiB === undefined || total === 0) return capacities.map(() => undefined);
  const ratio = Math.min(1, (inUseMiB * 2 ** 20) / total);
  return capacities.map((c) => Math.min(c, Math.round(c * ratio)));
}

/** The guest family from RVTools' OS text (`Red Hat Enterprise Linux 7 (64-bit)` → linux). */
export function guestFamily(os: string): GuestOs["family"] {
  const text = os.toLowerCase();
  if (text.includes("windows")) return "windows";
  if (/linux|red hat|rhel|centos|ubuntu|debian|suse|sles|rocky|alma|fedora|photon|coreos|oracle|kylin|euler|anolis/.test(text)) return "linux";
  return "other";
}

/** The controller type from RVTools' controller text (`SCSI controller 0`, `VMware Paravirtual`). */
export function controllerType(text: string): string {
  const t = text.toLowerCase();
  if (/paravirtual|pvscsi/.test(t)) return "pvscsi";
  if (/lsi ?logic|lsilogic/.test(t)) return "lsilogic";
  if (/buslogic/.test(t)) return "buslogic";
  if (/nvme/.test(t)) return "nvme";
  if (/sata|ahci/.test(t)) return "sata";
  if (/\bide\b/.test(t)) return "ide";
  return "scsi";
}

/**
 * The IPv4 addresses of an RVTools `IPv4 Address` cell: separated by commas, semicolons or
 * whitespace; IPv6 and link-local addresses are dropped. Returns the malformed tokens too.
 */
export function splitAddresses(cell: string): { ips: string[]; malformed: string[] } {
  const ips: string[] = [];
  const malformed: string[] = [];
  for (const token of cell.split(/[,;\s]+/).filter((t) => t !== "")) {
    if (token.includes(":")) continue;
    if (!isIpv4(token)) malformed.push(token);
    else if (!isLinkLocal(token) && !ips.includes(token)) ips.push(token);
  }
  return { ips, malformed };
}

export function isTrue(text: string): boolean {
  return boolean(text) === true;
}

export function boolean(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (t === "true" || t === "yes" || t === "1") return true;
  if (t === "false" || t === "no" || t === "0") return false;
  return undefined;
}
