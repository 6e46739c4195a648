/**
 * The lab's rehearsal phase: a rehearsal point through the proxy (RehearsalPoint create, the VMs'
 * snapshots within a skew bound), each rehearsal disk checked against the disk the simulator froze
 * at the point's snapshot, then RehearsalThaw create and the point deleted.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { rehearsalPointProvider, rehearsalThawProvider } from "../providers";
import { digest } from "../replication";
import { REHOST_SNAPSHOT_PREFIX } from "../vsphere/estate";
import type { LabRounds } from "./rounds";
import type { Lab, LabDisk } from "./setup";
import type { LabServices } from "./start";

/** What the rehearsal found. */
export interface LabRehearsal {
  /** The rehearsal point's name. */
  readonly point: string;
  /** The RehearsalPoint's outputs. */
  readonly outs: Record<string, any>;
  /** Per job id, the digest of the rehearsal disk and of the source disk as frozen. */
  readonly digests: Map<string, { digest: string; frozen: string }>;
  /** The disks whose rehearsal differs from the frozen source. */
  readonly unequal: LabDisk[];
}

/** Round `k`: the rehearsal point, its disks checked against the frozen sources, and the thaw. */
export async function rehearse(lab: Lab, services: LabServices, rounds: LabRounds, k: number): Promise<LabRehearsal> {
  const { wave, disks, workdir, say, checkAbort } = lab;
  const { vc, proxy, common } = services;
  checkAbort();
  const point = `${wave.name}-rehearsal-1`;
  const jobIds = disks.map((d) => d.jobId);
  say(`rehearsal point ${point}: RehearsalPoint create (the VMs' snapshots within 60 s of each other)`);
  const pointInputs = (
    await rehearsalPointProvider.check!({}, { ...common, jobIds, point, proxy: { url: proxy.url, vms: wave.vms.map((v) => v.name), maxSkew: 60 } })
  ).inputs;
  const frozen = await rounds.measured(k, "rehearsal point", () => rehearsalPointProvider.create(pointInputs));
  const rehearsal = new Map<string, { digest: string; frozen: string }>();
  for (const d of disks) {
    const held = frozen.outs.digests[d.jobId] as { round: number; digest: string };
    const snapshot = path.join(workdir, "snapshots", `${d.jobId}@${point}.raw`);
    fs.copyFileSync(d.target, snapshot);
    const file = (await vc.diskFiles(await vc.findVm(d.vm.name))).find((f) => f.key === d.planned.key)!;
    const frozenCopy = path.join(workdir, "frozen", d.vm.name, `${REHOST_SNAPSHOT_PREFIX}round-${held.round}`, path.basename(file.flatPath));
    rehearsal.set(d.jobId, { digest: (await digest(snapshot)).digest, frozen: (await digest(frozenCopy)).digest });
    fs.rmSync(snapshot, { force: true });
  }
  const unequal = disks.filter((d) => rehearsal.get(d.jobId)!.digest !== rehearsal.get(d.jobId)!.frozen);
  say(
    unequal.length === 0
      ? `rehearsal disks equal the disks as frozen at the point's snapshots (skew ${(frozen.outs.skewSeconds as number).toFixed(3)} s); RehearsalThaw create`
      : `REHEARSAL DISKS DIFFER from the frozen sources: ${unequal.map((d) => d.jobId).join(", ")}`,
  );
  await rounds.watch(
    "rehearsal thaw",
    rehearsalThawProvider.create((await rehearsalThawProvider.check!({}, { ...common, jobIds, point, snapshots: jobIds.map((j) => `${j}@${point}`) })).inputs),
  );
  await rehearsalPointProvider.delete!(point, frozen.outs);
  return { point, outs: frozen.outs, digests: rehearsal, unequal };
}
