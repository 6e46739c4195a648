/**
 * `buildPlan`: inventory + waves file → migration plan. Pure and deterministic: no I/O, no clock,
 * no randomness; every data problem goes into `plan.problems`, nothing is thrown for bad data.
 */
import type { RejectedVm } from "../inventory/reading";
import type { Inventory, Network, Vm } from "../inventory/schema";
import type { Settings, Wave, WavesFile } from "../inventory/waves";
import { type Problem, problem } from "../problems";
import {
  CURRENCY,
  DEFAULT_PRICES,
  DISK_CATEGORIES,
  FORBIDDEN_VPC_RANGES,
  GENERATIONS,
  LIMITS,
  PRIVATE_IPS_PER_ENI,
  PRIVATE_RANGES,
  UNCONFIRMED_IPS_PER_ENI,
  findInstanceType,
} from "./catalog";
import { type Cidr, checkCidrSyntax, cidrContains, cidrCovers, cidrOf, cidrsOverlap, commonCover, compareCidrs, intToIp, ipToInt, isAlibabaReserved, isIpv4, parseCidr } from "../net";
import { resolveMembership } from "./membership";
import { type PackItem, packDisks } from "./packing";
import { diskSizeGiB, gatewayInstanceType, sizeInstance } from "./sizing";
import type { BlockedVm, Plan, PlannedDisk, PlannedGateway, PlannedNic, PlannedSubnet, PlannedVm, PlannedWave, Readdress, WaveEstimate } from "./types";
import {
  type HeldIp,
  type NamedSubnet,
  findDuplicateIps,
  findOverlappingSubnets,
  validateDataDiskCount,
  validateEcsDisk,
  validateGatewayDisks,
  validatePinnedIp,
  validateSyncSubnet,
  validateVSwitchCidr,
  validateVSwitchCount,
  validateVpcCidr,
} from "./validate";

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

const HOURS_PER_MONTH = 730;

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
    const names: Array<[string, string]> = [[network.portgroup, `networks[${index}].portgroup`], ...(network.aliases ?? []).map((a, j): [string, string] => [a, `networks[${index}].aliases[${j}]`])];
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
    const context: VmContext = { wave, waveIndex, settings, generation, networks, held, usedPortgroups, problems, inventoryFile, networksFile, wavesFile, taken, readdressed };
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
  const named: NamedSubnet[] = usedNetworks.map(({ network, index }) => ({ portgroup: network.portgroup, cidr: network.cidr, field: `networks[${index}].cidr` }));
  problems.push(...findOverlappingSubnets(named, networksFile));
  const zoneOf = assignZones(usedNetworks.map((n) => n.network.cidr), settings.zones);

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
  for (const [wave, planned] of plannedByWave) plannedByWave.set(wave, planned.filter((vm) => !blockedNames.has(vm.name)));
  const plannedPortgroups = new Set<string>();
  for (const planned of plannedByWave.values()) for (const vm of planned) for (const nic of vm.nics) if (nic.subnet !== "") plannedPortgroups.add(networks.get(nic.portgroup)!.network.portgroup);
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

function checkSettings(settings: Settings, file?: string): Problem[] {
  const problems: Problem[] = [];
  if (!GENERATIONS.includes(settings.sizing.generation)) {
    problems.push(
      problem({
        file,
        field: "settings.sizing.generation",
        message: `The catalog has no instance generation ${settings.sizing.generation}`,
        received: String(settings.sizing.generation),
        expected: GENERATIONS.join(", "),
        fix: "choose a generation the catalog has",
      }),
    );
  }
  if (!DISK_CATEGORIES[settings.sizing.diskCategory]) {
    problems.push(
      problem({
        file,
        field: "settings.sizing.diskCategory",
        message: `The disk category ${settings.sizing.diskCategory} is not one rehost plans with`,
        received: settings.sizing.diskCategory,
        expected: Object.keys(DISK_CATEGORIES).join(", "),
        fix: "choose one of the expected categories",
      }),
    );
  }
  if (settings.gateway.maxDisks > LIMITS.dataDisksPerInstance) {
    problems.push(
      problem({
        file,
        field: "settings.gateway.maxDisks",
        message: `A sync gateway cannot carry ${settings.gateway.maxDisks} disks: an ECS instance attaches at most ${LIMITS.dataDisksPerInstance} data disks`,
        received: String(settings.gateway.maxDisks),
        expected: `at most ${LIMITS.dataDisksPerInstance}`,
        fix: `set settings.gateway.maxDisks to ${LIMITS.dataDisksPerInstance} or less`,
      }),
    );
  }
  settings.onPremRanges.forEach((range, i) => {
    problems.push(...checkCidrSyntax(range, { file, field: `settings.onPremRanges[${i}]` }, "on-prem range").problems);
  });
  for (const key of Object.keys(settings.prices)) {
    if (!(key in DEFAULT_PRICES)) {
      problems.push({
        severity: "warning",
        file,
        field: `settings.prices.${key}`,
        message: `The price key ${key} is unknown and is ignored`,
        received: key,
        expected: Object.keys(DEFAULT_PRICES).join(", "),
        fix: "correct the key's spelling",
      });
    }
  }
  return problems;
}

