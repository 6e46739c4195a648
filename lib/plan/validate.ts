/**
 * The validators of rehost, one copy each, shared by the planner, the CLI, the Pulumi components
 * and the policy pack. Each returns `Problem[]` (empty when the value is fine) naming the VM or
 * file and field, what was received, what was expected and how to fix it; none throws on bad data.
 */
import type { Problem, Severity } from "../problems";
import { DISK_CATEGORIES, FORBIDDEN_VPC_RANGES, LIMITS } from "./catalog";
import { type Cidr, type Where, checkCidrSyntax, cidrContains, cidrsOverlap, findOverlaps, isAlibabaReserved, isIpv4, parseCidr, usableRange } from "../net";

const GiB = 2 ** 30;

function make(severity: Severity, where: Where, fields: Omit<Problem, "severity" | "file" | "vm" | "field">): Problem {
  return { severity, ...definedOnly(where), ...fields };
}

function definedOnly(where: Where): Where {
  const out: { file?: string; vm?: string; field?: string } = {};
  if (where.file !== undefined) out.file = where.file;
  if (where.vm !== undefined) out.vm = where.vm;
  if (where.field !== undefined) out.field = where.field;
  return out;
}

/** Problems if `block` overlaps a range an Alibaba Cloud VPC refuses (100.64/10, 224/4, 127/8, 169.254/16). */
function forbiddenRangeProblems(block: Cidr, where: Where, what: string): Problem[] {
  const hit = FORBIDDEN_VPC_RANGES.find((r) => cidrsOverlap(r, block));
  if (!hit) return [];
  return [
    make("error", where, {
      message: `The ${what} ${block.text} overlaps ${hit}, which an Alibaba Cloud VPC cannot use`,
      received: block.text,
      expected: `a block outside ${FORBIDDEN_VPC_RANGES.join(", ")}`,
      fix: "renumber the subnet, or migrate it with keepIp: false on its VMs",
    }),
  ];
}

/**
 * Validates a vSwitch CIDR: canonical, a mask between /16 and /29, and outside the ranges an
 * Alibaba Cloud VPC refuses. Used for every mirrored source subnet and every sync subnet.
 */
export function validateVSwitchCidr(cidr: string, where: Where = {}): Problem[] {
  return validateBlock(cidr, where, LIMITS.vSwitchPrefix, "subnet", (block, { min, max }) => ({
    message: `The subnet ${block.text} cannot be a vSwitch: Alibaba Cloud allows masks /${min} to /${max}`,
    fix:
      block.prefix < min
        ? `split the subnet into /${min} or smaller subnets on-prem before migrating`
        : `widen the subnet to /${max} on-prem, or migrate its VMs with keepIp: false`,
  }));
}

/** Validates a VPC CIDR block: canonical, a mask between /8 and /28, outside the refused ranges. */
export function validateVpcCidr(cidr: string, where: Where = {}): Problem[] {
  return validateBlock(cidr, where, LIMITS.vpcPrefix, "VPC block", (block, { min, max }) => ({
    message: `The VPC CIDR block ${block.text} has a mask Alibaba Cloud does not allow`,
    fix: `use a block between /${min} and /${max}`,
  }));
}

/**
 * The checks a vSwitch CIDR and a VPC block share: its syntax, its mask against `masks` (the
 * problem's message and fix from `outside`), and the ranges a VPC refuses (`what` names it).
 */
function validateBlock(
  cidr: string,
  where: Where,
  masks: { readonly min: number; readonly max: number },
  what: string,
  outside: (block: Cidr, masks: { readonly min: number; readonly max: number }) => { message: string; fix: string },
): Problem[] {
  const { block, problems } = checkCidrSyntax(cidr, where);
  if (!block) return problems;
  const { min, max } = masks;
  if (block.prefix < min || block.prefix > max) {
    const { message, fix } = outside(block, masks);
    problems.push(make("error", where, { message, received: `/${block.prefix}`, expected: `/${min} to /${max}`, fix }));
  }
  problems.push(...forbiddenRangeProblems(block, where, what));
  return problems;
}

