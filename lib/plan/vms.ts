/**
 * The planner's VM phase: each VM's NICs in the mirrored subnets (pinned addresses, or a new
 * stable one for `keepIp: false`), its instance type and its disks, with every problem found.
 */
import type { Network, Vm } from "../inventory/schema";
import type { Settings, Wave } from "../inventory/waves";
import { type Problem, problem } from "../problems";
import { DISK_CATEGORIES, PRIVATE_IPS_PER_ENI, UNCONFIRMED_IPS_PER_ENI, findInstanceType } from "./catalog";
import { cidrContains, intToIp, isAlibabaReserved, parseCidr } from "../net";
import { diskSizeGiB, sizeInstance } from "./sizing";
import type { PlannedDisk, PlannedNic, PlannedVm, Readdress } from "./types";
import { type HeldIp, validateDataDiskCount, validateEcsDisk, validatePinnedIp } from "./validate";

type NetworkIndex = ReadonlyMap<string, { network: Network; index: number }>;

/** What planning one VM needs besides the VM; `held`, `usedPortgroups` and `problems` collect. */
export interface VmContext {
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

export function planVm(vm: Vm, context: VmContext): PlannedVm {
  const { wave, waveIndex, settings, generation, networks, held, usedPortgroups, problems, inventoryFile, networksFile, wavesFile, taken, readdressed } =
    context;
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
          problems.push(
            ...found.map((p) => ({
              ...p,
              message: p.message.replace(/; the VM takes a new address \(keepIp: false\)$/, `; the VM takes ${next} instead (keepIp: false)`),
              fix: `update DNS and clients from ${ip} to ${next} at cutover`,
            })),
          );
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
function checkEniAddresses(
  vm: string,
  nic: number,
  count: number,
  instanceType: string,
  settings: Settings,
  inventoryFile: string | undefined,
  wavesFile: string | undefined,
): Problem[] {
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
