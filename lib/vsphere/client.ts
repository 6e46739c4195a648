/**
 * The vSphere client rehost uses: connect (TLS trust, login), the estate and inventory, and the
 * source-side steps of a migration: changed-block tracking, snapshots, changed areas, guest
 * shutdown and power. Bad connection settings become `InputError`s naming the flag to fix.
 */
import * as fs from "node:fs";
import type * as https from "node:https";
import type { Inventory } from "../inventory/schema";
import { InputError, problem, type Problem } from "../problems";
import type { Extent } from "../replication/device";
import {
  buildEstate,
  ESTATE_PROPERTIES,
  REHOST_SNAPSHOT_MARK,
  REHOST_SNAPSHOT_PREFIX,
  snapshotList,
  type Estate,
  type SnapshotInfo,
  type UnreplicableDisk,
} from "./estate";
import { SoapSession, VSphereFault } from "./soap";
import { readVmTags } from "./tags";
import { createAgent, peerFingerprints, ThumbprintMismatch } from "./transport";
import { child, childText, children, el, moRef, ref, text, xsiType, type MoRef, type XmlNode } from "./xml";

/** Options of `connectVSphere`. */
export interface ConnectOptions {
  /** vCenter: `https://vcenter.example.com`, with or without `/sdk`, or a bare host name. */
  readonly url: string;
  readonly user: string;
  /** @default - the `REHOST_VCENTER_PASSWORD` environment variable */
  readonly password?: string;
  /** Path of a PEM file with the CA certificate(s) vCenter's certificate chains to. */
  readonly ca?: string;
  /** SHA-1 or SHA-256 fingerprint of vCenter's certificate, to trust exactly that certificate. */
  readonly thumbprint?: string;
  /** Skip certificate verification (a warning is printed). @default false */
  readonly insecure?: boolean;
  /** Deadline of one HTTP exchange, in ms. @default 30000 */
  readonly timeoutMs?: number;
  /** Where warnings go. @default - standard error */
  readonly warn?: (message: string) => void;
}

/** A VM as the lifecycle methods address it. */
export interface VmHandle {
  readonly moref: string;
  readonly name: string;
  /** The BIOS UUID (`config.uuid`), the inventory's `uuid`. */
  readonly uuid: string;
  readonly instanceUuid?: string;
}

/** A VM handle, or anything `findVm` accepts (UUID, instance UUID, name, managed object id). */
export type VmSelector = VmHandle | string;

/** A snapshot created by `createSnapshot`. */
export interface SnapshotHandle {
  readonly moref: string;
  readonly name: string;
  readonly vm: VmHandle;
}

/** The areas of a disk changed since a changeId, and the changeId of the snapshot they lead to. */
export interface ChangedAreas {
  readonly extents: Extent[];
  /** The disk's changeId in the snapshot: the `changeId` argument of the next round. */
  readonly changeId: string;
  readonly capacityBytes: number;
}

/** A disk as a snapshot (or the VM now) holds it: what a reader of its frozen content needs. */
export interface DiskFile {
  readonly key: number;
  readonly label: string;
  readonly capacityBytes: number;
  /** `[datastore] folder/name.vmdk`, the descriptor. */
  readonly fileName: string;
  readonly datastore: string;
  /** The data file inside the datastore (`folder/name-flat.vmdk`), for datastore HTTP. */
  readonly flatPath: string;
  readonly backing: "flat" | "rdm-virtual" | "rdm-physical" | "independent";
  readonly changeId?: string;
}

/** Where a VM lives: what datastore HTTP (`/folder/…?dcPath=&dsName=`) and VDDK address it by. */
export interface VmLocation {
  readonly datacenter: string;
  readonly changeTrackingSupported: boolean;
  readonly changeTrackingEnabled: boolean;
  readonly powerState: PowerState;
  /** Whether VMware Tools run in the guest (a quiesced snapshot needs them). */
  readonly toolsRunning: boolean;
}

/** A VM's `runtime.powerState`. */
export type PowerState = "poweredOn" | "poweredOff" | "suspended";

/** How `shutdownGuest` brought the VM down. */
export type ShutdownOutcome = "already-off" | "guest-shutdown" | "powered-off";

