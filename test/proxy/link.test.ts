/**
 * The proxy–agent link as a migration runs it: `rehost proxy` in an on-prem network namespace,
 * `rehost agent` in a cloud one, joined by a tbf-limited veth pair (`createWan`), the vCenter
 * simulator on-prem. Rounds with compression on and off end byte-identical to the VM's disks; the
 * bandwidth file changed in the middle of a round changes the rate on the link. And, with the
 * proxy in this process, a corrupted compressed frame is refused by its hash, never written,
 * and sent again.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import type { AgentClient } from "../../lib/agent/client";
import { AgentClient as Agent } from "../../lib/agent/client";
import { createWan, type Wan } from "../../lib/lab/network";
import { startLabAgent, startLabProxy, startLabVcenter, type LabService } from "../../lib/lab/services";
import { wanSite } from "../../lib/lab/site";
import { BlockCompressor } from "../../lib/link/codec";
import { Codec } from "../../lib/link/frames";
import { startProxy, type RunningProxy } from "../../lib/proxy";
import type { VmStatus } from "../../lib/proxy/api";
import { ProxyClient } from "../../lib/proxy/client";
import { digest } from "../../lib/replication";
import { silentLogger } from "../../lib/service/log";
import { connectVSphere, type VSphereClient } from "../../lib/vsphere";
import { MiB, makeTarget, startTestAgent, until } from "../agent/fixtures";
import { tempDir } from "../helpers/nbd-servers";
import { guestRead, guestWrite, PASSWORD, startVcsim, USER, type Vcsim } from "../vsphere/harness";
import { stopSite } from "../helpers/site";

/** Text-like data that zstd shrinks about fourfold, the same for a seed. */
function compressible(bytes: number, seed: number): Buffer {
  const words = ["invoice", "customer", "shipment", "warehouse", "pending", "settled", "refund", "Shanghai", "Hangzhou", "priority"];
  const rows: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const row = `${seed}|${i}|${words[(i * 7 + seed) % words.length]}|${words[(i * 3) % words.length]}|${((i * 7919 + seed) % 1_000_003).toString(16)}|2024-0${1 + (i % 9)}-1${i % 10}\n`;
    rows.push(row);
    size += row.length;
  }
  return Buffer.from(rows.join("")).subarray(0, bytes);
}

const RATE = 25_000_000; // 200 Mbit/s

