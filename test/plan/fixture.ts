/**
 * Small inventories and waves files built in code, parsed through the real schemas so defaults
 * apply exactly as the loaders apply them.
 */
import { type Inventory, InventorySchema } from "../../lib/inventory/schema";
import { type WavesFile, WavesFileSchema } from "../../lib/inventory/waves";

export const GiB = 2 ** 30;

/** A compact VM description: NICs as `portgroup=ip,ip`, disks as GiB sizes. */
export interface VmSpec {
  readonly name: string;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly nics?: ReadonlyArray<string>;
  readonly disksGiB?: ReadonlyArray<number>;
  readonly folder?: string;
  readonly tags?: ReadonlyArray<string>;
}

let macCounter = 0;

function mac(): string {
  macCounter++;
  const hex = macCounter.toString(16).padStart(6, "0");
  return `00:50:56:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

/** Builds an inventory from VM specs and `portgroup → cidr` networks. */
export function inventory(vms: readonly VmSpec[], networks: Readonly<Record<string, string>>): Inventory {
  return InventorySchema.parse({
    vms: vms.map((spec, i) => ({
      uuid: `uuid-${i}-${spec.name}`,
      name: spec.name,
      cpus: spec.cpus ?? 2,
      memoryMiB: spec.memoryMiB ?? 4096,
      guestOs: { family: "linux", id: "rhel8_64Guest" },
      ...(spec.folder !== undefined ? { folder: spec.folder } : {}),
      tags: spec.tags ?? [],
      disks: (spec.disksGiB ?? [40]).map((gib, k) => ({ key: 2000 + k, label: `Hard disk ${k + 1}`, capacityBytes: gib * GiB })),
      nics: (spec.nics ?? []).map((text) => {
        const [portgroup, ips] = text.split("=") as [string, string | undefined];
        return { mac: mac(), portgroup, ipv4: ips ? ips.split(",") : [] };
      }),
    })),
    networks: Object.entries(networks).map(([portgroup, cidr]) => ({ portgroup, cidr })),
  });
}

/** Builds a waves file; `waves` entries are partial wave objects. */
export function wavesFile(waves: ReadonlyArray<Record<string, unknown>>, settings: Record<string, unknown> = {}): WavesFile {
  return WavesFileSchema.parse({ settings, waves });
}

/** The error-severity problems of a list. */
export function errors<T extends { severity: string }>(problems: readonly T[]): T[] {
  return problems.filter((p) => p.severity === "error");
}
