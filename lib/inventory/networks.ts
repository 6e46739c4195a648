/**
 * The networks file: which subnet (CIDR, gateway, VLAN) each portgroup carries. RVTools exports
 * have no prefix lengths, so subnets always come from here or from the inventory's `networks`.
 *
 * ```yaml
 * networks:
 *   - { portgroup: web, cidr: 10.10.1.0/24, gateway: 10.10.1.1, vlan: 101 }
 * ```
 * A bare list (without the `networks:` key) is accepted too.
 */
import { z } from "zod";
import { InputError, problem } from "../problems";
import { readDocument } from "./files";
import { NetworkSchema, type Network } from "./schema";
import { unknownKeys } from "./unknown-keys";
import { validateNetworks } from "./validate";
import { problemsFromZod } from "../problems/zod";

const NetworksFileSchema = z.object({ networks: z.array(NetworkSchema) });

/** Loads and checks a networks file (YAML or JSON); throws `InputError` listing every problem. */
export async function loadNetworks(path: string): Promise<Network[]> {
  const document = await readDocument(path);
  return parseNetworks(document, path);
}

/** Checks an already parsed networks document (`{ networks: [...] }` or a bare list). */
export function parseNetworks(document: unknown, file?: string): Network[] {
  const wrapped = Array.isArray(document) ? { networks: document } : document;
  if (wrapped === null || typeof wrapped !== "object" || !("networks" in wrapped)) {
    throw new InputError(
      problem({
        ...(file !== undefined ? { file } : {}),
        field: "networks",
        received: wrapped === null || wrapped === undefined ? "an empty file" : `keys ${Object.keys(wrapped as object).join(", ") || "(none)"}`,
        expected: "a `networks:` list of { portgroup, cidr, gateway, vlan }",
        fix: "list the networks under a top-level `networks:` key",
        message: "The networks file has no networks list",
      }),
    );
  }
  const at = file !== undefined ? { file } : {};
  const parsed = NetworksFileSchema.safeParse(wrapped, { reportInput: true });
  const unknown = unknownKeys(NetworksFileSchema, wrapped, at);
  if (!parsed.success) throw new InputError([...problemsFromZod(parsed.error, { ...at, input: wrapped }), ...unknown]);
  const problems = [...unknown, ...validateNetworks(parsed.data.networks, file)];
  if (problems.length > 0) throw new InputError(problems);
  return parsed.data.networks;
}

/** `base` with every portgroup of `overrides` replaced or added (overrides win). */
export function mergeNetworks(base: readonly Network[], overrides: readonly Network[]): Network[] {
  const byPortgroup = new Map<string, Network>();
  for (const network of base) byPortgroup.set(network.portgroup, network);
  for (const network of overrides) byPortgroup.set(network.portgroup, network);
  return [...byPortgroup.values()];
}