/** Arguments of `validatePinnedIp`. */
export interface PinnedIpArgs {
  /** The VM holding the address. */
  readonly vm: string;
  /** Field of the address (`nics[0].ipv4[0]`). */
  readonly field: string;
  readonly ip: string;
  /** The mirrored subnet of the NIC's portgroup. */
  readonly cidr: string;
  /**
   * Whether the VM must keep its address; when `false` a problem becomes a warning (the VM takes
   * a new address).
   * @default true
   */
  readonly keepIp?: boolean;
  readonly file?: string;
}

/**
 * Checks that a VM can keep `ip` in the mirrored vSwitch of `cidr`: a valid address, inside the
 * subnet, and not one of the four addresses Alibaba Cloud reserves in every vSwitch.
 */
export function validatePinnedIp(args: PinnedIpArgs): Problem[] {
  const where: Where = { file: args.file, vm: args.vm, field: args.field };
  const severity: Severity = args.keepIp === false ? "warning" : "error";
  const orNewIp = args.keepIp === false ? "; the VM takes a new address (keepIp: false)" : "";
  if (!isIpv4(args.ip)) {
    return [
      make("error", where, {
        message: "The address is not a dotted IPv4 address",
        received: JSON.stringify(args.ip),
        expected: "an address such as 10.1.1.21",
        fix: "correct the address in the inventory",
      }),
    ];
  }
  const block = parseCidr(args.cidr);
  if (!block) return []; // The subnet itself is reported by validateVSwitchCidr.
  if (!cidrContains(block, args.ip)) {
    return [
      make(severity, where, {
        message: `The address ${args.ip} is outside its portgroup's subnet ${block.text}${orNewIp}`,
        received: args.ip,
        expected: `an address in ${block.text}`,
        fix:
          args.keepIp === false
            ? "plan the VM's new address in its subnet and update DNS and clients at cutover"
            : "correct the portgroup's CIDR in the networks file or the VM's address, or set keepIp: false in the VM's wave override",
      }),
    ];
  }
  if (isAlibabaReserved(block, args.ip)) {
    const usable = usableRange(block);
    return [
      make(severity, where, {
        message: `The address ${args.ip} is reserved by Alibaba Cloud in vSwitch ${block.text} (the first and the last three addresses)${orNewIp}`,
        received: args.ip,
        expected: usable ? `an address from ${usable.first} to ${usable.last}` : "a subnet with usable addresses",
        fix:
          args.keepIp === false
            ? "plan the VM's new address in its subnet and update DNS and clients at cutover"
            : "readdress the VM on-prem before the wave, or set keepIp: false in the VM's wave override",
      }),
    ];
  }
  return [];
}

/** One address held by a VM, for `findDuplicateIps`. */
export interface HeldIp {
  readonly vm: string;
  readonly field: string;
  readonly ip: string;
}

/**
 * Reports every address held more than once (by two VMs, or twice by one), with a map: linear in
 * the number of addresses. One problem per repeated holder, naming the first holder.
 */
export function findDuplicateIps(held: readonly HeldIp[], file?: string): Problem[] {
  const first = new Map<string, HeldIp>();
  const problems: Problem[] = [];
  for (const h of held) {
    const previous = first.get(h.ip);
    if (!previous) {
      first.set(h.ip, h);
      continue;
    }
    problems.push(
      make(
        "error",
        { file, vm: h.vm, field: h.field },
        {
          message: `The address ${h.ip} is also held by VM ${previous.vm} (${previous.field}); two hosts cannot keep the same address`,
          received: h.ip,
          expected: "an address no other migrated VM holds",
          fix: "correct the inventory, or remove one of the VMs from the waves",
        },
      ),
    );
  }
  return problems;
}

/** A mirrored subnet, for `findOverlappingSubnets`. */
export interface NamedSubnet {
  readonly portgroup: string;
  readonly cidr: string;
  readonly field: string;
}

/**
 * Reports every pair of overlapping subnets (one VPC cannot hold both as vSwitches), by sorting:
 * O(n log n). Subnets that do not parse are skipped (reported by `validateVSwitchCidr`).
 */
