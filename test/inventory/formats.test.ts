/**
 * RVTools exports as they come from real estates: locale number formats (decimal commas,
 * thousands separators), UTF-16 files with and without a byte-order mark, summary rows, RVTools
 * 3.x headers, and VMs with bad rows left out while the rest loads.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { decodeText, detectNumberFormat, loadInventory, parseNumber, readInventory } from "../../lib/inventory";
import { tempDirEachTest } from "../helpers/scopes";
import { INVENTORY_TMP, problemsOf, write } from "./helpers";
import { writeWorkbook } from "./rvtools-workbook";

const MiB = 2 ** 20;
let dir: string;
let networks: string;
tempDirEachTest((d) => {
  dir = d;
  networks = write(dir, "networks.yaml", stringify({ networks: [{ portgroup: "web", cidr: "10.10.1.0/24" }] }));
}, INVENTORY_TMP);

type Rows = string[][];
const INFO: Rows = [
  ["VM", "Powerstate", "Template", "CPUs", "Memory", "In Use MiB", "OS according to the configuration file", "VM UUID"],
  ["web-01", "poweredOn", "False", "2", "4096", "20480", "CentOS 7 (64-bit)", "4201-a"],
  ["web-02", "poweredOn", "False", "4", "16384", "1536.5", "CentOS 7 (64-bit)", "4201-b"],
];
const DISK: Rows = [
  ["VM", "Disk", "Disk Key", "Capacity MiB"],
  ["web-01", "Hard disk 1", "2000", "40960"],
  ["web-02", "Hard disk 1", "2000", "1048576"],
];
const NET: Rows = [
  ["VM", "Network", "Mac Address", "IPv4 Address"],
  ["web-01", "web", "00:50:56:00:00:01", "10.10.1.11"],
  ["web-02", "web", "00:50:56:00:00:02", "10.10.1.12"],
];

function csv(rows: Rows, delimiter: string): string {
  return rows.map((r) => r.map((c) => (c.includes(delimiter) || c.includes('"') ? `"${c.replace(/"/g, '""')}"` : c)).join(delimiter)).join("\r\n") + "\r\n";
}

function exportDir(
  name: string,
  tabs: { info?: Rows; disk?: Rows; net?: Rows },
  delimiter = ",",
  encode: (text: string) => Buffer = (t) => Buffer.from(t, "utf8"),
): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, "RVTools_tabvInfo.csv"), encode(csv(tabs.info ?? INFO, delimiter)));
  fs.writeFileSync(path.join(d, "RVTools_tabvDisk.csv"), encode(csv(tabs.disk ?? DISK, delimiter)));
  fs.writeFileSync(path.join(d, "RVTools_tabvNetwork.csv"), encode(csv(tabs.net ?? NET, delimiter)));
  return d;
}

/** Replaces the numbers of the numeric columns with `format(value)`. */
function localise(rows: Rows, columns: number[], format: (n: number) => string): Rows {
  return rows.map((r, i) => (i === 0 ? r : r.map((c, j) => (columns.includes(j) ? format(Number(c)) : c))));
}

describe("locale number formats", () => {
  it.each([
    ["German (1.048.576 and 1536,5, semicolons)", ";", (n: number) => n.toLocaleString("de-DE")],
    ["French (1 048 576 with narrow no-break spaces, semicolons)", ";", (n: number) => n.toLocaleString("fr-FR")],
    ["Swiss (1'048'576)", ";", (n: number) => n.toLocaleString("de-CH")],
    ["English with thousands separators (1,048,576, commas)", ",", (n: number) => n.toLocaleString("en-US")],
  ])("reads %s as the plain export does", async (_, delimiter, format) => {
    const plain = await loadInventory(exportDir("plain", {}), { networks });
    const local = exportDir("local", { info: localise(INFO, [3, 4, 5], format), disk: localise(DISK, [2, 3], format) }, delimiter);
    expect(await loadInventory(local, { networks })).toEqual(plain);
    expect(plain.vms[1]!.disks[0]!.capacityBytes).toBe(1048576 * MiB);
  });

  it("detects the decimal separator from the cells and the delimiter", () => {
    expect(detectNumberFormat(["2", "4096", "1536,5"])).toEqual({ decimal: "," });
    expect(detectNumberFormat(["1.048.576", "40.960"])).toEqual({ decimal: "," });
    expect(detectNumberFormat(["1536.5", "1,048,576"])).toEqual({ decimal: "." });
    expect(detectNumberFormat(["40.960"], ";")).toEqual({ decimal: "," });
    expect(detectNumberFormat(["1,024"], ",")).toEqual({ decimal: "." });
    expect(parseNumber("1.048.576,25", { decimal: "," })).toBe(1048576.25);
    expect(parseNumber("1\u202f048\u202f576", { decimal: "," })).toBe(1048576);
    expect(parseNumber("40 GB")).toBeUndefined();
  });

  it("says how numbers were read when a cell still does not parse", async () => {
    const info = localise(INFO, [5], (n) => n.toLocaleString("de-DE"));
    info[1]![4] = "4 GB";
    const problems = await problemsOf(
      loadInventory(exportDir("bad", { info, disk: localise(DISK, [3], (n) => n.toLocaleString("de-DE")) }, ";"), { networks }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]!.expected).toBe("a positive whole number of MiB (numbers in this file are read with a decimal comma, as its locale writes them)");
  });
});

