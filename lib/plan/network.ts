/**
 * The planner's network phase: mirrored vSwitches spread over the zones, each wave's sync subnet,
 * and the VPC's CIDR blocks covering them.
 */
import type { Network } from "../inventory/schema";
import type { WavesFile } from "../inventory/waves";
import { type Problem, problem } from "../problems";
import { FORBIDDEN_VPC_RANGES, LIMITS, PRIVATE_RANGES } from "./catalog";
import { type Cidr, cidrCovers, cidrOf, cidrsOverlap, commonCover, compareCidrs, parseCidr } from "../net";
import type { PlannedSubnet } from "./types";

/** Spreads the distinct mirrored CIDRs over the zones, round-robin in address order. */
export function assignZones(cidrs: readonly string[], zones: readonly string[]): Map<string, string> {
  const sorted = [...new Set(cidrs)].sort((a, b) => {
    const x = parseCidr(a);
    const y = parseCidr(b);
    if (x && y) return compareCidrs(x, y);
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return new Map(sorted.map((c, i) => [c, zones[i % zones.length]!] as const));
}

/** The vSwitch name of a mirrored subnet: `web-10-1-1-0-24`. */
export function vSwitchName(portgroup: string, cidr: string): string {
  const slug = portgroup
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return `${slug ? `${slug}-` : ""}${cidr.replace(/[./]/g, "-")}`;
}

export function plannedSubnet(network: Network, zone: string): PlannedSubnet {
  return {
    name: vSwitchName(network.portgroup, network.cidr),
    portgroup: network.portgroup,
    cidr: network.cidr,
    zone,
    ...(network.gateway !== undefined ? { gateway: network.gateway } : {}),
    ...(network.vlan !== undefined ? { vlan: network.vlan } : {}),
  };
}

/**
 * The sync subnet of every wave: the one given in `settings.sync.subnets`, or the next free block
 * of `settings.sync.prefix` in `settings.sync.pool` that overlaps no source subnet, no on-prem
 * range and no other sync subnet.
 */
export function planSyncSubnets(waves: WavesFile, networks: readonly Network[], problems: Problem[], file?: string): Map<string, string> {
  const { sync, onPremRanges } = waves.settings;
  const result = new Map<string, string>();
  const waveNames = new Set(waves.waves.map((w) => w.name));
  for (const name of Object.keys(sync.subnets)) {
    if (!waveNames.has(name)) {
      problems.push(
        problem({
          file,
          field: `settings.sync.subnets.${name}`,
          message: `A sync subnet is given for ${name}, which is not a wave of the file`,
          received: name,
          expected: [...waveNames].join(", "),
          fix: "correct the wave name",
        }),
      );
    }
  }
  const taken: Cidr[] = [];
  for (const text of [...networks.map((n) => n.cidr), ...onPremRanges, ...Object.values(sync.subnets)]) {
    const block = parseCidr(text);
    if (block) taken.push(block);
  }
  taken.sort(compareCidrs);
  const pool = parseCidr(sync.pool);
  if (!pool || pool.prefix > sync.prefix) {
    problems.push(
      problem({
        file,
        field: "settings.sync.pool",
        message: pool ? `The sync pool ${pool.text} is smaller than one sync subnet (/${sync.prefix})` : "The sync pool is not a canonical IPv4 CIDR block",
        received: sync.pool,
        expected: `a block of /${sync.prefix} or wider, such as 172.30.0.0/16`,
        fix: "correct settings.sync.pool or settings.sync.prefix",
      }),
    );
  }
  for (const wave of waves.waves) {
    const given = sync.subnets[wave.name];
    if (given !== undefined) {
      result.set(wave.name, given);
      continue;
    }
    if (!pool || pool.prefix > sync.prefix) continue;
    const block = nextFreeBlock(pool, sync.prefix, taken);
    if (!block) {
      problems.push(
        problem({
          file,
          field: "settings.sync.pool",
          message: `The sync pool ${pool.text} has no free /${sync.prefix} left for wave ${wave.name}`,
          received: pool.text,
          expected: `a free /${sync.prefix} that overlaps no source subnet, on-prem range or other sync subnet`,
          fix: "choose a larger or another settings.sync.pool, or give the wave's subnet in settings.sync.subnets",
        }),
      );
      continue;
    }
    result.set(wave.name, block.text);
    taken.push(block);
    taken.sort(compareCidrs);
  }
  return result;
}

/** The lowest block of length `prefix` in `pool` that overlaps nothing in `taken` (sorted). */
function nextFreeBlock(pool: Cidr, prefix: number, taken: readonly Cidr[]): Cidr | undefined {
  const size = 2 ** (32 - prefix);
  let at = pool.first;
  while (at + size - 1 <= pool.last) {
    const candidate = cidrOf(at, prefix);
    const clash = taken.find((t) => cidrsOverlap(t, candidate));
    if (!clash) return candidate;
    // Jump past the clashing range, aligned to the next candidate boundary.
    const next = clash.last + 1;
    at = Math.ceil(next / size) * size;
  }
  return undefined;
}

/**
 * The VPC CIDR blocks covering every mirrored and sync subnet: one block per private range used
 * (10/8, 172.16/12, 192.168/16) or per /8 of other ranges, each the common prefix of the subnets
 * in it; where that prefix would reach into a range a VPC refuses, the subnets themselves. The
 * block covering the most subnets is the primary.
 */
export function planVpcBlocks(subnets: readonly Cidr[]): Cidr[] {
  const groups = new Map<string, Cidr[]>();
  for (const s of subnets) {
    const key = PRIVATE_RANGES.find((r) => cidrCovers(r, s)) ?? `${Math.floor(s.first / 2 ** 24)}.0.0.0/8`;
    const list = groups.get(key);
    if (list) list.push(s);
    else groups.set(key, [s]);
  }
  const blocks: Array<{ block: Cidr; count: number }> = [];
  for (const list of groups.values()) {
    let cover = commonCover(list);
    if (cover.prefix > LIMITS.vpcPrefix.max) cover = cidrOf(cover.first, LIMITS.vpcPrefix.max);
    if (FORBIDDEN_VPC_RANGES.some((r) => cidrsOverlap(r, cover)) && list.length > 1) {
      // Each outermost subnet becomes a block; it counts the subnets nested in it (or repeated).
      for (const s of outermost(list)) {
        blocks.push({ block: s.prefix > LIMITS.vpcPrefix.max ? cidrOf(s.first, LIMITS.vpcPrefix.max) : s, count: list.filter((x) => cidrCovers(s, x)).length });
      }
    } else blocks.push({ block: cover, count: list.length });
  }
  blocks.sort((a, b) => b.count - a.count || compareCidrs(a.block, b.block));
  return blocks.map((b) => b.block);
}

/** The blocks not contained in another block of the list, in address order. */
function outermost(list: readonly Cidr[]): Cidr[] {
  const sorted = [...list].sort(compareCidrs);
  const out: Cidr[] = [];
  for (const b of sorted) if (out.length === 0 || b.last > out[out.length - 1]!.last) out.push(b);
  return out;
}