/** The client `connectVSphere` returns. */
export interface VSphereClient {
  /** The vCenter product name and API version. */
  readonly about: { readonly fullName: string; readonly apiVersion: string; readonly apiType: string };
  /** The session key (to tell sessions apart; not a secret by itself, never persisted). */
  sessionKey(): string | undefined;
  logout(): Promise<void>;
  /** VMs (in the inventory schema, with their vSphere tags), portgroups, hosts, datastores, unreplicable disks, snapshots. */
  estate(): Promise<Estate>;
  /** The inventory; networks are empty: vCenter does not know portgroup CIDRs. */
  inventory(): Promise<Inventory>;
  /** Finds one VM by BIOS UUID, instance UUID, managed object id or name; `InputError` when none or several match. */
  findVm(uuidOrName: string): Promise<VmHandle>;
  /**
   * Enables changed-block tracking. Refuses (`InputError`) a VM that has snapshots unless
   * `allowSnapshots`: CBT enabled under existing snapshots does not track until they are consolidated.
   * On a running VM, a snapshot is taken and removed so that tracking starts (the stun/unstun cycle
   * vSphere needs). Returns false when it was already enabled.
   */
  enableChangeTracking(vm: VmSelector, options?: { allowSnapshots?: boolean }): Promise<boolean>;
  createSnapshot(vm: VmSelector, name: string, options?: { quiesce?: boolean; memory?: boolean; description?: string }): Promise<SnapshotHandle>;
  removeSnapshot(snapshot: SnapshotHandle | string): Promise<void>;
  /** The changeId a snapshot carries for one disk (undefined when CBT was off at snapshot time). */
  snapshotChangeId(snapshot: SnapshotHandle | string, diskKey: number): Promise<string | undefined>;
  /** Every disk of a snapshot (or, without one, of the VM as it is now), with its files. */
  diskFiles(vm: VmSelector, snapshot?: SnapshotHandle | string): Promise<DiskFile[]>;
  /** The VM's datacenter, its changed-block tracking and power state. */
  vmLocation(vm: VmSelector): Promise<VmLocation>;
  /** The session cookie, for a reader of datastore HTTP (never persisted). */
  sessionCookie(): string | undefined;
  /** Keeps the session from expiring (a `CurrentTime` call; logs in again if it had). */
  keepAlive(): Promise<void>;
  /** `https://host` of the endpoint, for datastore HTTP. */
  readonly baseUrl: string;
  /**
   * The areas of disk `diskKey` that changed between `changeId` (`"*"`: every allocated area) and
   * `snapshot`, following vCenter's partial answers to the end of the disk; adjacent areas merged.
   */
  queryChangedDiskAreas(vm: VmSelector, snapshot: SnapshotHandle | string, diskKey: number, changeId: string): Promise<ChangedAreas>;
  /**
   * Asks the guest to shut down and waits up to `timeoutMs` for power-off; powers off when the
   * guest has no tools, refuses, or does not stop in time.
   */
  shutdownGuest(vm: VmSelector, options: { timeoutMs: number }): Promise<ShutdownOutcome>;
  /** Powers the VM on; no-op when it is on. */
  powerOn(vm: VmSelector): Promise<void>;
  /** Powers the VM off (hard); no-op when it is off. */
  powerOff(vm: VmSelector): Promise<void>;
  powerState(vm: VmSelector): Promise<PowerState>;
  /** Snapshots of one VM or of every VM; `onlyRehost` keeps those rehost created. */
  listSnapshots(options?: { vm?: VmSelector; onlyRehost?: boolean }): Promise<SnapshotInfo[]>;
  /** Removes the snapshots rehost created (of one VM, or all); returns what it removed. */
  removeLeftoverSnapshots(options?: { vm?: VmSelector }): Promise<SnapshotInfo[]>;
  /** Disks that cannot be replicated (physical RDM, independent), with the reason. */
  unreplicableDisks(vm?: VmSelector): Promise<UnreplicableDisk[]>;
}

