/**
 * The small SpreadsheetML scanner for the workbook's little parts: character data (entities and
 * `_xHHHH_` escapes), start-tag attributes, the relationships of a `.rels` part, the sheet list of
 * `workbook.xml` and the shared strings. Elements are matched by their local name, whatever
 * namespace prefix the writer chose. Pure functions over the parts' text.
 */

/** A namespace prefix before a local name: `x:` in `<x:c`, nothing in `<c`. */
export const PREFIX = "(?:[A-Za-z_][\\w.-]*:)?";

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
