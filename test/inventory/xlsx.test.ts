/**
 * Workbooks as RVTools writes them (namespace-prefixed SpreadsheetML, absolute relationship
 * targets, shared strings), as Excel re-saves them (default namespace, relative targets) and as
 * other writers do (inline strings, cells without references): each loads to the same inventory
 * as the CSV form of the same export.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadInventory, readXlsx } from "../../lib/inventory";
import { columnIndex, worksheetRows } from "../../lib/inventory/xlsx-sheet";
import { attributes, sharedStrings, unescapeXml } from "../../lib/inventory/xlsx-xml";
import { tempDirEachTest } from "../helpers/scopes";
import { INVENTORY_TMP, problemsOf, write } from "./helpers";
import { type SheetSpec, type WorkbookStyle, sheetsFromCsvExport, workbookParts, writeWorkbook, zipParts } from "./rvtools-workbook";

const exchange = path.join(__dirname, "..", "..", "examples", "exchange-center");

/** The exchange-centre export as a workbook's sheets, with tabs the loader never reads. */
function exchangeSheets(): SheetSpec[] {
  const sheets = sheetsFromCsvExport(path.join(exchange, "rvtools"));
  sheets.splice(1, 0, {
    name: "vCPU",
    rows: [
      ["VM", "CPUs", "Sockets"],
      ["szx-mgmt-jump-01", 2, 1],
    ],
  });
  sheets.push({
    name: "vHost",
    rows: [
      ["Host", "# CPU"],
      ["szx-esx01.exchange.local", 2],
    ],
  });
  return sheets;
}

let dir: string;
tempDirEachTest((d) => (dir = d), INVENTORY_TMP);

describe("RVTools workbooks", () => {
  const networks = path.join(exchange, "networks.yaml");
  const styles: Array<[string, WorkbookStyle]> = [
    ["as RVTools 4.x writes them (x: prefix, absolute targets, shared strings)", {}],
    ["re-saved by Excel (default namespace, relative targets)", { prefix: "", absoluteTargets: false }],
    ["with another prefix, inline strings and no cell references", { prefix: "ss", strings: "inline", cellReferences: false }],
  ];
  it.each(styles)("load %s to the inventory of the CSV form", async (_, style) => {
    const csv = await loadInventory(path.join(exchange, "rvtools"), { networks });
    const file = writeWorkbook(path.join(dir, "RVTools_export_all.xlsx"), exchangeSheets(), style);
    const parts = workbookParts(exchangeSheets(), style);
    if (style.prefix === undefined) {
      expect(parts["xl/workbook.xml"]).toContain("<x:workbook");
      expect(parts["xl/sharedStrings.xml"]).toContain("<x:sst");
      expect(parts["docProps/app.xml"]).toContain("<ap:Properties");
      expect(parts["xl/_rels/workbook.xml.rels"]).toContain('Target="/xl/worksheets/sheet1.xml"');
    }
    expect(parts["xl/worksheets/sheet1.xml"]).toContain(style.strings === "inline" ? "Microsoft Windows Server 2016" : "<");
    const xlsx = await loadInventory(file, { networks });
    expect(xlsx.vms.length).toBe(csv.vms.length);
    expect(xlsx).toEqual(csv);
  });

  it("names a file that is no zip archive, and a zip without a workbook", async () => {
    const notZip = write(dir, "export.xlsx", "VM,CPUs\nweb-01,2\n");
    const [p] = await problemsOf(loadInventory(notZip));
    expect(p).toMatchObject({ file: notZip, expected: "an RVTools .xlsx export" });
    expect(p!.message).toMatch(/^The file is not an xlsx workbook: The file is not a zip archive/);
    const noWorkbook = zipParts(path.join(dir, "other.xlsx"), { "readme.txt": "hello" });
    expect((await problemsOf(loadInventory(noWorkbook)))[0]!.message).toMatch(/no workbook part \(xl\/workbook\.xml\)/);
  });

  it("names the missing worksheets, listing the ones the workbook has", async () => {
    const file = writeWorkbook(path.join(dir, "partial.xlsx"), [
      { name: "vInfo", rows: [["VM"]] },
      { name: "vHost", rows: [["Host"]] },
    ]);
    const problems = await problemsOf(loadInventory(file));
    expect(problems.map((p) => [p.message, p.received])).toEqual([
      ["The workbook has no vDisk worksheet", "vInfo, vHost"],
      ["The workbook has no vNetwork worksheet", "vInfo, vHost"],
    ]);
  });

  it("reads only the worksheets asked for", async () => {
    const file = writeWorkbook(path.join(dir, "tabs.xlsx"), exchangeSheets());
    const book = await readXlsx(file, (name) => name === "vHost");
    expect(book.sheetNames).toEqual(["vInfo", "vCPU", "vDisk", "vNetwork", "vHost"]);
    expect([...book.sheets.keys()]).toEqual(["vHost"]);
    expect(book.sheets.get("vHost")).toEqual([
      { line: 1, cells: ["Host", "# CPU"] },
      { line: 2, cells: ["szx-esx01.exchange.local", "2"] },
    ]);
  });
});

