import * as fs from "node:fs";
import * as path from "node:path";
import ExcelJS from "exceljs";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { allocatedFromInUse, controllerType, guestFamily, loadInventory, RVTOOLS_COLUMNS } from "../../lib/inventory";
import { tempDirEachTest } from "../helpers/scopes";
import { INVENTORY_TMP, problemsOf, write } from "./helpers";

type Table = { headers: string[]; rows: string[][] };

/** The three tabs with RVTools' xlsx header names. */
function xlsxStyle(): Record<"vInfo" | "vDisk" | "vNetwork", Table> {
  return {
    vInfo: {
      headers: [
        "VM",
        "Powerstate",
        "Template",
        "CPUs",
        "Memory",
        "Provisioned MiB",
        "In Use MiB",
        "Firmware",
        "OS according to the configuration file",
        "VM UUID",
        "Folder",
        "Cluster",
      ],
      rows: [
        ["web-01", "poweredOn", "False", "2", "4096", "45056", "20480", "bios", "Red Hat Enterprise Linux 7 (64-bit)", "4201-a", "Prod/Web", "C1"],
        [
          "db-01",
          "poweredOff",
          "False",
          "8",
          "65536",
          "1126400",
          "1216512",
          "efi",
          "Microsoft Windows Server 2016 or later (64-bit)",
          "4201-b",
          "Prod/DB",
          "C1",
        ],
        ["tpl-rhel", "poweredOff", "True", "1", "1024", "0", "0", "bios", "Red Hat Enterprise Linux 7 (64-bit)", "4201-t", "Templates", "C1"],
      ],
    },
    vDisk: {
      headers: ["VM", "Powerstate", "Template", "Disk", "Disk Key", "Capacity MiB", "Thin", "Disk Mode", "Controller", "Path"],
      rows: [
        ["web-01", "poweredOn", "False", "Hard disk 1", "2000", "40960", "True", "persistent", "SCSI controller 0", "[ds1] web-01/web-01.vmdk"],
        ["db-01", "poweredOff", "False", "Hard disk 2", "2016", "1048576", "False", "independent_persistent", "VMware Paravirtual", "[ds2] db-01/db-01_1.vmdk"],
        ["db-01", "poweredOff", "False", "Hard disk 1", "2000", "102400", "False", "persistent", "LSI Logic SAS", "[ds2] db-01/db-01.vmdk"],
        ["tpl-rhel", "poweredOff", "True", "Hard disk 1", "2000", "16384", "True", "persistent", "SCSI controller 0", "[ds1] tpl/tpl.vmdk"],
      ],
    },
    vNetwork: {
      headers: ["VM", "Powerstate", "Template", "NIC label", "Adapter", "Network", "Switch", "Mac Address", "IPv4 Address", "IPv6 Address"],
      rows: [
        [
          "web-01",
          "poweredOn",
          "False",
          "Network adapter 1",
          "vmxnet3",
          "web",
          "dvs",
          "00:50:56:AA:00:01",
          "10.10.1.11, 10.10.1.10;169.254.3.3 fe80::1",
          "fe80::250:56ff:feaa:1",
        ],
        ["db-01", "poweredOff", "False", "Network adapter 1", "E1000E", "db", "dvs", "00-50-56-aa-00-02", "10.10.3.21", ""],
        ["db-01", "poweredOff", "False", "Network adapter 2", "vmxnet3", "backup", "dvs", "00:50:56:aa:00:03", "", ""],
        ["tpl-rhel", "poweredOff", "True", "Network adapter 1", "vmxnet3", "unmapped-template-net", "dvs", "00:50:56:aa:00:09", "", ""],
      ],
    },
  };
}

