/**
 * The RVTools loader: the vInfo, vDisk and vNetwork tabs of an RVTools export, either as CSV
 * files in a directory (`RVTools_tabvInfo.csv` or `vInfo.csv`, ...) or as an `.xlsx` workbook as
 * RVTools writes it (namespace-prefixed SpreadsheetML, read by `./xlsx`).
 *
 * Columns are found by name, not position, under the headers RVTools 4.x writes in its workbook
 * (`VM`, `Capacity MiB`, `IPv4 Address`, ...), the prefixed names of its CSV export
 * (`vInfoVMName`, `vDiskCapacityMiB`, ...) and the headers of RVTools 3.x (`Capacity MB`,
 * `Provisioned MB`); case, spaces and punctuation are ignored, and extra columns do not matter.
 * CSV files may be UTF-8 or UTF-16 (with or without a byte-order mark), and numbers may carry
 * the decimal commas and thousands separators of a locale export. Summary rows (`Total`) are
 * skipped. RVTools has no prefix lengths: subnets come from a networks file.
 *
 * Every malformed cell and missing column is reported at once. A VM whose own rows are malformed
 * is left out of the inventory and listed as rejected with every reason (`readRvtools`); only a
 * file that cannot be read at all (a missing tab or required column) stops the load.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { InputError, problem, type Problem } from "../problems";
import { decodeText, unreadable } from "./files";
import { isIpv4, isLinkLocal } from "../net";
import { rejectedVms, type InventoryReading } from "./reading";
import { VmSchema, type Disk, type GuestOs, type Nic, type Vm } from "./schema";
import { problemsFromZod } from "../zod-problems";
import { XlsxFormatError, readXlsx } from "./xlsx";

/** The RVTools tabs the loader reads. */
export type RvtoolsTab = "vInfo" | "vDisk" | "vNetwork";

const TABS: readonly RvtoolsTab[] = ["vInfo", "vDisk", "vNetwork"];

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
const NUMERIC: Readonly<Record<RvtoolsTab, readonly string[]>> = {
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

/** Whether `file` looks like an RVTools workbook, CSV file or export directory (not YAML/JSON). */
export function isRvtoolsPath(file: string): boolean {
  if (/\.(xlsx|xlsm|xls|csv)$/i.test(file)) return true;
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Loads an RVTools export (directory of CSVs, one CSV file of that directory, or an `.xlsx`
 * workbook) into an inventory without networks.
 * @throws InputError listing every problem when any is an error.
 */
export async function loadRvtools(file: string): Promise<InventoryReading["inventory"]> {
  const reading = await readRvtools(file);
  if (reading.problems.some((p) => p.severity === "error")) throw new InputError(reading.problems);
  return reading.inventory;
}

/**
 * Reads an RVTools export leniently: VMs with malformed rows are left out and listed as rejected.
 * @throws InputError when the export cannot be read at all (unreadable, missing tabs or columns).
 */
export async function readRvtools(file: string): Promise<InventoryReading> {
  if (/\.xls$/i.test(file)) {
    throw new InputError(
      problem({ file, message: "The file is an old Excel .xls workbook", expected: "an .xlsx workbook or a directory of RVTools CSV files", fix: "export from RVTools again as .xlsx or CSV" }),
    );
  }
  // One CSV file of the export stands for its directory, which holds the other tabs.
  const source = /\.csv$/i.test(file) ? path.dirname(file) : file;
  const tables = /\.(xlsx|xlsm)$/i.test(source) ? await readWorkbook(source) : await readCsvDirectory(source);
  return inventoryFromTables(tables, source);
}

/** The file name patterns of each tab's CSV file (`RVTools_tabvInfo.csv`, `tabvInfo.csv`, `vInfo.csv`). */
function tabFilePattern(tab: RvtoolsTab): RegExp {
  return new RegExp(`(^|[_\\-. ]|tab)${tab}\\.csv$`, "i");
}

/** Reads the three tabs from CSV files in `dir`. */
export async function readCsvDirectory(dir: string): Promise<Record<RvtoolsTab, RvtoolsTable>> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch (err) {
    throw new InputError(unreadable(dir, err));
  }
  const problems: Problem[] = [];
  const found: Partial<Record<RvtoolsTab, string>> = {};
  for (const tab of TABS) {
    const matches = names.filter((n) => tabFilePattern(tab).test(n)).sort();
    if (matches.length === 0) {
      problems.push(
        problem({
          file: dir,
          field: tab,
          received: names.filter((n) => /\.csv$/i.test(n)).join(", ") || "no CSV files",
          expected: `a CSV file named RVTools_tab${tab}.csv or ${tab}.csv`,
          fix: `export the ${tab} tab of RVTools as CSV into ${dir}`,
          message: `The RVTools export has no ${tab} CSV file`,
        }),
      );
    } else if (matches.length > 1) {
      problems.push(
        problem({
          file: dir,
          field: tab,
          received: matches.join(", "),
          expected: `one ${tab} CSV file`,
          fix: "keep one RVTools export per directory",
          message: `The directory holds several ${tab} CSV files`,
        }),
      );
    } else found[tab] = matches[0]!;
  }
  if (problems.length > 0) throw new InputError(problems);
  const tables = {} as Record<RvtoolsTab, RvtoolsTable>;
  for (const tab of TABS) {
    const file = path.join(dir, found[tab]!);
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(file);
    } catch (err) {
      throw new InputError(unreadable(file, err));
    }
    tables[tab] = csvTable(decodeText(bytes).text, file);
  }
  return tables;
}