describe("SpreadsheetML scanning", () => {
  it("resolves entities, character references and _xHHHH_ escapes", () => {
    expect(unescapeXml("a &amp; b &lt;c&gt; &#233;&#x4e2d; x_x000D_y")).toBe("a & b <c> é中 x\ry");
  });

  it("reads attributes by local name", () => {
    expect(attributes(` name="vInfo" sheetId="1" r:id="R1" xmlns:r="urn:x"`)).toEqual({ name: "vInfo", sheetId: "1", id: "R1" });
  });

  it.each([
    ["A", 0],
    ["Z", 25],
    ["AA", 26],
    ["AB12", 27],
    ["XFD1", 16383],
  ])("column of %s is %i", (ref, index) => {
    expect(columnIndex(ref)).toBe(index);
  });

  it("joins rich-text runs and leaves phonetic runs out of shared strings", () => {
    const xml = `<x:sst xmlns:x="m"><x:si><x:t>plain</x:t></x:si><x:si><x:r><x:t>ri</x:t></x:r><x:r><x:rPr/><x:t xml:space="preserve">ch </x:t></x:r><x:rPh><x:t>ルビ</x:t></x:rPh></x:si><x:si/></x:sst>`;
    expect(sharedStrings(xml)).toEqual(["plain", "rich ", ""]);
  });

  it("reads only the columns the header row chooses, leaving the others empty", () => {
    const xml =
      `<x:worksheet xmlns:x="m"><x:sheetData><x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c><x:c r="C1" t="s"><x:v>2</x:v></x:c></x:row>` +
      `<x:row r="2"><x:c r="A2"><x:v>1</x:v></x:c><x:c r="B2"><x:f>A2*2</x:f><x:v>2</x:v></x:c><x:c r="C2" t="inlineStr"><x:is><x:t>three</x:t></x:is></x:c></x:row></x:sheetData></x:worksheet>`;
    const chosen: string[][] = [];
    const rows = worksheetRows(xml, ["VM", "Skip", "CPUs"], (header) => {
      chosen.push([...header]);
      return new Set([0, 2]);
    });
    expect(chosen).toEqual([["VM", "Skip", "CPUs"]]);
    expect(rows).toEqual([
      { line: 1, cells: ["VM", "Skip", "CPUs"] },
      { line: 2, cells: ["1", "", "three"] },
    ]);
  });

  it("gives every cell type as text, gaps as empty cells, and skips empty rows", () => {
    const xml =
      `<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>1</v></c><c r="C1" t="b"><v>1</v></c><c r="D1"><v>40960.000000000007</v></c></row>` +
      `<row r="2"/><row r="3"><c r="B3" t="inlineStr"><is><t>in&amp;line</t></is></c><c r="C3" t="e"><v>#N/A</v></c><c r="D3" t="str"><f>A1</f><v>x</v></c><c r="E3" s="2"/></row></sheetData></worksheet>`;
    expect(worksheetRows(xml, ["zero", "one"])).toEqual([
      { line: 1, cells: ["one", "", "True", "40960"] },
      { line: 3, cells: ["", "in&line", "#N/A", "x"] },
    ]);
  });
});

describe("RVTools workbook values", () => {
  it("reads custom attributes, cluster, host, resource pool and annotation of vInfo", async () => {
    const info = [
      "VM",
      "Powerstate",
      "Template",
      "CPUs",
      "Memory",
      "Resource pool",
      "Folder",
      "Annotation",
      "Backup status",
      "Owner",
      "Datacenter",
      "Cluster",
      "Host",
      "OS according to the configuration file",
      "VM UUID",
    ];
    const file = writeWorkbook(path.join(dir, "attrs.xlsx"), [
      {
        name: "vInfo",
        rows: [
          info,
          [
            "web-01",
            "poweredOn",
            false,
            2,
            4096,
            "Resources/Prod",
            null,
            "Owner: web team",
            "Gold",
            "alice",
            "DC1",
            "C1",
            "esx01",
            "CentOS 7 (64-bit)",
            "4201-a",
          ],
        ],
      },
      {
        name: "vDisk",
        rows: [
          ["VM", "Disk", "Capacity MiB", "Disk Path"],
          ["web-01", "Hard disk 1", 1024, "[ds1] web-01/web-01.vmdk"],
        ],
      },
      {
        name: "vNetwork",
        rows: [
          ["VM", "Network", "Mac Address", "IPv4 Address"],
          ["web-01", "web", "00:50:56:00:00:01", "10.10.1.11"],
        ],
      },
    ]);
    const networks = write(dir, "networks.yaml", stringify({ networks: [{ portgroup: "web", cidr: "10.10.1.0/24" }] }));
    const [vm] = (await loadInventory(file, { networks })).vms;
    expect(vm).toMatchObject({
      resourcePool: "Resources/Prod",
      annotation: "Owner: web team",
      datacenter: "DC1",
      cluster: "C1",
      host: "esx01",
      attributes: { "Backup status": "Gold", Owner: "alice" },
    });
    expect(vm!.folder).toBeUndefined();
    expect(vm!.disks[0]).toMatchObject({ datastore: "ds1", fileName: "[ds1] web-01/web-01.vmdk" });
  });
});