function findDuplicateVmNames(vms: readonly Vm[], file?: string): Problem[] {
  const seen = new Set<string>();
  const problems: Problem[] = [];
  vms.forEach((vm, i) => {
    if (seen.has(vm.name)) {
      problems.push(
        problem({
          file,
          vm: vm.name,
          field: `vms[${i}].name`,
          message: `Two VMs of the inventory are named ${vm.name}; waves and plans name VMs uniquely`,
          received: vm.name,
          expected: "a unique VM name",
          fix: "rename one of the VMs in the inventory",
        }),
      );
    }
    seen.add(vm.name);
  });
  return problems;
}

type NetworkIndex = ReadonlyMap<string, { network: Network; index: number }>;

/** What planning one VM needs besides the VM; `held`, `usedPortgroups` and `problems` collect. */
interface VmContext {
  readonly wave: Wave;
  readonly waveIndex: number;
  readonly settings: Settings;
  readonly generation: number;
  readonly networks: NetworkIndex;
  readonly held: HeldIp[];
  readonly usedPortgroups: Set<string>;
  readonly problems: Problem[];
  readonly inventoryFile: string | undefined;
  readonly networksFile: string | undefined;
  readonly wavesFile: string | undefined;
  /** Every address held in the inventory or given out as a new one (as integers). */
  readonly taken: Set<number>;
  readonly readdressed: Readdress[];
}

