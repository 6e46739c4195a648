/**
 * `rehost lab`: the whole lifecycle of a wave on this machine, in the shape of a real migration.
 * The lab's VMs live in the project's vCenter simulator (their disks real images: MBR, ext4,
 * files); the simulator and `rehost proxy` run on the on-prem side, `rehost agent` on the cloud
 * side, joined by a counted link (`site.ts`); the guests keep writing all along. The lab drives
 * the wave through the dynamic providers exactly as `pulumi up` would call them:
 *
 *   Replication create (the proxy's first snapshot round of each VM) → incremental rounds (a
 *   snapshot each, CBT areas pushed) → RehearsalPoint (the VMs' snapshots within a skew bound,
 *   checked against the disks the simulator froze) and RehearsalThaw → another round → the
 *   guests paused for a full source-side check → a fixed final burst of writes → Cutover
 *   (shutdown, final round, verification by block hashes of what changed and 16 sample blocks)
 *
 * then reports per round what changed and what crossed the link, the cutover's downtime and what
 * it read, and the cloud resources the wave would declare (offline preview). Every process it
 * starts is stopped at the end, on a failure and on Ctrl-C.
 *
 * Each phase has its own file: setup.ts (inputs, work directory), start.ts (services),
 * rounds.ts (timed rounds), replicate.ts, rehearsal.ts, cutover.ts and finish.ts (preview, report).
 */
import { cutOver } from "./cutover";
import { finish } from "./finish";
import { rehearse } from "./rehearsal";
import { fullCheck, incrementalRound, initialRound } from "./replicate";
import type { LabReport } from "./report";
import { LabRounds } from "./rounds";
import { closeLab, openLab, resolveInputs, type Lab, type LabOptions } from "./setup";
import { startServices } from "./start";

/** Runs the lab; resolves with its report (whose `ok` says whether every disk verified). */
export async function runLab(options: LabOptions = {}): Promise<LabReport> {
  const lab = await openLab(await resolveInputs(options));
  try {
    return await Promise.race([runPhases(lab), lab.interrupted]);
  } finally {
    await closeLab(lab);
  }
}

/** The phases of a lab run in order, each round numbered after the one before it. */
async function runPhases(lab: Lab): Promise<LabReport> {
  const services = await startServices(lab);
  const rounds = new LabRounds(lab, services);
  await initialRound(lab, services, rounds);
  let k = 1;
  for (; k <= (lab.options.roundsBeforeRehearsal ?? 2); k++) await incrementalRound(lab, services, rounds, k);
  const rehearsal = await rehearse(lab, services, rounds, k);
  k++;
  await incrementalRound(lab, services, rounds, k);
  k++;
  const finalWrites = await fullCheck(lab, services, rounds, k);
  k++;
  const outcome = await cutOver(lab, services, rounds, k, finalWrites);
  return finish(lab, services, rounds, rehearsal, outcome);
}
