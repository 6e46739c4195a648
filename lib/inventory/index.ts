/**
 * The inventory of source VMs and the files around it: `loadInventory` (YAML/JSON in the schema,
 * or an RVTools export), `loadNetworks`, `loadWaves`, and `problemsFromZod` for every validator
 * that checks input with zod. Every loader throws an `InputError` listing all problems at once.
 */
import { InputError, type Problem } from "../problems";
import { readDocument } from "./files";
import { loadNetworks, mergeNetworks } from "./networks";
import { rejectedVms, type InventoryReading } from "./reading";
import { isRvtoolsPath, readRvtools } from "./rvtools";
import { InventorySchema, NetworkSchema, VmSchema, type Inventory, type Network, type Vm } from "./schema";
import { unmappedPortgroups, validateNetworks, validateVms } from "./validate";
import { unknownKeys } from "./unknown-keys";
import { problemsFromZod, vmListLocator } from "../problems/zod";

export * from "./schema";
export * from "./waves";
export { loadNetworks, mergeNetworks, parseNetworks } from "./networks";
export { loadWaves, parseWaves } from "./load-waves";
export { rejectedVms, type InventoryReading, type RejectedVm } from "./reading";
export { decodeText, type TextEncoding } from "./files";
export { readXlsx, XlsxFormatError, type XlsxWorkbook } from "./xlsx";
export type { XlsxRow } from "./xlsx-sheet";
export {
  loadRvtools,
  readRvtools,
  detectNumberFormat,
  parseNumber,
  type NumberFormat,
  RVTOOLS_COLUMNS,
  splitAddresses,
  guestFamily,
  controllerType,
  allocatedFromInUse,
  type RvtoolsColumn,
  type RvtoolsTab,
} from "./rvtools";
export { problemsFromZod, vmListLocator, formatPath, renderValue, type VmLocation, type ZodProblemContext } from "../problems/zod";
export { validateVms, validateNetworks, unmappedPortgroups } from "./validate";
export { unknownKeys, type UnknownKeyContext } from "./unknown-keys";

/** Options of `loadInventory`. */
export interface LoadInventoryOptions {
  /** A networks file (portgroup → CIDR, gateway, VLAN) merged into the inventory's networks; its entries win. */
  readonly networks?: string;
}

/**
 * Loads the source inventory from `path`: a YAML or JSON file in the inventory schema, an RVTools
 * export directory (vInfo, vDisk and vNetwork CSV files) or an RVTools `.xlsx` workbook.
 * Every NIC's portgroup must have a subnet, from the inventory's `networks` or `options.networks`.
 * Strict: any error (of any VM) throws; `readInventory` is the lenient form the planner uses.
 *
 * @throws InputError listing every problem (file, VM, field, received, expected, fix).
 */
export async function loadInventory(path: string, options: LoadInventoryOptions = {}): Promise<Inventory> {
  const reading = await readInventory(path, options);
  const unmapped = unmappedPortgroups(reading.inventory.vms, reading.inventory.networks, path, options.networks);
  const problems = [...reading.problems, ...unmapped];
  if (problems.some((p) => p.severity === "error")) throw new InputError(problems);
  return reading.inventory;
}

/**
 * Reads the source inventory leniently: a VM whose own entry or rows are malformed is left out
 * and listed in `rejected` with every reason, so the rest can still be planned. Portgroups
 * without a subnet are left to the planner, which blocks the VMs using them.
 *
 * @throws InputError only when a file cannot be used at all (unreadable, not YAML/JSON/CSV/xlsx,
 *   a missing RVTools tab or column, a malformed networks file).
 */
export async function readInventory(path: string, options: LoadInventoryOptions = {}): Promise<InventoryReading> {
  const [baseResult, extraResult] = await Promise.allSettled([
    isRvtoolsPath(path) ? readRvtools(path) : readDocument(path).then((doc) => inspectInventory(doc, path)),
    options.networks !== undefined ? loadNetworks(options.networks) : Promise.resolve(undefined),
  ]);
  // Report the problems of both files at once.
  const failures = [baseResult, extraResult].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    const unexpected = failures.find((f) => !(f instanceof InputError));
    if (unexpected !== undefined) throw unexpected;
    // The inventory's own problems too, when it was read and only the networks file failed.
    const baseProblems = baseResult.status === "fulfilled" ? baseResult.value.problems : [];
    throw new InputError([...baseProblems, ...failures.flatMap((f) => (f as InputError).problems)]);
  }
  const base = (baseResult as PromiseFulfilledResult<InventoryReading>).value;
  const extra = (extraResult as PromiseFulfilledResult<Network[] | undefined>).value;
  const networks = extra ? mergeNetworks(base.inventory.networks, extra) : base.inventory.networks;
  return { ...base, inventory: { vms: base.inventory.vms, networks } };
}

/** Checks an already parsed inventory document, without the portgroup mapping check; throws on any error. */
export function parseInventory(document: unknown, file?: string): Inventory {
  const reading = inspectInventory(document, file);
  if (reading.problems.some((p) => p.severity === "error")) throw new InputError(reading.problems);
  return reading.inventory;
}

/**
 * Checks an already parsed inventory document leniently: VMs with errors of their own are
 * rejected, the others kept. Throws only when the document's shape is unusable (not a map, `vms`
 * or `networks` not lists, a malformed network).
 */
export function inspectInventory(document: unknown, file?: string): InventoryReading {
  const at = file !== undefined ? { file } : {};
  const parsed = InventorySchema.safeParse(document ?? {}, { reportInput: true });
  const unknown = unknownKeys(InventorySchema, document, { ...at, vmNameAt: vmListLocator(document) });
  if (parsed.success) {
    const problems = [...unknown, ...validateVms(parsed.data.vms, file), ...validateNetworks(parsed.data.networks, file)];
    return settle(parsed.data.vms, parsed.data.networks, problems);
  }
  const all = [...problemsFromZod(parsed.error, { ...at, input: document, vmNameAt: vmListLocator(document) }), ...unknown];
  const raw = (document ?? {}) as { vms?: unknown; networks?: unknown };
  // Problems that concern no VM (the document's shape, a network) make the file unusable.
  if (all.some((p) => p.severity === "error" && p.vm === undefined) || !Array.isArray(raw.vms)) {
    const vms = Array.isArray(raw.vms) ? raw.vms.map((vm) => VmSchema.safeParse(vm)).flatMap((r) => (r.success ? [r.data] : [])) : [];
    const networks = Array.isArray(raw.networks) ? raw.networks.map((n) => NetworkSchema.safeParse(n)).map((r) => (r.success ? r.data : undefined)) : [];
    throw new InputError([...all, ...validateVms(vms, file), ...validateNetworks(networks, file)]);
  }
  const vms = raw.vms.map((vm) => VmSchema.safeParse(vm)).flatMap((r) => (r.success ? [r.data] : []));
  const networks = Array.isArray(raw.networks) ? raw.networks.map((n) => NetworkSchema.parse(n)) : [];
  return settle(vms, networks, [...all, ...validateVms(vms, file), ...validateNetworks(networks, file)]);
}

function settle(vms: readonly Vm[], networks: readonly Network[], problems: readonly Problem[]): InventoryReading {
  const rejected = rejectedVms(problems);
  const out = new Set(rejected.map((r) => r.name));
  return { inventory: { vms: vms.filter((vm) => !out.has(vm.name)), networks: [...networks] }, rejected, problems };
}
