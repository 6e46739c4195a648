/**
 * rehost's vSphere client: a small SOAP client over HTTPS (fetching nothing it does not need) for
 * the inventory, changed-block tracking, snapshots and power operations of the source side.
 *
 * ```ts
 * const vc = await connectVSphere({ url: "https://vcenter.example.com", user: "migrator@vsphere.local", ca: "vc-ca.pem" });
 * const vm = await vc.findVm("web-01");
 * await vc.enableChangeTracking(vm);
 * const snap = await vc.createSnapshot(vm, "rehost-round-1");
 * const { extents, changeId } = await vc.queryChangedDiskAreas(vm, snap, 2000, "*");
 * await vc.removeSnapshot(snap);
 * await vc.logout();
 * ```
 */
export { connectVSphere, sdkEndpoint, type ConnectField, type ConnectFieldNames, type ConnectOptions } from "./connect";
export type { VSphereClient, VmHandle, VmSelector, SnapshotHandle, ChangedAreas, PowerState, ShutdownOutcome } from "./client";
export {
  unreplicableProblems,
  REHOST_SNAPSHOT_MARK,
  REHOST_SNAPSHOT_PREFIX,
  type Estate,
  type Portgroup,
  type HostInfo,
  type DatastoreInfo,
  type UnreplicableDisk,
  type SnapshotInfo,
} from "./estate";
export { VSphereFault } from "./soap";
export { normalizeThumbprint, ThumbprintMismatch } from "./transport";
export { resolvePassword, PASSWORD_ENV } from "./password";
