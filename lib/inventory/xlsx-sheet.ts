/**
 * The rows of one worksheet part as cell text: the hot path of a large workbook, walked tag by
 * tag with `indexOf` and character codes ({@link TagScanner}) rather than regular expressions,
 * reading only the columns the header row says are needed. Pure functions over the part's text.
 */
import { PREFIX, unescapeXml } from "./xlsx-xml";

/** A row of a worksheet: its row number (1-based, as Excel shows it) and its cells' text. */
export interface XlsxRow {
  readonly line: number;
  readonly cells: readonly string[];
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
