/**
 * A changed-block-tracking round end to end: a vcsim VM's disk, written through the datastore HTTP
 * interface, served by nbdkit's curl plugin (HTTP Range reads) → `rehost sync` with the extents of
 * `QueryChangedDiskAreas(changeId "*")` → a target file; then the guest "writes", a second
 * snapshot, `QueryChangedDiskAreas` since the first changeId → `rehost sync --changed extents:` →
 * source and target digests equal, and only the changed blocks moved.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Extent } from "../../lib/replication/device";
import { connectVSphere, type VSphereClient } from "../../lib/vsphere";
import { startNbdkit, tempDir, type NbdServer } from "../helpers/nbd-servers";
import { PASSWORD, putDatastoreFile, rehost, startVcsim, USER, type Vcsim } from "./harness";

const MiB = 1024 * 1024;
const BLOCK = 64 * 1024;
const DISK = 32 * MiB;

let sim: Vcsim;
let vc: VSphereClient;
let nbd: NbdServer | undefined;
let work: string;

beforeAll(async () => {
  sim = await startVcsim({
    portgroups: [{ name: "app" }],
    vms: [{ name: "app-01", disks: [{ capacityMiB: DISK / MiB }], nics: [{ portgroup: "app", ips: ["10.3.0.5"] }] }],
  });
  vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
  work = tempDir("rehost-cbt-");
  // The first run on a machine builds the simulator (about 20 s, more on a loaded machine).
}, 300_000);

afterAll(async () => {
  await nbd?.stop();
  await vc?.logout();
  await sim?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** The 64 KiB blocks that differ between two buffers, merged into extents. */
function changedBlocks(before: Buffer, after: Buffer): Extent[] {
  const out: Extent[] = [];
  for (let offset = 0; offset < after.length; offset += BLOCK) {
    if (before.subarray(offset, offset + BLOCK).equals(after.subarray(offset, offset + BLOCK))) continue;
    const last = out[out.length - 1];
    if (last && last.offset + last.length === offset) out[out.length - 1] = { offset: last.offset, length: last.length + BLOCK };
    else out.push({ offset, length: BLOCK });
  }
  return out;
}

function total(extents: readonly Extent[]): number {
  return extents.reduce((n, e) => n + e.length, 0);
}

function syncResult(stdout: string): { bytesRead: number; bytesWritten: number } {
  return JSON.parse(stdout.trim().split("\n").pop() as string) as { bytesRead: number; bytesWritten: number };
}

describe("CBT round through the datastore HTTP interface", () => {
  it("copies the allocated areas, then exactly the changed blocks, and the digests match", async () => {
    const vm = await vc.findVm("app-01");
    expect(await vc.enableChangeTracking(vm)).toBe(true);

    // The "guest" writes: data in a few regions, zeroes elsewhere.
    const disk = Buffer.alloc(DISK);
    randomBytes(2 * MiB).copy(disk, 0);
    randomBytes(3 * MiB).copy(disk, 10 * MiB);
    randomBytes(1000).copy(disk, 20 * MiB + 5);
    await putDatastoreFile(sim, "app-01/app-01-flat.vmdk", disk);

    const first = await vc.createSnapshot(vm, "rehost-round-1");
    const all = await vc.queryChangedDiskAreas(vm, first, 2000, "*");
    expect(all.extents).toEqual(changedBlocks(Buffer.alloc(DISK), disk));

    // The disk as a migration proxy serves it: nbdkit's curl plugin over datastore HTTP (Range reads).
    const passwordFile = path.join(work, "vcenter.password");
    fs.writeFileSync(passwordFile, PASSWORD, { mode: 0o600 });
    nbd = await startNbdkit({
      dir: work,
      readOnly: true,
      plugin: [
        "curl",
        `url=${sim.base}/folder/app-01/app-01-flat.vmdk?dcPath=DC0&dsName=LocalDS_0`,
        `cainfo=${sim.ca}`,
        `user=${USER}`,
        `password=+${passwordFile}`,
      ],
    });
    const target = path.join(work, "app-01.img");

    const allFile = path.join(work, "round-1.json");
    fs.writeFileSync(allFile, JSON.stringify(all.extents));
    const full = await rehost(["sync", nbd.uri, target, "--changed", `extents:${allFile}`, "--json"]);
    expect(full.stderr).toBe("");
    expect(full.code).toBe(0);
    expect(syncResult(full.stdout).bytesRead).toBe(total(all.extents));

    // More guest writes: a few bytes here and there, one larger range across a block boundary.
    const before = Buffer.from(disk);
    disk.fill(0x5a, 1 * MiB + 7, 1 * MiB + 70);
    randomBytes(MiB).copy(disk, 16 * MiB - 300);
    disk[DISK - 1] = 0xff;
    await putDatastoreFile(sim, "app-01/app-01-flat.vmdk", disk);

    const second = await vc.createSnapshot(vm, "rehost-round-2");
    const delta = await vc.queryChangedDiskAreas(vm, second, 2000, all.changeId);
    expect(delta.extents).toEqual(changedBlocks(before, disk));
    expect(total(delta.extents)).toBeLessThan(DISK / 8);

    const deltaFile = path.join(work, "round-2.json");
    fs.writeFileSync(deltaFile, JSON.stringify(delta.extents));
    const incremental = await rehost(["sync", nbd.uri, target, "--changed", `extents:${deltaFile}`, "--json"]);
    expect(incremental.code).toBe(0);
    expect(syncResult(incremental.stdout).bytesRead).toBe(total(delta.extents));

    const verify = await rehost(["verify", nbd.uri, target]);
    expect(verify.code).toBe(0);
    const [source, copy] = verify.stdout
      .trim()
      .split("\n")
      .slice(0, 2)
      .map((l) => l.split(/\s+/)[1]);
    expect(copy).toBe(source);
    expect(createHash("sha256").update(fs.readFileSync(target)).digest("hex")).toBe(createHash("sha256").update(disk).digest("hex"));

    // The next round starts from the second snapshot's changeId; the first snapshot can go.
    await vc.removeSnapshot(first);
    await vc.removeSnapshot(second);
    expect(await vc.listSnapshots({ onlyRehost: true })).toEqual([]);
  });
});
