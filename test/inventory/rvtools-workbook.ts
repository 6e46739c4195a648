/**
 * Writes `.xlsx` workbooks the way RVTools 4.x writes them (through the Open XML SDK): every
 * SpreadsheetML part with the `x:` namespace prefix (`<x:workbook>`, `<x:sst>`, `<x:worksheet>`),
 * `ap:`-prefixed extended properties, relationship ids like `R3f2a…` with absolute targets
 * (`/xl/worksheets/sheet1.xml`), shared strings for text, `t="b"` booleans and plain numbers.
 * The style is a parameter, so tests also cover workbooks written with the default namespace and
 * relative targets (Excel re-saving the file), inline strings, and cells without references.
 * The parts are zipped by Info-ZIP's `zip` (the Debian `zip` package), as any zip tool would.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { RVTOOLS_COLUMNS, type RvtoolsTab } from "../../lib/inventory";
import { tempDir } from "../helpers/tmp";

/** A cell as written: text, a number or a boolean; `null` leaves the cell out. */
export type CellValue = string | number | boolean | null;

/** One worksheet: its tab name and rows (the first row is the header row). */
export interface SheetSpec {
  readonly name: string;
  readonly rows: readonly (readonly CellValue[])[];
}

/** How the workbook's XML is written. */
export interface WorkbookStyle {
  /** Prefix of the SpreadsheetML namespace; `""` writes the default namespace as Excel does. @default "x" */
  readonly prefix?: string;
  /** Relationship targets as absolute part names (`/xl/worksheets/sheet1.xml`), as RVTools writes them. @default true */
  readonly absoluteTargets?: boolean;
  /** Text as shared strings (`t="s"`) or inline strings (`t="inlineStr"`). @default "shared" */
  readonly strings?: "shared" | "inline";
  /** Whether each cell carries its reference (`r="C7"`). @default true */
  readonly cellReferences?: boolean;
}

const MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships";

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** `A`, `B`, … `Z`, `AA` for a 0-based column. */
export function columnName(index: number): string {
  let n = index + 1;
  let name = "";
  while (n > 0) {
    const rem = (n - 1) % 26;
    name = String.fromCharCode(65 + rem) + name;
    n = Math.floor((n - 1) / 26);
  }
  return name;
}

