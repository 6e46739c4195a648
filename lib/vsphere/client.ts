/**
 * The vSphere client rehost uses, over one logged-in SOAP session: the estate and inventory, and
 * the source-side steps of a migration, each in the module of its concern (`vms.ts`, `power.ts`,
 * `snapshots.ts`, `cbt.ts`); this class resolves VM selectors and hands each call on.
 * `connectVSphere` (`connect.ts`) builds it.
 */
import type * as https from "node:https";
import type { Inventory } from "../inventory/schema";
import { enableChangeTracking, queryChangedDiskAreas } from "./cbt";
import { buildEstate, ESTATE_PROPERTIES, type Estate, type SnapshotInfo, type UnreplicableDisk } from "./estate";
import { powerOff, powerOn, powerState, shutdownGuest } from "./power";
import { createSnapshot, listSnapshots, removeLeftoverSnapshots, removeSnapshot, snapshotChangeId } from "./snapshots";
import type { SoapSession } from "./soap";
import { readVmTags } from "./tags";
import type { ChangedAreas, DiskFile, PowerState, ShutdownOutcome, SnapshotHandle, VmHandle, VmLocation, VmSelector, VSphereClient } from "./types";
import { diskFiles, findVm, vmLocation } from "./vms";

export type { ChangedAreas, DiskFile, PowerState, ShutdownOutcome, SnapshotHandle, VmHandle, VmLocation, VmSelector, VSphereClient } from "./types";

/** `VSphereClient` over one SOAP session and its HTTPS agent. */
export class VSphereSoapClient implements VSphereClient {
  constructor(
    private readonly session: SoapSession,
    private readonly agent: https.Agent,
    readonly about: { readonly fullName: string; readonly apiVersion: string; readonly apiType: string },
    /** What reading the tags through the vAPI endpoint needs, and where its warning goes. */
    private readonly vapi: {
      readonly endpoint: URL;
      readonly credentials: { readonly user: string; readonly password: string };
      readonly timeoutMs: number;
      readonly warn: (message: string) => void;
    },
  ) {}

  sessionKey(): string | undefined {
    return this.session.sessionKey;
  }

  sessionCookie(): string | undefined {
    return this.session.sessionCookie;
  }

  async keepAlive(): Promise<void> {
    await this.session.call("CurrentTime", { type: "ServiceInstance", value: "ServiceInstance" }, "");
  }

  get baseUrl(): string {
    return `${this.vapi.endpoint.protocol}//${this.vapi.endpoint.host}`;
  }

  async logout(): Promise<void> {
    try {
      await this.session.logout();
    } finally {
      this.agent.destroy();
    }
  }

  async estate(): Promise<Estate> {
    const [contents, tags] = await Promise.all([this.session.retrieveAll(ESTATE_PROPERTIES), this.vmTags()]);
    return buildEstate(contents, tags);
  }

  /** The VMs' tags; none, with a warning, when vCenter's vAPI endpoint cannot give them. */
  private async vmTags(): Promise<Map<string, string[]>> {
    try {
      return await readVmTags(this.vapi.endpoint, this.agent, this.vapi.credentials, this.vapi.timeoutMs);
    } catch (err) {
      // Tags only help select waves: whatever went wrong, the inventory is still read.
      this.vapi.warn(`vSphere tags were not read: ${(err as Error).message}. Waves cannot select these VMs by tag; list them by name or folder.`);
      return new Map();
    }
  }

  async inventory(): Promise<Inventory> {
    return (await this.estate()).inventory;
  }

  findVm(uuidOrName: string): Promise<VmHandle> {
    return findVm(this.session, uuidOrName);
  }

  private async vm(selector: VmSelector): Promise<VmHandle> {
    return typeof selector === "string" ? this.findVm(selector) : selector;
  }

  async diskFiles(selector: VmSelector, snapshot?: SnapshotHandle | string): Promise<DiskFile[]> {
    return diskFiles(this.session, await this.vm(selector), snapshot);
  }

  async vmLocation(selector: VmSelector): Promise<VmLocation> {
    return vmLocation(this.session, await this.vm(selector));
  }

  async enableChangeTracking(selector: VmSelector, options: { allowSnapshots?: boolean } = {}): Promise<boolean> {
    return enableChangeTracking(this.session, await this.vm(selector), options);
  }

  async createSnapshot(
    selector: VmSelector,
    name: string,
    options: { quiesce?: boolean; memory?: boolean; description?: string } = {},
  ): Promise<SnapshotHandle> {
    return createSnapshot(this.session, await this.vm(selector), name, options);
  }

  removeSnapshot(snapshot: SnapshotHandle | string): Promise<void> {
    return removeSnapshot(this.session, snapshot);
  }

  snapshotChangeId(snapshot: SnapshotHandle | string, diskKey: number): Promise<string | undefined> {
    return snapshotChangeId(this.session, snapshot, diskKey);
  }

  async queryChangedDiskAreas(selector: VmSelector, snapshot: SnapshotHandle | string, diskKey: number, changeId: string): Promise<ChangedAreas> {
    return queryChangedDiskAreas(this.session, await this.vm(selector), snapshot, diskKey, changeId);
  }

  async powerState(selector: VmSelector): Promise<PowerState> {
    return powerState(this.session, await this.vm(selector));
  }

  async powerOn(selector: VmSelector): Promise<void> {
    return powerOn(this.session, await this.vm(selector));
  }

  async powerOff(selector: VmSelector): Promise<void> {
    return powerOff(this.session, await this.vm(selector));
  }

  async shutdownGuest(selector: VmSelector, options: { timeoutMs: number }): Promise<ShutdownOutcome> {
    return shutdownGuest(this.session, await this.vm(selector), options);
  }

  async listSnapshots(options: { vm?: VmSelector; onlyRehost?: boolean } = {}): Promise<SnapshotInfo[]> {
    return listSnapshots(this.session, options.vm !== undefined ? await this.vm(options.vm) : undefined, options.onlyRehost);
  }

  async removeLeftoverSnapshots(options: { vm?: VmSelector } = {}): Promise<SnapshotInfo[]> {
    return removeLeftoverSnapshots(this.session, options.vm !== undefined ? await this.vm(options.vm) : undefined);
  }

  async unreplicableDisks(selector?: VmSelector): Promise<UnreplicableDisk[]> {
    const all = buildEstate(await this.session.retrieveAll(ESTATE_PROPERTIES)).unreplicable;
    if (selector === undefined) return [...all];
    const vm = await this.vm(selector);
    return all.filter((d) => d.uuid === vm.uuid);
  }
}