/** RVTools' CSV export names for the xlsx headers used above. */
const PREFIXED: Record<string, Record<string, string>> = {
  vInfo: {
    VM: "vInfoVMName",
    Powerstate: "vInfoPowerstate",
    Template: "vInfoTemplate",
    CPUs: "vInfoCPUs",
    Memory: "vInfoMemory",
    "Provisioned MiB": "vInfoProvisioned",
    "In Use MiB": "vInfoInUse",
    Firmware: "vInfoFirmware",
    "OS according to the configuration file": "vInfoOS",
    "VM UUID": "vInfoUUID",
    Folder: "vInfoFolder",
    Cluster: "vInfoCluster",
  },
  vDisk: {
    VM: "vDiskVMName",
    Powerstate: "vDiskPowerstate",
    Template: "vDiskTemplate",
    Disk: "vDiskName",
    "Disk Key": "vDiskKey",
    "Capacity MiB": "vDiskCapacityMiB",
    Thin: "vDiskThin",
    "Disk Mode": "vDiskDiskMode",
    Controller: "vDiskController",
    Path: "vDiskPath",
  },
  vNetwork: {
    VM: "vNetworkVMName",
    Powerstate: "vNetworkPowerstate",
    Template: "vNetworkTemplate",
    "NIC label": "vNetworkNICLabel",
    Adapter: "vNetworkAdapter",
    Network: "vNetworkName",
    Switch: "vNetworkSwitch",
    "Mac Address": "vNetworkMacAddress",
    "IPv4 Address": "vNetworkIPv4Address",
    "IPv6 Address": "vNetworkIPv6Address",
  },
};

function prefixed(tables: Record<string, Table>): Record<string, Table> {
  return Object.fromEntries(Object.entries(tables).map(([tab, t]) => [tab, { ...t, headers: t.headers.map((h) => PREFIXED[tab]![h]!) }]));
}

/** Reverses the column order (headers and cells alike). */
function reversed(tables: Record<string, Table>): Record<string, Table> {
  return Object.fromEntries(Object.entries(tables).map(([tab, t]) => [tab, { headers: [...t.headers].reverse(), rows: t.rows.map((r) => [...r].reverse()) }]));
}

