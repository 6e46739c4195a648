/**
 * Changed-block tracking: enabling it (refused under existing snapshots; activated on a running
 * VM by one snapshot taken and removed) and the areas of a disk changed since a changeId.
 */
import { InputError, problem } from "../problems";
import type { Extent } from "../replication/device";
import { REHOST_SNAPSHOT_PREFIX, snapshotList } from "./estate";
import { powerState } from "./power";
import { createSnapshot, removeSnapshot, snapshotDisk } from "./snapshots";
import { VSphereFault, type SoapSession } from "./soap";
import { runTask } from "./tasks";
import type { ChangedAreas, SnapshotHandle, VmHandle } from "./types";
import { vmRef } from "./vms";
import { child, childText, children, el, ref, text } from "./xml";

/**
 * Enables changed-block tracking; refuses a VM with snapshots unless `allowSnapshots`. Returns
 * false when it was already enabled.
 */
export async function enableChangeTracking(session: SoapSession, vm: VmHandle, options: { allowSnapshots?: boolean } = {}): Promise<boolean> {
  const props = await session.properties(vmRef(vm), ["config.changeTrackingEnabled", "snapshot", "config.hardware.device"]);
  if (text(props.get("config.changeTrackingEnabled")) === "true") return false;
  const snapshots = snapshotList(props.get("snapshot"), vm.name, vm.moref);
  if (snapshots.length > 0 && !options.allowSnapshots) {
    throw new InputError(
      problem({
        vm: vm.name,
        field: "snapshot",
        received: `${snapshots.length} snapshot(s): ${snapshots.map((s) => s.name).join(", ")}`,
        expected: "no snapshots before changed-block tracking is enabled",
        fix: "delete or consolidate the VM's snapshots first (or allow it explicitly and take a full copy after consolidation)",
        message: `VM ${vm.name} has snapshots, so changed-block tracking enabled now would not be reliable`,
      }),
    );
  }
  await runTask(session, "ReconfigVM_Task", vmRef(vm), `<spec>${el("changeTrackingEnabled", true)}</spec>`, `enabling changed-block tracking on ${vm.name}`);
  // A running VM starts tracking at its next stun/unstun cycle: one snapshot taken and removed.
  if ((await powerState(session, vm)) === "poweredOn") {
    const activation = await createSnapshot(session, vm, `${REHOST_SNAPSHOT_PREFIX}cbt-activation`);
    await removeSnapshot(session, activation);
  }
  return true;
}

/**
 * The areas of disk `diskKey` that changed between `changeId` (`"*"`: every allocated area) and
 * `snapshot`, following vCenter's partial answers to the end of the disk; adjacent areas merged.
 */
export async function queryChangedDiskAreas(
  session: SoapSession,
  vm: VmHandle,
  snapshot: SnapshotHandle | string,
  diskKey: number,
  changeId: string,
): Promise<ChangedAreas> {
  const moref = typeof snapshot === "string" ? snapshot : snapshot.moref;
  const disk = await snapshotDisk(session, snapshot, diskKey);
  const newChangeId = childText(child(disk, "backing"), "changeId");
  if (!newChangeId) {
    throw new InputError(
      problem({
        vm: vm.name,
        field: "changeTrackingEnabled",
        received: "no changeId in the snapshot",
        expected: "a snapshot taken with changed-block tracking on",
        fix: "enable changed-block tracking, then take a new snapshot and a full copy",
        message: `Disk ${diskKey} of ${vm.name} was not tracked when snapshot ${moref} was taken`,
      }),
    );
  }
  const capacity = Number(childText(disk, "capacityInBytes") || 0) || Number(childText(disk, "capacityInKB") ?? 0) * 1024;
  const extents: Extent[] = [];
  let offset = 0;
  while (offset < capacity) {
    const response = await session.call(
      "QueryChangedDiskAreas",
      vmRef(vm),
      ref("snapshot", { type: "VirtualMachineSnapshot", value: moref }) + el("deviceKey", diskKey) + el("startOffset", offset) + el("changeId", changeId),
    );
    const info = child(response, "returnval");
    for (const area of children(info, "changedArea")) {
      const start = Number(childText(area, "start"));
      const length = Number(childText(area, "length"));
      if (!(length > 0)) continue;
      const last = extents[extents.length - 1];
      if (last && last.offset + last.length === start) extents[extents.length - 1] = { offset: last.offset, length: last.length + length };
      else extents.push({ offset: start, length });
    }
    const next = Number(childText(info, "startOffset")) + Number(childText(info, "length"));
    if (!(next > offset)) throw new VSphereFault("InvalidResponse", `QueryChangedDiskAreas made no progress at offset ${offset} of disk ${diskKey}`);
    offset = next;
  }
  return { extents, changeId: newChangeId, capacityBytes: capacity };
}
