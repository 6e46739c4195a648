/**
 * Checks of an inventory that a schema cannot express: uniqueness, address syntax, and that every
 * portgroup a NIC uses has a subnet. Checks that need the waves file or the plan (an IP inside its
 * subnet, reserved addresses, duplicate IPs, waves naming unknown VMs) belong to `lib/plan`.
 */
import { problem, type Problem } from "../problems";
import { checkCidrSyntax, cidrContains, isIpv4, parseCidrLoose } from "../net";
import type { Network, Vm } from "./schema";

/** Duplicate names/uuids, duplicate disk keys, malformed IPv4 addresses of the VMs. */
export function validateVms(vms: readonly Vm[], file: string | undefined): Problem[] {
  const problems: Problem[] = [];
  const at = file !== undefined ? { file } : {};
  problems.push(...duplicates(vms, (vm) => vm.name, "name", file));
  problems.push(...duplicates(vms, (vm) => vm.uuid.toLowerCase(), "uuid", file));
  for (const vm of vms) {
    const keys = new Map<number, number>();
    vm.disks.forEach((disk, index) => {
      const first = keys.get(disk.key);
      if (first !== undefined) {
        problems.push(
          problem({
            ...at,
            vm: vm.name,
            field: `disks[${index}].key`,
            received: String(disk.key),
            expected: "a device key used by one disk of the VM only",
            fix: `give ${disk.label} its own key (disks[${first}] already uses ${disk.key})`,
            message: `Two disks of VM ${vm.name} share device key ${disk.key}`,
          }),
        );
      } else keys.set(disk.key, index);
      if (disk.allocatedBytes !== undefined && disk.allocatedBytes > disk.capacityBytes) {
        problems.push(
          problem({
            ...at,
            vm: vm.name,
            field: `disks[${index}].allocatedBytes`,
            received: String(disk.allocatedBytes),
            expected: `at most the capacity, ${disk.capacityBytes}`,
            fix: "set allocatedBytes to the bytes really allocated, or leave it out",
            message: `Disk ${disk.label} of VM ${vm.name} has more bytes allocated than its capacity`,
          }),
        );
      }
    });
    vm.nics.forEach((nic, n) => {
      nic.ipv4.forEach((ip, i) => {
        if (!isIpv4(ip)) {
          problems.push(
            problem({
              ...at,
              vm: vm.name,
              field: `nics[${n}].ipv4[${i}]`,
              received: JSON.stringify(ip),
              expected: "a dotted IPv4 address like 10.10.1.21",
              fix: "correct the address",
              message: `VM ${vm.name} has a malformed IPv4 address`,
            }),
          );
        }
      });
    });
  }
  return problems;
}

/**
 * Malformed CIDRs and gateways, gateways outside their subnet, duplicate portgroups. `prefix` is
 * the field path of the list (`networks`); `undefined` entries (already reported malformed) are skipped.
 */
