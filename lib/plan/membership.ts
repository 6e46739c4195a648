/**
 * Wave membership and order: which VMs each wave moves (by exact name, name pattern, folder, tag,
 * cluster, host, datastore, resource pool, annotation, custom attribute, or "the rest"), and
 * whether the `after` dependencies name known waves and form no cycle.
 */
import { compilePattern } from "../inventory/patterns";
import type { Inventory, Vm } from "../inventory/schema";
import type { WavesFile } from "../inventory/waves";
import { waveOrderProblems } from "../inventory/wave-order";
import { type Problem, problem } from "../problems";

/** The VMs of each wave, in inventory order, and the problems found. */
export interface Membership {
  readonly vmsByWave: ReadonlyMap<string, readonly Vm[]>;
  /** The wave of each VM named in `rejected` (known to the source, not read into the inventory). */
  readonly rejectedWave: ReadonlyMap<string, string>;
  readonly problems: readonly Problem[];
}

/** A pattern test that never throws (patterns that do not compile are reported by the loader). */
function matcher(pattern: string): (value: string | undefined) => boolean {
  const compiled = compilePattern(pattern);
  return (value) => value !== undefined && compiled.test !== undefined && compiled.test(value);
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
export function resolveMembership(inventory: Inventory, waves: WavesFile, file?: string, rejected: ReadonlySet<string> = new Set()): Membership {
  const rejectedWave = new Map<string, string>();
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
        problem({
          file,
          field: `${at}.name`,
          message: `The wave name ${wave.name} is used twice`,
          received: wave.name,
          expected: "a unique wave name",
          fix: "rename one of the waves",
        }),
      );
      return;
    }
    names.add(wave.name);
    const chosen = new Set<Vm>();
    wave.members.vms.forEach((name, i) => {
      const vm = byName.get(name);
      if (vm) chosen.add(vm);
      else if (rejected.has(name)) {
        if (!rejectedWave.has(name)) rejectedWave.set(name, wave.name);
      } else
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
    const by = (get: (vm: Vm) => string | undefined) => (pattern: string) => {
      const test = matcher(pattern);
      return inventory.vms.filter((vm) => test(get(vm)));
    };
    const byAny = (get: (vm: Vm) => readonly string[]) => (pattern: string) => {
      const test = matcher(pattern);
      return inventory.vms.filter((vm) => get(vm).some((v) => test(v)));
    };
    const known = (what: string, values: Iterable<string | undefined>) => {
      const list = [...new Set([...values].filter((v): v is string => v !== undefined))].sort();
      return list.length > 0 ? `a ${what} of the inventory: ${list.join(", ")}` : `a ${what} of the inventory (the inventory records none)`;
    };
    const selectors = [
      {
        kind: "name pattern",
        list: "names",
        values: wave.members.names,
        find: by((vm) => vm.name),
        none: "which matches no VM of the inventory",
        expected: "a glob or /regular expression/ matching VM names",
        fix: "correct the pattern or remove it from the wave",
      },
      {
        kind: "folder",
        list: "folders",
        values: wave.members.folders,
        find: (folder: string) => inventory.vms.filter((vm) => inFolder(vm, folder)),
        none: "which holds no VM of the inventory",
        expected: "a folder path of the inventory's VMs",
        fix: "correct the folder path or remove it from the wave (RVTools often leaves Folder empty: select by name, cluster or host instead)",
      },
      {
        kind: "tag",
        list: "tags",
        values: wave.members.tags,
        find: (tag: string) => byTag.get(tag) ?? [],
        none: "which no VM of the inventory carries",
        expected: "a tag of the inventory's VMs",
        fix: "correct the tag or remove it from the wave",
      },
      {
        kind: "cluster",
        list: "clusters",
        values: wave.members.clusters,
        find: by((vm) => vm.cluster),
        none: "which runs no VM of the inventory",
        expected: known(
          "cluster",
          inventory.vms.map((vm) => vm.cluster),
        ),
        fix: "correct the cluster pattern or remove it from the wave",
      },
      {
        kind: "host",
        list: "hosts",
        values: wave.members.hosts,
        find: by((vm) => vm.host),
        none: "which runs no VM of the inventory",
        expected: known(
          "host",
          inventory.vms.map((vm) => vm.host),
        ),
        fix: "correct the host pattern or remove it from the wave",
      },
      {
        kind: "datastore",
        list: "datastores",
        values: wave.members.datastores,
        find: byAny((vm) => vm.disks.flatMap((d) => (d.datastore !== undefined ? [d.datastore] : []))),
        none: "which holds no disk of the inventory",
        expected: known(
          "datastore",
          inventory.vms.flatMap((vm) => vm.disks.map((d) => d.datastore)),
        ),
        fix: "correct the datastore pattern or remove it from the wave",
      },
      {
        kind: "resource pool",
        list: "resourcePools",
        values: wave.members.resourcePools,
        find: by((vm) => vm.resourcePool),
        none: "which holds no VM of the inventory",
        expected: known(
          "resource pool",
          inventory.vms.map((vm) => vm.resourcePool),
        ),
        fix: "correct the resource pool pattern or remove it from the wave",
      },
      {
        kind: "annotation pattern",
        list: "annotations",
        values: wave.members.annotations,
        find: by((vm) => vm.annotation),
        none: "which matches no VM's annotation",
        expected: "a glob or /regular expression/ matching VM annotations (a * on both sides finds a word inside)",
        fix: "correct the pattern or remove it from the wave",
      },
    ] as const;
    for (const [name, pattern] of Object.entries(wave.members.attributes)) {
      const test = matcher(pattern);
      const found = inventory.vms.filter((vm) => test(vm.attributes?.[name]));
      if (found.length === 0) {
        const attributeNames = [...new Set(inventory.vms.flatMap((vm) => Object.keys(vm.attributes ?? {})))].sort();
        problems.push(
          problem({
            file,
            field: `${at}.members.attributes.${name}`,
            message: `Wave ${wave.name} selects custom attribute ${name} matching ${pattern}, which no VM of the inventory has`,
            received: `${name}: ${pattern}`,
            expected:
              attributeNames.length > 0
                ? `an attribute of the inventory: ${attributeNames.join(", ")}`
                : "a custom attribute of the inventory (the inventory records none)",
            fix: "correct the attribute name or pattern, or remove it from the wave",
          }),
        );
      }
      for (const vm of found) chosen.add(vm);
    }
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
    if (chosen.size === 0 && !wave.members.rest && ![...rejectedWave.values()].includes(wave.name))
      problems.push(
        problem({
          file,
          field: `${at}.members`,
          message: `Wave ${wave.name} has no VM`,
          received: "no members",
          expected: "at least one VM, folder or tag",
          fix: "add members to the wave or remove it",
        }),
      );
    vmsByWave.set(wave.name, members);
  });

  // `rest: true` takes every VM no wave selected, in inventory order.
  const restWave = waves.waves.find((w) => w.members.rest && vmsByWave.has(w.name));
  if (restWave) {
    const members = vmsByWave.get(restWave.name)!;
    for (const vm of inventory.vms) {
      if (waveOf.has(vm.name)) continue;
      waveOf.set(vm.name, restWave.name);
      members.push(vm);
    }
    const order = new Map(inventory.vms.map((vm, i) => [vm, i] as const));
    members.sort((a, b) => order.get(a)! - order.get(b)!);
    for (const name of rejected) if (!rejectedWave.has(name)) rejectedWave.set(name, restWave.name);
    if (members.length === 0 && ![...rejectedWave.values()].includes(restWave.name)) {
      const w = waves.waves.indexOf(restWave);
      problems.push({
        severity: "warning",
        file,
        field: `waves[${w}].members.rest`,
        message: `Wave ${restWave.name} takes the rest of the inventory, but every VM is in another wave`,
        fix: "remove the wave, or keep it for VMs added to the inventory later",
      });
    }
  }
  // Overrides must name VMs of their wave (checked after `rest` has taken its VMs).
  waves.waves.forEach((wave, w) => {
    const members = vmsByWave.get(wave.name);
    if (members === undefined || waves.waves.findIndex((x) => x.name === wave.name) !== w) return;
    const memberNames = new Set([...members.map((vm) => vm.name), ...[...rejectedWave].filter(([, name]) => name === wave.name).map(([vm]) => vm)]);
    for (const name of Object.keys(wave.overrides)) {
      if (!memberNames.has(name))
        problems.push(
          problem({
            file,
            vm: name,
            field: `waves[${w}].overrides.${name}`,
            message: `Wave ${wave.name} has an override for ${name}, which is not one of its VMs`,
            received: name,
            expected: "the name of a VM of this wave",
            fix: "correct the VM name or move the override to the VM's wave",
          }),
        );
    }
  });
  problems.push(...waveOrderProblems(waves, file));
  return { vmsByWave, rejectedWave, problems };
}