function planVm(vm: Vm, context: VmContext): PlannedVm {
  const { wave, waveIndex, settings, generation, networks, held, usedPortgroups, problems, inventoryFile, networksFile, wavesFile, taken, readdressed } = context;
  const overrideField = `waves[${waveIndex}].overrides.${vm.name}`;
  const override = wave.overrides[vm.name] ?? {};
  const keepIp = override.keepIp !== false;
  const nics: PlannedNic[] = vm.nics.map((nic, i) => {
    const entry = networks.get(nic.portgroup);
    if (!entry) {
      problems.push(
        problem({
          file: networksFile,
          vm: vm.name,
          field: `nics[${i}].portgroup`,
          message: `The portgroup ${nic.portgroup} has no subnet, so the VM's addresses cannot be placed`,
          received: nic.portgroup,
          expected: "a portgroup listed in the networks",
          fix: `add ${nic.portgroup} with its CIDR to the networks file`,
        }),
      );
      nic.ipv4.forEach((ip, j) => held.push({ vm: vm.name, field: `nics[${i}].ipv4[${j}]`, ip }));
      return { mac: nic.mac, portgroup: nic.portgroup, subnet: "", ips: keepIp ? nic.ipv4 : [], primary: i === 0 };
    }
    usedPortgroups.add(entry.network.portgroup);
    const kept: string[] = [];
    nic.ipv4.forEach((ip, j) => {
      const field = `nics[${i}].ipv4[${j}]`;
      held.push({ vm: vm.name, field, ip });
      const found = validatePinnedIp({ vm: vm.name, field, ip, cidr: entry.network.cidr, keepIp, file: inventoryFile });
      if (found.some((p) => p.severity === "warning")) {
        // keepIp: false: a free address of the subnet, pinned and listed for DNS.
        const next = freeAddress(entry.network.cidr, `${vm.name}/${i}/${j}`, taken);
        if (next === undefined) {
          problems.push(
            problem({
              file: networksFile,
              vm: vm.name,
              field,
              message: `The address ${ip} cannot be kept and subnet ${entry.network.cidr} has no free address left for a new one`,
              received: ip,
              expected: `a free address in ${entry.network.cidr}`,
              fix: "widen the subnet, or move VMs out of it",
            }),
          );
        } else {
          problems.push(...found.map((p) => ({ ...p, message: p.message.replace(/; the VM takes a new address \(keepIp: false\)$/, `; the VM takes ${next} instead (keepIp: false)`), fix: `update DNS and clients from ${ip} to ${next} at cutover` })));
          kept.push(next);
          readdressed.push({ vm: vm.name, wave: wave.name, mac: nic.mac, portgroup: nic.portgroup, subnet: entry.network.cidr, from: ip, to: next });
        }
      } else {
        problems.push(...found);
        kept.push(ip);
      }
    });
    return { mac: nic.mac, portgroup: nic.portgroup, subnet: entry.network.cidr, ips: kept, primary: i === 0 };
  });
  if (vm.nics.every((n) => n.ipv4.length === 0)) {
    problems.push({
      severity: "warning",
      file: inventoryFile,
      vm: vm.name,
      field: "nics",
      message: "The inventory knows no IPv4 address of the VM, so none is pinned; it takes one from DHCP",
      received: "no address",
      expected: "the VM's addresses (VMware Tools report them when the VM runs)",
      fix: "add the addresses to the inventory, or accept a new address",
    });
  }

  const instanceType = chooseInstanceType(vm, override.instanceType, generation, problems, inventoryFile, wavesFile, overrideField);
  nics.forEach((nic, i) => problems.push(...checkEniAddresses(vm.name, i, nic.ips.length, instanceType, settings, inventoryFile, wavesFile)));
  const category = override.diskCategory ?? settings.sizing.diskCategory;
  const cat = DISK_CATEGORIES[category];
  // An unknown category is reported once: here for an override, by checkSettings for the default.
  if (!cat && override.diskCategory !== undefined) {
    problems.push(
      problem({
        file: wavesFile,
        vm: vm.name,
        field: `${overrideField}.diskCategory`,
        message: `The disk category ${category} is not one rehost plans with`,
        received: category,
        expected: Object.keys(DISK_CATEGORIES).join(", "),
        fix: "set diskCategory to one of the expected categories",
      }),
    );
  }
  const disks: PlannedDisk[] = vm.disks.map((disk, i) => {
    const role = i === 0 ? "system" : "data";
    const field = `disks[${i}]`;
    if (cat || disk.capacityBytes <= 0) {
      problems.push(
        ...validateEcsDisk({
          vm: vm.name,
          field: `${field}.capacityBytes`,
          role,
          capacityBytes: disk.capacityBytes,
          category: cat ? category : "cloud_essd",
          file: inventoryFile,
          ...(settings.limits.systemDiskMaxGiB !== undefined ? { systemMaxGiB: settings.limits.systemDiskMaxGiB } : {}),
        }),
      );
    }
    if (disk.backing === "rdm-physical" || disk.backing === "independent") {
      problems.push({
        severity: "warning",
        file: inventoryFile,
        vm: vm.name,
        field: `${field}.backing`,
        message: `The ${disk.backing} disk ${disk.label} is left out of VM snapshots, so its changes are found by comparing hashes, which reads the whole disk every round`,
        received: disk.backing,
        expected: "flat or rdm-virtual",
        fix: "convert the disk to a dependent virtual disk before the wave if the rounds are too slow",
      });
    }
    const capacity = Math.max(0, disk.capacityBytes);
    const minGiB = cat ? (role === "system" ? cat.systemMinGiB : cat.dataMinGiB) : 20;
    return {
      id: `${vm.name}-disk-${disk.key}`,
      key: disk.key,
      label: disk.label,
      sizeBytes: capacity,
      sizeGiB: diskSizeGiB(capacity, minGiB),
      allocatedBytes: Math.min(capacity, disk.allocatedBytes ?? capacity),
      role,
      category,
      gateway: "",
      slot: -1,
    };
  });
  problems.push(...validateDataDiskCount(vm.name, Math.max(0, vm.disks.length - 1), inventoryFile));

  return {
    name: vm.name,
    uuid: vm.uuid,
    ips: nics.flatMap((n) => n.ips),
    nics,
    keepIp,
    instanceType,
    cpus: vm.cpus,
    memoryMiB: vm.memoryMiB,
    guestOs: { family: vm.guestOs.family, id: vm.guestOs.id },
    firmware: vm.firmware,
    disks,
    gateway: "",
  };
}

