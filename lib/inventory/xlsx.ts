/**
 * Reading worksheets of an `.xlsx` workbook (SpreadsheetML parts in a zip archive) as rows of cell
 * text, the way the RVTools loader needs them.
 *
 * Elements are matched by their local name, whatever namespace prefix the writer chose: RVTools
 * (through the Open XML SDK) writes `<x:workbook>`, `<x:sst>`, `<x:c>`; Excel writes the default
 * namespace. Relationship targets may be relative (`worksheets/sheet1.xml`) or absolute part
 * names (`/xl/worksheets/sheet1.xml`). Only the parts needed are inflated: the workbook, its
 * relationships, the shared strings and the wanted worksheets; other tabs are never read.
 *
 * The zip archive is read with yauzl (native zlib); the XML of these few part types is scanned by
 * the small purpose-built scanner below, since a general XML parser building a document tree
 * takes tens of seconds on the worksheets of a 10,000-VM estate.
 */
import * as yauzl from "yauzl";

/** A row of a worksheet: its row number (1-based, as Excel shows it) and its cells' text. */
export interface XlsxRow {
  readonly line: number;
  readonly cells: readonly string[];
}

/** What `readXlsx` returns: every worksheet name in tab order, and the rows of the wanted ones. */
export interface XlsxWorkbook {
  readonly sheetNames: readonly string[];
  readonly sheets: ReadonlyMap<string, readonly XlsxRow[]>;
}

/** The file is not a readable workbook; `message` says why in a sentence for a person. */
export class XlsxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XlsxFormatError";
  }
}

/**
 * Reads the worksheets of the workbook `file` whose names `wanted` accepts; `columns` may name,
 * per worksheet, the columns to read once its header row is known (all by default).
 * @throws XlsxFormatError when the file is not a zip archive or lacks the workbook parts;
 *   errors of the file system (ENOENT, EACCES) as they are.
 */
export async function readXlsx(
  file: string,
  wanted: (sheetName: string) => boolean,
  columns?: (sheetName: string) => ColumnChooser | undefined,
): Promise<XlsxWorkbook> {
  const zip = await openZip(file);
  try {
    const entries = await listEntries(zip);
    const read = async (part: string): Promise<string | undefined> => {
      const entry = entries.get(part) ?? entries.get(part.toLowerCase());
      return entry === undefined ? undefined : decodeXml(await readEntry(zip, entry));
    };
    const rootRels = await read("_rels/.rels");
    const workbookPart =
      (rootRels !== undefined ? relationships(rootRels, "").find((r) => r.type.endsWith("/officeDocument"))?.target : undefined) ?? "xl/workbook.xml";
    const workbookXml = await read(workbookPart);
    if (workbookXml === undefined) {
      throw new XlsxFormatError(`The archive has no workbook part (${workbookPart}); it is a zip file but not an xlsx workbook`);
    }
    const dir = workbookPart.includes("/") ? workbookPart.slice(0, workbookPart.lastIndexOf("/") + 1) : "";
    const relsXml = await read(`${dir}_rels/${workbookPart.slice(dir.length)}.rels`);
    const rels = relsXml !== undefined ? relationships(relsXml, dir) : [];
    const targets = new Map(rels.map((r) => [r.id, r.target] as const));
    const sheetList = sheetsOf(workbookXml);
    const sheets = new Map<string, XlsxRow[]>();
    const chosen = sheetList.filter((s) => wanted(s.name));
    if (chosen.length > 0) {
      const sharedPart = rels.find((r) => r.type.endsWith("/sharedStrings"))?.target ?? `${dir}sharedStrings.xml`;
      // Every part is inflated at once (zlib works off the main thread) while the ones already
      // inflated are scanned; a failed read is reported once its turn comes.
      const settle = (promise: Promise<string | undefined>) =>
        promise.then(
          (xml) => ({ xml }),
          (error: unknown) => ({ error }),
        );
      const shared = settle(read(sharedPart));
      const parts = chosen.map((sheet) => {
        const part = (sheet.rid !== undefined ? targets.get(sheet.rid) : undefined) ?? `${dir}worksheets/sheet${sheet.sheetId}.xml`;
        return { sheet, part, text: settle(read(part)) };
      });
      const sharedResult = await shared;
      if ("error" in sharedResult) throw sharedResult.error;
      const strings = sharedResult.xml !== undefined ? sharedStrings(sharedResult.xml) : [];
      for (const { sheet, part, text } of parts) {
        const result = await text;
        if ("error" in result) throw result.error;
        if (result.xml === undefined) throw new XlsxFormatError(`The worksheet ${sheet.name} (${part}) is missing from the archive`);
        sheets.set(sheet.name, worksheetRows(result.xml, strings, columns?.(sheet.name)));
      }
    }
    return { sheetNames: sheetList.map((s) => s.name), sheets };
  } finally {
    zip.close();
  }
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true }, (err, zip) => {
      if (err) {
        if (typeof (err as NodeJS.ErrnoException).code === "string") reject(err);
        else
          reject(
            new XlsxFormatError(`The file is not a zip archive, as an xlsx workbook is (${err.message}); a password-protected workbook is not one either`),
          );
      } else resolve(zip);
    });
  });
}

