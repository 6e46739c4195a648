/**
 * The link end to end (`npm run bench -- link`): `rehost proxy` in an on-prem network namespace
 * pushing to `rehost agent` in a cloud one across a veth pair held to 200 Mbit/s by tbf, with a
 * 20 ms round trip added by the delay relay (10 ms each way, a process in each namespace), the
 * vCenter simulator on-prem serving the disks. Peers measured in the same run:
 *
 * - initial sync of a 512 MiB realistic image (`lib/lab/realistic-image.ts`): rehost's round
 *   (snapshot, CBT "*", the allocated areas read through nbdkit curl, hashed, compressed, pushed)
 *   against nbdcopy in the cloud namespace reading the same image through nbdkit (file plugin)
 *   on-prem across the same link and relay; CPU seconds per GiB of the image's data on each side;
 * - random data (128 MiB): the push's rate on the link against a plain TCP transfer's;
 * - an incremental round (changed blocks copied from elsewhere in the image): bytes on the link
 *   (the agent's frame count, and the veth counters both ways) against the compressed size of the
 *   changed blocks as the proxy's codec makes them;
 * - peak RSS of the proxy and the agent with 16 disks (16 VMs) in flight;
 * - the proxy's codec on one core without a limit (hash and level-1 compression of the image's
 *   frames in this process).
 *
 * Needs root (namespaces). The last line is one JSON object.
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AgentClient } from "../lib/agent/client";
import { createWan, type Wan } from "../lib/lab/network";
import { buildRealisticImage } from "../lib/lab/realistic-image";
import { LAB_USER, startLabAgent, startLabProxy, startLabVcenter } from "../lib/lab/services";
import { wanSite, type LabSite } from "../lib/lab/site";
import { guestWrite } from "../lib/lab/vcsim";
import { BlockCompressor } from "../lib/link/codec";
import { delayRelayArgv } from "../lib/link/delay-relay";
import { rangeHash } from "../lib/link/frames";
import type { VmStatus } from "../lib/proxy/api";
import { ProxyClient } from "../lib/proxy/client";
import type { Owned } from "../lib/service/processes";
import { connectVSphere } from "../lib/vsphere";
import { tempDir } from "../test/helpers/tmp";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RATE = 25_000_000; // 200 Mbit/s
const DELAY_MS = 10; // each way: 20 ms round trip
const FRAME = 4 * MiB;
const TOOL = path.join(__dirname, "..", "test", "helpers", "tcp-tool.js");

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) of a process so far, from /proc. */
function cpuOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak resident memory of a process (VmHWM), MiB. */
function peakRssOf(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? NaN : Number(m[1]) / 1024;
}

/** The node process of a `ip netns exec … node …` spawn (exec keeps the PID). */
function pidOf(owned: Owned): number {
  return owned.child.pid!;
}