export function validateNetworks(networks: readonly (Network | undefined)[], file: string | undefined, prefix = "networks"): Problem[] {
  const problems: Problem[] = [];
  const at = file !== undefined ? { file } : {};
  const seen = new Map<string, number>();
  networks.forEach((network, index) => {
    if (network === undefined) return;
    const field = `${prefix}[${index}]`;
    const first = seen.get(network.portgroup);
    if (first !== undefined) {
      problems.push(
        problem({
          ...at,
          field: `${field}.portgroup`,
          received: JSON.stringify(network.portgroup),
          expected: "each portgroup listed once",
          fix: `merge it with ${prefix}[${first}] or remove one of them`,
          message: `Portgroup ${network.portgroup} is listed twice`,
        }),
      );
    } else seen.set(network.portgroup, index);
    (network.aliases ?? []).forEach((alias, j) => {
      const other = seen.get(alias);
      if (other !== undefined) {
        problems.push(
          problem({
            ...at,
            field: `${field}.aliases[${j}]`,
            received: JSON.stringify(alias),
            expected: "a portgroup no other network lists, as its portgroup or an alias",
            fix: `remove ${alias} from one of ${prefix}[${other}] and ${field}`,
            message: `Portgroup ${alias} is listed twice`,
          }),
        );
      } else seen.set(alias, index);
    });
    problems.push(...checkCidrSyntax(network.cidr, { ...at, field: `${field}.cidr` }, `subnet of portgroup ${network.portgroup}`).problems);
    // The block the text names even with host bits set, so the gateway is still checked against it.
    const cidr = parseCidrLoose(network.cidr);
    if (network.gateway !== undefined) {
      if (!isIpv4(network.gateway)) {
        problems.push(
          problem({
            ...at,
            field: `${field}.gateway`,
            received: JSON.stringify(network.gateway),
            expected: "a dotted IPv4 address like 10.10.1.1",
            fix: "correct the gateway address",
            message: `The gateway of portgroup ${network.portgroup} is malformed`,
          }),
        );
      } else if (cidr && !cidrContains(cidr, network.gateway)) {
        problems.push(
          problem({
            ...at,
            field: `${field}.gateway`,
            received: network.gateway,
            expected: `an address inside ${cidr.text}`,
            fix: "correct the gateway or the CIDR",
            message: `The gateway of portgroup ${network.portgroup} lies outside its subnet`,
          }),
        );
      }
    }
  });
  return problems;
}

/**
 * One problem listing every portgroup some NIC uses that no network maps to a subnet, with the
 * VMs using it; none when all are mapped.
 */
export function unmappedPortgroups(vms: readonly Vm[], networks: readonly Network[], file: string | undefined, networksFile?: string): Problem[] {
  const mapped = new Set(networks.flatMap((n) => [n.portgroup, ...(n.aliases ?? [])]));
  const users = new Map<string, string[]>();
  for (const vm of vms) {
    for (const nic of vm.nics) {
      if (mapped.has(nic.portgroup)) continue;
      const list = users.get(nic.portgroup) ?? [];
      if (!list.includes(vm.name)) list.push(vm.name);
      users.set(nic.portgroup, list);
    }
  }
  if (users.size === 0) return [];
  const names = [...users.keys()].sort();
  const detail = names.map((pg) => `${pg} (${summarise(users.get(pg)!)})`).join("; ");
  return [
    problem({
      ...(file !== undefined ? { file } : {}),
      field: "nics[].portgroup",
      received: names.join(", "),
      expected: "a subnet (CIDR, gateway) for every portgroup a NIC uses",
      fix: `add ${names.length === 1 ? "this portgroup" : "these portgroups"} to ${networksFile ?? "the networks file (--networks)"} with their CIDR and gateway`,
      message: `${names.length} portgroup(s) have no subnet: ${detail}`,
    }),
  ];
}

function summarise(vms: readonly string[]): string {
  return `VM${vms.length > 1 ? "s" : ""} ${vms.join(", ")}`;
}

function duplicates(vms: readonly Vm[], keyOf: (vm: Vm) => string, what: "name" | "uuid", file: string | undefined): Problem[] {
  const first = new Map<string, number>();
  const problems: Problem[] = [];
  vms.forEach((vm, index) => {
    const key = keyOf(vm);
    const at = first.get(key);
    if (at === undefined) {
      first.set(key, index);
      return;
    }
    problems.push(
      problem({
        ...(file !== undefined ? { file } : {}),
        vm: vm.name,
        field: what,
        received: what === "name" ? vm.name : vm.uuid,
        expected: `a ${what} no other VM has`,
        fix:
          what === "name"
            ? `rename one of the two VMs named ${vm.name} (rehost identifies VMs by name in waves files)`
            : `VM ${vm.name} and VM ${vms[at]!.name} share uuid ${vm.uuid}: correct one of them`,
        message: `Duplicate VM ${what}: ${what === "name" ? vm.name : vm.uuid} appears more than once`,
      }),
    );
  });
  return problems;
}