export function findOverlappingSubnets(subnets: readonly NamedSubnet[], file?: string): Problem[] {
  const parsed = subnets.map((s) => ({ s, block: parseCidr(s.cidr) })).filter((x): x is { s: NamedSubnet; block: Cidr } => x.block !== undefined);
  return findOverlaps(parsed.map((p) => p.block)).map(([i, j]) => {
    const a = parsed[i]!.s;
    const b = parsed[j]!.s;
    return make(
      "error",
      { file, field: b.field },
      {
        message: `The subnet ${b.cidr} of portgroup ${b.portgroup} overlaps ${a.cidr} of portgroup ${a.portgroup}; one VPC cannot mirror both`,
        received: b.cidr,
        expected: `a subnet disjoint from ${a.cidr}`,
        fix:
          b.cidr === a.cidr
            ? `if the two portgroups carry the same network, list ${b.portgroup} under aliases of ${a.portgroup} in the networks file`
            : "correct the networks file, or migrate the two portgroups in separate VPCs",
      },
    );
  });
}

/** Arguments of `validateSyncSubnet`. */
export interface SyncSubnetArgs {
  /** The wave the sync subnet belongs to. */
  readonly wave: string;
  readonly cidr: string;
  /** Every mirrored source subnet of the VPC. */
  readonly mirrored: readonly string[];
  /** On-prem ranges declared in the settings. */
  readonly onPrem: readonly string[];
  /** The other waves' sync subnets, by wave name. */
  readonly otherSync: Readonly<Record<string, string>>;
  readonly file?: string;
  readonly field?: string;
}

/**
 * Validates a wave's sync subnet: a valid vSwitch CIDR that overlaps no mirrored source subnet,
 * no on-prem range and no other wave's sync subnet (replication traffic must never collide with
 * the addresses being kept).
 */
export function validateSyncSubnet(args: SyncSubnetArgs): Problem[] {
  const where: Where = { file: args.file, field: args.field ?? `settings.sync.subnets.${args.wave}` };
  const problems = validateVSwitchCidr(args.cidr, where);
  const block = parseCidr(args.cidr);
  if (!block) return problems;
  const clash = (what: string, other: string): Problem =>
    make("error", where, {
      message: `The sync subnet of wave ${args.wave} (${block.text}) overlaps ${what} ${other}`,
      received: block.text,
      expected: "a range no source subnet, on-prem range or other sync subnet uses",
      fix: "choose another sync subnet, or another settings.sync.pool",
    });
  for (const m of args.mirrored) if (parseCidr(m) && cidrsOverlap(block, m)) problems.push(clash("the source subnet", m));
  for (const r of args.onPrem) if (parseCidr(r) && cidrsOverlap(block, r)) problems.push(clash("the on-prem range", r));
  for (const [wave, other] of Object.entries(args.otherSync)) {
    if (wave !== args.wave && parseCidr(other) && cidrsOverlap(block, other)) problems.push(clash(`the sync subnet of wave ${wave},`, other));
  }
  return problems;
}

/** Arguments of `validateGatewayDisks`. */
export interface GatewayDisksArgs {
  readonly gateway: string;
  readonly disks: number;
  readonly bytes: number;
  readonly maxDisks: number;
  readonly maxBytes: number;
  readonly file?: string;
}

/**
 * Checks a sync gateway against its limits: at most `maxDisks` source disks (and never more data
 * disks than ECS attaches to one instance) and at most `maxBytes`.
 */
export function validateGatewayDisks(args: GatewayDisksArgs): Problem[] {
  const where: Where = { file: args.file, field: `gateways.${args.gateway}` };
  const problems: Problem[] = [];
  const diskLimit = Math.min(args.maxDisks, LIMITS.dataDisksPerInstance);
  if (args.disks > diskLimit) {
    problems.push(
      make("error", where, {
        message: `Sync gateway ${args.gateway} carries ${args.disks} disks, more than one ECS instance attaches`,
        received: String(args.disks),
        expected: `at most ${diskLimit}`,
        fix: `set settings.gateway.maxDisks to ${LIMITS.dataDisksPerInstance} or less`,
      }),
    );
  }
  if (args.bytes > args.maxBytes) {
    problems.push(
      make("error", where, {
        message: `Sync gateway ${args.gateway} carries ${(args.bytes / GiB).toFixed(0)} GiB, more than settings.gateway.maxBytes`,
        received: `${args.bytes} bytes`,
        expected: `at most ${args.maxBytes} bytes`,
        fix: "raise settings.gateway.maxBytes above the largest source disk",
      }),
    );
  }
  return problems;
}

