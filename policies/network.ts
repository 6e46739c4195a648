/**
 * Network rules: pinned IPs, Alibaba-reserved addresses, rehearsal isolation from CEN, the sync
 * vSwitch's separation from every kept address, and security groups closed to the internet.
 * CIDR and IP logic comes from `lib/plan` and port logic from `lib/components/security-groups`: no copies.
 */
import type { ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { cidrContains, cidrsOverlap, isAlibabaReserved, isIpv4, parseCidr, usableRange } from "../lib/net";
import { ADMIN_PORTS, portRangeCovers } from "../lib/components/security-groups";
import { DEFAULT_AGENT_PORT } from "../lib/components/tokens";
import {
  TAGS,
  TYPES,
  fromArgs,
  fromStack,
  isMigratedInstance,
  isRehearsalVpc,
  knownId,
  label,
  referenced,
  tagsOf,
  type Resource,
  TAG_ROLES,
} from "./resources";

/** The addresses a migrated host pins: the instance's primary and secondary IPs, an ENI's addresses. */
function pinnedAddresses(r: Resource): Array<{ field: string; ip: string }> {
  const out: Array<{ field: string; ip: string }> = [];
  const add = (field: string, value: unknown) => {
    if (typeof value === "string" && value !== "") out.push({ field, ip: value });
  };
  if (r.type === TYPES.instance) {
    add("privateIp", r.props["privateIp"]);
    const secondary = r.props["secondaryPrivateIps"];
    if (Array.isArray(secondary)) secondary.forEach((ip, i) => add(`secondaryPrivateIps[${i}]`, ip));
  } else if (r.type === TYPES.networkInterface) {
    add("primaryIpAddress", r.props["primaryIpAddress"]);
    const extra = r.props["privateIpAddresses"];
    if (Array.isArray(extra)) extra.forEach((ip, i) => add(`privateIpAddresses[${i}]`, ip));
  }
  return out;
}

function isMigratedInterface(r: Resource): boolean {
  return r.type === TYPES.networkInterface && (tagsOf(r)[TAGS.sourceVmUuid] !== undefined || isMigratedInstance({ ...r, type: TYPES.instance }));
}

/** The vSwitch CIDR an instance or ENI sits in, when it can be known. */
function vswitchCidrOf(r: Resource, all: readonly Resource[]): { vswitch: Resource; cidr: string } | undefined {
  const vswitch = referenced(r, "vswitchId", all, knownId).find((x) => x.type === TYPES.vswitch);
  const cidr = vswitch?.props["cidrBlock"];
  return vswitch !== undefined && typeof cidr === "string" ? { vswitch, cidr } : undefined;
}

/**
 * `pinned-ip-matches-source`: a migrated host's pinned address lies in its vSwitch's CIDR and equals
 * the source VM's address (tag `rehost:source-ip`, when the component recorded it).
 */
export function pinnedIpMatchesSource(): StackValidationPolicy {
  return {
    name: "pinned-ip-matches-source",
    description: "A migrated instance's private IP lies in its vSwitch's CIDR and equals its source VM's IP.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
      const all = fromStack(args.resources);
      for (const r of all.filter((x) => isMigratedInstance(x) || isMigratedInterface(x))) {
        const sw = vswitchCidrOf(r, all);
        const addresses = pinnedAddresses(r);
        for (const { field, ip } of addresses) {
          if (!isIpv4(ip)) {
            report(`${label(r)} pins ${field} = ${JSON.stringify(ip)}, which is not an IPv4 address; correct the source VM's address in the inventory.`, r.urn);
          } else if (sw !== undefined && !cidrContains(sw.cidr, ip)) {
            report(
              `${label(r)} pins ${field} = ${ip}, outside the CIDR ${sw.cidr} of its ${label(sw.vswitch)}; place it in the mirrored vSwitch of the source subnet.`,
              r.urn,
            );
          }
        }
        const source = tagsOf(r)[TAGS.sourceIp];
        const primary = addresses[0];
        if (r.type === TYPES.instance && source !== undefined && primary !== undefined && primary.ip !== source) {
          const vm = tagsOf(r)[TAGS.sourceVm] ?? tagsOf(r)[TAGS.sourceVmUuid];
          report(`${label(r)} pins privateIp = ${primary.ip}, but its source VM ${vm} has ${source}; pin the source's address so the host keeps it.`, r.urn);
        }
      }
    },
  };
}

/** `no-reserved-private-ip`: no pinned address is one of the four an Alibaba vSwitch reserves. */
export function noReservedPrivateIp(): StackValidationPolicy {
  return {
    name: "no-reserved-private-ip",
    description: "No private IP is an address Alibaba Cloud reserves in its vSwitch (the first and the last three).",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
      const all = fromStack(args.resources);
      for (const r of all.filter((x) => x.type === TYPES.instance || x.type === TYPES.networkInterface)) {
        const sw = vswitchCidrOf(r, all);
        if (sw === undefined || parseCidr(sw.cidr) === undefined) continue;
        for (const { field, ip } of pinnedAddresses(r)) {
          if (isIpv4(ip) && cidrContains(sw.cidr, ip) && isAlibabaReserved(sw.cidr, ip)) {
            const usable = usableRange(sw.cidr);
            report(
              `${label(r)} pins ${field} = ${ip}, an address Alibaba Cloud reserves in ${label(sw.vswitch)} (${sw.cidr}); ` +
                `use an address from ${usable?.first ?? "?"} to ${usable?.last ?? "?"} (readdress the VM on-prem) or set keepIp: false for it.`,
              r.urn,
            );
          }
        }
      }
    },
  };
}

