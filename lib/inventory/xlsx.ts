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
 * the small purpose-built scanners of ./xlsx-xml.ts and ./xlsx-sheet.ts, since a general XML
 * parser building a document tree takes tens of seconds on the worksheets of a 10,000-VM estate.
 */
import * as yauzl from "yauzl";
import { worksheetRows, type ColumnChooser, type XlsxRow } from "./xlsx-sheet";
import { relationships, sharedStrings, sheetsOf } from "./xlsx-xml";

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
const MAX_PART_BYTES = 480 * 2 ** 20;

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
