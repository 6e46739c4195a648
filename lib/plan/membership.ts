/**
 * Wave membership and order: which VMs each wave moves (by name, folder or tag), and whether the
 * `after` dependencies name known waves and form no cycle.
 */
import type { Inventory, Vm } from "../inventory/schema";
import type { WavesFile } from "../inventory/waves";
import { waveOrderProblems } from "../inventory/wave-order";
import { type Problem, problem } from "../problems";

/** The VMs of each wave, in inventory order, and the problems found. */
export interface Membership {
  readonly vmsByWave: ReadonlyMap<string, readonly Vm[]>;
  readonly problems: readonly Problem[];
}

/** Whether `vm` sits in `folder` or one of its subfolders (`/dc/vm/web` is in `/dc/vm`). */
export function inFolder(vm: Vm, folder: string): boolean {
  if (vm.folder === undefined) return false;
  const f = folder.replace(/\/+$/, "");
  return vm.folder === f || vm.folder.startsWith(`${f}/`);
}

/**
 * Resolves every wave's members. Reports: a duplicate wave name, a VM/folder/tag matching no VM,
 * a VM in two waves, an override for a VM not in its wave, `after` naming an unknown wave or
 * itself, and dependency cycles.
 */
export function resolveMembership(inventory: Inventory, waves: WavesFile, file?: string): Membership {
  const problems: Problem[] = [];
  const byName = new Map<string, Vm>();
  for (const vm of inventory.vms) if (!byName.has(vm.name)) byName.set(vm.name, vm);
  const byTag = new Map<string, Vm[]>();
  for (const vm of inventory.vms) {
    for (const tag of vm.tags) {
      const list = byTag.get(tag);
      if (list) list.push(vm);
      else byTag.set(tag, [vm]);
    }
  }
  const waveOf = new Map<string, string>();
  const vmsByWave = new Map<string, Vm[]>();
  const names = new Set<string>();

  waves.waves.forEach((wave, w) => {
    const at = `waves[${w}]`;
    if (names.has(wave.name)) {
      problems.push(
        problem({ file, field: `${at}.name`, message: `The wave name ${wave.name} is used twice`, received: wave.name, expected: "a unique wave name", fix: "rename one of the waves" }),
      );
      return;
    }
    names.add(wave.name);
    const chosen = new Set<Vm>();
    wave.members.vms.forEach((name, i) => {
      const vm = byName.get(name);
      if (vm) chosen.add(vm);
      else
        problems.push(
          problem({
            file,
            vm: name,
            field: `${at}.members.vms[${i}]`,
            message: `Wave ${wave.name} names the VM ${name}, which is not in the inventory`,
            received: name,
            expected: "the name of a VM in the inventory",
            fix: "correct the VM name (names are case-sensitive) or remove it from the wave",
          }),
        );
    });
    // Folders and tags select every VM they match; one matching none is a problem.
    const selectors = [
      { kind: "folder", list: "folders", values: wave.members.folders, find: (folder: string) => inventory.vms.filter((vm) => inFolder(vm, folder)), none: "which holds no VM of the inventory", expected: "a folder path of the inventory's VMs", fix: "correct the folder path or remove it from the wave" },
      { kind: "tag", list: "tags", values: wave.members.tags, find: (tag: string) => byTag.get(tag) ?? [], none: "which no VM of the inventory carries", expected: "a tag of the inventory's VMs", fix: "correct the tag or remove it from the wave" },
    ] as const;
    for (const selector of selectors) {
      selector.values.forEach((value, i) => {
        const found = selector.find(value);
        if (found.length === 0) {
          problems.push(
            problem({
              file,
              field: `${at}.members.${selector.list}[${i}]`,
              message: `Wave ${wave.name} names the ${selector.kind} ${value}, ${selector.none}`,
              received: value,
              expected: selector.expected,
              fix: selector.fix,
            }),
          );
        }
        for (const vm of found) chosen.add(vm);
      });
    }
    const members: Vm[] = [];
    for (const vm of inventory.vms) {
      if (!chosen.has(vm)) continue;
      const other = waveOf.get(vm.name);
      if (other !== undefined) {
        problems.push(
          problem({
            file,
            vm: vm.name,
            field: `${at}.members`,
            message: `VM ${vm.name} is in wave ${other} and in wave ${wave.name}; a VM moves once`,
            received: wave.name,
            expected: `only wave ${other}`,
            fix: `remove the VM (or its folder/tag) from one of the two waves`,
          }),
        );
        continue;
      }
      waveOf.set(vm.name, wave.name);
      members.push(vm);
    }
    if (chosen.size === 0)
      problems.push(
        problem({ file, field: `${at}.members`, message: `Wave ${wave.name} has no VM`, received: "no members", expected: "at least one VM, folder or tag", fix: "add members to the wave or remove it" }),
      );
    const memberNames = new Set(members.map((vm) => vm.name));
    for (const name of Object.keys(wave.overrides)) {
      if (!memberNames.has(name))
        problems.push(
          problem({
            file,
            vm: name,
            field: `${at}.overrides.${name}`,
            message: `Wave ${wave.name} has an override for ${name}, which is not one of its VMs`,
            received: name,
            expected: "the name of a VM of this wave",
            fix: "correct the VM name or move the override to the VM's wave",
          }),
        );
    }
    vmsByWave.set(wave.name, members);
  });

  problems.push(...waveOrderProblems(waves, file));
  return { vmsByWave, problems };
}
