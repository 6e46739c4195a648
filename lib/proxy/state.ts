/**
 * What the source proxy keeps in its state directory, each file written atomically
 * (`service/files.ts`), so a proxy killed at any moment starts again where it was:
 *
 *   vms/<vm>.json                the VM: its disks (agent, job, last changeId, last round), the
 *                                round in flight (its number and the snapshot it created), the
 *                                last rounds, a cutover
 *   hashes/<vm>.<key>.blocks     the disk's 1 MiB block hashes as of its last round, source side
 *   hashes/<vm>.<key>.changed    a bitmap of the 1 MiB blocks written since the last full check
 *                                (missing: every block, as before the first check)
 *   points/<name>.json           consistent points
 *   tls/, token                  the proxy's certificate and bearer token
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { BlockDigests, parseBlockDigests, type BlockDigestIdentity } from "../replication/sha256-blocks";
import { DIGEST_ALGORITHM, DIGEST_BLOCK } from "../replication/sha256-blocks";
import { writeFileAtomic } from "../service/files";
import type { CutoverStatus, PointStatus, RoundSummary } from "./api";

/** A disk of a VM, as the proxy replicates it. */
export interface DiskRecord {
  key: number;
  agentUrl: string;
  jobId: string;
  sizeBytes?: number;
  /** The changeId of the disk in the last round's snapshot: where the next round's changes start. */
  changeId?: string;
  lastRound?: number;
  lastRoundAt?: string;
  /** The last full source-side check: its round and its snapshot's time. */
  fullCheckRound?: number;
  fullCheckAt?: string;
  /** The registration's zstd level or `off`; the proxy's when missing. */
  compressionLevel?: number | "off";
}

/** A VM, as saved. */
export interface VmRecord {
  readonly version: 1;
  vm: string;
  quiesce: boolean;
  rpoSeconds: number;
  /** @default 86400 (records written before it existed) */
  fullCheckSeconds?: number;
  disks: Record<string, DiskRecord>;
  nextRound: number;
  /** The round being taken: saved before its snapshot is created, with the snapshot once it exists. */
  /** A round asked for (`POST …/rounds`) and not started yet: a restart runs it. */
  requested?: { mode: "auto" | "resync"; at: string };
  inFlight?: {
    round: number;
    snapshotName: string;
    snapshot?: string;
    snapshotAt?: string;
    consistency?: "quiesced" | "crash";
    startedAt: string;
    point?: string;
  };
  rounds: RoundSummary[];
  cutover?: CutoverStatus;
  error?: string;
}

/** Rounds kept per VM. */
const ROUNDS_KEPT = 100;

/** The proxy's state directory. */
export class ProxyState {
  constructor(readonly root: string) {}

  get tlsDir(): string {
    return path.join(this.root, "tls");
  }
  get tokenFile(): string {
    return path.join(this.root, "token");
  }
  private dir(name: string): string {
    return path.join(this.root, name);
  }
  private vmFile(vm: string): string {
    return path.join(this.dir("vms"), `${encodeURIComponent(vm)}.json`);
  }
  private hashesFile(vm: string, key: number): string {
    return path.join(this.dir("hashes"), `${encodeURIComponent(vm)}.${key}.blocks`);
  }
  private pointFile(name: string): string {
    return path.join(this.dir("points"), `${name}.json`);
  }