/** Parses one CSV file; the delimiter (comma, semicolon or tab) is taken from the header line. */
export function csvTable(text: string, source: string): RvtoolsTable {
  const body = text.replace(/^\uFEFF/, "");
  const firstLine = body.split(/\r?\n/, 1)[0] ?? "";
  const delimiter = [",", ";", "\t"].map((d) => ({ d, n: firstLine.split(d).length })).sort((a, b) => b.n - a.n)[0]!.d;
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parseCsv(body, { delimiter, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, skip_records_with_empty_values: true, info: true }) as unknown as typeof records;
  } catch (err) {
    throw new InputError(
      problem({
        file: source,
        message: `The file is not valid CSV: ${(err as Error).message}`,
        expected: "an RVTools CSV export",
        fix: "export the tab again from RVTools",
      }),
    );
  }
  const [header, ...rest] = records;
  // `info.lines` is the line a record ends on, so a row's number is that of its (last) line.
  return { source, delimiter, headers: header?.record ?? [], rows: rest.map(({ record, info }) => ({ line: info.lines, cells: record })) };
}

/** Whether a worksheet name is the tab `tab` (`vInfo`, or `tabvInfo` as some exports name it). */
function isTab(name: string, tab: RvtoolsTab): boolean {
  const n = name.trim().toLowerCase();
  return n === tab.toLowerCase() || n === `tab${tab.toLowerCase()}`;
}

