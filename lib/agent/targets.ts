/**
 * What a job may read and write: its target resolved to a real path and checked against the
 * allow-list (a cloud disk id followed by its serial), checked again before every round; its
 * source URI refused when it names key files, and turned into the spec the copier opens with the
 * PSK file its credentials reference.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isPushed, type JobSpec } from "./api";
import type { TargetIdentity } from "../replication";
import { parseNbdUri } from "../replication/nbd/uri";
import { InputError } from "../problems";
import type { Logger } from "../service/log";
import { DiskNotFound, findDisk, isDiskId, type DiskLookup } from "./disks";
import { JobRequestError, type JobRecord } from "./records";

/** What targets and sources are checked against. */
export interface TargetOptions {
  /** Cloud disk ids, devices or files jobs may write to; anything else is refused. */
  readonly allow: readonly string[];
  /** Where cloud disk ids are looked up. @default - `/dev/disk/by-id` and `/sys/dev/block` */
  readonly disks?: DiskLookup;
  /** Directory the credentials references name files in. */
  readonly credentialsDir?: string;
  readonly logger: Logger;
}

/** A round refused because its target is no longer what was registered and allowed. */
export class TargetRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetRefused";
  }
}

/** Whether the data plane refused the target itself (swapped, read-only, too small): not worth a retry. */
export function isTargetProblem(err: InputError): boolean {
  return err.problems.some((p) => p.field === "target");
}

export function sameIdentity(a: TargetIdentity, b: TargetIdentity): boolean {
  return a.blockDevice === b.blockDevice && (a.blockDevice ? a.rdev === b.rdev : a.dev === b.dev && a.ino === b.ino);
}

/** The allowed targets now: each `--allow` entry's real path (devices may appear after the start). */
function allowedTargets(options: TargetOptions): Map<string, string> {
  const allowed = new Map<string, string>();
  for (const entry of options.allow) {
    // A cloud disk id allows that disk only when a job names it by its id.
    if (isDiskId(entry)) continue;
    try {
      allowed.set(fs.realpathSync.native(entry), entry);
    } catch {
      // An entry that does not exist (yet) allows nothing.
    }
  }
  return allowed;
}

/**
 * The target's real path — symbolic links and `..` resolved as the kernel resolves them when
 * the copier opens it — if that is an allowed file or block device; refused otherwise.
 */
export function resolveTarget(options: TargetOptions, target: string): { path: string; identity: TargetIdentity } {
  if (isDiskId(target)) return resolveDisk(options, target);
  let real: string;
  try {
    real = fs.realpathSync.native(target);
  } catch {
    throw new JobRequestError(400, `Target ${target} does not exist on the gateway.`);
  }
  if (!allowedTargets(options).has(real)) {
    throw new JobRequestError(403, `Target ${target} is not in the agent's allow-list${real !== target ? ` (it resolves to ${real})` : ""}.`, {
      allow: [...options.allow],
    });
  }
  const st = fs.statSync(real);
  if (!st.isFile() && !st.isBlockDevice()) throw new JobRequestError(400, `Target ${target} is neither a file nor a block device.`);
  return { path: real, identity: { dev: st.dev, ino: st.ino, rdev: st.rdev, blockDevice: st.isBlockDevice() } };
}

/**
 * A cloud disk id: allowed by that id, found through its by-id link, and the device the link
 * resolves to must report the disk's serial.
 */
function resolveDisk(options: TargetOptions, diskId: string): { path: string; identity: TargetIdentity } {
  if (!options.allow.includes(diskId)) {
    throw new JobRequestError(403, `Disk ${diskId} is not in the agent's allow-list.`, { allow: [...options.allow] });
  }
  let found: ReturnType<typeof findDisk>;
  try {
    found = findDisk(diskId, options.disks);
  } catch (err) {
    if (err instanceof DiskNotFound) throw new JobRequestError(err.kind === "mismatch" ? 403 : 400, err.message);
    throw err;
  }
  const st = fs.statSync(found.path);
  return { path: found.path, identity: { dev: st.dev, ino: st.ino, rdev: st.rdev, blockDevice: true } };
}