function chooseInstanceType(
  vm: Vm,
  override: string | undefined,
  generation: number,
  problems: Problem[],
  inventoryFile: string | undefined,
  wavesFile: string | undefined,
  overrideField: string,
): string {
  const sized = sizeInstance(vm.cpus, vm.memoryMiB, generation);
  if (override !== undefined) {
    if (!/^ecs\.[a-z0-9-]+\.[a-z0-9-]+$/.test(override)) {
      problems.push(
        problem({
          file: wavesFile,
          vm: vm.name,
          field: `${overrideField}.instanceType`,
          message: "The instance type override is not an ECS type name",
          received: override,
          expected: "a name such as ecs.g7.xlarge",
          fix: "correct the instanceType override",
        }),
      );
      return override;
    }
    const known = findInstanceType(override);
    if (known && (known.vcpus < vm.cpus || known.memoryGiB * 1024 < vm.memoryMiB)) {
      problems.push({
        severity: "warning",
        file: wavesFile,
        vm: vm.name,
        field: `${overrideField}.instanceType`,
        message: `The override ${override} (${known.vcpus} vCPU, ${known.memoryGiB} GiB) is smaller than the VM (${vm.cpus} vCPU, ${vm.memoryMiB / 1024} GiB)`,
        received: override,
        expected: sized ? `${sized.name} or larger` : "a type at least as large as the VM",
        fix: "keep the override only if the workload was measured to fit",
      });
    }
    return override;
  }
  if (sized) return sized.name;
  problems.push(
    problem({
      file: inventoryFile,
      vm: vm.name,
      field: "cpus",
      message: `No instance type of generation ${generation} has ${vm.cpus} vCPUs and ${vm.memoryMiB} MiB`,
      received: `${vm.cpus} vCPU, ${vm.memoryMiB} MiB`,
      expected: "a VM that fits one instance type of the catalog",
      fix: "set an instanceType override for the VM in its wave",
    }),
  );
  return "";
}