/** Reads the three tabs from the worksheets of an RVTools `.xlsx` workbook. */
export async function readWorkbook(file: string): Promise<Record<RvtoolsTab, RvtoolsTable>> {
  let workbook: Awaited<ReturnType<typeof readXlsx>>;
  try {
    // Only the columns the loader reads (an RVTools vInfo has about 90): the others stay empty.
    const chooser = (name: string) => {
      const tab = TABS.find((t) => isTab(name, t));
      if (tab === undefined) return undefined;
      return (headers: readonly string[]) => {
        const { index } = resolveColumns({ source: name, headers, rows: [] }, tab);
        const keep = new Set(Object.values(index));
        if (tab === "vInfo") for (const a of attributeColumns(headers, index)) keep.add(a.at);
        return keep;
      };
    };
    workbook = await readXlsx(file, (name) => TABS.some((tab) => isTab(name, tab)), chooser);
  } catch (err) {
    if (err instanceof XlsxFormatError) {
      throw new InputError(problem({ file, message: `The file is not an xlsx workbook: ${err.message}`, expected: "an RVTools .xlsx export", fix: "export again from RVTools (File → Export all to Excel)" }));
    }
    if (typeof (err as NodeJS.ErrnoException).code === "string") throw new InputError(unreadable(file, err));
    throw err;
  }
  const problems: Problem[] = [];
  const tables = {} as Record<RvtoolsTab, RvtoolsTable>;
  for (const tab of TABS) {
    const name = workbook.sheetNames.find((n) => isTab(n, tab));
    const rows = name !== undefined ? workbook.sheets.get(name) : undefined;
    if (name === undefined || rows === undefined) {
      problems.push(
        problem({
          file,
          field: tab,
          received: workbook.sheetNames.join(", ") || "no worksheets",
          expected: `a worksheet named ${tab}`,
          fix: `export the ${tab} tab with RVTools`,
          message: `The workbook has no ${tab} worksheet`,
        }),
      );
      continue;
    }
    const [header, ...rest] = rows;
    tables[tab] = { source: `${file}#${name}`, headers: header?.cells ?? [], rows: rest.filter((r) => r.cells.some((c) => c.trim() !== "")) };
  }
  if (problems.length > 0) throw new InputError(problems);
  return tables;
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
const SUMMARY_NAME = /^(grand\s*)?(totals?|sum|summe|gesamt|totaal|totale|somme|合计|總計|总计|小计|合計)\b\s*:?/iu;

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

const POWER_STATES: Record<string, Vm["powerState"]> = { poweredon: "poweredOn", poweredoff: "poweredOff", suspended: "suspended" };

/** A VM as its vInfo row describes it, with the disks and NICs its other rows add. */
interface Draft {
  vm: Omit<Vm, "disks" | "nics">;
  disks: Disk[];
  nics: Nic[];
  inUseMiB: number | undefined;
}

/** The VMs of vInfo in file order, by name, and the templates (whose rows elsewhere are skipped). */
interface Drafts {
  readonly byName: Map<string, Draft>;
  readonly order: Draft[];
  readonly templates: Set<string>;
}

/** Reads the cells of one tab by column key, and reports a malformed cell as a problem naming its row, VM and column. */
type TabReader = ReturnType<typeof tabReader>;

/**
 * Builds the inventory from the three tables; every malformed cell is one problem, and a VM with
 * an error in its own rows is left out of the inventory and listed as rejected.
 * @throws InputError when a required column is missing.
 */
export function inventoryFromTables(tables: Record<RvtoolsTab, RvtoolsTable>, file: string): InventoryReading {
  const problems: Problem[] = [];
  const columns = {} as Record<RvtoolsTab, Record<string, number>>;
  for (const tab of TABS) {
    const resolved = resolveColumns(tables[tab], tab);
    columns[tab] = resolved.index;
    problems.push(...resolved.problems);
  }
  if (problems.length > 0) throw new InputError(problems);
  const reader = (tab: RvtoolsTab) => tabReader(tables[tab], tab, columns[tab], problems);
  const info = reader("vInfo");
  const drafts = readVInfo(info, attributeColumns(info.table.headers, columns.vInfo));
  readVDisk(reader("vDisk"), drafts);
  readVNetwork(reader("vNetwork"), drafts);
  const vms = completeVms(drafts, tables.vDisk.source, file, problems);
  const rejected = rejectedVms(problems);
  const out = new Set(rejected.map((r) => r.name));
  return { inventory: { vms: vms.filter((vm) => !out.has(vm.name)), networks: [] }, rejected, problems };
}

function tabReader(table: RvtoolsTable, tab: RvtoolsTab, index: Readonly<Record<string, number>>, problems: Problem[]) {
  const headerOf = (key: string) => table.headers[index[key]!] ?? key;
  const cell = (row: RvtoolsRow, key: string) => (index[key] === undefined ? "" : (row.cells[index[key]!] ?? "").trim());
  const samples = function* () {
    for (const key of NUMERIC[tab]) if (index[key] !== undefined) for (const row of table.rows) yield row.cells[index[key]!] ?? "";
  };
  const format = detectNumberFormat(samples(), table.delimiter);
  const formatNote = format.decimal === "," ? " (numbers in this file are read with a decimal comma, as its locale writes them)" : "";
  return {
    table,
    format,
    has: (key: string) => index[key] !== undefined,
    cell,
    number: (row: RvtoolsRow, key: string) => parseNumber(cell(row, key), format),
    bad: (row: RvtoolsRow, key: string, vm: string | undefined, received: string, expected: string, message: string, fix: string) =>
      problems.push(
        problem({
          file: table.source,
          ...(vm ? { vm } : {}),
          field: headerOf(key),
          received: JSON.stringify(received),
          expected: NUMERIC[tab].includes(key) ? expected + formatNote : expected,
          fix,
          message: `Row ${row.line}: ${message}`,
        }),
      ),
  };
}

function integer(value: number | undefined): number | undefined {
  return value !== undefined && Number.isInteger(value) ? value : undefined;
}

/** The vInfo tab: one draft per VM row (summary rows and templates skipped). */
function readVInfo(info: TabReader, attributes: ReadonlyArray<{ at: number; name: string }>): Drafts {
  const drafts: Drafts = { byName: new Map(), order: [], templates: new Set() };
  for (const row of info.table.rows) {
    const name = info.cell(row, "name");
    const identity = info.cell(row, "uuid") !== "" || info.cell(row, "powerState") !== "";
    // A summary row (`Total`, or no name) carries no VM identity: skip it.
    if (!identity && (name === "" || SUMMARY_NAME.test(name))) continue;
    if (name === "") {
      info.bad(row, "name", undefined, name, "the VM's name", "The VM name is empty", "fill in the VM column or delete the row");
      continue;
    }
    if (isTrue(info.cell(row, "template"))) {
      drafts.templates.add(name);
      continue;
    }
    const cpus = integer(info.number(row, "cpus"));
    if (cpus === undefined || cpus <= 0) info.bad(row, "cpus", name, info.cell(row, "cpus"), "a positive whole number of vCPUs", `VM ${name} has an invalid vCPU count`, "correct the CPUs cell");
    const memory = integer(info.number(row, "memory"));
    if (memory === undefined || memory <= 0) info.bad(row, "memory", name, info.cell(row, "memory"), "a positive whole number of MiB", `VM ${name} has an invalid memory size`, "correct the Memory cell (MiB)");
    const powerText = info.cell(row, "powerState");
    const powerState = POWER_STATES[powerText.toLowerCase().replace(/[^a-z]/g, "")];
    if (!powerState) info.bad(row, "powerState", name, powerText, "poweredOn, poweredOff or suspended", `VM ${name} has an unknown power state`, "correct the Powerstate cell");
    const firmwareText = info.cell(row, "firmware").toLowerCase();
    const firmware = firmwareText === "" ? "bios" : firmwareText === "bios" || firmwareText === "efi" ? firmwareText : undefined;
    if (!firmware) info.bad(row, "firmware", name, firmwareText, "bios or efi", `VM ${name} has an unknown firmware`, "correct the Firmware cell");
    const uuid = info.cell(row, "uuid");
    if (uuid === "") info.bad(row, "uuid", name, uuid, "the VM's BIOS UUID", `VM ${name} has no UUID`, "export again with the VM UUID column filled");
    const os = info.cell(row, "os") || info.cell(row, "osTools");
    let inUseMiB: number | undefined;
    if (info.has("inUse") && info.cell(row, "inUse") !== "") {
      inUseMiB = info.number(row, "inUse");
      if (inUseMiB === undefined || inUseMiB < 0) {
        info.bad(row, "inUse", name, info.cell(row, "inUse"), "zero or more MiB", `VM ${name} has an invalid in-use size`, "correct the In Use MiB cell");
        inUseMiB = undefined;
      }
    }
    const placement: Partial<Record<"folder" | "datacenter" | "cluster" | "host" | "resourcePool" | "annotation", string>> = {};
    for (const key of ["folder", "datacenter", "cluster", "host", "resourcePool", "annotation"] as const) {
      const value = info.has(key) ? info.cell(row, key) : "";
      if (value !== "") placement[key] = value;
    }
    const attrs: Record<string, string> = {};
    for (const a of attributes) {
      const value = (row.cells[a.at] ?? "").trim();
      if (value !== "") attrs[a.name] = value;
    }
    const draft: Draft = {
      vm: {
        uuid,
        name,
        cpus: cpus ?? 0,
        memoryMiB: memory ?? 0,
        guestOs: { family: guestFamily(os), id: os === "" ? "unknown" : os },
        firmware: firmware ?? "bios",
        powerState: powerState ?? "poweredOn",
        ...(placement.folder !== undefined ? { folder: placement.folder } : {}),
        tags: [],
        ...(placement.datacenter !== undefined ? { datacenter: placement.datacenter } : {}),
        ...(placement.cluster !== undefined ? { cluster: placement.cluster } : {}),
        ...(placement.host !== undefined ? { host: placement.host } : {}),
        ...(placement.resourcePool !== undefined ? { resourcePool: placement.resourcePool } : {}),
        ...(placement.annotation !== undefined ? { annotation: placement.annotation } : {}),
        ...(Object.keys(attrs).length > 0 ? { attributes: attrs } : {}),
      },
      disks: [],
      nics: [],
      inUseMiB,
    };
    if (drafts.byName.has(name)) {
      info.bad(row, "name", name, name, "a VM name no other row has", `VM ${name} appears more than once in vInfo`, "rename one of the VMs (waves files name VMs)");
      continue;
    }
    drafts.byName.set(name, draft);
    drafts.order.push(draft);
  }

  return drafts;
}

/** The VM a row of vDisk or vNetwork belongs to, or undefined for a summary row, a template's row or (reported) an unknown VM. */
function ownerOf(r: TabReader, drafts: Drafts, row: RvtoolsRow, identity: string): Draft | undefined {
  const name = r.cell(row, "vm");
  if (drafts.templates.has(name) || isTrue(r.cell(row, "template"))) return undefined;
  const draft = drafts.byName.get(name);
  if (!draft) {
    // A summary row: no VM of vInfo, a `Total` label or none, and no identity of its own.
    if (identity === "" && (name === "" || SUMMARY_NAME.test(name))) return undefined;
    r.bad(row, "vm", name, name, "a VM listed in vInfo", `VM ${name} is not in the vInfo tab`, "export all tabs of RVTools from the same run");
  }
  return draft;
}

/** The vDisk tab: each row one disk of its VM. */
function readVDisk(disk: TabReader, drafts: Drafts): void {
  for (const row of disk.table.rows) {
    const draft = ownerOf(disk, drafts, row, disk.cell(row, "label"));
    if (!draft) continue;
    const vm = draft.vm.name;
    const label = disk.cell(row, "label");
    const capacityText = disk.cell(row, "capacity");
    const capacityMiB = disk.number(row, "capacity");
    if (capacityMiB === undefined || capacityMiB <= 0) {
      disk.bad(row, "capacity", vm, capacityText, "a positive number of MiB", `Disk ${label || "(unnamed)"} of VM ${vm} has an invalid capacity`, "correct the Capacity MiB cell");
    }
    let key = 2000 + draft.disks.length;
    if (disk.has("key") && disk.cell(row, "key") !== "") {
      const parsed = integer(disk.number(row, "key"));
      if (parsed === undefined || parsed < 0) disk.bad(row, "key", vm, disk.cell(row, "key"), "a whole number like 2000", `Disk ${label} of VM ${vm} has an invalid device key`, "correct the Disk Key cell");
      else key = parsed;
    }
    const thinText = disk.cell(row, "thin");
    const thin = thinText === "" ? undefined : boolean(thinText);
    if (thinText !== "" && thin === undefined) disk.bad(row, "thin", vm, thinText, "True or False", `Disk ${label} of VM ${vm} has an invalid Thin value`, "write True or False");
    const filePath = disk.cell(row, "path");
    const datastore = /^\[([^\]]+)\]/.exec(filePath)?.[1];
    const modeText = disk.cell(row, "mode").toLowerCase();
    const rawMode = disk.cell(row, "rawMode").toLowerCase();
    const backing: Disk["backing"] = isTrue(disk.cell(row, "raw"))
      ? rawMode.startsWith("physical")
        ? "rdm-physical"
        : "rdm-virtual"
      : modeText.startsWith("independent")
        ? "independent"
        : "flat";
    draft.disks.push({
      key,
      label: label === "" ? `Hard disk ${draft.disks.length + 1}` : label,
      capacityBytes: Math.round((capacityMiB ?? 0) * 2 ** 20),
      thin: thin ?? true,
      ...(datastore !== undefined ? { datastore } : {}),
      controller: controllerType(disk.cell(row, "controller")),
      backing,
      ...(filePath !== "" ? { fileName: filePath } : {}),
    });
  }
}