/** Arguments of `validateEcsDisk`. */
export interface EcsDiskArgs {
  readonly vm: string;
  readonly field: string;
  readonly role: "system" | "data";
  readonly capacityBytes: number;
  readonly category: string;
  readonly file?: string;
  /** A system-disk maximum of the account and region that replaces the catalog's. */
  readonly systemMaxGiB?: number;
}

/**
 * Checks one source disk against ECS: a known category and a size that category allows for the
 * role (a system disk at most 500 GiB as documented, or `systemMaxGiB`; a data disk at most
 * 32 TiB for ESSD).
 */
export function validateEcsDisk(args: EcsDiskArgs): Problem[] {
  const where: Where = { file: args.file, vm: args.vm, field: args.field };
  if (!Number.isFinite(args.capacityBytes) || args.capacityBytes <= 0) {
    return [
      make("error", where, {
        message: "The disk size is not a positive number of bytes",
        received: String(args.capacityBytes),
        expected: "a positive size",
        fix: "correct the disk's capacity in the inventory",
      }),
    ];
  }
  const category = DISK_CATEGORIES[args.category];
  if (!category) {
    return [
      make(
        "error",
        { ...where, field: "diskCategory" },
        {
          message: `The disk category ${args.category} is not one rehost plans with`,
          received: args.category,
          expected: Object.keys(DISK_CATEGORIES).join(", "),
          fix: "set diskCategory in the VM's override or settings.sizing to one of the expected categories",
        },
      ),
    ];
  }
  const gib = Math.ceil(args.capacityBytes / GiB);
  const max = args.role === "system" ? (args.systemMaxGiB ?? category.systemMaxGiB) : category.dataMaxGiB;
  if (gib > max) {
    return [
      make("error", where, {
        message: `The ${args.role} disk is ${gib} GiB, larger than a ${args.role} disk of ${category.name} can be`,
        received: `${gib} GiB`,
        expected: `at most ${max} GiB`,
        fix:
          args.role === "system"
            ? `move data off the system disk onto a data disk and shrink it on-prem before the wave${args.systemMaxGiB === undefined ? `, or set settings.limits.systemDiskMaxGiB if your region allows system disks above ${max} GiB` : ""}`
            : "split the volume across several disks on-prem before the wave",
      }),
    ];
  }
  return [];
}

/** Checks the number of data disks of a VM against what one ECS instance attaches. */
export function validateDataDiskCount(vm: string, dataDisks: number, file?: string): Problem[] {
  if (dataDisks <= LIMITS.dataDisksPerInstance) return [];
  return [
    make(
      "error",
      { file, vm, field: "disks" },
      {
        message: `The VM has ${dataDisks} data disks; an ECS instance attaches at most ${LIMITS.dataDisksPerInstance}`,
        received: String(dataDisks),
        expected: `at most ${LIMITS.dataDisksPerInstance} data disks`,
        fix: "consolidate volumes on-prem before the wave",
      },
    ),
  ];
}

/** Checks the number of vSwitches of the VPC (mirrored subnets plus sync subnets). */
export function validateVSwitchCount(count: number, file?: string): Problem[] {
  if (count <= LIMITS.vSwitchesPerVpc) return [];
  return [
    make(
      "error",
      { file, field: "waves" },
      {
        message: `The plan needs ${count} vSwitches in one VPC; Alibaba Cloud allows ${LIMITS.vSwitchesPerVpc}`,
        received: String(count),
        expected: `at most ${LIMITS.vSwitchesPerVpc}`,
        fix: "merge small on-prem subnets, or split the estate into several VPCs (one waves file each)",
      },
    ),
  ];
}
