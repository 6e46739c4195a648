/**
 * Host security groups as stack config gives them (`HostSecurityGroup`, `HostRule`) and their
 * checks: names usable in resource names, well-formed port ranges, and no rule that opens SSH or
 * RDP (`ADMIN_PORTS`) to the whole internet. No Pulumi in here, so the policy pack and the tests
 * can call them directly.
 */
import { problem, type Problem } from "../problems";

/** One ingress rule of a host security group, as stack config gives it. */
export interface HostRule {
  /** `tcp`, `udp`, `icmp` or `all`. */
  readonly protocol: "tcp" | "udp" | "icmp" | "all";
  /** Port range `from/to` as Alibaba writes it (`443/443`); `-1/-1` for icmp and all. */
  readonly ports: string;
  /** Source CIDR allowed in. */
  readonly cidr: string;
  readonly description?: string;
}

/** A security group for migrated hosts, named and with its ingress rules. */
export interface HostSecurityGroup {
  /** Lowercase name; becomes part of the child resource names. */
  readonly name: string;
  readonly rules: readonly HostRule[];
}

/** Ports that must never be open to the whole internet (SSH, RDP). */
export const ADMIN_PORTS: readonly number[] = [22, 3389];

const WORLD = "0.0.0.0/0";

/** Whether the port range `from/to` (or `-1/-1`, meaning all) contains `port`. */
export function portRangeCovers(range: string, port: number): boolean {
  const match = /^(-?\d+)\/(-?\d+)$/.exec(range.trim());
  if (!match) return false;
  const from = Number(match[1]);
  const to = Number(match[2]);
  if (from === -1 && to === -1) return true;
  return from <= port && port <= to;
}

/**
 * Problems with host security groups: names that are not usable in resource names, malformed
 * port ranges, and any rule that opens SSH (22) or RDP (3389) to `0.0.0.0/0`.
 */
export function checkHostSecurityGroups(groups: readonly HostSecurityGroup[], file?: string): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  groups.forEach((group, g) => {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(group.name)) {
      problems.push(
        problem({
          file,
          field: `hostSecurityGroups[${g}].name`,
          received: JSON.stringify(group.name),
          expected: "lowercase letters, digits and dashes",
          fix: "rename the group",
          message: `Host security group ${JSON.stringify(group.name)} has a name that cannot be part of a resource name.`,
        }),
      );
    }
    if (seen.has(group.name)) {
      problems.push(
        problem({
          file,
          field: `hostSecurityGroups[${g}].name`,
          received: group.name,
          expected: "a name used once",
          fix: "merge the two groups or rename one",
          message: `Host security group ${group.name} is declared twice.`,
        }),
      );
    }
    seen.add(group.name);
    group.rules.forEach((rule, r) => {
      const field = `hostSecurityGroups[${g}].rules[${r}]`;
      if (!/^-?\d+\/-?\d+$/.test(rule.ports)) {
        problems.push(
          problem({
            file,
            field: `${field}.ports`,
            received: JSON.stringify(rule.ports),
            expected: "a range like 443/443, or -1/-1 for all",
            fix: "write the range as from/to",
            message: `Rule ${r} of host security group ${group.name} has a malformed port range.`,
          }),
        );
        return;
      }
      const world = rule.cidr.trim() === WORLD;
      const opensAdmin = (rule.protocol === "tcp" || rule.protocol === "all") && ADMIN_PORTS.some((p) => portRangeCovers(rule.ports, p));
      if (world && opensAdmin) {
        problems.push(
          problem({
            file,
            field: `${field}.cidr`,
            received: `${rule.protocol} ${rule.ports} from ${rule.cidr}`,
            expected: "SSH (22) and RDP (3389) open only to the operator's or on-prem ranges",
            fix: "replace 0.0.0.0/0 with the operator's CIDR",
            message: `Rule ${r} of host security group ${group.name} opens SSH or RDP to the whole internet.`,
          }),
        );
      }
    });
  });
  return problems;
}