/** The vNetwork tab: each row one NIC of its VM. */
function readVNetwork(net: TabReader, drafts: Drafts): void {
  for (const row of net.table.rows) {
    const draft = ownerOf(net, drafts, row, net.cell(row, "mac"));
    if (!draft) continue;
    const vm = draft.vm.name;
    const macText = net.cell(row, "mac");
    const mac = macText.toLowerCase().replace(/-/g, ":");
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) net.bad(row, "mac", vm, macText, "a MAC address like 00:50:56:aa:bb:cc", `VM ${vm} has a malformed MAC address`, "correct the Mac Address cell");
    const portgroup = net.cell(row, "network");
    if (portgroup === "") net.bad(row, "network", vm, portgroup, "the portgroup the NIC is connected to", `A NIC of VM ${vm} has no network`, "fill in the Network cell");
    const { ips, malformed } = splitAddresses(net.cell(row, "ipv4"));
    for (const token of malformed) {
      net.bad(row, "ipv4", vm, token, "dotted IPv4 addresses like 10.10.1.21, separated by commas", `VM ${vm} has a malformed IPv4 address`, "correct the IPv4 Address cell");
    }
    const label = net.cell(row, "label");
    const adapter = net.cell(row, "adapter").toLowerCase();
    draft.nics.push({ ...(label !== "" ? { label } : {}), mac, portgroup, ipv4: ips, adapter: adapter === "" ? "vmxnet3" : adapter });
  }
}