/** The vCenter SDK endpoint of what a user typed: `vc`, `https://vc`, `https://vc/sdk`. */
export function sdkEndpoint(url: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`;
  const u = new URL(withScheme);
  if (u.protocol !== "https:") throw new TypeError(`${u.protocol} is not https:`);
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/sdk";
  return u;
}

/**
 * Connects and logs in to vCenter. Wrong password, unreachable vCenter, an untrusted certificate,
 * a missing password or CA file: `InputError` with one problem saying which flag to fix.
 */
export async function connectVSphere(options: ConnectOptions): Promise<VSphereClient> {
  const warn = options.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  const timeoutMs = options.timeoutMs ?? 30_000;
  let endpoint: URL;
  try {
    endpoint = sdkEndpoint(options.url);
  } catch {
    throw new InputError(
      problem({
        field: "--vcenter",
        received: options.url,
        expected: "an https URL or host name of vCenter",
        fix: "pass --vcenter https://vcenter.example.com",
        message: "The vCenter address is not an https URL",
      }),
    );
  }
  const password = options.password ?? process.env.REHOST_VCENTER_PASSWORD;
  if (password === undefined || password === "") {
    throw new InputError(
      problem({
        field: "REHOST_VCENTER_PASSWORD",
        received: "no password",
        expected: `the password of ${options.user}`,
        fix: "set REHOST_VCENTER_PASSWORD in the environment (or run on a terminal to be asked for it)",
        message: "No vCenter password was given",
      }),
    );
  }
  let ca: string | undefined;
  if (options.ca !== undefined) {
    try {
      ca = fs.readFileSync(options.ca, "utf8");
    } catch (err) {
      throw new InputError(
        problem({
          file: options.ca,
          field: "--ca",
          received: (err as NodeJS.ErrnoException).code ?? String(err),
          expected: "a readable PEM file",
          fix: "pass the path of vCenter's CA certificate (PEM)",
          message: "The CA file cannot be read",
        }),
      );
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
      throw new InputError(
        problem({
          file: options.ca,
          field: "--ca",
          received: "no PEM certificate",
          expected: "-----BEGIN CERTIFICATE-----",
          fix: "export vCenter's root CA as PEM (Base-64)",
          message: "The CA file holds no PEM certificate",
        }),
      );
    }
  }
  if (options.insecure && options.thumbprint === undefined) {
    warn(
      `TLS certificate verification is off for ${endpoint.host} (--insecure): anyone on the path can read the vCenter password. Use --ca or --thumbprint instead.`,
    );
  }
  const agent = createAgent({
    ...(ca !== undefined ? { ca } : {}),
    ...(options.thumbprint !== undefined ? { thumbprint: options.thumbprint } : {}),
    insecure: options.insecure ?? false,
  });
  const session = new SoapSession(endpoint, agent, { user: options.user, password }, timeoutMs);
  try {
    await session.login();
  } catch (err) {
    agent.destroy();
    throw await connectProblem(err, endpoint, options, timeoutMs);
  }
  const sc = await session.serviceContent();
  return new Client(
    session,
    agent,
    { fullName: sc.fullName, apiVersion: sc.apiVersion, apiType: sc.apiType },
    { endpoint, credentials: { user: options.user, password }, timeoutMs, warn },
  );
}

const TLS_TRUST_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

async function connectProblem(err: unknown, endpoint: URL, options: ConnectOptions, timeoutMs: number): Promise<Error> {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (err instanceof VSphereFault && err.faultName === "InvalidLogin") {
    return new InputError(
      problem({
        field: "--user",
        received: options.user,
        expected: "a user and password vCenter accepts",
        fix: "check --user and REHOST_VCENTER_PASSWORD (vCenter users usually look like administrator@vsphere.local)",
        message: `vCenter ${endpoint.host} refused the login: wrong user name or password`,
      }),
    );
  }
  if (err instanceof ThumbprintMismatch) {
    return new InputError(
      problem({
        field: "--thumbprint",
        received: err.received,
        expected: err.expected,
        fix: "check the thumbprint in vCenter (Administration > Certificates); a mismatch may also mean someone is intercepting the connection",
        message: `The certificate of ${endpoint.host} does not match the pinned thumbprint`,
      }),
    );
  }
  if (TLS_TRUST_CODES.has(code)) {
    const fp = await peerFingerprints(endpoint, Math.min(timeoutMs, 5000));
    return new InputError(
      problem({
        field: "--ca",
        received: `${code}${fp ? ` (certificate SHA-256 ${fp.sha256})` : ""}`,
        expected: "a certificate signed by a trusted CA",
        fix: `pass --ca FILE with vCenter's CA certificate (https://${endpoint.host}/certs/download.zip), or --thumbprint ${fp ? fp.sha256 : "SHA256"} after checking it, or --insecure for a lab`,
        message: `The TLS certificate of ${endpoint.host} is not trusted`,
      }),
    );
  }
  if (["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "ECONNRESET", "EPIPE"].includes(code)) {
    return new InputError(
      problem({
        field: "--vcenter",
        received: `${endpoint.href} (${code})`,
        expected: "a reachable vCenter",
        fix: "check the address, port and that this machine can reach vCenter on HTTPS",
        message: `vCenter cannot be reached at ${endpoint.host}`,
      }),
    );
  }
  if (err instanceof VSphereFault && err.faultName === "InvalidResponse") {
    return new InputError(
      problem({
        field: "--vcenter",
        received: endpoint.href,
        expected: "a vCenter or ESXi SDK endpoint",
        fix: "pass the vCenter address (the SDK is at /sdk)",
        message: err.message,
      }),
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

class Client implements VSphereClient {
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

  async diskFiles(selector: VmSelector, snapshot?: SnapshotHandle | string): Promise<DiskFile[]> {
    const vm = await this.vm(selector);
    const props =
      snapshot === undefined
        ? await this.session.properties(this.vmRef(vm), ["config.hardware.device"])
        : await this.session.properties({ type: "VirtualMachineSnapshot", value: typeof snapshot === "string" ? snapshot : snapshot.moref }, [
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

  async vmLocation(selector: VmSelector): Promise<VmLocation> {
    const vm = await this.vm(selector);
    const props = await this.session.properties(this.vmRef(vm), [
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
      const p = await this.session.properties(parent, ["name", "parent"]);
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

  async findVm(uuidOrName: string): Promise<VmHandle> {
    const vms = await this.session.retrieveAll([{ type: "VirtualMachine", paths: ["name", "config.uuid", "config.instanceUuid"] }]);
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

  private async vm(selector: VmSelector): Promise<VmHandle> {
    return typeof selector === "string" ? this.findVm(selector) : selector;
  }

  private vmRef(vm: VmHandle): MoRef {
    return { type: "VirtualMachine", value: vm.moref };
  }

  async enableChangeTracking(selector: VmSelector, options: { allowSnapshots?: boolean } = {}): Promise<boolean> {
    const vm = await this.vm(selector);
    const props = await this.session.properties(this.vmRef(vm), ["config.changeTrackingEnabled", "snapshot", "config.hardware.device"]);
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
    const task = await this.session.call("ReconfigVM_Task", this.vmRef(vm), `<spec>${el("changeTrackingEnabled", true)}</spec>`);
    await this.session.waitForTask(taskRef(task), `enabling changed-block tracking on ${vm.name}`);
    // A running VM starts tracking at its next stun/unstun cycle: one snapshot taken and removed.
    if ((await this.powerState(vm)) === "poweredOn") {
      const activation = await this.createSnapshot(vm, `${REHOST_SNAPSHOT_PREFIX}cbt-activation`);
      await this.removeSnapshot(activation);
    }
    return true;
  }

  async createSnapshot(
    selector: VmSelector,
    name: string,
    options: { quiesce?: boolean; memory?: boolean; description?: string } = {},
  ): Promise<SnapshotHandle> {
    const vm = await this.vm(selector);
    const description = options.description ? `${options.description} (${REHOST_SNAPSHOT_MARK})` : REHOST_SNAPSHOT_MARK;
    const task = await this.session.call(
      "CreateSnapshot_Task",
      this.vmRef(vm),
      el("name", name) + el("description", description) + el("memory", options.memory ?? false) + el("quiesce", options.quiesce ?? false),
    );
    const result = moRef(await this.session.waitForTask(taskRef(task), `snapshot ${name} of ${vm.name}`));
    if (!result) throw new VSphereFault("InvalidResponse", `the snapshot task of ${vm.name} returned no snapshot`);
    return { moref: result.value, name, vm };
  }

  async removeSnapshot(snapshot: SnapshotHandle | string): Promise<void> {
    const moref = typeof snapshot === "string" ? snapshot : snapshot.moref;
    const task = await this.session.call(
      "RemoveSnapshot_Task",
      { type: "VirtualMachineSnapshot", value: moref },
      el("removeChildren", false) + el("consolidate", true),
    );
    await this.session.waitForTask(taskRef(task), `removing snapshot ${typeof snapshot === "string" ? moref : snapshot.name}`);
  }

  private async snapshotDisk(snapshot: SnapshotHandle | string, diskKey: number): Promise<XmlNode> {
    const moref = typeof snapshot === "string" ? snapshot : snapshot.moref;
    const props = await this.session.properties({ type: "VirtualMachineSnapshot", value: moref }, ["config.hardware.device"]);
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

  async snapshotChangeId(snapshot: SnapshotHandle | string, diskKey: number): Promise<string | undefined> {
    return childText(child(await this.snapshotDisk(snapshot, diskKey), "backing"), "changeId") || undefined;
  }

  async queryChangedDiskAreas(selector: VmSelector, snapshot: SnapshotHandle | string, diskKey: number, changeId: string): Promise<ChangedAreas> {
    const vm = await this.vm(selector);
    const moref = typeof snapshot === "string" ? snapshot : snapshot.moref;
    const disk = await this.snapshotDisk(snapshot, diskKey);
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
      const response = await this.session.call(
        "QueryChangedDiskAreas",
        this.vmRef(vm),
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

  async powerState(selector: VmSelector): Promise<PowerState> {
    const vm = await this.vm(selector);
    const props = await this.session.properties(this.vmRef(vm), ["runtime.powerState"]);
    return (text(props.get("runtime.powerState")) ?? "poweredOff") as PowerState;
  }

  async powerOn(selector: VmSelector): Promise<void> {
    const vm = await this.vm(selector);
    if ((await this.powerState(vm)) === "poweredOn") return;
    const task = await this.session.call("PowerOnVM_Task", this.vmRef(vm), "");
    await this.session.waitForTask(taskRef(task), `powering on ${vm.name}`);
  }

  async powerOff(selector: VmSelector): Promise<void> {
    const vm = await this.vm(selector);
    if ((await this.powerState(vm)) === "poweredOff") return;
    const task = await this.session.call("PowerOffVM_Task", this.vmRef(vm), "");
    await this.session.waitForTask(taskRef(task), `powering off ${vm.name}`);
  }

  async shutdownGuest(selector: VmSelector, options: { timeoutMs: number }): Promise<ShutdownOutcome> {
    const vm = await this.vm(selector);
    if ((await this.powerState(vm)) === "poweredOff") return "already-off";
    try {
      await this.session.call("ShutdownGuest", this.vmRef(vm), "");
    } catch (err) {
      if (err instanceof VSphereFault && ["ToolsUnavailable", "InvalidState", "InvalidPowerState", "NotSupported", "TaskInProgress"].includes(err.faultName)) {
        await this.powerOff(vm);
        return "powered-off";
      }
      throw err;
    }
    const until = Date.now() + options.timeoutMs;
    let delay = 200;
    while (Date.now() < until) {
      if ((await this.powerState(vm)) === "poweredOff") return "guest-shutdown";
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(until - Date.now(), 0))));
      delay = Math.min(delay * 2, 2000);
    }
    if ((await this.powerState(vm)) === "poweredOff") return "guest-shutdown";
    await this.powerOff(vm);
    return "powered-off";
  }

  async listSnapshots(options: { vm?: VmSelector; onlyRehost?: boolean } = {}): Promise<SnapshotInfo[]> {
    let list: SnapshotInfo[];
    if (options.vm !== undefined) {
      const vm = await this.vm(options.vm);
      const props = await this.session.properties(this.vmRef(vm), ["snapshot"]);
      list = snapshotList(props.get("snapshot"), vm.name, vm.moref);
    } else {
      const vms = await this.session.retrieveAll([{ type: "VirtualMachine", paths: ["name", "snapshot"] }]);
      list = vms.flatMap((c) => snapshotList(c.props.get("snapshot"), text(c.props.get("name")) ?? c.obj.value, c.obj.value));
    }
    return options.onlyRehost ? list.filter((s) => s.createdByRehost) : list;
  }

  async removeLeftoverSnapshots(options: { vm?: VmSelector } = {}): Promise<SnapshotInfo[]> {
    const leftovers = await this.listSnapshots({ ...options, onlyRehost: true });
    // Children first, so removing a parent never takes a child along unannounced.
    for (const s of [...leftovers].reverse()) await this.removeSnapshot(s.moref);
    return leftovers;
  }

  async unreplicableDisks(selector?: VmSelector): Promise<UnreplicableDisk[]> {
    const all = buildEstate(await this.session.retrieveAll(ESTATE_PROPERTIES)).unreplicable;
    if (selector === undefined) return [...all];
    const vm = await this.vm(selector);
    return all.filter((d) => d.uuid === vm.uuid);
  }
}

function taskRef(response: XmlNode | undefined): MoRef {
  const task = moRef(child(response, "returnval"));
  if (!task) throw new VSphereFault("InvalidResponse", "the call returned no task");
  return task;
}

/** Problems for the unreplicable disks of an estate, as warnings (one per disk). */
export function unreplicableProblems(disks: readonly UnreplicableDisk[]): Problem[] {
  return disks.map((d) => ({
    severity: "warning" as const,
    vm: d.vm,
    field: `disks[key=${d.diskKey}]`,
    received: d.backing,
    expected: "a flat or virtual-mode RDM disk",
    message: `Disk ${d.label} cannot be replicated: ${d.reason}`,
  }));
}
