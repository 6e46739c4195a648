/**
 * VM queries: one VM found by UUID, instance UUID, managed object id or name; the disks of a VM
 * or of one of its snapshots, with their files; where a VM lives (datacenter, CBT, power, tools).
 */
import { InputError, problem } from "../problems";
import type { SoapSession } from "./soap";
import type { DiskFile, PowerState, SnapshotHandle, VmHandle, VmLocation } from "./types";
import { child, childText, children, moRef, text, xsiType, type MoRef } from "./xml";

/** The managed object reference of a VM. */
export function vmRef(vm: VmHandle): MoRef {
  return { type: "VirtualMachine", value: vm.moref };
}

/** Finds one VM by BIOS UUID, instance UUID, managed object id or name; `InputError` when none or several match. */
export async function findVm(session: SoapSession, uuidOrName: string): Promise<VmHandle> {
  const vms = await session.retrieveAll([{ type: "VirtualMachine", paths: ["name", "config.uuid", "config.instanceUuid"] }]);
  const wanted = uuidOrName.toLowerCase();
  const handles = vms.map((c) => {
    const instanceUuid = text(c.props.get("config.instanceUuid"));
    return {
      moref: c.obj.value,
      name: text(c.props.get("name")) ?? c.obj.value,
      uuid: text(c.props.get("config.uuid")) ?? "",
      ...(instanceUuid ? { instanceUuid } : {}),
    };
  });
  const byId = handles.filter((h) => h.uuid.toLowerCase() === wanted || h.instanceUuid?.toLowerCase() === wanted || h.moref === uuidOrName);
  const matches = byId.length > 0 ? byId : handles.filter((h) => h.name === uuidOrName);
  if (matches.length === 1) return matches[0] as VmHandle;
  throw new InputError(
    problem({
      vm: uuidOrName,
      received: matches.length === 0 ? "no such VM" : `${matches.length} VMs (${matches.map((m) => m.moref).join(", ")})`,
      expected: "exactly one VM with this UUID, instance UUID, managed object id or name",
      fix: matches.length === 0 ? "check the name or UUID in `rehost inventory`" : "use the VM's UUID instead of its name",
      message: matches.length === 0 ? `vCenter has no VM ${uuidOrName}` : `Several VMs are named ${uuidOrName}`,
    }),
  );
}

/** Every disk of a snapshot (or, without one, of the VM as it is now), with its files. */
export async function diskFiles(session: SoapSession, vm: VmHandle, snapshot?: SnapshotHandle | string): Promise<DiskFile[]> {
  const props =
    snapshot === undefined
      ? await session.properties(vmRef(vm), ["config.hardware.device"])
      : await session.properties({ type: "VirtualMachineSnapshot", value: typeof snapshot === "string" ? snapshot : snapshot.moref }, [
          "config.hardware.device",
        ]);
  const files: DiskFile[] = [];
  for (const d of children(props.get("config.hardware.device"), "VirtualDevice")) {
    if (xsiType(d) !== "VirtualDisk") continue;
    const backing = child(d, "backing");
    const rdm = xsiType(backing) === "VirtualDiskRawDiskMappingVer1BackingInfo";
    const diskMode = childText(backing, "diskMode") ?? "persistent";
    const fileName = childText(backing, "fileName") ?? "";
    const match = /^\[([^\]]+)\]\s*(.*)$/.exec(fileName);
    const path = match?.[2] ?? fileName;
    files.push({
      key: Number(childText(d, "key")),
      label: childText(child(d, "deviceInfo"), "label") ?? `disk ${childText(d, "key")}`,
      capacityBytes: Number(childText(d, "capacityInBytes") || 0) || Number(childText(d, "capacityInKB") ?? 0) * 1024,
      fileName,
      datastore: match?.[1] ?? "",
      flatPath: path.replace(/\.vmdk$/, "-flat.vmdk"),
      backing: rdm
        ? childText(backing, "compatibilityMode") === "physicalMode"
          ? "rdm-physical"
          : "rdm-virtual"
        : diskMode.startsWith("independent")
          ? "independent"
          : "flat",
      changeId: childText(backing, "changeId") || undefined,
    });
  }
  return files;
}

/** The VM's datacenter, its changed-block tracking and power state. */
export async function vmLocation(session: SoapSession, vm: VmHandle): Promise<VmLocation> {
  const props = await session.properties(vmRef(vm), [
    "parent",
    "runtime.powerState",
    "capability.changeTrackingSupported",
    "config.changeTrackingEnabled",
    "guest.toolsRunningStatus",
  ]);
  // Up the folders to the datacenter.
  let parent = moRef(props.get("parent"));
  let datacenter = "";
  for (let depth = 0; parent !== undefined && depth < 32; depth++) {
    const p = await session.properties(parent, ["name", "parent"]);
    if (parent.type === "Datacenter") {
      datacenter = text(p.get("name")) ?? "";
      break;
    }
    parent = moRef(p.get("parent"));
  }
  return {
    datacenter,
    changeTrackingSupported: text(props.get("capability.changeTrackingSupported")) !== "false",
    changeTrackingEnabled: text(props.get("config.changeTrackingEnabled")) === "true",
    powerState: (text(props.get("runtime.powerState")) ?? "poweredOff") as PowerState,
    toolsRunning: text(props.get("guest.toolsRunningStatus")) === "guestToolsRunning",
  };
}
