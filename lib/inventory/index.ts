/**
 * The inventory of source VMs and the files around it: `loadInventory` (YAML/JSON in the schema,
 * or an RVTools export), `loadNetworks`, `loadWaves`, and `problemsFromZod` for every validator
 * that checks input with zod. Every loader throws an `InputError` listing all problems at once.
 */
import { InputError } from "../problems";
import { readDocument } from "./files";
import { loadNetworks, mergeNetworks } from "./networks";
import { isRvtoolsPath, loadRvtools } from "./rvtools";
import { InventorySchema, NetworkSchema, VmSchema, type Inventory, type Network } from "./schema";
import { unmappedPortgroups, validateNetworks, validateVms } from "./validate";
import { unknownKeys } from "./unknown-keys";
import { problemsFromZod, vmListLocator } from "./zod-problems";

export * from "./schema";
export * from "./waves";
export { loadNetworks, mergeNetworks, parseNetworks } from "./networks";
export { loadWaves, parseWaves } from "./load-waves";
export { loadRvtools, RVTOOLS_COLUMNS, splitAddresses, guestFamily, controllerType, allocatedFromInUse, type RvtoolsColumn, type RvtoolsTab } from "./rvtools";
export { problemsFromZod, vmListLocator, formatPath, renderValue, type VmLocation, type ZodProblemContext } from "./zod-problems";
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
 *
 * @throws InputError listing every problem (file, VM, field, received, expected, fix).
 */
export async function loadInventory(path: string, options: LoadInventoryOptions = {}): Promise<Inventory> {
  const [baseResult, extraResult] = await Promise.allSettled([
    isRvtoolsPath(path) ? loadRvtools(path) : loadDocumentInventory(path),
    options.networks !== undefined ? loadNetworks(options.networks) : Promise.resolve(undefined),
  ]);
  // Report the problems of both files at once.
  const failures = [baseResult, extraResult].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    const unexpected = failures.find((f) => !(f instanceof InputError));
    throw unexpected ?? new InputError(failures.flatMap((f) => (f as InputError).problems));
  }
  const base = (baseResult as PromiseFulfilledResult<Inventory>).value;
  const extra = (extraResult as PromiseFulfilledResult<Network[] | undefined>).value;
  const networks = extra ? mergeNetworks(base.networks, extra) : base.networks;
  const unmapped = unmappedPortgroups(base.vms, networks, path, options.networks);
  if (unmapped.length > 0) throw new InputError(unmapped);
  return { vms: base.vms, networks };
}

/** Loads a YAML/JSON inventory document and checks it, without the portgroup mapping check. */
async function loadDocumentInventory(path: string): Promise<Inventory> {
  return parseInventory(await readDocument(path), path);
}

/** Checks an already parsed inventory document, without the portgroup mapping check. */
export function parseInventory(document: unknown, file?: string): Inventory {
  const at = file !== undefined ? { file } : {};
  const parsed = InventorySchema.safeParse(document ?? {}, { reportInput: true });
  const unknown = unknownKeys(InventorySchema, document, { ...at, vmNameAt: vmListLocator(document) });
  if (!parsed.success) {
    // Also run the checks beyond the schema on the VMs and networks that are well-formed on their own.
    const raw = (document ?? {}) as { vms?: unknown; networks?: unknown };
    const vms = Array.isArray(raw.vms) ? raw.vms.map((vm) => VmSchema.safeParse(vm)).flatMap((r) => (r.success ? [r.data] : [])) : [];
    const networks = Array.isArray(raw.networks) ? raw.networks.map((n) => NetworkSchema.safeParse(n)).map((r) => (r.success ? r.data : undefined)) : [];
    throw new InputError([
      ...problemsFromZod(parsed.error, { ...at, input: document, vmNameAt: vmListLocator(document) }),
      ...unknown,
      ...validateVms(vms, file),
      ...validateNetworks(networks, file),
    ]);
  }
  const problems = [...unknown, ...validateVms(parsed.data.vms, file), ...validateNetworks(parsed.data.networks, file)];
  if (problems.length > 0) throw new InputError(problems);
  return parsed.data;
}
