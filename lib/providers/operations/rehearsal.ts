/**
 * `RehearsalPoint` and `RehearsalThaw`. The point freezes every job of a gateway at a round
 * boundary and returns the targets' digests there, so the rehearsal's snapshots can depend on
 * it; the thaw, which depends on the snapshots, lets replication go on. Both name the point:
 * ending one rehearsal's freeze never ends another's.
 */
import type { JobStatus } from "../../agent/api";
import type { AgentClient } from "../../agent/client";
import {
  checkWith,
  diffInputs,
  INPUT_KEYS,
  RehearsalPointInputsSchema,
  RehearsalThawInputsSchema,
  type CheckResult,
  type InputsDiff,
  type RehearsalPointInputs,
  type RehearsalThawInputs,
} from "../inputs";
import { poll, retrying, type Timing } from "../waiting";
import { agentAt, describeJob } from "./common";
import { releasePointProxied, takePointProxied } from "./proxied";

/** Outputs of a `RehearsalPoint`. */
export interface RehearsalPointOutputs extends RehearsalPointInputs {
  /** Per job: the round the point holds and the target's digest after it. */
  readonly digests: Record<string, { round: number; digest: string; algorithm: string }>;
  readonly frozenAt: string;
  /** Through a proxy: seconds between the first and the last VM's snapshot. */
  readonly skewSeconds?: number;
}

/** Outputs of a `RehearsalThaw`. */
export interface RehearsalThawOutputs extends RehearsalThawInputs {
  readonly thawedAt: string;
}

const IMMUTABLE = ["agentUrl", "jobIds", "point"];

/** Ends point `point`'s freeze of each job; jobs gone, thawed or frozen for another point are left alone. */
async function thawJobs(client: AgentClient, jobIds: readonly string[], point: string, timing: Timing): Promise<void> {
  for (const id of jobIds) {
    await retrying(`job ${id} to be thawed from point ${point}`, timing, async () => {
      if ((await client.find(id)) !== undefined) await client.thaw(id, point);
    });
  }
}

export async function checkPoint(_olds: Record<string, unknown>, news: Record<string, unknown>): Promise<CheckResult<RehearsalPointInputs>> {
  return checkWith(RehearsalPointInputsSchema, news);
}

export async function diffPoint(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<InputsDiff> {
  return diffInputs(olds, news, IMMUTABLE, INPUT_KEYS.rehearsalPoint);
}

/**
 * Freezes every job at a round boundary; refuses at once while an initial sync is still running.
 * Through a proxy, the point is the VMs' snapshots within the skew bound, each pushed and frozen.
 */
export async function createPoint(inputs: RehearsalPointInputs): Promise<{ id: string; outs: RehearsalPointOutputs }> {
  const client = agentAt(inputs.agentUrl);
  const statuses = await Promise.all(inputs.jobIds.map((id) => retrying(`job ${id}`, inputs, () => client.get(id))));
  const unsynced = statuses.filter((s) => s.lastRound === undefined);
  if (unsynced.length > 0) {
    throw new Error(
      `Rehearsal point ${inputs.point} cannot be taken yet: ${unsynced.map(describeJob).join("; ")}. A point holds finished rounds; run the rehearsal once every initial sync is done (rehost status shows them).`,
    );
  }
  if (inputs.proxy !== undefined) {
    const point = await takePointProxied(inputs);
    const digests: RehearsalPointOutputs["digests"] = {};
    for (const id of inputs.jobIds) digests[id] = point.jobs![id];
    return { id: inputs.point, outs: { ...inputs, digests, frozenAt: new Date().toISOString(), skewSeconds: point.skewSeconds ?? 0 } };
  }
  const frozen: string[] = [];
  try {
    for (const id of inputs.jobIds) {
      await retrying(`job ${id} to accept the freeze`, inputs, () => client.freeze(id, inputs.point));
      frozen.push(id);
    }
    const held = await poll<JobStatus[]>(`jobs ${inputs.jobIds.join(", ")} to freeze for ${inputs.point}`, inputs, async () => {
      const all = await Promise.all(inputs.jobIds.map((id) => client.get(id)));
      const failed = all.find((s) => s.state === "error");
      if (failed !== undefined) throw new Error(`Job ${failed.id} failed before reaching a round boundary: ${failed.error}.`);
      const waiting = all.filter((s) => s.state !== "frozen");
      return waiting.length === 0 ? { done: all } : { waiting: waiting.map(describeJob).join("; ") };
    });
    const digests: RehearsalPointOutputs["digests"] = {};
    for (const s of held) digests[s.id] = { round: s.lastRound!.round, digest: s.lastRound!.digest.digest, algorithm: s.lastRound!.digest.algorithm };
    return { id: inputs.point, outs: { ...inputs, digests, frozenAt: new Date().toISOString() } };
  } catch (err) {
    // A point that could not be taken holds nothing: release what was frozen.
    await thawJobs(client, frozen, inputs.point, { timeoutSeconds: 30, pollSeconds: 1 }).catch(() => undefined);
    throw err;
  }
}

/** Ends the point's freeze; an agent that stays unreachable fails after `deleteTimeoutSeconds` with what to do. */
export async function deletePoint(olds: RehearsalPointOutputs): Promise<void> {
  if (olds.proxy !== undefined) return releasePointProxied(olds.proxy.url, olds.point, olds.deleteTimeoutSeconds ?? 120);
  try {
    await thawJobs(agentAt(olds.agentUrl), olds.jobIds, olds.point, { timeoutSeconds: olds.deleteTimeoutSeconds ?? 120, pollSeconds: 5 });
  } catch (err) {
    throw new Error(
      `${(err as Error).message} If the gateway at ${olds.agentUrl} no longer exists, nothing is frozen there: remove this resource from the state with pulumi state delete, then run pulumi destroy again.`,
    );
  }
}

export async function checkThaw(_olds: Record<string, unknown>, news: Record<string, unknown>): Promise<CheckResult<RehearsalThawInputs>> {
  return checkWith(RehearsalThawInputsSchema, news);
}

export async function diffThaw(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<InputsDiff> {
  return diffInputs(olds, news, IMMUTABLE, INPUT_KEYS.rehearsalThaw);
}

/** The snapshots exist: the point's freeze ends and replication goes on. */
export async function createThaw(inputs: RehearsalThawInputs): Promise<{ id: string; outs: RehearsalThawOutputs }> {
  await thawJobs(agentAt(inputs.agentUrl), inputs.jobIds, inputs.point, inputs);
  return { id: `${inputs.point}-thaw`, outs: { ...inputs, thawedAt: new Date().toISOString() } };
}