/** Each draft with its disks in key order and their allocation, checked by the schema; VMs with problems of their own are left out. */
function completeVms(drafts: Drafts, vDiskSource: string, file: string, problems: Problem[]): Vm[] {
  const vms: Vm[] = [];
  const faulty = new Set(problems.flatMap((p) => (p.severity === "error" && p.vm !== undefined ? [p.vm] : [])));
  for (const draft of drafts.order) {
    if (draft.disks.length === 0) {
      problems.push(
        problem({
          file: vDiskSource,
          vm: draft.vm.name,
          field: "VM",
          received: "no rows",
          expected: "at least one disk row for the VM",
          fix: "export the vDisk tab from the same RVTools run as vInfo",
          message: `VM ${draft.vm.name} has no disk in the vDisk tab`,
        }),
      );
      continue;
    }
    const disks = [...draft.disks].sort((a, b) => a.key - b.key);
    const allocated = allocatedFromInUse(
      disks.map((d) => d.capacityBytes),
      draft.inUseMiB,
    );
    const candidate = {
      ...draft.vm,
      disks: disks.map((d, i) => (allocated[i] !== undefined ? { ...d, allocatedBytes: allocated[i] } : d)),
      nics: draft.nics,
    };
    // A VM whose cells were reported is rejected already; the schema would repeat them.
    if (faulty.has(draft.vm.name)) continue;
    const parsed = VmSchema.safeParse(candidate, { reportInput: true });
    if (parsed.success) vms.push(parsed.data);
    else problems.push(...problemsFromZod(parsed.error, { file, input: candidate, vmNameAt: (p) => ({ vm: draft.vm.name, field: p }) }));
  }
  return vms;
}

function isTrue(text: string): boolean {
  return boolean(text) === true;
}

function boolean(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (t === "true" || t === "yes" || t === "1") return true;
  if (t === "false" || t === "no" || t === "0") return false;
  return undefined;
}
