/**
 * The agent's overhead: the initial sync of the same disks through the agent (HTTPS API, job
 * records, journal, target digest after the round) against `sync()` called directly (the peer),
 * in the same run. Four 128 MiB disks half full of data, served by qemu-nbd, copied to files.
 *
 * Then an incremental round moving about 1% of each disk (two 640 KiB extents): the round through
 * the agent, whose digest re-hashes only the touched 1 MiB blocks, against the full digest of the
 * same targets (what every round cost before the agent kept block hashes), in the same run.
 */
import "tsx/cjs";
import * as fs from "node:fs";
import * as path from "node:path";
import { startAgent } from "../lib/agent";
import { AgentClient } from "../lib/agent/client";
import { silentLogger } from "../lib/service/log";
import { ProcessGroup, startQemuNbd, unixUri } from "../lib/lab/processes";
import { digest, openDevice, sync } from "../lib/replication";
import { tempDir } from "../test/helpers/tmp";

const MiB = 2 ** 20;
const DISKS = 4;
const SIZE_MIB = 128;

async function main(): Promise<void> {
  const dir = tempDir("rehost-bench-agent-");
  const group = new ProcessGroup();
  try {
    const uris: string[] = [];
    for (let i = 0; i < DISKS; i++) {
      const image = path.join(dir, `s${i}.raw`);
      const fd = fs.openSync(image, "w");
      fs.ftruncateSync(fd, SIZE_MIB * MiB);
      for (let m = 0; m < SIZE_MIB; m += 2) fs.writeSync(fd, require("node:crypto").randomBytes(MiB), 0, MiB, m * MiB);
      fs.closeSync(fd);
      const socket = path.join(dir, `s${i}.sock`);
      await startQemuNbd(group, { image, format: "raw", socket });
      uris.push(unixUri(socket));
    }
    const target = (kind: string, i: number): string => {
      const file = path.join(dir, `${kind}${i}.raw`);
      fs.rmSync(file, { force: true });
      fs.writeFileSync(file, "");
      fs.truncateSync(file, SIZE_MIB * MiB);
      return file;
    };

    const incremental: Array<{ roundMs: number; copySeconds: number; digestBytes: number; fullDigestMs: number }> = [];
    const directRuns: number[] = [];
    const agentRuns: number[] = [];
    for (let run = 0; run < 3; run++) {
      const direct = uris.map((_, i) => target("d", i));
      let t = performance.now();
      await Promise.all(uris.map((uri, i) => sync({ source: uri, target: direct[i], changed: "allocated" })));
      directRuns.push(performance.now() - t);

      const targets = uris.map((_, i) => target("a", i));
      const agent = await startAgent({ stateDir: path.join(dir, `state${run}`), port: 0, allow: targets, logger: silentLogger, maxConcurrent: DISKS });
      const client = new AgentClient({ url: agent.url, token: fs.readFileSync(agent.tokenFile, "utf8").trim(), fingerprint: agent.fingerprint });
      t = performance.now();
      for (const [i, uri] of uris.entries()) await client.register({ id: `d${i}`, source: { uri }, target: targets[i] });
      for (;;) {
        const { jobs } = await client.list();
        if (jobs.every((j) => j.state === "idle")) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      agentRuns.push(performance.now() - t);

      const extents = [
        { offset: (10 + run) * MiB, length: 640 * 1024 },
        { offset: (70 + run) * MiB + 512 * 1024, length: 640 * 1024 },
      ];
      for (const uri of uris) {
        const writer = await openDevice(uri, { write: true });
        for (const e of extents) await writer.write(e.offset, require("node:crypto").randomBytes(e.length));
        await writer.flush();
        await writer.close();
      }
      t = performance.now();
      for (const i of uris.keys()) await client.round(`d${i}`, 1, { extents });
      let jobs = (await client.list()).jobs;
      while (!jobs.every((j) => j.state === "idle" && j.lastRound?.round === 1)) {
        await new Promise((r) => setTimeout(r, 20));
        jobs = (await client.list()).jobs;
      }
      const roundMs = performance.now() - t;
      if (!jobs.every((j) => j.lastRound?.digestMode === "incremental")) throw new Error("an incremental round took a full digest");
      t = performance.now();
      await Promise.all(targets.map((file) => digest(file)));
      incremental.push({
        roundMs,
        copySeconds: Math.max(...jobs.map((j) => j.lastRound!.seconds)),
        digestBytes: jobs.reduce((sum, j) => sum + (j.lastRound!.digestBytesRead ?? 0), 0),
        fullDigestMs: performance.now() - t,
      });
      await agent.close();
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const d = median(directRuns);
    const a = median(agentRuns);
    const bytes = DISKS * SIZE_MIB * MiB;
    console.log(`initial sync of ${DISKS} × ${SIZE_MIB} MiB (half data), median of 3:`);
    console.log(`  sync() directly (peer):       ${d.toFixed(0)} ms  (${(bytes / MiB / (d / 1000)).toFixed(0)} MiB/s of disk)`);
    console.log(`  through the agent (+ digest): ${a.toFixed(0)} ms  (${(bytes / MiB / (a / 1000)).toFixed(0)} MiB/s of disk)`);
    console.log(`  ratio agent / direct:         ${(a / d).toFixed(2)}×`);
    const byRound = [...incremental].sort((x, y) => x.roundMs - y.roundMs)[Math.floor(incremental.length / 2)];
    console.log(`incremental round of ~1% per disk (2 × 640 KiB each, ${DISKS} disks), median of 3:`);
    console.log(
      `  round through the agent (copy + digest from kept hashes): ${byRound.roundMs.toFixed(0)} ms (copy ${(byRound.copySeconds * 1000).toFixed(0)} ms), digest read ${(byRound.digestBytes / MiB).toFixed(0)} MiB`,
    );
    console.log(`  full digest of the same targets (peer, the previous cost): ${byRound.fullDigestMs.toFixed(0)} ms, ${(bytes / MiB).toFixed(0)} MiB read`);
    console.log(
      `  bytes read for the digest, full / incremental: ${(bytes / byRound.digestBytes).toFixed(0)}×; full digest / whole incremental round: ${(byRound.fullDigestMs / byRound.roundMs).toFixed(2)}×`,
    );
  } finally {
    await group.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