async function main(): Promise<void> {
  const work = tempDir("rehost-link-bench-");
  for (const sub of ["targets", "frozen", "images"]) fs.mkdirSync(path.join(work, sub), { recursive: true });
  const load0 = os.loadavg()[0];
  const wan = await createWan({ control: true, rate: RATE });
  const spawned = new Map<string, Owned>();
  const overWan = wanSite(wan);
  const site: LabSite = {
    ...overWan,
    spawn: (side, name, command, args, options) => {
      const owned = overWan.spawn(side, name, command, args, options);
      spawned.set(name, owned);
      return owned;
    },
  };
  const figures: Record<string, number> = {};
  const out: Record<string, number> = {};
  try {
    // The realistic image, and 16 disks cut from it.
    const imageFile = path.join(work, "images", "realistic.raw");
    const t0 = performance.now();
    const image = await buildRealisticImage({ file: imageFile, sizeBytes: 512 * MiB, work: path.join(work, "images") });
    console.log(
      `realistic image: ${(image.sizeBytes / MiB).toFixed(0)} MiB, ${(image.dataBytes / MiB).toFixed(0)} MiB data (${image.usr.files} files of /usr, ${(image.databaseBytes / MiB).toFixed(0)} MiB database pages, ${(image.randomBytes / MiB).toFixed(0)} MiB random), built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    const password = crypto.randomBytes(12).toString("base64url");
    const many = Array.from({ length: 16 }, (_, i) => `m-${String(i).padStart(2, "0")}`);
    const estate = {
      vms: [
        { name: "big-01", disks: [{ capacityMiB: 512 }] },
        { name: "rnd-01", disks: [{ capacityMiB: 128 }] },
        ...many.map((name) => ({ name, disks: [{ capacityMiB: 64 }] })),
      ],
    };
    const sim = await startLabVcenter(site, estate, work, password);
    const vc = await connectVSphere({ url: sim.url, user: LAB_USER, password, ca: sim.ca });
    const diskPath = async (vm: string): Promise<string> => {
      const f = (await vc.diskFiles(await vc.findVm(vm))).find((d) => d.key === 2000)!;
      return path.join(sim.datastores[f.datastore], f.flatPath);
    };
    // The VMs' disks: the image itself, random data, and 64 MiB slices of the image.
    execFileSync("cp", ["--sparse=always", imageFile, await diskPath("big-01")]);
    const imageFd = fs.openSync(imageFile, "r");
    for (const [i, vm] of many.entries()) {
      const slice = Buffer.alloc(64 * MiB);
      fs.readSync(imageFd, slice, 0, slice.length, ((i * 27) % 448) * MiB);
      fs.writeFileSync(await diskPath(vm), slice);
    }
    fs.writeFileSync(await diskPath("rnd-01"), crypto.randomBytes(128 * MiB));
    const targets: Record<string, string> = {};
    for (const vm of ["big-01", "rnd-01", ...many]) {
      targets[vm] = path.join(work, "targets", `${vm}.raw`);
      fs.writeFileSync(targets[vm], "");
      fs.truncateSync(targets[vm], vm === "big-01" ? 512 * MiB : vm === "rnd-01" ? 128 * MiB : 64 * MiB);
    }

    const agent = await startLabAgent(site, work, Object.values(targets), ["--max-concurrent", "16"]);
    const proxySvc = await startLabProxy(site, work, sim, password, agent);
    const agentPid = pidOf(spawned.get("rehost agent")!);
    const proxyPid = pidOf(spawned.get("rehost proxy")!);
    const proxy = new ProxyClient({ url: proxySvc.url, token: fs.readFileSync(proxySvc.tokenFile, "utf8").trim(), fingerprint: proxySvc.fingerprint });
    const agentClient = new AgentClient({ url: agent.url, token: fs.readFileSync(agent.tokenFile, "utf8").trim(), fingerprint: agent.fingerprint });
    const agentPort = Number(new URL(agent.url).port);

    // The delay relay in front of the agent, in the onprem namespace: the proxy reaches the agent through it.
    const relay = (side: "onprem" | "cloud", port: number, target: { host: string; port: number }): Promise<void> =>
      new Promise<void>((resolve) => {
        site.spawn(side, `delay relay ${side}`, process.execPath, delayRelayArgv({ listen: { host: "127.0.0.1", port }, target, delayMs: DELAY_MS }), {
          onStdout: (l) => l.startsWith("listening") && resolve(),
        });
      });
    await relay("onprem", 7443, { host: wan.cloud.address, port: agentPort });
    const agentUrl = "https://127.0.0.1:7443";
    for (const vm of Object.keys(targets)) await agentClient.register({ id: vm, source: { pushedBy: `rehost proxy (bench), VM ${vm}` }, target: targets[vm] });

    const roundDone = async (vm: string, n: number): Promise<VmStatus> => {
      for (const deadline = Date.now() + 900_000; Date.now() < deadline; await sleep(100)) {
        const s = await proxy.get(vm);
        if (s.state === "error") throw new Error(`round of ${vm} failed: ${s.error}`);
        if (s.lastRound !== undefined && s.lastRound.round >= n && s.state === "idle") return s;
      }
      throw new Error(`round ${n} of ${vm} did not finish`);
    };
    /** Samples the onprem end's tx counter every 100 ms until stopped; returns the rate while data flowed. */
    const sampler = () => {
      const samples: { t: number; b: number }[] = [];
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          samples.push({ t: performance.now(), b: (await wan.counters()).onprem.txBytes });
          await sleep(100);
        }
      })();
      return async (): Promise<{ bytes: number; rate: number }> => {
        stop = true;
        await loop;
        const first = samples[0].b;
        const last = samples[samples.length - 1].b;
        // The stretch from 5 % to 95 % of the bytes: the flow, not its start and end.
        const at = (f: number): { t: number; b: number } => samples.find((s) => s.b - first >= f * (last - first))!;
        const a = at(0.05);
        const b = at(0.95);
        return { bytes: last - first, rate: (b.b - a.b) / ((b.t - a.t) / 1000) };
      };
    };

    // 0. The link's rate for TCP (the peer of utilisation), through the relay.
    const tcp = await tcpRate(wan, site);
    console.log(`TCP across the link through the relay (20 ms round trip): ${((tcp * 8) / 1e6).toFixed(1)} Mbit/s`);

    // 1. nbdcopy reading the image through nbdkit across the same link and relay.
    site.spawn("onprem", "nbdkit", "nbdkit", ["-f", "-r", "-p", "10809", "-i", wan.onprem.address, "file", imageFile]);
    await sleep(1000);
    await relay("cloud", 10810, { host: wan.onprem.address, port: 10809 });
    const nbdTarget = path.join(work, "targets", "nbdcopy.raw");
    fs.writeFileSync(nbdTarget, "");
    fs.truncateSync(nbdTarget, image.sizeBytes);
    const nbdcopyStart = performance.now();
    const times = await wan.exec("cloud", "bash", ["-c", `nbdcopy --target-is-zero nbd://127.0.0.1:10810 ${nbdTarget} && times`]);
    const nbdcopySeconds = (performance.now() - nbdcopyStart) / 1000;
    const childTimes = times
      .trim()
      .split("\n")
      .pop()!
      .split(/\s+/)
      .map((t) => {
        const m = /(\d+)m([\d.]+)s/.exec(t)!;
        return Number(m[1]) * 60 + Number(m[2]);
      });
    const nbdcopyCpu = childTimes[0] + childTimes[1];
    const nbdkitCpu = cpuOf(pidOf(spawned.get("nbdkit")!));
    console.log(
      `nbdcopy across the link: ${nbdcopySeconds.toFixed(1)} s (${((image.dataBytes / nbdcopySeconds / 1e6) * 8).toFixed(0)} Mbit/s of data); CPU: nbdcopy ${nbdcopyCpu.toFixed(2)} s, nbdkit ${nbdkitCpu.toFixed(2)} s`,
    );
    fs.rmSync(nbdTarget, { force: true });

    // 2. rehost's initial round of the same image.
    const cpu0 = { proxy: cpuOf(proxyPid), agent: cpuOf(agentPid) };
    const stopBig = sampler();
    const rehostStart = performance.now();
    await proxy.registerDisk("big-01", 2000, { agentUrl, jobId: "big-01", rpoSeconds: 0 });
    const big = await roundDone("big-01", 0);
    const rehostWall = (performance.now() - rehostStart) / 1000;
    const bigFlow = await stopBig();
    const cpu1 = { proxy: cpuOf(proxyPid), agent: cpuOf(agentPid) };
    const d = big.lastRound!.disks[0];
    const rehostSeconds = big.lastRound!.seconds;
    let same = true;
    try {
      execFileSync("cmp", ["-s", imageFile, targets["big-01"]]);
    } catch {
      same = false;
    }
    const dataGiB = image.dataBytes / GiB;
    console.log(
      `rehost initial round: ${rehostSeconds.toFixed(1)} s (from the registration ${rehostWall.toFixed(1)} s, which includes 2 s of registration settling); ${(d.changedBytes / MiB).toFixed(0)} MiB changed, ${(d.linkBytes / MiB).toFixed(1)} MiB on the link, ratio ${d.compression!.ratio} of the data frames (${d.compression!.zstdFrames} compressed, ${d.compression!.rawFrames} raw, ${d.compression!.zeroFrames} zero); link ${((bigFlow.rate * 8) / 1e6).toFixed(0)} Mbit/s while it flowed; target identical: ${same}`,
    );
    // Where the round's time went: before the push (snapshot, CBT, the touched blocks read and
    // hashed through nbdkit curl) and the push itself (the agent's record: first frame to digest).
    const pushSeconds = (await agentClient.get("big-01")).lastRound!.seconds;
    const cpuSum = cpu1.proxy - cpu0.proxy + (cpu1.agent - cpu0.agent);
    console.log(
      `  split: ${(rehostSeconds - pushSeconds).toFixed(1)} s before the push (snapshot, CBT, ${(d.bytesRead / MiB).toFixed(0)} MiB read in all through nbdkit curl and hashed), ${pushSeconds.toFixed(1)} s pushing: ${(d.changedBytes / pushSeconds / 1e6).toFixed(1)} MB/s of data, ${(((d.linkBytes / pushSeconds) * 8) / 1e6).toFixed(0)} Mbit/s of frames; proxy and agent used ${cpuSum.toFixed(1)} CPU s in ${rehostSeconds.toFixed(1)} s on 2 shared cores (load ${os.loadavg()[0].toFixed(1)}); the push alone would fill the link at ${((RATE * 0.956 * d.compression!.ratio) / 1e6).toFixed(0)} MB/s of data, so it is CPU-bound here`,
    );
    figures.beforePushSeconds = Number((rehostSeconds - pushSeconds).toFixed(2));
    figures.pushSeconds = Number(pushSeconds.toFixed(2));
    figures.vsNbdcopyPushOnly = Number((nbdcopySeconds / pushSeconds).toFixed(3));
    console.log(
      `CPU per GiB of data: proxy ${((cpu1.proxy - cpu0.proxy) / dataGiB).toFixed(2)} s, agent ${((cpu1.agent - cpu0.agent) / dataGiB).toFixed(2)} s; nbdkit ${(nbdkitCpu / dataGiB).toFixed(2)} s, nbdcopy ${(nbdcopyCpu / dataGiB).toFixed(2)} s`,
    );
    out.vsNbdcopy = Number((nbdcopySeconds / rehostSeconds).toFixed(3));
    out.compression = Number((d.compression!.dataBytes / d.compression!.payloadBytes).toFixed(3));
    figures.nbdcopySeconds = Number(nbdcopySeconds.toFixed(2));
    figures.rehostSeconds = Number(rehostSeconds.toFixed(2));
    figures.proxyCpuPerGiB = Number(((cpu1.proxy - cpu0.proxy) / dataGiB).toFixed(2));
    figures.agentCpuPerGiB = Number(((cpu1.agent - cpu0.agent) / dataGiB).toFixed(2));
    figures.nbdcopyCpuPerGiB = Number((nbdcopyCpu / dataGiB).toFixed(2));
    figures.nbdkitCpuPerGiB = Number((nbdkitCpu / dataGiB).toFixed(2));

    // 3. Random data: the push's rate on the link against TCP's.
    const stopRnd = sampler();
    await proxy.registerDisk("rnd-01", 2000, { agentUrl, jobId: "rnd-01", rpoSeconds: 0 });
    const rnd = await roundDone("rnd-01", 0);
    const rndFlow = await stopRnd();
    const rd = rnd.lastRound!.disks[0];
    console.log(
      `random 128 MiB: ${((rndFlow.rate * 8) / 1e6).toFixed(1)} Mbit/s on the link while it flowed, ${((rndFlow.rate / tcp) * 100).toFixed(1)} % of TCP's rate; ${rd.compression!.rawFrames} frames raw, ${rd.compression!.zstdFrames} compressed`,
    );
    out.randomUtilization = Number((rndFlow.rate / tcp).toFixed(3));

    // 4. An incremental round: 32 blocks of 1 MiB copied from elsewhere in the image.
    const changed: { offset: number; data: Buffer }[] = [];
    for (let i = 0; i < 32; i++) {
      const data = Buffer.alloc(MiB);
      fs.readSync(imageFd, data, 0, MiB, ((i * 37 + 11) % 400) * MiB + 64 * MiB);
      changed.push({ offset: (i * 13 + 5) * MiB, data });
    }
    for (const c of changed) await guestWrite(sim, "big-01", 2000, c.offset, c.data);
    const linkBefore = await wan.counters();
    await proxy.roundNow("big-01");
    const inc = await roundDone("big-01", 1);
    const linkAfter = await wan.counters();
    const incDisk = inc.lastRound!.disks[0];
    // The compressed size of the changed blocks as the proxy's codec makes them (its frames: merged ranges cut at 4 MiB).
    const codec = new BlockCompressor();
    const ranges = mergeRanges(changed.map((c) => ({ offset: c.offset, length: c.data.length })));
    const diskFd = fs.openSync(await diskPath("big-01"), "r");
    let compressedChanged = 0;
    for (const r of ranges) {
      for (let at = r.offset; at < r.offset + r.length; at += FRAME) {
        const piece = Buffer.alloc(Math.min(FRAME, r.offset + r.length - at));
        fs.readSync(diskFd, piece, 0, piece.length, at);
        compressedChanged += codec.encode(piece).payload.length;
      }
    }
    fs.closeSync(diskFd);
    const vethBytes = linkAfter.onprem.txBytes - linkBefore.onprem.txBytes + (linkAfter.cloud.txBytes - linkBefore.cloud.txBytes);
    console.log(
      `incremental round: ${(incDisk.changedBytes / MiB).toFixed(0)} MiB changed, compressed ${(compressedChanged / MiB).toFixed(2)} MiB; frames on the link ${(incDisk.linkBytes / MiB).toFixed(2)} MiB (${(incDisk.linkBytes / compressedChanged).toFixed(3)}×), the veth both ways ${(vethBytes / MiB).toFixed(2)} MiB (${(vethBytes / compressedChanged).toFixed(3)}×: TLS, TCP/IP, the round's API calls)`,
    );
    out.incrementalOverhead = Number((incDisk.linkBytes / compressedChanged).toFixed(3));
    figures.incrementalVethOverhead = Number((vethBytes / compressedChanged).toFixed(3));

    // 5. 16 disks in flight: peak RSS of both sides.
    const rssBefore = { proxy: peakRssOf(proxyPid), agent: peakRssOf(agentPid) };
    const t16 = performance.now();
    await Promise.all(many.map((vm) => proxy.registerDisk(vm, 2000, { agentUrl, jobId: vm, rpoSeconds: 0 })));
    let inFlight = 0;
    const watch = setInterval(
      () =>
        void agentClient.list().then(
          (l) => (inFlight = Math.max(inFlight, l.jobs.filter((j) => j.active !== undefined && !j.active.queued).length)),
          () => undefined,
        ),
      250,
    );
    await Promise.all(many.map((vm) => roundDone(vm, 0)));
    clearInterval(watch);
    const rss = { proxy: peakRssOf(proxyPid), agent: peakRssOf(agentPid) };
    console.log(
      `16 disks of 64 MiB (16 VMs) in ${((performance.now() - t16) / 1000).toFixed(1)} s, at most ${inFlight} pushes in flight at once on the agent: peak RSS proxy ${rss.proxy.toFixed(0)} MiB, agent ${rss.agent.toFixed(0)} MiB (before: ${rssBefore.proxy.toFixed(0)}, ${rssBefore.agent.toFixed(0)})`,
    );
    figures.peakRssProxyMiB = Math.round(rss.proxy);
    figures.peakRssAgentMiB = Math.round(rss.agent);
    figures.inFlight = inFlight;

    // 6. The proxy's codec on one core without a limit: sha256 and level 1 of the image's frames.
    const c1 = new BlockCompressor();
    const cpuA = process.cpuUsage();
    let dataIn = 0;
    let payloadOut = 0;
    let hashMs = 0;
    let zstdMs = 0;
    const buf = Buffer.alloc(FRAME);
    for (let at = 0; at < image.sizeBytes; at += FRAME) {
      fs.readSync(imageFd, buf, 0, FRAME, at);
      if (buf.equals(Buffer.alloc(FRAME))) continue;
      const data = Buffer.from(buf);
      const h0 = performance.now();
      rangeHash(data);
      const h1 = performance.now();
      payloadOut += c1.encode(data).payload.length;
      hashMs += h1 - h0;
      zstdMs += performance.now() - h1;
      dataIn += FRAME;
    }
    const used = process.cpuUsage(cpuA);
    const codecCpu = (used.user + used.system) / 1e6;
    const diskRate = dataIn / codecCpu;
    console.log(
      `the proxy's codec on one core (sha256 + zstd level 1 of the image's 4 MiB frames, reading included): ${(diskRate / 1e6).toFixed(0)} MB/s of disk data, ${(payloadOut / codecCpu / 1e6).toFixed(0)} MB/s on the link (${(((payloadOut / codecCpu) * 8) / 1e9).toFixed(2)} Gbit/s); a 1 Gbit/s line is ${((payloadOut / codecCpu / 125e6) * 100).toFixed(0)} % fed by one core`,
    );
    // The split: what each part costs alone, and what one core would need for the line.
    const ratio = dataIn / payloadOut;
    const needed = 125e6 * ratio;
    const hashRate = dataIn / (hashMs / 1000);
    const zstdRate = dataIn / (zstdMs / 1000);
    console.log(
      `  split: sha256 alone ${(hashRate / 1e6).toFixed(0)} MB/s, zstd level 1 alone ${(zstdRate / 1e6).toFixed(0)} MB/s, both ${(1 / (1 / hashRate + 1 / zstdRate) / 1e6).toFixed(0)} MB/s of disk data per core; a 1 Gbit/s line at ratio ${ratio.toFixed(2)} needs ${(needed / 1e6).toFixed(0)} MB/s of disk data per core`,
    );
    figures.codecHashMBps = Math.round(hashRate / 1e6);
    figures.codecZstdMBps = Math.round(zstdRate / 1e6);
    figures.codecNeededMBps = Math.round(needed / 1e6);
    figures.codecDiskMBps = Math.round(diskRate / 1e6);
    figures.codecLinkMBps = Math.round(payloadOut / codecCpu / 1e6);
    fs.closeSync(imageFd);
    await vc.logout().catch(() => undefined);
  } finally {
    await wan.teardown().catch((err: unknown) => console.error(String(err)));
    fs.rmSync(work, { recursive: true, force: true });
  }
  const load1 = os.loadavg()[0];
  console.log(`load average: ${load0.toFixed(1)} at the start, ${load1.toFixed(1)} at the end (2 cores, shared); figures ${JSON.stringify(figures)}`);
  console.log(JSON.stringify(out));
}

function mergeRanges(ranges: { offset: number; length: number }[]): { offset: number; length: number }[] {
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset);
  const merged: { offset: number; length: number }[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.offset + last.length >= r.offset) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else merged.push({ ...r });
  }
  return merged;
}

