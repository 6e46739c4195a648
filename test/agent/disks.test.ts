/**
 * Replica disks by identity: jobs name the cloud disk id, the agent finds it through its by-id
 * link and refuses a device whose serial is another disk's. Three disks are real loop devices
 * (files that carry their data), attached in one order, replicated, then detached and attached
 * in another order — every replica still lands on its own disk. See docs/agent.md, "Disks by
 * identity".
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import { AgentClient, AgentRequestError } from "../../lib/agent/client";
import { diskSerial, findDisk } from "../../lib/agent/disks";
import { ProcessGroup } from "../../lib/lab/processes";
import { LoopDiskRig, type CloudDisk } from "../helpers/cloud-disks";
import { tempDir } from "../helpers/nbd-servers";
import { fileSha256, makeRawDisk, makeTarget, serveRaw, startTestAgent, until } from "./fixtures";

const dir = tempDir("rehost-agent-disks-");
const group = new ProcessGroup();
const rig = new LoopDiskRig(dir);
let agent: RunningAgent | undefined;
let client: AgentClient;

// Real ECS disk ids are `d-` and 20 characters: the serial is exactly those 20.
const disks: CloudDisk[] = ["d-bp1aaaaaaaaaaaaaaaa1", "d-bp1bbbbbbbbbbbbbbbb2", "d-bp1cccccccccccccccc3"].map((id, i) => ({
  id,
  file: path.join(dir, `cloud-disk-${i}.img`),
}));
const [diskA, diskB, diskC] = disks as [CloudDisk, CloudDisk, CloudDisk];
/** Which source each disk replicates: job id, source image, and its served URI. */
const jobs = disks.map((disk, i) => ({ id: `vm-0${i + 1}-disk-2000`, disk, image: path.join(dir, `source-${i}.raw`), uri: "" }));
const stranger = "d-bp1dddddddddddddddd4";

async function start(): Promise<void> {
  ({ agent, client } = await startTestAgent(path.join(dir, "agent"), [...disks.map((d) => d.id), stranger], {
    disks: { byIdDir: rig.byIdDir, sysDevBlockDir: rig.sysDevBlockDir },
    retryDelayMs: 100,
    maxAttempts: 1,
  }));
}

async function idleAfter(id: string, round: number) {
  return until(`job ${id} to record round ${round}`, async () => {
    const s = await client.get(id);
    if (s.state === "error") throw new Error(`job ${id} failed: ${s.error}`);
    return s.state === "idle" && s.lastRound?.round === round ? s : undefined;
  });
}

beforeAll(async () => {
  for (const [i, job] of jobs.entries()) {
    makeRawDisk(job.image, 16, 12, `source-${i}-round-0`);
    makeTarget(job.disk.file, 16);
    job.uri = await serveRaw(group, job.image, path.join(dir, `source-${i}.sock`));
  }
  // Attached out of slot order: the first loop device holds disk C, the second disk A, the third B.
  rig.attach([diskC, diskA, diskB]);
  await start();
});

afterAll(async () => {
  await agent?.close();
  await group.stopAll();
  rig.detachAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("disks by identity", () => {
  it("serials are the disk ids without d-", () => {
    expect(diskSerial("d-bp1aaaaaaaaaaaaaaaa1")).toBe("bp1aaaaaaaaaaaaaaaa1");
    const found = findDisk(diskA.id, { byIdDir: rig.byIdDir, sysDevBlockDir: rig.sysDevBlockDir });
    expect(found.path).toBe(rig.devices.get(diskA.id));
    expect(found.serial).toBe("bp1aaaaaaaaaaaaaaaa1");
  });

  it("writes every replica to its own disk, whatever device name the disk has", async () => {
    for (const job of jobs) await client.register({ id: job.id, source: { uri: job.uri }, target: job.disk.id, initial: "full" });
    for (const job of jobs) {
      const status = await idleAfter(job.id, 0);
      expect(status.target).toBe(job.disk.id);
      expect(fileSha256(job.disk.file)).toBe(fileSha256(job.image));
    }
    // Not slot order: disk A is the second loop device, not the first.
    expect([...rig.devices.keys()]).toEqual([diskC.id, diskA.id, diskB.id]);

    // A reboot: the disks come back under other names (now B, C, A), the sources changed.
    await agent!.close();
    agent = undefined;
    const before = new Map(rig.devices);
    rig.detachAll();
    rig.attach([diskB, diskC, diskA]);
    expect(rig.devices.get(diskA.id)).not.toBe(before.get(diskA.id));
    for (const [i, job] of jobs.entries()) makeRawDisk(job.image, 16, 12, `source-${i}-round-1`);
    await start();
    for (const job of jobs) await client.round(job.id, 1, "full");
    for (const job of jobs) {
      const status = await idleAfter(job.id, 1);
      expect(status.lastRound!.bytesWritten).toBeGreaterThan(0);
      expect(fileSha256(job.disk.file)).toBe(fileSha256(job.image));
    }
  });

  it("refuses a device whose serial is another disk's, and a disk it was not allowed or cannot find", async () => {
    const refusal = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AgentRequestError);
      return err as AgentRequestError;
    };
    const sourceUri = jobs[0]!.uri;
    // The stranger's link leads to disk A's device: its serial says it is disk A.
    rig.publish([...disks.map((d) => ({ link: d.id, serialOf: d.id })), { link: stranger, serialOf: diskA.id }]);
    const beforeA = fileSha256(diskA.file);
    const mismatch = await refusal(client.register({ id: "intruder-disk-2000", source: { uri: sourceUri }, target: stranger, initial: "full" }));
    expect(mismatch.status).toBe(403);
    expect(mismatch.message).toContain(`whose serial is ${diskSerial(diskA.id)}, not ${diskSerial(stranger)}`);
    const notAllowed = await refusal(client.register({ id: "other-disk-2000", source: { uri: sourceUri }, target: "d-bp1eeeeeeeeeeeeeeee5", initial: "full" }));
    expect(notAllowed.status).toBe(403);
    expect(notAllowed.message).toContain("not in the agent's allow-list");
    rig.publish(disks.map((d) => ({ link: d.id, serialOf: d.id })));
    const missing = await refusal(client.register({ id: "intruder-disk-2000", source: { uri: sourceUri }, target: stranger, initial: "full" }));
    expect(missing.status).toBe(400);
    expect(missing.message).toContain("is not attached to this gateway");
    await new Promise((r) => setTimeout(r, 300));
    expect(fileSha256(diskA.file)).toBe(beforeA);
  });

  it("stops a job whose link now leads to another disk: nothing is written there", async () => {
    const [first, second] = jobs as [(typeof jobs)[0], (typeof jobs)[1]];
    // Disk A's link now leads to disk B's device (a stale udev link after a re-attachment).
    rig.publish(disks.map((d) => ({ link: d.id, serialOf: d.id === diskA.id ? diskB.id : d.id })));
    const beforeB = fileSha256(diskB.file);
    makeRawDisk(first.image, 16, 12, "source-0-round-2");
    await client.round(first.id, 2, "full");
    const failed = await until("the round to be refused", async () => {
      const s = await client.get(first.id);
      return s.state === "error" ? s : undefined;
    });
    expect(failed.error).toContain(`whose serial is ${diskSerial(diskB.id)}`);
    expect(fileSha256(diskB.file)).toBe(beforeB);
    expect(fileSha256(second.disk.file)).toBe(fileSha256(second.image));
  });
});