function listEntries(zip: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  return new Promise((resolve, reject) => {
    const entries = new Map<string, yauzl.Entry>();
    zip.on("entry", (entry: yauzl.Entry) => {
      const name = entry.fileName.replace(/\\/g, "/");
      entries.set(name, entry);
      if (!entries.has(name.toLowerCase())) entries.set(name.toLowerCase(), entry);
      zip.readEntry();
    });
    zip.once("end", () => resolve(entries));
    zip.once("error", (err: Error) => reject(new XlsxFormatError(`The zip archive is damaged: ${err.message}`)));
    zip.readEntry();
  });
}

/** The largest part read: JavaScript strings hold at most about 512 Mi characters. */
export const MAX_PART_BYTES = 480 * 2 ** 20;

function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (entry.uncompressedSize > MAX_PART_BYTES) {
      reject(
        new XlsxFormatError(
          `The part ${entry.fileName} holds ${Math.round(entry.uncompressedSize / 2 ** 20)} MiB of XML, more than the ${MAX_PART_BYTES / 2 ** 20} MiB rehost reads from one part; export the vInfo, vDisk and vNetwork tabs as CSV instead`,
        ),
      );
      return;
    }
    zip.openReadStream(entry, (err, stream) => {
      if (err) return reject(new XlsxFormatError(`The part ${entry.fileName} cannot be read: ${err.message}`));
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.once("error", (e: Error) => reject(new XlsxFormatError(`The part ${entry.fileName} is damaged: ${e.message}`)));
      stream.once("end", () => resolve(Buffer.concat(chunks)));
    });
  });
}

/** The text of an XML part: UTF-8 unless it starts with a UTF-16 byte-order mark. */
function decodeXml(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString("utf16le");
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return Buffer.from(bytes.subarray(2)).swap16().toString("utf16le");
  const text = bytes.toString("utf8");
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A namespace prefix before a local name: `x:` in `<x:c`, nothing in `<c`. */
const PREFIX = "(?:[A-Za-z_][\\w.-]*:)?";

const ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/**
 * Character data as written in the XML: entities and character references resolved, and the
 * `_xHHHH_` escapes SpreadsheetML uses for control characters (`_x000D_` is a carriage return).
 */
export function unescapeXml(text: string): string {
  let out = text.includes("&")
    ? text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
        if (ref.startsWith("#x")) return String.fromCodePoint(parseInt(ref.slice(2), 16));
        if (ref.startsWith("#")) return String.fromCodePoint(parseInt(ref.slice(1), 10));
        return ENTITIES[ref] ?? whole;
      })
    : text;
  if (out.includes("_x")) out = out.replace(/_x([0-9a-fA-F]{4})_/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return out;
}

/** The attributes of an element's start tag, by local name (`r:id` → `id`). */
export function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    const name = m[1]!;
    const local = name.includes(":") ? name.slice(name.indexOf(":") + 1) : name;
    if (name.startsWith("xmlns")) continue;
    out[local] = unescapeXml(m[2] ?? m[3] ?? "");
  }
  return out;
}

