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
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { packagePath } from "../package";
import { cutoverProvider, rehearsalPointProvider, rehearsalThawProvider, replicationProvider } from "../providers";
import { digest } from "../replication";
import { REHOST_SNAPSHOT_PREFIX } from "../vsphere/estate";
import { offlinePreview } from "./preview";
import { renderMarkdown, renderTerminal, type DiskReport, type LabCutover, type LabReport } from "./report";
import { fullCheck, incrementalRound, initialRound } from "./replicate";
import { LabRounds } from "./rounds";
import { closeLab, mib, openLab, resolveInputs, type Lab, type LabOptions } from "./setup";
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

/** The phases of a lab run in order. */
async function runPhases(lab: Lab): Promise<LabReport> {
  const { options, started, say, reportFile, factor, wave, workdir, site, disks, checkAbort } = lab;
  const services = await startServices(lab);
  const { sim, vc, agent, proxy, common } = services;
  const rounds = new LabRounds(lab, services);

  await initialRound(lab, services, rounds);
  let k = 1;
  for (; k <= (options.roundsBeforeRehearsal ?? 2); k++) await incrementalRound(lab, services, rounds, k);

  // 4. Rehearsal point through the proxy; each rehearsal disk checked against the frozen source.
  checkAbort();
  const point = `${wave.name}-rehearsal-1`;
  const jobIds = disks.map((d) => d.jobId);
  say(`rehearsal point ${point}: RehearsalPoint create (the VMs' snapshots within 60 s of each other)`);
  const pointInputs = (
    await rehearsalPointProvider.check!({}, { ...common, jobIds, point, proxy: { url: proxy.url, vms: wave.vms.map((v) => v.name), maxSkew: 60 } })
  ).inputs;
  const frozen = await rounds.measured(k, "rehearsal point", () => rehearsalPointProvider.create(pointInputs));
  k++;
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
  await incrementalRound(lab, services, rounds, k);
  k++;

  const finalWrites = await fullCheck(lab, services, rounds, k);
  k++;

  // 6. Cutover through the proxy: shutdown, final round, verification by block hashes.
  say(`cutover: Cutover create per VM (${finalWrites} writes of 64 KiB per disk since the full check)`);
  const linkBefore = await site.linkBytes();
  const results = await rounds.watch(
    "cutover",
    Promise.all(
      wave.vms.map(async (vm) => {
        const checked = await cutoverProvider.check!(
          {},
          {
            ...common,
            vm: vm.name,
            jobIds: disks.filter((d) => d.vm.name === vm.name).map((d) => d.jobId),
            round: k,
            proxy: { url: proxy.url, fullCheckFirst: false, sampleBlocks: 16 },
          },
        );
        if (checked.failures !== undefined && checked.failures.length > 0)
          throw new Error(`Cutover inputs of ${vm.name}: ${checked.failures.map((f) => f.reason).join("; ")}`);
        try {
          return { vm: vm.name, outs: (await cutoverProvider.create(checked.inputs)).outs as Record<string, any> };
        } catch (err) {
          return {
            vm: vm.name,
            error: err instanceof Error ? err.message : String(err),
            outs: ((err as { properties?: Record<string, any> }).properties ?? {}) as Record<string, any>,
          };
        }
      }),
    ),
  );
  const linkAfter = await site.linkBytes();
  const failures = results.filter((r) => r.error !== undefined).map((r) => ({ vm: r.vm, error: r.error! }));
  const cutover: LabCutover = {
    downtimeSeconds: Math.max(0, ...results.map((r) => (r.outs.downtimeSeconds as number | undefined) ?? 0)),
    sourceBytesReadOverLink: results.reduce((n, r) => n + ((r.outs.sourceBytesReadOverLink as number | undefined) ?? 0), 0),
    finalDeltaBytes: results.reduce((n, r) => n + ((r.outs.finalDeltaBytes as number | undefined) ?? 0), 0),
    verifiedBytes: results.reduce((n, r) => n + ((r.outs.verifiedBytes as number | undefined) ?? 0), 0),
    linkBytes:
      linkBefore !== undefined && linkAfter !== undefined
        ? linkAfter - linkBefore
        : results.reduce((n, r) => n + ((r.outs.sourceBytesReadOverLink as number | undefined) ?? 0), 0),
    vms: results.map((r) => ({
      vm: r.vm,
      downtimeSeconds: (r.outs.downtimeSeconds as number | undefined) ?? 0,
      verified: r.outs.verified === true,
      ...(r.error !== undefined ? { error: r.error } : {}),
    })),
  };
  for (const f of failures) say(`cutover of ${f.vm} FAILED: ${f.error}`);
  if (failures.length === 0)
    say(
      `cutover verified for ${disks.length} disks: downtime ${cutover.downtimeSeconds.toFixed(2)} s, ${mib(cutover.sourceBytesReadOverLink)} of source data over the link`,
    );

  // 7. What the wave declares in the cloud, launched only after a verified cutover; the wave's jobs unregistered.
  const previewStack = options.previewStack ?? "lab-cutover";
  const preview =
    failures.length > 0
      ? { stack: previewStack, error: "not launched: the cutover failed verification" }
      : await offlinePreview(previewStack, options.stacksDir ?? packagePath("examples", "lab", "stacks"), wave, say);
  for (const d of disks) await rounds.watch("unregister", replicationProvider.delete!(d.jobId, d.outs ?? {}));

  const diskReports: DiskReport[] = disks.map((d) => {
    const result = results.find((r) => r.vm === d.vm.name);
    const digests = (result?.outs.digests as Record<string, { source: string; target: string }> | undefined)?.[d.jobId];
    return {
      disk: d.jobId,
      vm: d.vm.name,
      sizeBytes: d.sizeBytes,
      gateway: d.planned.gateway,
      rounds: rounds.perDisk.get(d.jobId)!,
      rehearsalDigest: rehearsal.get(d.jobId)!.digest,
      frozenDigest: rehearsal.get(d.jobId)!.frozen,
      sourceDigest: digests?.source ?? "",
      targetDigest: digests?.target ?? "",
      verified: result?.outs.verified === true && digests !== undefined && digests.source === digests.target,
      businessBytes: (d.writer?.bytesWritten ?? 0) + (d.writer?.bytesZeroed ?? 0),
    };
  });
  await vc.logout().catch(() => undefined);
  const report: LabReport = {
    wave: wave.name,
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    link: site.mode,
    namespaces: site.namespaces,
    ...(site.fallback !== undefined ? { linkNote: site.fallback } : {}),
    sizeFactor: factor,
    vcenter: sim.base,
    proxy: proxy.url,
    agent: agent.url,
    rehearsalPoint: point,
    rehearsalSkewSeconds: (frozen.outs.skewSeconds as number | undefined) ?? 0,
    rounds: rounds.rounds,
    cutover,
    disks: diskReports,
    failures,
    preview,
    ok: failures.length === 0 && unequal.length === 0 && diskReports.every((d) => d.verified),
    reportFile,
  };
  fs.mkdirSync(path.dirname(reportFile), { recursive: true });
  fs.writeFileSync(reportFile, renderMarkdown(report));
  fs.writeFileSync(reportFile.replace(/\.md$/, "") + ".json", `${JSON.stringify(report, null, 2)}\n`);
  options.progress?.(renderTerminal(report));
  return report;
}
