/** The planner's first phase: the waves file's settings and the inventory's VM names checked. */
import type { Vm } from "../inventory/schema";
import type { Settings } from "../inventory/waves";
import { type Problem, problem } from "../problems";
import { DEFAULT_PRICES, DISK_CATEGORIES, GENERATIONS, LIMITS } from "./catalog";
import { checkCidrSyntax } from "../net";

export function checkSettings(settings: Settings, file?: string): Problem[] {
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

export function findDuplicateVmNames(vms: readonly Vm[], file?: string): Problem[] {
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
