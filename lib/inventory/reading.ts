/**
 * What a lenient read of an inventory gives: the VMs that could be read, the VMs that could not
 * (each with every reason), and every problem found. The planner plans the first, lists the
 * second as blocked, and reports the problems; `loadInventory` is the strict form that throws
 * when any problem is an error.
 */
import type { Problem } from "../problems";
import type { Inventory } from "./schema";

/** A VM of the source that could not be read into the inventory, with every reason. */
export interface RejectedVm {
  readonly name: string;
  readonly problems: readonly Problem[];
}

/** The result of `readInventory`. */
export interface InventoryReading {
  readonly inventory: Inventory;
  /** VMs left out of `inventory` because of errors in their own rows or entries. */
  readonly rejected: readonly RejectedVm[];
  /** Every problem found, in file order; those naming a rejected VM are its reasons. */
  readonly problems: readonly Problem[];
}

/** The VMs named by error problems, each with its problems, in first-mention order. */
export function rejectedVms(problems: readonly Problem[]): RejectedVm[] {
  const byName = new Map<string, Problem[]>();
  for (const p of problems) {
    if (p.severity !== "error" || p.vm === undefined) continue;
    const list = byName.get(p.vm);
    if (list) list.push(p);
    else byName.set(p.vm, [p]);
  }
  return [...byName].map(([name, list]) => ({ name, problems: list }));
}
