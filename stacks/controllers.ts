/**
 * The seam between the stacks and the dynamic providers (`lib/providers`): Replication,
 * RehearsalPoint and Cutover. Each function here declares the provider resources for a wave or
 * a rehearsal and returns their results; the components consume only those results
 * (`WaveControllers`, `RehearsalEnvironmentArgs.rehearsalPoint`).
 *
 * While no provider is wired in, the wave declares gateways and hosts with no controller (the
 * digests are empty and snapshots are taken at each replica's latest round), which is what the
 * offline preview shows.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { WaveControllers } from "../lib/components";
import type { PlannedWave } from "../lib/plan/types";
import type { WaveStackConfig } from "./config";

/** Controllers of a wave stack: replication per gateway, cutover for the wave. */
export function waveControllers(_wave: PlannedWave, _config: WaveStackConfig): WaveControllers | undefined {
  return undefined;
}

/**
 * The frozen round of each replica a rehearsal boots from (planned disk id → round label), from
 * the RehearsalPoint provider.
 */
export function rehearsalPoint(_wave: PlannedWave, _waveOutputs: pulumi.Output<Record<string, unknown>>): pulumi.Input<Record<string, string>> | undefined {
  return undefined;
}