/** Bytes/s of a 60 MB TCP transfer onprem → cloud through a delay relay like the proxy's. */
async function tcpRate(wan: Wan, site: LabSite): Promise<number> {
  let sinkReady!: () => void;
  const ready = new Promise<void>((r) => (sinkReady = r));
  site.spawn("cloud", "tcp sink", process.execPath, [TOOL, "sink", wan.cloud.address, "5301"], { onStdout: (l) => l.includes("listening") && sinkReady() });
  await ready;
  let up!: () => void;
  const relayUp = new Promise<void>((r) => (up = r));
  site.spawn(
    "onprem",
    "tcp relay",
    process.execPath,
    delayRelayArgv({ listen: { host: "127.0.0.1", port: 5302 }, target: { host: wan.cloud.address, port: 5301 }, delayMs: DELAY_MS }),
    { onStdout: (l) => l.startsWith("listening") && up() },
  );
  await relayUp;
  let done!: (s: number) => void;
  const sent = new Promise<number>((r) => (done = r));
  const bytes = 60_000_000;
  site.spawn("onprem", "tcp send", process.execPath, [TOOL, "send", "127.0.0.1", "5302", String(bytes)], {
    onStdout: (l) => {
      const o = JSON.parse(l) as { sent?: number; seconds?: number };
      if (o.seconds !== undefined) done(o.seconds);
    },
  });
  return bytes / (await sent);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