  /** Creates the directories (mode 0700). */
  ensure(): void {
    for (const d of [this.root, this.dir("vms"), this.dir("hashes"), this.dir("points"), this.tlsDir]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  /** Every saved VM. */
  loadVms(onBad: (file: string, err: unknown) => void): VmRecord[] {
    const records: VmRecord[] = [];
    for (const name of fs.readdirSync(this.dir("vms")).sort()) {
      if (!name.endsWith(".json") || name.startsWith(".")) continue;
      const file = path.join(this.dir("vms"), name);
      try {
        const record = JSON.parse(fs.readFileSync(file, "utf8")) as VmRecord;
        if (record.version !== 1 || typeof record.vm !== "string" || typeof record.disks !== "object") throw new Error("not a VM record");
        records.push(record);
      } catch (err) {
        onBad(file, err);
      }
    }
    return records;
  }

  saveVm(record: VmRecord): void {
    if (record.rounds.length > ROUNDS_KEPT) record.rounds.splice(0, record.rounds.length - ROUNDS_KEPT);
    writeFileAtomic(this.vmFile(record.vm), `${JSON.stringify(record, null, 2)}\n`, 0o600, true);
  }

  removeVm(vm: string): void {
    for (const f of [this.vmFile(vm), `${this.vmFile(vm)}.bak`]) fs.rmSync(f, { force: true });
    for (const name of fs.readdirSync(this.dir("hashes")))
      if (name.startsWith(`${encodeURIComponent(vm)}.`)) fs.rmSync(path.join(this.dir("hashes"), name), { force: true });
  }

  /** What a disk's source-side hashes must say they are, after round `round`. */
  hashIdentity(vm: string, key: number, size: number, round: number): BlockDigestIdentity {
    return { target: `${vm}#${key}`, size, algorithm: DIGEST_ALGORITHM, block: DIGEST_BLOCK, stamp: `source-after-round:${round}` };
  }

  /** The disk's source-side block hashes as of round `round`, when they are there and whole. */
  loadHashes(vm: string, key: number, size: number, round: number): BlockDigests | undefined {
    let data: Buffer;
    try {
      data = fs.readFileSync(this.hashesFile(vm, key));
    } catch {
      return undefined;
    }
    const parsed = parseBlockDigests(data, this.hashIdentity(vm, key, size, round));
    return parsed.ok ? parsed.digests : undefined;
  }

  saveHashes(vm: string, key: number, digests: BlockDigests): void {
    writeFileAtomic(this.hashesFile(vm, key), digests.serialize());
  }

  /** The blocks written since the disk's last full check; undefined when unknown (every block counts). */
  loadChanged(vm: string, key: number, size: number): ChangedBlocks | undefined {
    try {
      const bits = fs.readFileSync(path.join(this.dir("hashes"), `${encodeURIComponent(vm)}.${key}.changed`));
      return bits.length === ChangedBlocks.bytesFor(size) ? new ChangedBlocks(size, bits) : undefined;
    } catch {
      return undefined;
    }
  }

  saveChanged(vm: string, key: number, changed: ChangedBlocks): void {
    writeFileAtomic(path.join(this.dir("hashes"), `${encodeURIComponent(vm)}.${key}.changed`), changed.bits);
  }

  savePoint(point: PointStatus): void {
    writeFileAtomic(this.pointFile(point.name), `${JSON.stringify(point, null, 2)}\n`);
  }

  removePoint(name: string): void {
    fs.rmSync(this.pointFile(name), { force: true });
  }

  loadPoint(name: string): PointStatus | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.pointFile(name), "utf8")) as PointStatus;
    } catch {
      return undefined;
    }
  }
}

/** A bitmap of a disk's 1 MiB blocks. */
export class ChangedBlocks {
  static bytesFor(size: number): number {
    return Math.ceil(Math.ceil(size / DIGEST_BLOCK) / 8);
  }
  /** Every block set (nothing is known), or none. */
  static all(size: number, set: boolean): ChangedBlocks {
    const blocks = new ChangedBlocks(size, Buffer.alloc(ChangedBlocks.bytesFor(size), set ? 0xff : 0));
    return blocks;
  }
  constructor(
    readonly size: number,
    readonly bits: Buffer,
  ) {}
  get count(): number {
    return Math.ceil(this.size / DIGEST_BLOCK);
  }
  add(blocks: Iterable<number>): void {
    for (const b of blocks) this.bits[b >> 3] |= 1 << (b & 7);
  }
  /** The set blocks, in increasing order. */
  list(): number[] {
    const out: number[] = [];
    for (let b = 0; b < this.count; b++) if ((this.bits[b >> 3] & (1 << (b & 7))) !== 0) out.push(b);
    return out;
  }
}
