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
 * The tables and how a cell is read are in `rvtools-columns.ts`, the inventory built from them in
 * `rvtools-rows.ts`; this file finds and reads the files. Every malformed cell and missing column
 * is reported at once. A VM whose own rows are malformed is left out of the inventory and listed
 * as rejected with every reason (`readRvtools`); only a file that cannot be read at all (a missing
 * tab or required column) stops the load.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { InputError, problem, type Problem } from "../problems";
import { decodeText, unreadable } from "./files";
import type { InventoryReading } from "./reading";
import { XlsxFormatError, readXlsx } from "./xlsx";
import { type RvtoolsTab, TABS, type RvtoolsTable, resolveColumns, attributeColumns } from "./rvtools-columns";
import { inventoryFromTables } from "./rvtools-rows";

export { RVTOOLS_COLUMNS, allocatedFromInUse, controllerType, detectNumberFormat, guestFamily, parseNumber, splitAddresses } from "./rvtools-columns";
export type { NumberFormat, RvtoolsColumn, RvtoolsTab } from "./rvtools-columns";

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
      problem({
        file,
        message: "The file is an old Excel .xls workbook",
        expected: "an .xlsx workbook or a directory of RVTools CSV files",
        fix: "export from RVTools again as .xlsx or CSV",
      }),
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
async function readCsvDirectory(dir: string): Promise<Record<RvtoolsTab, RvtoolsTable>> {
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
function csvTable(text: string, source: string): RvtoolsTable {
  const body = text.replace(/^\uFEFF/, "");
  const firstLine = body.split(/\r?\n/, 1)[0] ?? "";
  const delimiter = [",", ";", "\t"].map((d) => ({ d, n: firstLine.split(d).length })).sort((a, b) => b.n - a.n)[0]!.d;
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parseCsv(body, {
      delimiter,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      skip_records_with_empty_values: true,
      info: true,
    }) as unknown as typeof records;
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
async function readWorkbook(file: string): Promise<Record<RvtoolsTab, RvtoolsTable>> {
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
      throw new InputError(
        problem({
          file,
          message: `The file is not an xlsx workbook: ${err.message}`,
          expected: "an RVTools .xlsx export",
          fix: "export again from RVTools (File → Export all to Excel)",
        }),
      );
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
