/**
 * The lab's replication phases, through the Replication provider and the proxy: each VM's first
 * snapshot round (Replication create), the incremental rounds (Replication update), and the full
 * source-side check followed by the fixed burst of writes that is the cutover's final delta.
 */
import { replicationProvider } from "../providers";
import type { LabRounds } from "./rounds";
import type { Lab, LabDisk } from "./setup";
import type { LabServices } from "./start";

/** The Replication inputs of disk `d` at round `round`. */
function replicationInputs(services: LabServices, d: LabDisk, round: number) {
  return {
    ...services.common,
    settleSeconds: 1,
    jobId: d.jobId,
    target: d.target,
    round,
    waitForInitialSync: true,
    proxy: { url: services.proxy.url, vm: d.vm.name, diskKey: d.planned.key, rpo: 0, fullCheck: 0 },
  };
}

/** Round 0: Replication create for every disk, each VM's first snapshot round (its disks registered together). */
export async function initialRound(lab: Lab, services: LabServices, rounds: LabRounds): Promise<void> {
  const { disks, say, checkAbort } = lab;
  checkAbort();
  say("initial rounds: Replication create for every disk (through the proxy)");
  await rounds.measured(0, "initial", () =>
    Promise.all(
      disks.map(async (d) => {
        const checked = await replicationProvider.check!({}, replicationInputs(services, d, 0));
        if (checked.failures !== undefined && checked.failures.length > 0)
          throw new Error(`Replication inputs of ${d.jobId}: ${checked.failures.map((f) => f.reason).join("; ")}`);
        d.outs = (await replicationProvider.create(checked.inputs)).outs;
      }),
    ),
  );
}

/** Round `k`: the business writes for a while, then Replication update for every disk. */
export async function incrementalRound(lab: Lab, services: LabServices, rounds: LabRounds, k: number): Promise<void> {
  const { disks, businessMs, checkAbort } = lab;
  checkAbort();
  await new Promise((r) => setTimeout(r, businessMs));
  await rounds.measured(k, "incremental", () =>
    Promise.all(
      disks.map(async (d) => {
        const news = (await replicationProvider.check!(d.outs, replicationInputs(services, d, k))).inputs;
        d.outs = (await replicationProvider.update!(d.jobId, d.outs, news)).outs;
      }),
    ),
  );
}

/**
 * Round `k`: a full source-side check (the guests paused, so that what follows it is exactly the
 * burst of writes), then a fixed burst: the final delta, the same whatever the disks' size.
 * Resolves with the number of 64 KiB writes per disk in the burst.
 */
export async function fullCheck(lab: Lab, services: LabServices, rounds: LabRounds, k: number): Promise<number> {
  const { options, wave, disks, say, checkAbort } = lab;
  const { proxyClient } = services;
  checkAbort();
  for (const d of disks) await d.writer!.pause();
  say("full source-side check: every block hashed on the proxy, compared on the agent");
  await rounds.measured(k, "full check", async () => {
    const asked = new Date().toISOString();
    await Promise.all(wave.vms.map((vm) => proxyClient.roundNow(vm.name, "resync")));
    for (const vm of wave.vms) {
      for (;;) {
        const s = await proxyClient.get(vm.name);
        if (s.state === "error") throw new Error(`The full check of ${vm.name} failed: ${s.error}`);
        if (s.state === "idle" && s.rounds.some((r) => r.snapshotAt >= asked && r.disks.some((x) => x.mode === "resync"))) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });
  const finalWrites = options.finalWrites ?? 16;
  for (const d of disks) await d.writer!.burst(finalWrites);
  return finalWrites;
}
