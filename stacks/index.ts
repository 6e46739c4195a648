/**
 * The rehost Pulumi program. One project, three roles picked by `rehost:role`:
 * `landing-zone` (VPC, sync vSwitches, CEN link), `wave` (gateways, replication, cutover) and
 * `rehearsal` (an isolated copy of a wave). Waves read the landing zone and rehearsals read their
 * wave through `StackReference`. See docs/stacks.md for every config key.
 *
 * The module exports a function: Pulumi calls it and the object it resolves to becomes the
 * stack's outputs; the offline preview calls it the same way under the mock runtime, naming the
 * project directory (under Pulumi it is the working directory, the one holding Pulumi.yaml).
 */
import type * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "./config";
import { landingZone } from "./landing-zone";
import { loadPlanning } from "./plan";
import { rehearsalStack } from "./rehearsal";
import { waveStack } from "./wave";

/** Runs the program for the current stack; resolves to its outputs. */
async function program(projectDir: string = process.cwd()): Promise<Record<string, pulumi.Input<unknown>>> {
  const config = readStackConfig();
  const { plan, waves } = await loadPlanning(config, projectDir);
  switch (config.role) {
    case "landing-zone":
      return landingZone(plan, config);
    case "wave":
      return waveStack(plan, config, waves.settings.gateway.maxDisks, projectDir);
    case "rehearsal":
      return rehearsalStack(plan, config);
  }
}

export = program;