interface Relationship {
  readonly id: string;
  readonly type: string;
  /** The part name the target resolves to, without a leading slash (`xl/worksheets/sheet1.xml`). */
  readonly target: string;
}

/** The relationships of a `.rels` part; targets are resolved against `base` (the source part's folder). */
export function relationships(xml: string, base: string): Relationship[] {
  const out: Relationship[] = [];
  for (const m of xml.matchAll(new RegExp(`<${PREFIX}Relationship\\b([^>]*)>`, "g"))) {
    const a = attributes(m[1]!);
    if (a.Id === undefined || a.Target === undefined || a.TargetMode === "External") continue;
    out.push({ id: a.Id, type: a.Type ?? "", target: resolvePart(base, a.Target) });
  }
  return out;
}

/** `target` resolved against the folder `base` (`xl/`): absolute part names, `./` and `../`. */
function resolvePart(base: string, target: string): string {
  const segments = (target.startsWith("/") ? target.slice(1) : base + target).split("/");
  const out: string[] = [];
  for (const s of segments) {
    if (s === "..") out.pop();
    else if (s !== "." && s !== "") out.push(s);
  }
  return out.join("/");
}

/** The worksheets listed in `workbook.xml`, in tab order. */
export function sheetsOf(xml: string): Array<{ name: string; sheetId: string; rid?: string }> {
  const out: Array<{ name: string; sheetId: string; rid?: string }> = [];
  for (const m of xml.matchAll(new RegExp(`<${PREFIX}sheet\\b([^>]*?)/?>`, "g"))) {
    const raw = m[1]!;
    const a = attributes(raw);
    // The relationship id is the `id` attribute in the relationships namespace (any prefix).
    const rid = /(?:^|\s)[A-Za-z_][\w.-]*:id\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(raw);
    out.push({ name: a.name ?? "", sheetId: a.sheetId ?? String(out.length + 1), ...(rid ? { rid: rid[1] ?? rid[2]! } : {}) });
  }
  return out;
}

/** The text of each `<si>` of the shared-strings part (rich-text runs joined, phonetic runs left out). */
export function sharedStrings(xml: string): string[] {
  const out: string[] = [];
  const si = new RegExp(`<${PREFIX}si\\b[^>]*?(?:/>|>([\\s\\S]*?)</${PREFIX}si>)`, "g");
  for (const m of xml.matchAll(si)) out.push(textOf(m[1] ?? ""));
  return out;
}

const T_ELEMENT = new RegExp(`<${PREFIX}t\\b[^>]*?(?:/>|>([\\s\\S]*?)</${PREFIX}t>)`, "g");
const PHONETIC = new RegExp(`<${PREFIX}rPh\\b[\\s\\S]*?</${PREFIX}rPh>`, "g");

/** The joined `<t>` texts of a string item (`<si>` or `<is>`), without phonetic runs. */
function textOf(inner: string): string {
  const body = inner.includes("rPh") ? inner.replace(PHONETIC, "") : inner;
  let text = "";
  for (const t of body.matchAll(T_ELEMENT)) text += t[1] ?? "";
  return unescapeXml(text);
}

/** `A` → 0, `Z` → 25, `AA` → 26: the column of a cell reference such as `AB12`. */
export function columnIndex(ref: string): number {
  let n = 0;
  for (let i = 0; i < ref.length; i++) {
    const c = ref.charCodeAt(i);
    if (c >= 65 && c <= 90) n = n * 26 + (c - 64);
    else if (c >= 97 && c <= 122) n = n * 26 + (c - 96);
    else break;
  }
  return n - 1;
}

/**
 * The rows of a worksheet part with every cell as text: shared strings resolved, inline strings,
 * numbers as written (`4096`, `0.5`), booleans as `True`/`False` (as RVTools writes them in CSV),
 * formula results, error values (`#N/A`). Cells missing from a row are empty strings; rows with
 * no cell are left out.
 *
 * This is the hot path of a large workbook (millions of cells), so it walks the tags with
 * `indexOf` and character codes instead of regular expressions and copies only cell values;
 * with `columns`, the header row decides which columns the other rows keep (the others are
 * left empty without being read).
 */