function csvText(t: Table, delimiter = ","): string {
  const cell = (v: string) => (/[",;\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [t.headers, ...t.rows].map((r) => r.map(cell).join(delimiter)).join("\r\n") + "\r\n";
}

function writeCsvExport(dir: string, tables: Record<string, Table>, name: (tab: string) => string = (tab) => `RVTools_tab${tab}.csv`, delimiter = ","): string {
  for (const [tab, t] of Object.entries(tables)) write(dir, name(tab), csvText(t, delimiter));
  return dir;
}

let dir: string;
let networks: string;
tempDirEachTest((d) => {
  dir = d;
  networks = write(
    dir,
    "networks.yaml",
    stringify({
      networks: [
        { portgroup: "web", cidr: "10.10.1.0/24", gateway: "10.10.1.1" },
        { portgroup: "db", cidr: "10.10.3.0/24" },
        { portgroup: "backup", cidr: "10.10.9.0/24" },
      ],
    }),
  );
}, INVENTORY_TMP);

const MiB = 2 ** 20;

describe("loadInventory: RVTools", () => {
  it("maps the xlsx-named columns onto the schema", async () => {
    const inv = await loadInventory(writeCsvExport(path.join(dir, "export"), xlsxStyle()), { networks });
    expect(inv.vms.map((v) => v.name)).toEqual(["web-01", "db-01"]);
    const [web, db] = inv.vms as [(typeof inv.vms)[0], (typeof inv.vms)[0]];
    expect(web).toMatchObject({
      uuid: "4201-a",
      cpus: 2,
      memoryMiB: 4096,
      firmware: "bios",
      powerState: "poweredOn",
      folder: "Prod/Web",
      guestOs: { family: "linux", id: "Red Hat Enterprise Linux 7 (64-bit)" },
    });
    expect(web.disks).toEqual([
      {
        key: 2000,
        label: "Hard disk 1",
        capacityBytes: 40960 * MiB,
        allocatedBytes: 20480 * MiB,
        thin: true,
        datastore: "ds1",
        controller: "scsi",
        backing: "flat",
        fileName: "[ds1] web-01/web-01.vmdk",
      },
    ]);
    // Several addresses in one cell; the link-local and IPv6 ones are dropped.
    expect(web.nics).toEqual([
      { label: "Network adapter 1", mac: "00:50:56:aa:00:01", portgroup: "web", ipv4: ["10.10.1.11", "10.10.1.10"], adapter: "vmxnet3" },
    ]);
    expect(db).toMatchObject({ firmware: "efi", powerState: "poweredOff", guestOs: { family: "windows" } });
    // Disks are ordered by device key; thick disks, independent mode and controller types are kept.
    expect(db.disks.map((d) => [d.key, d.thin, d.backing, d.controller, d.capacityBytes, d.allocatedBytes])).toEqual([
      [2000, false, "flat", "lsilogic", 102400 * MiB, 102400 * MiB],
      [2016, false, "independent", "pvscsi", 1048576 * MiB, 1048576 * MiB],
    ]);
    expect(db.nics.map((n) => [n.mac, n.adapter, n.ipv4])).toEqual([
      ["00:50:56:aa:00:02", "e1000e", ["10.10.3.21"]],
      ["00:50:56:aa:00:03", "vmxnet3", []],
    ]);
  });

  it("gives the same inventory for both header styles, any column order, comma or semicolon CSVs and short file names", async () => {
    const base = await loadInventory(writeCsvExport(path.join(dir, "a"), xlsxStyle()), { networks });
    const variants = [
      writeCsvExport(path.join(dir, "b"), prefixed(xlsxStyle())),
      writeCsvExport(path.join(dir, "c"), reversed(prefixed(xlsxStyle()))),
      writeCsvExport(path.join(dir, "d"), reversed(xlsxStyle()), (tab) => `${tab}.csv`, ";"),
    ];
    for (const variant of variants) expect(await loadInventory(variant, { networks })).toEqual(base);
  });

  it("reads an .xlsx workbook with vInfo, vDisk and vNetwork worksheets", async () => {
    const base = await loadInventory(writeCsvExport(path.join(dir, "csv"), xlsxStyle()), { networks });
    const workbook = new ExcelJS.Workbook();
    for (const [tab, t] of Object.entries(xlsxStyle())) {
      const sheet = workbook.addWorksheet(tab);
      sheet.addRow(t.headers);
      // Numbers and booleans as real cell types, as RVTools writes them.
      for (const row of t.rows) sheet.addRow(row.map((v) => (/^[0-9]+$/.test(v) ? Number(v) : v === "True" ? true : v === "False" ? false : v)));
    }
    workbook.addWorksheet("vHost").addRow(["Host", "# CPU"]);
    const file = path.join(dir, "RVTools_export_all.xlsx");
    await workbook.xlsx.writeFile(file);
    expect(await loadInventory(file, { networks })).toEqual(base);
  });

  it("names the file and every missing required column", async () => {
    const tables = xlsxStyle();
    const drop = (t: Table, header: string) => {
      const i = t.headers.indexOf(header);
      return { headers: t.headers.filter((_, j) => j !== i), rows: t.rows.map((r) => r.filter((_, j) => j !== i)) };
    };
    tables.vInfo = drop(drop(tables.vInfo, "VM UUID"), "CPUs");
    tables.vDisk = drop(tables.vDisk, "Capacity MiB");
    const exportDir = writeCsvExport(path.join(dir, "export"), tables);
    const problems = await problemsOf(loadInventory(exportDir, { networks }));
    expect(problems.map((p) => [path.basename(p.file!), p.field])).toEqual([
      ["RVTools_tabvInfo.csv", "CPUs"],
      ["RVTools_tabvInfo.csv", "VM UUID"],
      ["RVTools_tabvDisk.csv", "Capacity MiB"],
    ]);
    expect(problems[2]!.message).toBe('The vDisk tab has no "Capacity MiB" column');
    expect(problems[2]!.expected).toBe('a column named "Capacity MiB" (or "vDiskCapacityMiB")');
  });

  it("names the missing tab files and worksheets", async () => {
    const exportDir = path.join(dir, "export");
    write(exportDir, "RVTools_tabvInfo.csv", csvText(xlsxStyle().vInfo));
    const problems = await problemsOf(loadInventory(exportDir, { networks }));
    expect(problems.map((p) => [p.file, p.field])).toEqual([
      [exportDir, "vDisk"],
      [exportDir, "vNetwork"],
    ]);
    const workbook = new ExcelJS.Workbook();
    workbook.addWorksheet("vInfo").addRow(xlsxStyle().vInfo.headers);
    const file = path.join(dir, "partial.xlsx");
    await workbook.xlsx.writeFile(file);
    expect((await problemsOf(loadInventory(file, { networks }))).map((p) => p.message)).toEqual([
      "The workbook has no vDisk worksheet",
      "The workbook has no vNetwork worksheet",
    ]);
  });

  type Case = { name: string; tab: "vInfo" | "vDisk" | "vNetwork"; row: number; header: string; value: string; vm: string; expected: RegExp };
  const cases: Case[] = [
    { name: "negative disk size", tab: "vDisk", row: 0, header: "Capacity MiB", value: "-40960", vm: "web-01", expected: /positive number of MiB/ },
    { name: "non-numeric disk size", tab: "vDisk", row: 0, header: "Capacity MiB", value: "40 GB", vm: "web-01", expected: /positive number of MiB/ },
    { name: "unknown power state", tab: "vInfo", row: 0, header: "Powerstate", value: "running", vm: "web-01", expected: /poweredOn, poweredOff or suspended/ },
    { name: "non-numeric memory", tab: "vInfo", row: 0, header: "Memory", value: "4 GB", vm: "web-01", expected: /MiB/ },
    { name: "zero vCPUs", tab: "vInfo", row: 1, header: "CPUs", value: "0", vm: "db-01", expected: /positive whole number/ },
    { name: "unknown firmware", tab: "vInfo", row: 0, header: "Firmware", value: "uefi", vm: "web-01", expected: /bios or efi/ },
    { name: "malformed MAC", tab: "vNetwork", row: 0, header: "Mac Address", value: "00:50:56:aa:01", vm: "web-01", expected: /MAC address/ },
    { name: "malformed IPv4", tab: "vNetwork", row: 1, header: "IPv4 Address", value: "10.10.3.21, 10.10.3.256", vm: "db-01", expected: /IPv4/ },
    { name: "malformed Thin flag", tab: "vDisk", row: 1, header: "Thin", value: "maybe", vm: "db-01", expected: /True or False/ },
    { name: "VM missing from vInfo", tab: "vDisk", row: 0, header: "VM", value: "ghost-01", vm: "ghost-01", expected: /listed in vInfo/ },
  ];
  it.each(cases)("reports $name naming the file, row, VM and column", async ({ tab, row, header, value, vm, expected }) => {
    const tables = xlsxStyle();
    const t = tables[tab];
    t.rows[row]![t.headers.indexOf(header)] = value;
    const exportDir = writeCsvExport(path.join(dir, "export"), tables);
    const problems = await problemsOf(loadInventory(exportDir, { networks }));
    const relevant = problems.filter((p) => p.field === header && p.vm === vm);
    expect(relevant).toHaveLength(1);
    const p = relevant[0]!;
    expect(p.file).toBe(path.join(exportDir, `RVTools_tab${tab}.csv`));
    expect(p.vm).toBe(vm);
    expect(p.message).toMatch(new RegExp(`^Row ${row + 2}: `));
    expect(p.expected).toMatch(expected);
  });

  it("lists all problems of all tabs at once", async () => {
    const tables = xlsxStyle();
    tables.vInfo.rows[0]![1] = "on";
    tables.vDisk.rows[0]![5] = "-1";
    tables.vNetwork.rows[1]![7] = "bad-mac";
    const problems = await problemsOf(loadInventory(writeCsvExport(path.join(dir, "export"), tables), { networks }));
    expect(problems.map((p) => p.field)).toEqual(["Powerstate", "Capacity MiB", "Mac Address"]);
  });

  it("reports a VM without disks and duplicate VM names", async () => {
    const tables = xlsxStyle();
    tables.vInfo.rows.push(["web-01", "poweredOn", "False", "1", "1024", "1", "1", "bios", "CentOS 7 (64-bit)", "4201-c", "Prod", "C1"]);
    tables.vDisk.rows = tables.vDisk.rows.filter((r) => r[0] !== "db-01");
    const problems = await problemsOf(loadInventory(writeCsvExport(path.join(dir, "export"), tables), { networks }));
    expect(problems.map((p) => [p.vm, p.message])).toEqual([
      ["web-01", "Row 5: VM web-01 appears more than once in vInfo"],
      ["db-01", "VM db-01 has no disk in the vDisk tab"],
    ]);
  });

  it("lists every unmapped portgroup in one problem when the networks file misses them", async () => {
    const partial = write(dir, "partial.yaml", stringify({ networks: [{ portgroup: "web", cidr: "10.10.1.0/24" }] }));
    const exportDir = writeCsvExport(path.join(dir, "export"), xlsxStyle());
    const problems = await problemsOf(loadInventory(exportDir, { networks: partial }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: exportDir, received: "backup, db" });
    expect(problems[0]!.fix).toContain(partial);
    // Without any networks file every portgroup is unmapped.
    expect((await problemsOf(loadInventory(exportDir)))[0]!.received).toBe("backup, db, web");
  });

  it("declares the columns of the issue as required", () => {
    const required = Object.fromEntries(Object.entries(RVTOOLS_COLUMNS).map(([tab, cols]) => [tab, cols.filter((c) => c.required).map((c) => c.header)]));
    expect(required).toEqual({
      vInfo: ["VM", "Powerstate", "CPUs", "Memory", "OS according to the configuration file", "VM UUID"],
      vDisk: ["VM", "Disk", "Capacity MiB"],
      vNetwork: ["VM", "Network", "Mac Address", "IPv4 Address"],
    });
  });
});

describe("RVTools value mapping", () => {
  it.each([
    ["Red Hat Enterprise Linux 8 (64-bit)", "linux"],
    ["CentOS 7 (64-bit)", "linux"],
    ["Oracle Linux 7 (64-bit)", "linux"],
    ["SUSE Linux Enterprise 12 (64-bit)", "linux"],
    ["Ubuntu Linux (64-bit)", "linux"],
    ["Microsoft Windows Server 2019 (64-bit)", "windows"],
    ["FreeBSD 12 (64-bit)", "other"],
  ])("guest family of %s is %s", (os, family) => {
    expect(guestFamily(os)).toBe(family);
  });

  it.each([
    ["SCSI controller 0", "scsi"],
    ["VMware Paravirtual", "pvscsi"],
    ["LSI Logic SAS", "lsilogic"],
    ["SATA controller 0", "sata"],
    ["IDE 0", "ide"],
    ["NVME controller 0", "nvme"],
  ])("controller %s is %s", (text, type) => {
    expect(controllerType(text)).toBe(type);
  });

  it("shares In Use MiB among disks by capacity, never above a disk's capacity", () => {
    expect(allocatedFromInUse([100 * MiB, 300 * MiB], 200)).toEqual([50 * MiB, 150 * MiB]);
    expect(allocatedFromInUse([100 * MiB], 500)).toEqual([100 * MiB]);
    expect(allocatedFromInUse([100 * MiB], undefined)).toEqual([undefined]);
  });
});

describe("loadInventory: RVTools paths", () => {
  it("accepts one CSV file of the export for its directory, and refuses old .xls workbooks", async () => {
    const exportDir = writeCsvExport(path.join(dir, "export"), xlsxStyle());
    const fromFile = await loadInventory(path.join(exportDir, "RVTools_tabvDisk.csv"), { networks });
    expect(fromFile).toEqual(await loadInventory(exportDir, { networks }));
    const xls = write(dir, "old.xls", "not a workbook");
    expect((await problemsOf(loadInventory(xls, { networks })))[0]).toMatchObject({ file: xls, message: "The file is an old Excel .xls workbook" });
  });
});

describe("RVTools CSV rows", () => {
  it("skips blank and all-empty rows and names the file's own line number", async () => {
    const tables = xlsxStyle();
    tables.vDisk.rows[1]![tables.vDisk.headers.indexOf("Capacity MiB")] = "-1";
    const exportDir = writeCsvExport(path.join(dir, "export"), tables);
    const diskFile = path.join(exportDir, "RVTools_tabvDisk.csv");
    const [head, first, ...rest] = fs.readFileSync(diskFile, "utf8").split("\r\n");
    write(exportDir, "RVTools_tabvDisk.csv", [head, "", ",,,,,,,,,", first, ...rest].join("\r\n"));
    const problems = await problemsOf(loadInventory(exportDir, { networks }));
    expect(problems.map((p) => [p.vm, p.message])).toEqual([["db-01", "Row 5: Disk Hard disk 2 of VM db-01 has an invalid capacity"]]);
  });
});
