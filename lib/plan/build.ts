/**
 * `buildPlan`: inventory + waves file → migration plan. Pure and deterministic: no I/O, no clock,
 * no randomness; every data problem goes into `plan.problems`, nothing is thrown for bad data.
 * The phases live in their own files: settings (`settings.ts`), VMs (`vms.ts`: NICs,
 * pinned and new addresses, sizing, disks), network (`network.ts`: mirrored vSwitches, sync
 * subnets, VPC blocks), gateways (`gateways.ts`) and time and cost (`cost.ts`).
 */
import type { RejectedVm } from "../inventory/reading";
import type { Inventory, Network } from "../inventory/schema";
import type { WavesFile } from "../inventory/waves";
import { type Problem, problem } from "../problems";
import { DEFAULT_PRICES, GENERATIONS, LIMITS } from "./catalog";
import { ipToInt, isIpv4, parseCidr } from "../net";
import { resolveMembership } from "./membership";
import type { BlockedVm, Plan, PlannedSubnet, PlannedVm, PlannedWave, Readdress } from "./types";
import {
  type HeldIp,
  type NamedSubnet,
  findDuplicateIps,
  findOverlappingSubnets,
  validateSyncSubnet,
  validateVSwitchCidr,
  validateVSwitchCount,
  validateVpcCidr,
} from "./validate";
import { checkSettings, findDuplicateVmNames } from "./settings";
import { type VmContext, planVm } from "./vms";
import { assignZones, planSyncSubnets, planVpcBlocks, plannedSubnet } from "./network";
import { placeOnGateways } from "./gateways";
import { estimate } from "./cost";

/** Where the inputs came from, so problems can name the file. */
export interface PlanSources {
  readonly inventory?: string;
  readonly waves?: string;
  /** The networks file, when the subnets came from one rather than from the inventory. */
  readonly networks?: string;
}

/** What `buildPlan` needs besides the inventory and the waves file. */
export interface BuildPlanOptions {
  /**
   * VMs of the source that could not be read into the inventory (`readInventory`'s `rejected`):
   * listed as blocked with their reasons, and waves may still name them.
   */
  readonly rejected?: readonly RejectedVm[];
  /**
   * Every problem found reading the inputs (`readInventory`'s `problems`), put first in
   * `plan.problems`; by default the problems of `rejected`.
   */
  readonly problems?: readonly Problem[];
}

/**
 * Builds the migration plan of `waves` over `inventory`. Pure and deterministic: the same inputs
 * always give the same plan (JSON-identical). Problems (errors and warnings) are in
 * `plan.problems`; a plan with errors must not be applied.
 */
