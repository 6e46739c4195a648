/**
 * The lab's last phase: what the wave declares in the cloud (the offline preview, launched only
 * after a verified cutover), the wave's jobs unregistered, and the report assembled from the
 * rounds, the rehearsal and the cutover, written as Markdown and JSON and printed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { packagePath } from "../service/package";
import { replicationProvider } from "../providers";
import type { LabCutoverOutcome } from "./cutover";
import { offlinePreview } from "./preview";
import type { LabRehearsal } from "./rehearsal";
import { renderMarkdown, renderTerminal, type DiskReport, type LabReport } from "./report";
import type { LabRounds } from "./rounds";
import type { Lab } from "./setup";
import type { LabServices } from "./start";

/** Runs the preview, unregisters the jobs, then writes and prints the report and resolves with it. */
export async function finish(lab: Lab, services: LabServices, rounds: LabRounds, rehearsal: LabRehearsal, outcome: LabCutoverOutcome): Promise<LabReport> {
  const { options, wave, disks, site, started, factor, reportFile, say } = lab;
  const { sim, vc, agent, proxy } = services;
  const { results, failures, cutover } = outcome;
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
      rehearsalDigest: rehearsal.digests.get(d.jobId)!.digest,
      frozenDigest: rehearsal.digests.get(d.jobId)!.frozen,
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
    rehearsalPoint: rehearsal.point,
    rehearsalSkewSeconds: (rehearsal.outs.skewSeconds as number | undefined) ?? 0,
    rounds: rounds.rounds,
    cutover,
    disks: diskReports,
    failures,
    preview,
    ok: failures.length === 0 && rehearsal.unequal.length === 0 && diskReports.every((d) => d.verified),
    reportFile,
  };
  fs.mkdirSync(path.dirname(reportFile), { recursive: true });
  fs.writeFileSync(reportFile, renderMarkdown(report));
  fs.writeFileSync(reportFile.replace(/\.md$/, "") + ".json", `${JSON.stringify(report, null, 2)}\n`);
  options.progress?.(renderTerminal(report));
  return report;
}