/**
 * Checks, before each round, that the target still resolves to what was registered and is
 * still allowed; the copier then opens exactly that path and checks the handle it opened. A
 * cloud disk may come back under another device name (a reboot, a re-attachment): its serial
 * is what identifies it, so the job follows it there.
 */
export function targetForRound(options: TargetOptions, r: JobRecord): { path: string; identity: TargetIdentity } {
  let now: { path: string; identity: TargetIdentity };
  try {
    now = resolveTarget(options, r.spec.target);
  } catch (err) {
    throw new TargetRefused(
      `${(err as Error).message} The job's rounds are refused until its target is allowed again (rehost agent --allow) or the job is unregistered.`,
    );
  }
  const registered = r.resolved;
  if (isDiskId(r.spec.target)) {
    if (registered === undefined || registered.path !== now.path || !sameIdentity(registered.identity, now.identity)) {
      options.logger.log("info", "disk found under another device name", { job: r.spec.id, disk: r.spec.target, was: registered?.path, now: now.path });
      r.resolved = now;
    }
    return now;
  }
  if (registered !== undefined && (registered.path !== now.path || !sameIdentity(registered.identity, now.identity))) {
    throw new TargetRefused(
      `Target ${r.spec.target} now resolves to ${now.path}, not the ${registered.path} it was registered with; nothing was written. Unregister the job and register it again if the change is intended.`,
    );
  }
  return registered ?? now;
}

/** The file a credentials reference names in the agent's credentials directory; refused when there is none. */
export function credentialsFile(options: TargetOptions, name: string): string {
  const dir = options.credentialsDir;
  if (dir === undefined)
    throw new JobRequestError(400, `The agent has no credentials directory, so credentials ${name} cannot be used; start it with --credentials DIR.`);
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) throw new JobRequestError(400, `No credentials file ${name} in the agent's credentials directory.`);
  return file;
}

/** The source spec handed to the copier: the URI plus the PSK file it references. */
export function sourceSpec(options: TargetOptions, spec: JobSpec): string {
  const source = spec.source;
  if (isPushed(source)) throw new JobRequestError(409, `Job ${spec.id} does not read its source: ${source.pushedBy} pushes it.`);
  if (source.credentials === undefined) return source.uri;
  const file = credentialsFile(options, source.credentials);
  return `${source.uri}${source.uri.includes("?") ? "&" : "?"}tls-psk-file=${encodeURIComponent(file)}`;
}

/**
 * Refuses a source URI the agent would not follow: one it cannot parse (checked as the copier
 * parses it, after percent-decoding), or one naming key files or turning certificate checks off —
 * the agent runs as root, and key material is its own (`credentials`).
 */
export function checkSourceUri(uri: string): void {
  let parsed: ReturnType<typeof parseNbdUri>;
  try {
    parsed = parseNbdUri(uri);
  } catch (err) {
    if (err instanceof InputError)
      throw new JobRequestError(400, `The source URI is not valid: ${err.problems.map((p) => p.message).join("; ")}.`, { problems: err.problems });
    throw err;
  }
  const refused = [
    parsed.tlsPskFile !== undefined ? "tls-psk-file" : undefined,
    parsed.tlsCertificates !== undefined ? "tls-certificates" : undefined,
    parsed.tlsVerifyPeer === false ? "tls-verify-peer=false" : undefined,
  ].filter((p): p is string => p !== undefined);
  if (refused.length > 0) {
    throw new JobRequestError(
      400,
      `The source URI sets ${refused.join(" and ")}: the agent's key files and certificate checks are its own; name a PSK file of its credentials directory with \`credentials\` instead.`,
    );
  }
}