export function worksheetRows(xml: string, strings: readonly string[], columns?: ColumnChooser): XlsxRow[] {
  const rows: XlsxRow[] = [];
  const data = xml.search(new RegExp(`<${PREFIX}sheetData\\b`));
  if (data < 0) return rows;
  const scan = new TagScanner(xml, data);
  let cells: string[] | undefined;
  let line = 0;
  let column = 0;
  let keep: ReadonlySet<number> | undefined;
  const endRow = () => {
    if (cells !== undefined && cells.length > 0) {
      for (let i = 0; i < cells.length; i++) cells[i] ??= "";
      // The first row is the header: it decides which columns the other rows need.
      if (rows.length === 0 && columns !== undefined) keep = columns(cells);
      rows.push({ line, cells });
    }
    cells = undefined;
  };
  while (scan.next()) {
    if (scan.closing) {
      if (scan.is("row")) endRow();
      else if (scan.is("sheetData")) break;
      continue;
    }
    if (scan.is("row")) {
      endRow();
      scan.readRT();
      const r = scan.r;
      line = r !== undefined && /^\d+$/.test(r) ? Number(r) : line + 1;
      column = 0;
      cells = scan.selfClosing ? undefined : [];
      continue;
    }
    if (!scan.is("c")) continue;
    // A cell: its column from its reference, else the one after the previous cell.
    let at = scan.leadingReference();
    if (at < 0) {
      scan.readRT();
      at = scan.r !== undefined ? columnIndex(scan.r) : column;
    }
    column = at + 1;
    if (scan.selfClosing) continue;
    // Columns nobody reads are skipped to the cell's end tag without looking inside.
    if (keep !== undefined && !keep.has(at)) {
      if (!scan.skipElement()) break;
      continue;
    }
    scan.readRT();
    const type = scan.t ?? "n";
    let value: string | undefined;
    let inline = "";
    let inInline = false;
    while (scan.next()) {
      if (scan.closing) {
        if (scan.is("c")) break;
        if (scan.is("is")) inInline = false;
        continue;
      }
      if (scan.selfClosing) continue;
      if (scan.is("v")) value = scan.text();
      else if (scan.is("is")) inInline = true;
      else if (inInline && scan.is("t")) inline += scan.text();
      else if (scan.is("rPh")) scan.skipTo("rPh");
      else if (scan.is("f")) scan.skipTo("f");
    }
    if (cells === undefined) {
      // A cell outside any row (not valid SpreadsheetML): count it as a row of its own.
      line += 1;
      cells = [];
    }
    cells[at] = type === "inlineStr" ? unescapeXml(inline) : value === undefined ? "" : cellText(type, value, strings);
  }
  endRow();
  return rows;
}

/** Given a worksheet's header row, the indexes of the columns to read in the other rows (all when `undefined`). */
export type ColumnChooser = (header: readonly string[]) => ReadonlySet<number> | undefined;

/** Walks the tags of an XML text from an offset: name (local, without prefix), kind, attributes, text. */
class TagScanner {
  /** Start of the current tag's local name, its end, and the end of the whole tag (after `>`). */
  private nameStart = 0;
  /** Start of the current tag's qualified name (with its prefix). */
  private qnameStart = 0;
  private nameEnd = 0;
  private attrsEnd = 0;
  private pos: number;
  closing = false;
  selfClosing = false;

  constructor(
    private readonly xml: string,
    from: number,
  ) {
    this.pos = from;
  }

  /** Moves to the next tag (skipping comments, declarations and processing instructions). */
  next(): boolean {
    const xml = this.xml;
    for (;;) {
      const lt = xml.indexOf("<", this.pos);
      if (lt < 0) return false;
      const first = xml.charCodeAt(lt + 1);
      if (first === 33 /* ! */ || first === 63 /* ? */) {
        const end = xml.startsWith("<!--", lt) ? xml.indexOf("-->", lt) : xml.indexOf(">", lt);
        if (end < 0) return false;
        this.pos = end + 1;
        continue;
      }
      this.closing = first === 47; /* / */
      let k = this.closing ? lt + 2 : lt + 1;
      let local = k;
      for (; k < xml.length; k++) {
        const ch = xml.charCodeAt(k);
        if (ch === 58 /* : */) local = k + 1;
        else if (ch === 62 || ch === 47 || ch === 32 || ch === 9 || ch === 10 || ch === 13) break;
      }
      const gt = xml.indexOf(">", k);
      if (gt < 0) return false;
      this.nameStart = local;
      this.qnameStart = this.closing ? lt + 2 : lt + 1;
      this.nameEnd = k;
      this.attrsEnd = gt;
      this.selfClosing = xml.charCodeAt(gt - 1) === 47;
      this.pos = gt + 1;
      return true;
    }
  }