describe("encodings", () => {
  const utf16be = (t: string) => Buffer.from(t, "utf16le").swap16();
  it.each([
    ["UTF-8 with a byte-order mark", (t: string) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(t, "utf8")])],
    ["UTF-16 LE with a byte-order mark", (t: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(t, "utf16le")])],
    ["UTF-16 BE with a byte-order mark", (t: string) => Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(t)])],
    ["UTF-16 LE without a byte-order mark", (t: string) => Buffer.from(t, "utf16le")],
    ["Windows-1252", (t: string) => Buffer.from(t, "latin1")],
  ])("reads %s", async (_, encode) => {
    const info = INFO.map((r) => [...r]);
    info[1]![0] = "web-01-é";
    const disk = DISK.map((r) => [...r]);
    disk[1]![0] = "web-01-é";
    const net = NET.map((r) => [...r]);
    net[1]![0] = "web-01-é";
    const inv = await loadInventory(exportDir("enc", { info, disk, net }, "\t", encode), { networks });
    expect(inv.vms.map((v) => v.name)).toEqual(["web-01-é", "web-02"]);
  });

  it("tells the encodings apart", () => {
    expect(decodeText(Buffer.from("VM,CPUs", "utf16le")).encoding).toBe("utf-16le");
    expect(decodeText(Buffer.from("VM,CPUs\r\nwé", "latin1")).encoding).toBe("windows-1252");
    expect(decodeText(Buffer.from("VM,CPUs\r\nwé", "utf8"))).toEqual({ text: "VM,CPUs\r\nwé", encoding: "utf-8" });
  });
});

describe("summary rows and RVTools 3.x", () => {
  it("skips Total rows in every tab, in CSV and in a workbook", async () => {
    const plain = await loadInventory(exportDir("plain", {}), { networks });
    const info = [...INFO, ["Total", "", "", "6", "20480", "21000", "", ""], ["", "", "", "6", "20480", "", "", ""]];
    const disk = [...DISK, ["Total", "", "", "1089536"]];
    const net = [...NET, ["Summe", "", "", ""]];
    expect(await loadInventory(exportDir("total", { info, disk, net }), { networks })).toEqual(plain);
    const book = writeWorkbook(path.join(dir, "total.xlsx"), [
      { name: "vInfo", rows: info },
      { name: "vDisk", rows: disk },
      { name: "vNetwork", rows: net },
    ]);
    expect(await loadInventory(book, { networks })).toEqual(plain);
  });

  it("reads RVTools 3.x headers (Capacity MB, In Use MB, IP Address)", async () => {
    const plain = await loadInventory(exportDir("plain", {}), { networks });
    const rename = (rows: Rows, from: string, to: string) => [rows[0]!.map((h) => (h === from ? to : h)), ...rows.slice(1)];
    const old = exportDir("v3", {
      info: rename(INFO, "In Use MiB", "In Use MB"),
      disk: rename(DISK, "Capacity MiB", "Capacity MB"),
      net: rename(NET, "IPv4 Address", "IP Address"),
    });
    expect(await loadInventory(old, { networks })).toEqual(plain);
  });
});

describe("a VM with bad rows among good ones", () => {
  it("is left out and listed with every reason; the others load", async () => {
    const info = INFO.map((r) => [...r]);
    info[2]![4] = "lots";
    const net = NET.map((r) => [...r]);
    net[2]![2] = "00:50:56:zz";
    const reading = await readInventory(exportDir("mixed", { info, net }), { networks });
    expect(reading.inventory.vms.map((v) => v.name)).toEqual(["web-01"]);
    expect(reading.rejected.map((r) => [r.name, r.problems.map((p) => p.field)])).toEqual([["web-02", ["Memory", "Mac Address"]]]);
    // The strict form still refuses the whole file.
    expect((await problemsOf(loadInventory(exportDir("mixed2", { info, net }), { networks }))).length).toBe(2);
  });
});

describe("YAML and JSON files in UTF-16", () => {
  it("read a networks file saved as UTF-16 by a Windows editor", async () => {
    const text = stringify({ networks: [{ portgroup: "web", cidr: "10.10.1.0/24" }] });
    const utf16 = path.join(dir, "networks-utf16.yaml");
    fs.writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]));
    expect(await loadInventory(exportDir("plain", {}), { networks: utf16 })).toEqual(await loadInventory(exportDir("plain2", {}), { networks }));
  });
});