/** The parts (path → XML text) of a workbook holding `sheets`. */
export function workbookParts(sheets: readonly SheetSpec[], style: WorkbookStyle = {}): Record<string, string> {
  const p = style.prefix ?? "x";
  const tag = (name: string) => (p === "" ? name : `${p}:${name}`);
  const ns = p === "" ? `xmlns="${MAIN}"` : `xmlns:${p}="${MAIN}"`;
  const absolute = style.absoluteTargets ?? true;
  const target = (part: string) => (absolute ? `/xl/${part}` : part);
  const shared = (style.strings ?? "shared") === "shared";
  const refs = style.cellReferences ?? true;
  const head = '<?xml version="1.0" encoding="utf-8"?>';
  const strings: string[] = [];
  const stringIndex = new Map<string, number>();
  const files: Record<string, string> = {};

  sheets.forEach((sheet, s) => {
    const out: string[] = [`${head}<${tag("worksheet")} ${ns}><${tag("sheetData")}>`];
    sheet.rows.forEach((row, r) => {
      out.push(`<${tag("row")} r="${r + 1}">`);
      row.forEach((value, c) => {
        if (value === null) return;
        const ref = refs ? ` r="${columnName(c)}${r + 1}"` : "";
        if (typeof value === "number") out.push(`<${tag("c")}${ref}><${tag("v")}>${value}</${tag("v")}></${tag("c")}>`);
        else if (typeof value === "boolean") out.push(`<${tag("c")}${ref} t="b"><${tag("v")}>${value ? 1 : 0}</${tag("v")}></${tag("c")}>`);
        else if (shared) {
          let index = stringIndex.get(value);
          if (index === undefined) {
            index = strings.length;
            strings.push(value);
            stringIndex.set(value, index);
          }
          out.push(`<${tag("c")}${ref} t="s"><${tag("v")}>${index}</${tag("v")}></${tag("c")}>`);
        } else out.push(`<${tag("c")}${ref} t="inlineStr"><${tag("is")}><${tag("t")}>${escapeXml(value)}</${tag("t")}></${tag("is")}></${tag("c")}>`);
      });
      out.push(`</${tag("row")}>`);
    });
    out.push(`</${tag("sheetData")}></${tag("worksheet")}>`);
    files[`xl/worksheets/sheet${s + 1}.xml`] = out.join("");
  });

  const rid = (n: number) => `R${(0x3f2a9c00 + n * 7919).toString(16)}`;
  files["[Content_Types].xml"] =
    `${head}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
    '<Default Extension="xml" ContentType="application/xml"/><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' +
    sheets
      .map(
        (_, s) =>
          `<Override PartName="/xl/worksheets/sheet${s + 1}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`,
      )
      .join("") +
    (shared ? '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>' : "") +
    '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>';
  files["_rels/.rels"] =
    `${head}<Relationships xmlns="${PKG_REL}"><Relationship Type="${REL}/officeDocument" Target="/xl/workbook.xml" Id="R0a1b2c3d"/>` +
    `<Relationship Type="${REL}/extended-properties" Target="/docProps/app.xml" Id="R9e8d7c6b"/></Relationships>`;
  files["docProps/app.xml"] =
    `${head}<ap:Properties xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes" xmlns:ap="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><ap:Application>RVTools</ap:Application></ap:Properties>`;
  files["xl/workbook.xml"] =
    `${head}<${tag("workbook")} ${ns} xmlns:r="${REL}"><${tag("sheets")}>` +
    sheets.map((sheet, s) => `<${tag("sheet")} name="${escapeXml(sheet.name)}" sheetId="${s + 1}" r:id="${rid(s)}"/>`).join("") +
    `</${tag("sheets")}></${tag("workbook")}>`;
  files["xl/_rels/workbook.xml.rels"] =
    `${head}<Relationships xmlns="${PKG_REL}">` +
    sheets.map((_, s) => `<Relationship Type="${REL}/worksheet" Target="${target(`worksheets/sheet${s + 1}.xml`)}" Id="${rid(s)}"/>`).join("") +
    (shared ? `<Relationship Type="${REL}/sharedStrings" Target="${target("sharedStrings.xml")}" Id="R5c4d3e2f"/>` : "") +
    "</Relationships>";
  if (shared) {
    const body = strings
      .map((text) => `<${tag("si")}><${tag("t")}${/^\s|\s$/.test(text) ? ' xml:space="preserve"' : ""}>${escapeXml(text)}</${tag("t")}></${tag("si")}>`)
      .join("");
    files["xl/sharedStrings.xml"] = `${head}<${tag("sst")} ${ns} count="${strings.length}" uniqueCount="${strings.length}">${body}</${tag("sst")}>`;
  }
  return files;
}

/** Zips `parts` (path → text) into the workbook `file` with Info-ZIP's `zip`. */
export function zipParts(file: string, parts: Readonly<Record<string, string>>): string {
  const dir = tempDir("rehost-xlsx-");
  try {
    for (const [name, text] of Object.entries(parts)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    const out = path.resolve(file);
    fs.rmSync(out, { force: true });
    execFileSync("zip", ["-q", "-X", "-r", out, "."], { cwd: dir });
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes a workbook holding `sheets` to `file`, as RVTools does unless `style` says otherwise. */
export function writeWorkbook(file: string, sheets: readonly SheetSpec[], style: WorkbookStyle = {}): string {
  return zipParts(file, workbookParts(sheets, style));
}

/**
 * The three tabs of an RVTools CSV export directory as worksheets, the way RVTools writes the
 * same data in its workbook: its xlsx headers, numbers and booleans as typed cells.
 */
export function sheetsFromCsvExport(dir: string): SheetSpec[] {
  const tabs = ["vInfo", "vDisk", "vNetwork"];
  const sheets: SheetSpec[] = [];
  for (const tab of tabs) {
    const lines = fs
      .readFileSync(path.join(dir, `RVTools_tab${tab}.csv`), "utf8")
      .trimEnd()
      .split("\r\n");
    const rows = lines.map((line, r) =>
      splitCsv(line).map((cell): CellValue => {
        // The workbook's own header for each column the loader reads; the others as they are.
        if (r === 0) return RVTOOLS_COLUMNS[tab as RvtoolsTab].find((c) => c.aliases.includes(cell))?.header ?? cell;
        if (/^[0-9]+$/.test(cell)) return Number(cell);
        if (cell === "True" || cell === "False") return cell === "True";
        return cell === "" ? null : cell;
      }),
    );
    sheets.push({ name: tab, rows });
  }
  return sheets;
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') ((cur += '"'), i++);
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") (out.push(cur), (cur = ""));
    else cur += c;
  }
  out.push(cur);
  return out;
}