/** `rehearsal-vpc-not-on-cen`: a rehearsal VPC shares the production CIDRs and must never join CEN. */
export function rehearsalVpcNotOnCen(): StackValidationPolicy {
  return {
    name: "rehearsal-vpc-not-on-cen",
    description: "A rehearsal VPC is never attached to CEN: it uses the same CIDRs as the live on-prem subnets.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
      const all = fromStack(args.resources);
      const attachments: Array<{ r: Resource; prop: string }> = [
        ...all.filter((x) => x.type === TYPES.cenTransitRouterVpcAttachment).map((r) => ({ r, prop: "vpcId" })),
        ...all.filter((x) => x.type === TYPES.cenInstanceAttachment).map((r) => ({ r, prop: "childInstanceId" })),
      ];
      for (const { r, prop } of attachments) {
        for (const vpc of referenced(r, prop, all, knownId).filter(isRehearsalVpc)) {
          report(
            `${label(r)} attaches the rehearsal ${label(vpc)} to CEN; a rehearsal VPC reuses live CIDRs and must stay isolated — remove the attachment.`,
            r.urn,
          );
        }
      }
    },
  };
}

interface SyncIsolationConfig {
  /** On-prem ranges the sync vSwitch must not overlap, besides the mirrored subnets. */
  onPremRanges: string[];
}

/** `sync-vswitch-isolated`: the sync vSwitch overlaps no mirrored CIDR and no declared on-prem range. */
export function syncVswitchIsolated(): StackValidationPolicy {
  return {
    name: "sync-vswitch-isolated",
    description: "The sync vSwitch overlaps no mirrored subnet and no declared on-prem range.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: { onPremRanges: { type: "array", items: { type: "string" }, default: [] } },
    },
    validateStack: (args, report) => {
      const config = args.getConfig<SyncIsolationConfig>();
      const switches = fromStack(args.resources).filter((x) => x.type === TYPES.vswitch && typeof x.props["cidrBlock"] === "string");
      const sync = switches.filter((s) => tagsOf(s)[TAGS.role] === TAG_ROLES.syncVswitch);
      const mirrored = switches.filter((s) => tagsOf(s)[TAGS.portgroup] !== undefined);
      for (const s of sync) {
        const cidr = s.props["cidrBlock"] as string;
        if (parseCidr(cidr) === undefined) continue;
        for (const m of mirrored) {
          const other = m.props["cidrBlock"] as string;
          if (parseCidr(other) !== undefined && cidrsOverlap(cidr, other)) {
            report(
              `The sync ${label(s)} (${cidr}) overlaps the mirrored ${label(m)} (${other}); choose a sync subnet outside every kept address range.`,
              s.urn,
            );
          }
        }
        for (const range of config.onPremRanges ?? []) {
          if (parseCidr(range) !== undefined && cidrsOverlap(cidr, range)) {
            report(`The sync ${label(s)} (${cidr}) overlaps the on-prem range ${range}; choose a sync subnet routed to the cloud only.`, s.urn);
          }
        }
      }
    },
  };
}

interface OpenPortsConfig {
  /** The agent API port on sync gateways. */
  agentPort: number;
}

const WORLD = new Set(["0.0.0.0/0", "::/0"]);

/** `no-open-admin-ports`: no security group rule opens SSH, RDP or the agent port to the internet. */
export function noOpenAdminPorts(): ResourceValidationPolicy {
  return {
    name: "no-open-admin-ports",
    description: "No security group rule opens 22, 3389 or the agent port to 0.0.0.0/0.",
    enforcementLevel: "mandatory",
    configSchema: { properties: { agentPort: { type: "integer", default: DEFAULT_AGENT_PORT } } },
    validateResource: (args, report: ReportViolation) => {
      const r = fromArgs(args);
      if (r.type !== TYPES.securityGroupRule) return;
      const { agentPort } = args.getConfig<OpenPortsConfig>();
      const ingress = (r.props["type"] ?? "ingress") === "ingress";
      const policy = r.props["policy"] ?? "accept";
      const source = r.props["cidrIp"] ?? r.props["ipv6CidrIp"];
      if (!ingress || policy !== "accept" || typeof source !== "string" || !WORLD.has(source)) return;
      const protocol = String(r.props["ipProtocol"] ?? "all");
      if (protocol !== "tcp" && protocol !== "all") return;
      const range = String(r.props["portRange"] ?? "-1/-1");
      for (const port of [...ADMIN_PORTS, agentPort]) {
        if (portRangeCovers(range, port)) {
          report(`${label(r)} opens port ${port} (range ${range}) to ${source}; allow only the operator's or the source proxy's CIDR.`);
          return;
        }
      }
    },
  };
}