describe("the link across the lab's namespaces", () => {
  const dir = tempDir("rehost-link-");
  let wan: Wan;
  let sim: Vcsim;
  let agent: LabService;
  let agentClient: AgentClient;
  let proxy: ProxyClient;
  const bandwidthFile = path.join(dir, "bandwidth.yaml");
  const target = (vm: string, key: number): string => path.join(dir, "targets", `${vm}-${key}.raw`);

  const roundDone = (vm: string, n: number, timeoutMs = 120_000): Promise<VmStatus> =>
    until(
      `round ${n} of ${vm}`,
      async () => {
        const s = await proxy.get(vm);
        if (s.state === "error") throw new Error(`round failed: ${s.error}`);
        return s.lastRound !== undefined && s.lastRound.round >= n && s.state === "idle" ? s : undefined;
      },
      timeoutMs,
      () => proxy.get(vm),
    );

  const sameAsVm = async (vm: string, key: number, sizeMiB: number): Promise<void> => {
    const file = path.join(dir, `${vm}-${key}.source`);
    fs.writeFileSync(file, await guestRead(sim, vm, key, 0, sizeMiB * MiB));
    expect((await digest(target(vm, key))).digest).toBe((await digest(file)).digest);
  };

  beforeAll(async () => {
    for (const sub of ["targets", "frozen"]) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    wan = await createWan({ control: true, rate: RATE });
    const site = wanSite(wan);
    const password = crypto.randomBytes(12).toString("base64url");
    sim = await startLabVcenter(
      site,
      {
        vms: [
          { name: "db-01", disks: [{ capacityMiB: 32 }, { capacityMiB: 32 }] },
          { name: "bulk-01", disks: [{ capacityMiB: 64 }] },
        ],
      },
      dir,
      password,
    );
    const targets = [target("db-01", 2000), target("db-01", 2001), target("bulk-01", 2000)];
    makeTarget(targets[0], 32);
    makeTarget(targets[1], 32);
    makeTarget(targets[2], 64);
    agent = await startLabAgent(site, dir, targets);
    fs.writeFileSync(bandwidthFile, "default: unlimited\n");
    const started = await startLabProxy(site, dir, sim, password, agent, ["--compression-level", "3", "--bandwidth", bandwidthFile]);
    proxy = new ProxyClient({ url: started.url, token: fs.readFileSync(started.tokenFile, "utf8").trim(), fingerprint: started.fingerprint });
    agentClient = new Agent({ url: agent.url, token: fs.readFileSync(agent.tokenFile, "utf8").trim(), fingerprint: agent.fingerprint });
    for (const [vm, key] of [
      ["db-01", 2000],
      ["db-01", 2001],
      ["bulk-01", 2000],
    ] as const) {
      await agentClient.register({ id: `${vm}-${key}`, source: { pushedBy: `rehost proxy (test), VM ${vm}` }, target: target(vm, key) });
    }
    // Text-like rows and a stretch of random data on both disks of db-01.
    for (const key of [2000, 2001]) {
      await guestWrite(sim, "db-01", key, 0, compressible(12 * MiB, key));
      await guestWrite(sim, "db-01", key, 20 * MiB, crypto.randomBytes(2 * MiB));
    }
  }, 300_000);

  afterAll(async () => {
    await wan?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a round with compression on (level 3) and one with it off both end byte-identical, the compressed one with fewer bytes on the link", async () => {
    const before = await wan.counters();
    await proxy.registerDisk("db-01", 2000, { agentUrl: agent.url, jobId: "db-01-2000", rpoSeconds: 0 });
    await proxy.registerDisk("db-01", 2001, { agentUrl: agent.url, jobId: "db-01-2001", rpoSeconds: 0, compressionLevel: "off" });
    const status = await roundDone("db-01", 0);
    const after = await wan.counters();
    await sameAsVm("db-01", 2000, 32);
    await sameAsVm("db-01", 2001, 32);
    const [on, off] = status.lastRound!.disks;
    expect(on.compression).toMatchObject({ level: 3, refusedFrames: 0 });
    expect(on.compression!.codec).toMatch(/^zstd 1\.5\./);
    expect(on.compression!.zstdFrames).toBeGreaterThan(0);
    // The random megabytes went as they are: compressing them does not pay.
    expect(on.compression!.rawFrames).toBeGreaterThan(0);
    expect(on.compression!.ratio).toBeGreaterThan(2.5);
    expect(on.linkBytes).toBeLessThan(on.changedBytes / 2.5);
    expect(off.compression).toMatchObject({ codec: "none", zstdFrames: 0, refusedFrames: 0 });
    expect(off.linkBytes).toBeGreaterThanOrEqual(14 * MiB);
    for (const d of status.lastRound!.disks) expect(d.digestsAgree).toBe(true);
    // What the agent recorded: the codec of the frames it applied.
    expect((await agentClient.get("db-01-2000")).lastRound!.frames!.zstd).toBeGreaterThan(0);
    expect((await agentClient.get("db-01-2001")).lastRound!.frames!.zstd).toBe(0);
    // The frames crossed the veth link (TLS, TCP and Ethernet add a little).
    const crossed = after.onprem.txBytes - before.onprem.txBytes;
    expect(crossed).toBeGreaterThan(on.linkBytes + off.linkBytes);
    expect(crossed).toBeLessThan((on.linkBytes + off.linkBytes) * 1.1);

    // An incremental round: only the changed megabyte, compressed.
    await guestWrite(sim, "db-01", 2000, 4 * MiB, compressible(MiB, 99));
    await proxy.roundNow("db-01");
    const next = await roundDone("db-01", 1);
    await sameAsVm("db-01", 2000, 32);
    expect(next.lastRound!.disks[0]).toMatchObject({ mode: "incremental", changedBytes: MiB });
    expect(next.lastRound!.disks[0].linkBytes).toBeLessThan(MiB / 2.5);
  }, 240_000);

  it("a bandwidth file changed in the middle of a round changes the rate on the link within a few percent, the round going on", async () => {
    await guestWrite(sim, "bulk-01", 2000, 0, crypto.randomBytes(60 * MiB));
    const first = 3_000_000;
    const second = 6_000_000;
    fs.writeFileSync(bandwidthFile, `default: ${first}\n`);
    await new Promise((r) => setTimeout(r, 1500)); // the proxy polls the file every second
    await proxy.registerDisk("bulk-01", 2000, { agentUrl: agent.url, jobId: "bulk-01-2000", rpoSeconds: 0 });
    const tx = async (): Promise<{ at: number; bytes: number }> => ({ at: performance.now(), bytes: (await wan.counters()).onprem.txBytes });
    const rateOver = async (seconds: number): Promise<number> => {
      const a = await tx();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const b = await tx();
      return (b.bytes - a.bytes) / ((b.at - a.at) / 1000);
    };
    // The round is under way once the link carries its data.
    const registered = await tx();
    await until("the push to start", async () => ((await tx()).bytes - registered.bytes > 2 * MiB ? true : undefined), 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    const before = await rateOver(5);
    fs.writeFileSync(bandwidthFile, `# doubled\ndefault: ${second}\n`);
    await new Promise((r) => setTimeout(r, 2000));
    const afterRate = await rateOver(5);
    const status = await roundDone("bulk-01", 0);
    await sameAsVm("bulk-01", 2000, 64);
    // One round, not restarted: the agent applied it in one push.
    expect((await agentClient.get("bulk-01-2000")).rounds.length).toBe(1);
    expect(status.lastRound!.disks[0].compression!.rawFrames).toBeGreaterThan(0);
    // The link carries the frames plus TLS, TCP/IP and Ethernet headers (about 4.5 % at MTU 1500).
    expect(before / first).toBeGreaterThan(0.98);
    expect(before / first).toBeLessThan(1.08);
    expect(afterRate / second).toBeGreaterThan(0.98);
    expect(afterRate / second).toBeLessThan(1.08);
    expect(afterRate / before).toBeGreaterThan(1.9);
    expect(afterRate / before).toBeLessThan(2.1);
  }, 240_000);
});

describe("a corrupted compressed frame", () => {
  const dir = tempDir("rehost-link-corrupt-");
  let sim: Vcsim;
  let vc: VSphereClient;
  let agent: RunningAgent;
  let proxy: RunningProxy;
  const targetFile = path.join(dir, "app-01-2000.raw");
  const corruptedAt: number[] = [];
  const targetAtRetry: Buffer[] = [];

  beforeAll(async () => {
    sim = await startVcsim({ vms: [{ name: "app-01", disks: [{ capacityMiB: 16 }] }] });
    vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    makeTarget(targetFile, 16);
    let client: AgentClient;
    let token: string;
    ({ agent, client, token } = await startTestAgent(path.join(dir, "agent"), [targetFile]));
    await client.register({ id: "app-01-2000", source: { pushedBy: "rehost proxy (test), VM app-01" }, target: targetFile });
    proxy = await startProxy({
      stateDir: path.join(dir, "proxy"),
      port: 0,
      vc,
      agents: { token, fingerprint: agent.fingerprint },
      reader: { kind: "curl", caFile: sim.ca },
      logger: silentLogger,
      // The first push flips one byte inside its second compressed payload, after the hash was taken.
      encoder: (level, stream) => {
        // The target as the agent left it after refusing the frame, before anything is pushed again.
        if (stream.attempt === 2) targetAtRetry.push(fs.readFileSync(targetFile));
        const inner = new BlockCompressor({ level });
        let compressed = 0;
        return {
          stats: inner.stats,
          encode(data: Buffer) {
            const out = inner.encode(data);
            if (stream.attempt === 1 && out.codec === Codec.Zstd && ++compressed === 2) {
              out.payload[Math.floor(out.payload.length / 2)] ^= 0x55;
              corruptedAt.push(inner.stats.bytesIn - data.length);
            }
            return out;
          },
        };
      },
    });
    await guestWrite(sim, "app-01", 2000, 0, compressible(12 * MiB, 7));
  }, 300_000);

  afterAll(async () => {
    await stopSite({ proxy, agent, vc, sim, dir });
  });

  it("is refused by its hash, never written, and sent again uncompressed; the round ends byte-identical", async () => {
    await proxy.manager.registerDisk("app-01", 2000, { agentUrl: agent.url, jobId: "app-01-2000", rpoSeconds: 0 });
    const status = await until(
      "round 0",
      async () => {
        const s = proxy.manager.get("app-01");
        if (s.state === "error") throw new Error(`round failed: ${s.error}`);
        return s.lastRound !== undefined && s.state === "idle" ? s : undefined;
      },
      60_000,
      async () => proxy.manager.get("app-01"),
    );
    const disk = status.lastRound!.disks[0];
    expect(disk.compression!.refusedFrames).toBe(1);
    expect(corruptedAt).toEqual([4 * MiB]);
    // When the proxy pushed again, the refused frame's range on the target was still empty.
    expect(targetAtRetry).toHaveLength(1);
    expect(targetAtRetry[0].subarray(4 * MiB, 8 * MiB).equals(Buffer.alloc(4 * MiB))).toBe(true);
    // The frame before it was written and kept: the retry resumed after it.
    expect(targetAtRetry[0].subarray(0, 4 * MiB).equals(Buffer.alloc(4 * MiB))).toBe(false);
    const source = await guestRead(sim, "app-01", 2000, 0, 16 * MiB);
    expect(crypto.createHash("sha256").update(fs.readFileSync(targetFile)).digest("hex")).toBe(crypto.createHash("sha256").update(source).digest("hex"));
    expect(disk.digestsAgree).toBe(true);
  }, 120_000);
});
