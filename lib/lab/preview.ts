/**
 * What the lab's wave declares in the cloud: the offline preview of a stack of the lab's
 * (`examples/lab/stacks`), judged by the policy pack as of the wave's change window.
 */
import type { PlannedWave } from "../plan/types";
import type { LabReport } from "./report";

/** The preview's resources by type, pinned addresses and mandatory violations, or why it could not run. */
export async function offlinePreview(stack: string, stacksDir: string, wave: PlannedWave, say: (line: string) => void): Promise<LabReport["preview"]> {
  try {
    const { runOfflinePreview }: typeof import("../preview") = require("../preview");
    // The lab plays its cutover inside the wave's change window: judge the window rule as of its start.
    const policyConfig = wave.window !== undefined ? { "cutover-in-change-window": { now: wave.window.start } } : undefined;
    const result = await runOfflinePreview({ stack, stacksDir, policyConfig });
    const byType = new Map<string, number>();
    for (const r of result.resources) byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
    say(`offline preview of stack ${stack}: ${result.resources.length} resources`);
    return {
      stack,
      resources: [...byType.entries()].map(([type, count]) => ({ type, count })).sort((a, b) => a.type.localeCompare(b.type)),
      pinnedIps: result.pinnedIps.map((p) => ({ vm: p.vm, ip: p.ip, vswitch: p.vswitch })),
      mandatoryViolations: result.policyViolations.filter((v) => v.level === "mandatory").length,
    };
  } catch (err) {
    const error = err instanceof Error ? err.message.split("\n")[0] : String(err);
    say(`offline preview of stack ${stack} unavailable: ${error}`);
    return { stack, error };
  }
}
