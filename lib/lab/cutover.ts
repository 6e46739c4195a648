/**
 * The lab's cutover phase: Cutover create per VM through the proxy (shutdown, final round,
 * verification by block hashes of what changed and 16 sample blocks), summed into the report's
 * downtime, what it read and what crossed the link.
 */
import { cutoverProvider } from "../providers";
import type { LabCutover } from "./report";
import type { LabRounds } from "./rounds";
import { mib, type Lab } from "./setup";
import type { LabServices } from "./start";

/** One VM's Cutover: its outputs, and its error when it failed. */
interface LabCutoverResult {
  readonly vm: string;
  readonly outs: Record<string, any>;
  readonly error?: string;
}

/** What the cutover did. */
export interface LabCutoverOutcome {
  readonly results: LabCutoverResult[];
  readonly failures: Array<{ vm: string; error: string }>;
  readonly cutover: LabCutover;
}

/** Round `k`: the cutover of every VM of the wave, `finalWrites` writes of 64 KiB per disk after the full check. */
export async function cutOver(lab: Lab, services: LabServices, rounds: LabRounds, k: number, finalWrites: number): Promise<LabCutoverOutcome> {
  const { site, wave, disks, say } = lab;
  const { proxy, common } = services;
  say(`cutover: Cutover create per VM (${finalWrites} writes of 64 KiB per disk since the full check)`);
  const linkBefore = await site.linkBytes();
  const results: LabCutoverResult[] = await rounds.watch(
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
  return { results, failures, cutover };
}
