/**
 * The inventory from the three RVTools tables: a tab reader per tab, one function per tab (vInfo:
 * the VMs; vDisk: their disks; vNetwork: their NICs), then each VM checked by the schema. Every
 * malformed cell is one problem naming its file, row, VM and column.
 */
import { InputError, problem, type Problem } from "../problems";
import { rejectedVms, type InventoryReading } from "./reading";
import { VmSchema, type Disk, type Nic, type Vm } from "./schema";
import { problemsFromZod } from "../problems/zod";
import {
  type RvtoolsTab,
  TABS,
  NUMERIC,
  type RvtoolsTable,
  type RvtoolsRow,
  resolveColumns,
  attributeColumns,
  detectNumberFormat,
  parseNumber,
  SUMMARY_NAME,
  allocatedFromInUse,
  guestFamily,
  controllerType,
  splitAddresses,
  isTrue,
  boolean,
} from "./rvtools-columns";

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
    if (cpus === undefined || cpus <= 0)
      info.bad(row, "cpus", name, info.cell(row, "cpus"), "a positive whole number of vCPUs", `VM ${name} has an invalid vCPU count`, "correct the CPUs cell");
    const memory = integer(info.number(row, "memory"));
    if (memory === undefined || memory <= 0)
      info.bad(
        row,
        "memory",
        name,
        info.cell(row, "memory"),
        "a positive whole number of MiB",
        `VM ${name} has an invalid memory size`,
        "correct the Memory cell (MiB)",
      );
    const powerText = info.cell(row, "powerState");
    const powerState = POWER_STATES[powerText.toLowerCase().replace(/[^a-z]/g, "")];
    if (!powerState)
      info.bad(
        row,
        "powerState",
        name,
        powerText,
        "poweredOn, poweredOff or suspended",
        `VM ${name} has an unknown power state`,
        "correct the Powerstate cell",
      );
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
      info.bad(
        row,
        "name",
        name,
        name,
        "a VM name no other row has",
        `VM ${name} appears more than once in vInfo`,
        "rename one of the VMs (waves files name VMs)",
      );
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
      disk.bad(
        row,
        "capacity",
        vm,
        capacityText,
        "a positive number of MiB",
        `Disk ${label || "(unnamed)"} of VM ${vm} has an invalid capacity`,
        "correct the Capacity MiB cell",
      );
    }
    let key = 2000 + draft.disks.length;
    if (disk.has("key") && disk.cell(row, "key") !== "") {
      const parsed = integer(disk.number(row, "key"));
      if (parsed === undefined || parsed < 0)
        disk.bad(
          row,
          "key",
          vm,
          disk.cell(row, "key"),
          "a whole number like 2000",
          `Disk ${label} of VM ${vm} has an invalid device key`,
          "correct the Disk Key cell",
        );
      else key = parsed;
    }
    const thinText = disk.cell(row, "thin");
    const thin = thinText === "" ? undefined : boolean(thinText);
    if (thinText !== "" && thin === undefined)
      disk.bad(row, "thin", vm, thinText, "True or False", `Disk ${label} of VM ${vm} has an invalid Thin value`, "write True or False");
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
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac))
      net.bad(row, "mac", vm, macText, "a MAC address like 00:50:56:aa:bb:cc", `VM ${vm} has a malformed MAC address`, "correct the Mac Address cell");
    const portgroup = net.cell(row, "network");
    if (portgroup === "")
      net.bad(row, "network", vm, portgroup, "the portgroup the NIC is connected to", `A NIC of VM ${vm} has no network`, "fill in the Network cell");
    const { ips, malformed } = splitAddresses(net.cell(row, "ipv4"));
    for (const token of malformed) {
      net.bad(
        row,
        "ipv4",
        vm,
        token,
        "dotted IPv4 addresses like 10.10.1.21, separated by commas",
        `VM ${vm} has a malformed IPv4 address`,
        "correct the IPv4 Address cell",
      );
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