export function buildPlan(inventory: Inventory, waves: WavesFile, sources: PlanSources = {}, options: BuildPlanOptions = {}): Plan {
  const settings = waves.settings;
  const rejected = options.rejected ?? [];
  // The problems of reading the inputs come first; those of rejected VMs are their reasons.
  const problems: Problem[] = [...(options.problems ?? rejected.flatMap((r) => r.problems))];
  const wavesFile = sources.waves;
  const inventoryFile = sources.inventory;
  const networksFile = sources.networks ?? sources.inventory;

  problems.push(...checkSettings(settings, wavesFile));
  const generation = GENERATIONS.includes(settings.sizing.generation) ? settings.sizing.generation : 7;
  const prices = { ...DEFAULT_PRICES, ...settings.prices };
  const maxDisks = Math.min(settings.gateway.maxDisks, LIMITS.dataDisksPerInstance);

  const membership = resolveMembership(inventory, waves, wavesFile, new Set(rejected.map((r) => r.name)));
  problems.push(...membership.problems);

  // Networks by portgroup and by each alias; the first definition wins, later ones are reported.
  const networks = new Map<string, { network: Network; index: number }>();
  inventory.networks.forEach((network, index) => {
    const names: Array<[string, string]> = [
      [network.portgroup, `networks[${index}].portgroup`],
      ...(network.aliases ?? []).map((a, j): [string, string] => [a, `networks[${index}].aliases[${j}]`]),
    ];
    for (const [name, field] of names) {
      const first = networks.get(name);
      if (first !== undefined) {
        if (first.network === network) continue;
        problems.push(
          problem({
            file: networksFile,
            field,
            message: `The portgroup ${name} is defined twice (also by networks[${first.index}], portgroup ${first.network.portgroup})`,
            received: name,
            expected: "one definition per portgroup, as a portgroup or as an alias",
            fix: "remove or merge the duplicate entry",
          }),
        );
      } else networks.set(name, { network, index });
    }
  });

  // Every address any VM of the inventory holds: a new address must avoid them all.
  const taken = new Set<number>();
  for (const vm of inventory.vms) for (const nic of vm.nics) for (const ip of nic.ipv4) if (isIpv4(ip)) taken.add(ipToInt(ip));
  for (const { network } of networks.values()) if (network.gateway !== undefined && isIpv4(network.gateway)) taken.add(ipToInt(network.gateway));

  // VMs of every wave, with their NICs, pinned IPs, instance types and disks.
  const held: HeldIp[] = [];
  const usedPortgroups = new Set<string>();
  const plannedByWave = new Map<string, PlannedVm[]>();
  const vmOwner = new Map<string, string>();
  const readdressed: Readdress[] = [];
  waves.waves.forEach((wave, waveIndex) => {
    const vms = membership.vmsByWave.get(wave.name) ?? [];
    const planned: PlannedVm[] = [];
    const context: VmContext = {
      wave,
      waveIndex,
      settings,
      generation,
      networks,
      held,
      usedPortgroups,
      problems,
      inventoryFile,
      networksFile,
      wavesFile,
      taken,
      readdressed,
    };
    for (const vm of vms) {
      if (vmOwner.has(vm.name)) continue; // Reported by resolveMembership.
      vmOwner.set(vm.name, wave.name);
      planned.push(planVm(vm, context));
    }
    plannedByWave.set(wave.name, planned);
  });
  problems.push(...findDuplicateVmNames(inventory.vms, inventoryFile));
  problems.push(...findDuplicateIps(held, inventoryFile));
  // One line for every portgroup without a subnet (each VM using one is also blocked by it).
  const unmapped = new Map<string, number>();
  for (const planned of plannedByWave.values()) {
    for (const vm of planned) {
      for (const pg of new Set(vm.nics.filter((n) => n.subnet === "").map((n) => n.portgroup))) unmapped.set(pg, (unmapped.get(pg) ?? 0) + 1);
    }
  }
  if (unmapped.size > 0) {
    const names = [...unmapped.keys()].sort();
    problems.push(
      problem({
        file: networksFile,
        field: "networks",
        message: `${names.length} portgroup(s) have no subnet, so their VMs are blocked: ${names.map((pg) => `${pg} (${unmapped.get(pg)} VM${unmapped.get(pg) === 1 ? "" : "s"})`).join(", ")}`,
        received: names.join(", "),
        expected: "a subnet (CIDR, gateway) for every portgroup a NIC uses",
        fix: `add ${names.length === 1 ? "this portgroup" : "these portgroups"} to the networks file with their CIDR and gateway, or as aliases of the network they belong to`,
      }),
    );
  }

  // Mirrored subnets: validate each used one, then overlaps among them.
  const usedNetworks = [...usedPortgroups].map((pg) => networks.get(pg)!).sort((a, b) => a.index - b.index);
  const validCidrs = new Set<string>();
  for (const { network, index } of usedNetworks) {
    const found = validateVSwitchCidr(network.cidr, { file: networksFile, field: `networks[${index}].cidr` });
    problems.push(...found.map((p) => ({ ...p, message: `${p.message} (portgroup ${network.portgroup})` })));
    if (found.length === 0) validCidrs.add(network.cidr);
  }
  const named: NamedSubnet[] = usedNetworks.map(({ network, index }) => ({
    portgroup: network.portgroup,
    cidr: network.cidr,
    field: `networks[${index}].cidr`,
  }));
  problems.push(...findOverlappingSubnets(named, networksFile));
  const zoneOf = assignZones(
    usedNetworks.map((n) => n.network.cidr),
    settings.zones,
  );

  // A VM with an error of its own is blocked: listed with every reason, and left out of its wave
  // (its subnets, gateways and estimates), so the rest of the wave is planned. Membership
  // problems name VMs too, but concern the waves file, not the VM.
  const membershipProblems = new Set(membership.problems);
  // A VM on a subnet that cannot be a vSwitch cannot move either.
  for (const [wave, planned] of plannedByWave) {
    for (const vm of planned) {
      for (const nic of vm.nics) {
        const entry = networks.get(nic.portgroup);
        if (!entry || nic.subnet === "" || validCidrs.has(nic.subnet)) continue;
        problems.push(
          problem({
            file: networksFile,
            vm: vm.name,
            field: `networks[${entry.index}].cidr`,
            message: `The subnet ${nic.subnet} of portgroup ${entry.network.portgroup} cannot be mirrored as a vSwitch, so the VM's NIC ${nic.mac} has nowhere to go (wave ${wave})`,
            received: nic.subnet,
            expected: "a subnet that passes the vSwitch checks (see the problem of the same field)",
            fix: "correct the subnet in the networks file, or migrate the VM with keepIp: false into another subnet",
          }),
        );
      }
    }
  }
  const reasons = new Map<string, Problem[]>();
  for (const r of rejected) reasons.set(r.name, [...r.problems]);
  for (const p of problems) {
    if (p.severity !== "error" || p.vm === undefined || membershipProblems.has(p) || !vmOwner.has(p.vm)) continue;
    const list = reasons.get(p.vm);
    if (list) list.push(p);
    else reasons.set(p.vm, [p]);
  }
  const blocked: BlockedVm[] = [];
  for (const vm of inventory.vms) {
    const list = reasons.get(vm.name);
    if (list !== undefined && vmOwner.has(vm.name)) blocked.push({ name: vm.name, wave: vmOwner.get(vm.name)!, reasons: list });
  }
  for (const r of rejected) {
    const wave = membership.rejectedWave.get(r.name);
    blocked.push({ name: r.name, ...(wave !== undefined ? { wave } : {}), reasons: reasons.get(r.name)! });
  }
  const blockedNames = new Set(blocked.map((b) => b.name));
  for (const [wave, planned] of plannedByWave)
    plannedByWave.set(
      wave,
      planned.filter((vm) => !blockedNames.has(vm.name)),
    );
  const plannedPortgroups = new Set<string>();
  for (const planned of plannedByWave.values())
    for (const vm of planned) for (const nic of vm.nics) if (nic.subnet !== "") plannedPortgroups.add(networks.get(nic.portgroup)!.network.portgroup);
  const plannedNetworks = usedNetworks.filter(({ network }) => plannedPortgroups.has(network.portgroup));
  const plannedCidrs = new Set([...validCidrs].filter((c) => plannedNetworks.some(({ network }) => network.cidr === c)));

  // Sync subnets: given ones first, then carved from the pool around every known range.
  const syncSubnets = planSyncSubnets(waves, inventory.networks, problems, wavesFile);
  const sourceCidrs = inventory.networks.map((n) => n.cidr).filter((c) => parseCidr(c) !== undefined);
  for (const wave of waves.waves) {
    const cidr = syncSubnets.get(wave.name);
    if (cidr === undefined) continue;
    const given = settings.sync.subnets[wave.name] !== undefined;
    const others: Record<string, string> = {};
    for (const [name, other] of syncSubnets) if (name !== wave.name) others[name] = other;
    problems.push(
      ...validateSyncSubnet({
        wave: wave.name,
        cidr,
        mirrored: sourceCidrs,
        onPrem: settings.onPremRanges,
        otherSync: others,
        file: wavesFile,
        field: given ? `settings.sync.subnets.${wave.name}` : "settings.sync.pool",
      }),
    );
  }

  const validSync = [...new Set(syncSubnets.values())].filter((c) => parseCidr(c) !== undefined);
  problems.push(...validateVSwitchCount(plannedCidrs.size + validSync.length, wavesFile));
  const vpcBlocks = planVpcBlocks([...plannedCidrs, ...validSync].map((c) => parseCidr(c)!));
  vpcBlocks.forEach((b, i) => problems.push(...validateVpcCidr(b.text, { file: wavesFile, field: `vpc.cidrBlocks[${i}]` })));
  if (vpcBlocks.length > LIMITS.vpcCidrBlocks) {
    problems.push(
      problem({
        file: wavesFile,
        field: "vpc.cidrBlocks",
        message: `Covering every mirrored and sync subnet takes ${vpcBlocks.length} VPC CIDR blocks; rehost plans at most ${LIMITS.vpcCidrBlocks} (one primary, ${LIMITS.vpcCidrBlocks - 1} secondary)`,
        received: vpcBlocks.map((b) => b.text).join(", "),
        expected: `at most ${LIMITS.vpcCidrBlocks} blocks`,
        fix: "put the sync pool in the same private range as the source subnets, or migrate distant ranges in another VPC",
      }),
    );
  }

  const plannedWaves: PlannedWave[] = waves.waves.map((wave) => {
    const vms = plannedByWave.get(wave.name) ?? [];
    const portgroups = new Set(vms.flatMap((vm) => vm.nics.flatMap((n) => (n.subnet !== "" ? [networks.get(n.portgroup)!.network.portgroup] : []))));
    const subnets: PlannedSubnet[] = usedNetworks
      .filter(({ network }) => portgroups.has(network.portgroup))
      .map(({ network }) => plannedSubnet(network, zoneOf.get(network.cidr) ?? settings.zones[0]!));
    const { vms: placedVms, gateways } = placeOnGateways(wave, vms, settings, generation, maxDisks, problems, wavesFile);
    const result: PlannedWave = {
      name: wave.name,
      after: wave.after,
      ...(wave.window ? { window: wave.window } : {}),
      rehearsals: wave.rehearsals,
      vms: placedVms,
      subnets,
      syncSubnet: { cidr: syncSubnets.get(wave.name) ?? "", zone: settings.zones[0]! },
      gateways,
      estimate: estimate(placedVms, gateways, wave, settings, prices),
    };
    return result;
  });

  // A VM the loader rejected is blocked (with its wave when one names it), never also unassigned.
  const unassigned = inventory.vms.filter((vm) => !vmOwner.has(vm.name)).map((vm) => vm.name);
  if (unassigned.length > 0) {
    problems.push({
      severity: "warning",
      file: wavesFile,
      field: "waves",
      message: `${unassigned.length} VM(s) of the inventory are in no wave and will not move: ${unassigned.join(", ")}`,
      received: `${unassigned.length} VM(s) in no wave`,
      fix: "add them to a wave (members.rest: true on one wave takes every VM no other wave selects), or leave them out on purpose",
    });
  }
  const plannedNames = new Set(plannedWaves.flatMap((w) => w.vms.map((vm) => vm.name)));

  return {
    version: 1,
    region: settings.region,
    vpc: { cidrBlocks: vpcBlocks.map((b) => b.text) },
    onPremRanges: settings.onPremRanges,
    waves: plannedWaves,
    blocked,
    unassigned,
    readdressed: readdressed.filter((r) => plannedNames.has(r.vm)),
    problems,
  };
}
