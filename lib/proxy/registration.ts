/**
 * The checks a disk's registration passes on the proxy before any snapshot: the VM and the disk
 * exist, the disk can be snapshotted, changed-block tracking is supported (and turned on), the
 * datastore can be read, the job on the agent is a pushed one.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import { HttpError } from "../service/http";
import type { VmHandle } from "../vsphere/client";
import { unreplicableReason } from "../vsphere/estate";
import { DiskRegistrationSchema, type DiskRegistration, type DiskRegistrationInput } from "./api";
import { datastoreUrl } from "./reader";
import type { RoundContext } from "./rounds";

/** What the checks reach: vCenter, the agents, how disks are read. */
export type CheckContext = Pick<RoundContext, "vc" | "agent" | "reader">;

/**
 * Checks, before any snapshot, everything that would make a disk's rounds fail: the VM and disk
 * exist, the disk can be snapshotted (no physical RDM, not independent), CBT is supported (and
 * turned on here), the datastore can be read, the job is a pushed one.
 */
export async function checkRegistration(
  ctx: CheckContext,
  /** CBT activations in flight, by VM: disks of one VM registered together turn CBT on once. */
  enablingCbt: Map<string, Promise<boolean>>,
  name: string,
  key: number,
  input: DiskRegistrationInput,
): Promise<{ registration: DiskRegistration; handle: VmHandle }> {
  const registration: DiskRegistration = DiskRegistrationSchema.parse(input);
  const handle = await ctx.vc.findVm(name).catch((err: unknown) => {
    throw new HttpError(404, (err as Error).message);
  });
  const files = await ctx.vc.diskFiles(handle);
  const file = files.find((f) => f.key === key);
  const refuse = (message: string, fix: string): never => {
    throw new HttpError(400, message, { problems: [{ severity: "error", vm: name, field: `disks[key=${key}]`, message, fix }] });
  };
  if (file === undefined)
    refuse(`VM ${name} has no disk ${key} (it has ${files.map((f) => f.key).join(", ") || "none"}).`, "use a disk key from rehost inventory");
  if (file!.backing === "rdm-physical" || file!.backing === "independent")
    refuse(
      `Disk ${key} (${file!.label}) of VM ${name} cannot be replicated: ${unreplicableReason(file!.backing)}.`,
      "leave the disk out of the wave, or change it as the reason says",
    );
  const location = await ctx.vc.vmLocation(handle);
  if (!location.changeTrackingSupported)
    refuse(
      `VM ${name} does not support changed-block tracking (its virtual hardware is older than version 7).`,
      "upgrade the VM's hardware version while it is off, then register it again",
    );
  if (!location.changeTrackingEnabled) {
    // Disks of one VM registered together turn CBT on once (its activation takes a snapshot).
    let enabling = enablingCbt.get(name);
    if (enabling === undefined) {
      enabling = ctx.vc.enableChangeTracking(handle).finally(() => enablingCbt.delete(name));
      enablingCbt.set(name, enabling);
    }
    await enabling.catch((err: unknown) =>
      refuse(
        `Changed-block tracking cannot be turned on for VM ${name}: ${(err as Error).message}`,
        "consolidate or delete the VM's snapshots, then register it again",
      ),
    );
  }
  await checkReadable(ctx, name, file!, location.datacenter).catch((err: unknown) =>
    refuse(
      (err as Error).message,
      "give the proxy's vCenter user the Datastore.Browse privilege on that datastore (or a reader that can, such as --reader vddk)",
    ),
  );
  const job = await ctx
    .agent(registration.agentUrl)
    .get(registration.jobId)
    .catch((err: unknown) => {
      throw new HttpError(
        409,
        `Job ${registration.jobId} cannot be read on ${registration.agentUrl}: ${(err as Error).message}. Register the job there first (pushed).`,
      );
    });
  if (!("pushedBy" in job.source))
    throw new HttpError(409, `Job ${registration.jobId} on ${registration.agentUrl} reads its source itself; register it as a pushed job.`);
  return { registration, handle };
}

/** Fails unless the proxy can read the disk's data file over datastore HTTP (a HEAD request). */
async function checkReadable(
  ctx: CheckContext,
  vm: string,
  file: { datastore: string; flatPath: string; fileName: string; label: string; key: number },
  datacenter: string,
): Promise<void> {
  if (ctx.reader.kind !== "curl") return;
  const url = datastoreUrl({
    baseUrl: ctx.vc.baseUrl,
    datacenter,
    datastore: file.datastore,
    flatPath: file.flatPath,
    fileName: file.fileName,
    vmMoref: "",
    snapshotMoref: "",
  });
  const ca = ctx.reader.caFile !== undefined ? fs.readFileSync(ctx.reader.caFile, "utf8") : undefined;
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: "HEAD",
        ca,
        rejectUnauthorized: ctx.reader.insecure !== true,
        headers: { Cookie: ctx.vc.sessionCookie() ?? "" },
        timeout: 30_000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 30 s")));
    req.on("error", reject);
    req.end();
  });
  if (status !== 200)
    throw new Error(
      `The proxy cannot read disk ${file.key} (${file.label}) of VM ${vm} on datastore ${file.datastore}: ${url.split("?")[0]} answered HTTP ${status}.`,
    );
}
