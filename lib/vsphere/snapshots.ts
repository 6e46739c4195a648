/**
 * Snapshots: taken (marked as rehost's) and removed with consolidation, a snapshot's disk and the
 * changeId it carries, the snapshots of one VM or of all, and the removal of rehost's leftovers.
 */
import { InputError, problem } from "../problems";
import { REHOST_SNAPSHOT_MARK, snapshotList, type SnapshotInfo } from "./estate";
import { VSphereFault, type SoapSession } from "./soap";
import { runTask } from "./tasks";
import type { SnapshotHandle, VmHandle } from "./types";
import { vmRef } from "./vms";
import { child, childText, children, el, moRef, text, xsiType, type XmlNode } from "./xml";

/** Takes a snapshot of `vm`, its description marked as rehost's. */
export async function createSnapshot(
  session: SoapSession,
  vm: VmHandle,
  name: string,
  options: { quiesce?: boolean; memory?: boolean; description?: string } = {},
): Promise<SnapshotHandle> {
  const description = options.description ? `${options.description} (${REHOST_SNAPSHOT_MARK})` : REHOST_SNAPSHOT_MARK;
  const result = moRef(
    await runTask(
      session,
      "CreateSnapshot_Task",
      vmRef(vm),
      el("name", name) + el("description", description) + el("memory", options.memory ?? false) + el("quiesce", options.quiesce ?? false),
      `snapshot ${name} of ${vm.name}`,
    ),
  );
  if (!result) throw new VSphereFault("InvalidResponse", `the snapshot task of ${vm.name} returned no snapshot`);
  return { moref: result.value, name, vm };
}

/** Removes one snapshot (not its children), consolidating the disks. */
export async function removeSnapshot(session: SoapSession, snapshot: SnapshotHandle | string): Promise<void> {
  const moref = typeof snapshot === "string" ? snapshot : snapshot.moref;
  await runTask(
    session,
    "RemoveSnapshot_Task",
    { type: "VirtualMachineSnapshot", value: moref },
    el("removeChildren", false) + el("consolidate", true),
    `removing snapshot ${typeof snapshot === "string" ? moref : snapshot.name}`,
  );
}

/** Disk `diskKey` as the snapshot holds it; `InputError` when the snapshot has no such disk. */
export async function snapshotDisk(session: SoapSession, snapshot: SnapshotHandle | string, diskKey: number): Promise<XmlNode> {
  const moref = typeof snapshot === "string" ? snapshot : snapshot.moref;
  const props = await session.properties({ type: "VirtualMachineSnapshot", value: moref }, ["config.hardware.device"]);
  const disk = children(props.get("config.hardware.device"), "VirtualDevice").find(
    (d) => xsiType(d) === "VirtualDisk" && childText(d, "key") === String(diskKey),
  );
  if (disk === undefined) {
    throw new InputError(
      problem({
        field: "diskKey",
        received: String(diskKey),
        expected: "the key of a disk in the snapshot",
        fix: "use a disk key from `rehost inventory`",
        message: `Snapshot ${moref} has no disk ${diskKey}`,
      }),
    );
  }
  return disk;
}

/** The changeId a snapshot carries for one disk (undefined when CBT was off at snapshot time). */
export async function snapshotChangeId(session: SoapSession, snapshot: SnapshotHandle | string, diskKey: number): Promise<string | undefined> {
  return childText(child(await snapshotDisk(session, snapshot, diskKey), "backing"), "changeId") || undefined;
}

/** Snapshots of one VM, or (without one) of every VM; `onlyRehost` keeps those rehost created. */
export async function listSnapshots(session: SoapSession, vm: VmHandle | undefined, onlyRehost: boolean | undefined): Promise<SnapshotInfo[]> {
  let list: SnapshotInfo[];
  if (vm !== undefined) {
    const props = await session.properties(vmRef(vm), ["snapshot"]);
    list = snapshotList(props.get("snapshot"), vm.name, vm.moref);
  } else {
    const vms = await session.retrieveAll([{ type: "VirtualMachine", paths: ["name", "snapshot"] }]);
    list = vms.flatMap((c) => snapshotList(c.props.get("snapshot"), text(c.props.get("name")) ?? c.obj.value, c.obj.value));
  }
  return onlyRehost ? list.filter((s) => s.createdByRehost) : list;
}

/** Removes the snapshots rehost created (of one VM, or all); returns what it removed. */
export async function removeLeftoverSnapshots(session: SoapSession, vm: VmHandle | undefined): Promise<SnapshotInfo[]> {
  const leftovers = await listSnapshots(session, vm, true);
  // Children first, so removing a parent never takes a child along unannounced.
  for (const s of [...leftovers].reverse()) await removeSnapshot(session, s.moref);
  return leftovers;
}