  /** Whether the current tag's local name is `name`. */
  is(name: string): boolean {
    return this.nameEnd - this.nameStart === name.length && this.xml.startsWith(name, this.nameStart);
  }

  /** The `r` and `t` attributes of the current tag (raw), read in one pass: all a row or cell needs. */
  r: string | undefined;
  t: string | undefined;
  readRT(): void {
    this.r = undefined;
    this.t = undefined;
    const xml = this.xml;
    let i = this.nameEnd;
    const end = this.attrsEnd;
    while (i < end) {
      const eq = xml.indexOf("=", i);
      if (eq < 0 || eq >= end) return;
      let a = eq - 1;
      while (a > i && xml.charCodeAt(a) <= 32) a--;
      const single = a > i && xml.charCodeAt(a - 1) <= 32 ? xml.charCodeAt(a) : -1;
      let q = eq + 1;
      while (q < end && xml.charCodeAt(q) <= 32) q++;
      const quote = xml[q];
      const close = quote === '"' || quote === "'" ? xml.indexOf(quote, q + 1) : -1;
      if (close < 0) return;
      if (single === 114 /* r */) this.r = xml.slice(q + 1, close);
      else if (single === 116 /* t */) this.t = xml.slice(q + 1, close);
      i = close + 1;
    }
  }

  /** The character data after the current start tag, up to the next tag (raw). */
  text(): string {
    const lt = this.xml.indexOf("<", this.pos);
    const end = lt < 0 ? this.xml.length : lt;
    const out = this.xml.slice(this.pos, end);
    this.pos = end;
    return out;
  }

  /**
   * The column of a cell whose first attribute is its reference (`<c r="AB12"`, as every writer
   * puts it), read without copying; -1 when the tag does not start so.
   */
  leadingReference(): number {
    const xml = this.xml;
    let i = this.nameEnd;
    if (xml.charCodeAt(i) !== 32 || xml.charCodeAt(i + 1) !== 114 /* r */ || xml.charCodeAt(i + 2) !== 61 /* = */) return -1;
    const quote = xml.charCodeAt(i + 3);
    if (quote !== 34 && quote !== 39) return -1;
    i += 4;
    let n = 0;
    for (; ; i++) {
      const c = xml.charCodeAt(i);
      if (c >= 65 && c <= 90) n = n * 26 + (c - 64);
      else break;
    }
    return n - 1;
  }

  /**
   * Skips past the end tag of the element just opened (same qualified name), with one search:
   * the elements skipped this way (cells) never nest in themselves.
   */
  skipElement(): boolean {
    const close = `</${this.xml.slice(this.qnameStart, this.nameEnd)}>`;
    const end = this.xml.indexOf(close, this.pos);
    if (end < 0) return false;
    this.pos = end + close.length;
    return true;
  }

  /** Skips past the end tag of the element `name` just opened (its content is not needed). */
  skipTo(name: string): void {
    while (this.next()) if (this.closing && this.is(name)) return;
  }
}

function cellText(type: string, v: string, strings: readonly string[]): string {
  if (type === "s") return strings[Number(v)] ?? "";
  if (type === "b") return v.trim() === "1" || v.trim().toLowerCase() === "true" ? "True" : "False";
  if (type === "n") {
    // A float written with binary noise (`40960.000000000007`) reads as the number it stands for.
    if (v.length <= 15) return v.trim();
    const n = Number(v);
    return Number.isFinite(n) ? String(Number(n.toPrecision(15))) : v.trim();
  }
  return unescapeXml(v);
}