/** Spreads the distinct mirrored CIDRs over the zones, round-robin in address order. */
function assignZones(cidrs: readonly string[], zones: readonly string[]): Map<string, string> {
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

function plannedSubnet(network: Network, zone: string): PlannedSubnet {
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
function planSyncSubnets(waves: WavesFile, networks: readonly Network[], problems: Problem[], file?: string): Map<string, string> {
  const { sync, onPremRanges } = waves.settings;
  const result = new Map<string, string>();
  const waveNames = new Set(waves.waves.map((w) => w.name));
  for (const [name, cidr] of Object.entries(sync.subnets)) {
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

/** Packs a wave's disks onto gateways and writes the placement into its VMs and disks. */
function placeOnGateways(
  wave: Wave,
  vms: readonly PlannedVm[],
  settings: Settings,
  generation: number,
  maxDisks: number,
  problems: Problem[],
  file?: string,
): { vms: PlannedVm[]; gateways: PlannedGateway[] } {
  const items: PackItem[] = [];
  const allocated = new Map<string, number>();
  for (const vm of vms) {
    for (const disk of vm.disks) {
      items.push({ id: disk.id, bytes: disk.sizeBytes, group: vm.name });
      allocated.set(disk.id, disk.allocatedBytes);
    }
  }
  const linkMBps = linkBytesPerSecond(settings) / 1e6;
  const minBins = Math.ceil(linkMBps / settings.gateway.maxThroughputMBps);
  const packing = packDisks(items, { maxDisks, maxBytes: settings.gateway.maxBytes, minBins });
  const waveAllocated = items.reduce((sum, i) => sum + allocated.get(i.id)!, 0);
  const placement = new Map<string, { gateway: string; slot: number }>();
  const gateways: PlannedGateway[] = packing.bins.map((bin, n) => {
    const name = `${wave.name}-gw-${n + 1}`;
    bin.forEach((item, slot) => placement.set(item.id, { gateway: name, slot }));
    const bytes = bin.reduce((sum, i) => sum + i.bytes, 0);
    const carried = bin.reduce((sum, i) => sum + allocated.get(i.id)!, 0);
    const share = waveAllocated > 0 ? carried / waveAllocated : 1 / packing.bins.length;
    const throughputMBps = round(Math.min(settings.gateway.maxThroughputMBps, linkMBps * share), 1);
    problems.push(...validateGatewayDisks({ gateway: name, disks: bin.length, bytes, maxDisks: settings.gateway.maxDisks, maxBytes: settings.gateway.maxBytes, file }));
    return { name, instanceType: gatewayInstanceType(throughputMBps, generation), disks: bin.length, diskIds: bin.map((i) => i.id), bytes, throughputMBps };
  });
  const byName = new Map(vms.map((vm) => [vm.name, vm] as const));
  for (const group of packing.splitGroups) {
    const vm = byName.get(group)!;
    const names = [...new Set(vm.disks.map((d) => placement.get(d.id)!.gateway))];
    problems.push({
      severity: "warning",
      file,
      vm: group,
      field: "disks",
      message: `The VM's disks do not fit on one sync gateway and are spread over ${names.join(", ")}; its rehearsal points are taken on all of them at one round boundary`,
      received: `${vm.disks.length} disks`,
      expected: `at most ${maxDisks} disks and ${settings.gateway.maxBytes} bytes on one gateway`,
      fix: "raise settings.gateway.maxBytes if the gateways allow it",
    });
  }
  const placedVms = vms.map((vm) => {
    const disks = vm.disks.map((d) => ({ ...d, ...placement.get(d.id)! }));
    return { ...vm, disks, gateway: disks[0]?.gateway ?? "" };
  });
  return { vms: placedVms, gateways };
}

/** Bytes per second replication gets from the link. */
function linkBytesPerSecond(settings: Settings): number {
  return ((settings.link.bandwidthMbps * 1e6) / 8) * settings.link.efficiency;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function hourlyPrice(instanceType: string, cpus: number, memoryMiB: number, prices: Readonly<Record<string, number>>): number {
  const known = findInstanceType(instanceType) ?? sizeInstance(cpus, memoryMiB, 7);
  const kind = known?.kind ?? "g";
  const vcpus = known?.vcpus ?? cpus;
  return vcpus * (prices[`instance.${kind}.vcpuHour`] ?? 0);
}

/**
 * Time and cost of a wave: the initial sync over the link (capped by the gateways' throughput),
 * one daily incremental round, and the migration period's cost with sync gateways (plus the
 * hosts during rehearsals) against running every target host for the whole period.
 */
function estimate(vms: readonly PlannedVm[], gateways: readonly PlannedGateway[], wave: Wave, settings: Settings, prices: Readonly<Record<string, number>>): WaveEstimate {
  const allocatedBytes = vms.reduce((sum, vm) => sum + vm.disks.reduce((s, d) => s + d.allocatedBytes, 0), 0);
  const gatewayRate = gateways.reduce((sum, g) => sum + g.throughputMBps * 1e6, 0);
  const rate = Math.min(linkBytesPerSecond(settings), gatewayRate > 0 ? gatewayRate : Infinity);
  const hours = (bytes: number): number => (rate > 0 ? bytes / rate / 3600 : 0);
  const incrementalRoundBytes = Math.round(allocatedBytes * settings.dailyChangeRate);
  const periodHours = settings.migrationDays * 24;
  const months = periodHours / HOURS_PER_MONTH;
  const diskCost = vms.reduce(
    (sum, vm) => sum + vm.disks.reduce((s, d) => s + (d.sizeGiB ?? Math.ceil(d.sizeBytes / 2 ** 30)) * (prices[`disk.${d.category}.gibMonth`] ?? 0) * months, 0),
    0,
  );
  const hostsHourly = vms.reduce((sum, vm) => sum + hourlyPrice(vm.instanceType, vm.cpus, vm.memoryMiB, prices), 0);
  const gatewaysHourly = gateways.reduce((sum, g) => sum + hourlyPrice(g.instanceType, 1, 1024, prices), 0);
  const rehearsalHours = wave.rehearsals * (prices["rehearsal.hours"] ?? 0);
  return {
    initialSyncHours: round(hours(allocatedBytes), 2),
    incrementalRoundBytes,
    incrementalRoundHours: round(hours(incrementalRoundBytes), 2),
    costGateway: round(gatewaysHourly * periodHours + hostsHourly * rehearsalHours + diskCost, 2),
    costFullHosts: round(hostsHourly * periodHours + diskCost, 2),
    currency: CURRENCY,
    allocatedBytes,
    periodDays: settings.migrationDays,
    syncRateMBps: round(rate / 1e6, 1),
  };
}

/**
 * The address a VM that cannot keep its own gets in `cidr`: usable (not one Alibaba Cloud
 * reserves), held by no VM of the inventory and given to no other VM. The search starts at a
 * point derived from `seed` (VM, NIC, address index), so the choice is the same on every run and
 * does not move when unrelated VMs are added; the address is marked taken.
 */
export function freeAddress(cidr: string, seed: string, taken: Set<number>): string | undefined {
  const block = parseCidr(cidr);
  if (!block) return undefined;
  const first = block.first + 1;
  const last = block.last - 3;
  const size = last - first + 1;
  if (size <= 0) return undefined;
  let hash = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) hash = Math.imul(hash ^ seed.charCodeAt(i), 0x01000193) >>> 0;
  const start = hash % size;
  for (let k = 0; k < size; k++) {
    const candidate = first + ((start + k) % size);
    if (taken.has(candidate) || isAlibabaReserved(block, candidate) || !cidrContains(block, candidate)) continue;
    taken.add(candidate);
    return intToIp(candidate);
  }
  return undefined;
}

/**
 * Checks a NIC's addresses against the private IPv4 addresses one ENI of the instance type holds:
 * an error with the figure (from `settings.limits.privateIpsPerEni` or the catalog), a warning
 * asking for it when the NIC carries many addresses and no figure is known.
 */
function checkEniAddresses(vm: string, nic: number, count: number, instanceType: string, settings: Settings, inventoryFile: string | undefined, wavesFile: string | undefined): Problem[] {
  const configured = settings.limits.privateIpsPerEni;
  const limit = typeof configured === "number" ? configured : (configured?.[instanceType] ?? PRIVATE_IPS_PER_ENI[instanceType]);
  if (limit !== undefined) {
    if (count <= limit) return [];
    return [
      problem({
        file: inventoryFile,
        vm,
        field: `nics[${nic}].ipv4`,
        message: `The NIC carries ${count} addresses; one ENI of ${instanceType || "the instance type"} holds at most ${limit} private IPv4 addresses`,
        received: `${count} addresses`,
        expected: `at most ${limit} per ENI`,
        fix: `spread the addresses over more NICs (one ENI each) on-prem, or set an instanceType override whose ENIs hold ${count} addresses`,
      }),
    ];
  }
  if (count <= UNCONFIRMED_IPS_PER_ENI) return [];
  return [
    {
      severity: "warning",
      file: wavesFile,
      vm,
      field: `nics[${nic}].ipv4`,
      message: `The NIC carries ${count} addresses; ECS caps the private IPv4 addresses of one ENI by instance type, and the catalog holds no figure for ${instanceType || "this type"}`,
      received: `${count} addresses`,
      expected: `a confirmed figure for ${instanceType || "the instance type"} of at least ${count}`,
      fix: `look up "private IPv4 addresses per ENI" of ${instanceType || "the type"} (DescribeInstanceTypes: EniPrivateIpAddressQuantity) and set settings.limits.privateIpsPerEni; if it is lower, use more ENIs or a larger type`,
    },
  ];
}
