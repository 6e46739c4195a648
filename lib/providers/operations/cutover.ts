/**
 * `Cutover`: shut the source VM down (through vSphere when configured, else on the operator's
 * `manualConfirmation`), run the final round of each of its disks, and verify that source and
 * target digests are equal. When they differ, or the final round fails, the source stays off and
 * the Cutover is recorded unverified, so nothing that depends on it launches; the next
 * `pulumi up` runs the final round and the verification again.
 *
 * Once verified, a Cutover never runs again: changing its round, its changed-block source or its
 * confirmation updates it in place. Deleting it leaves the source off unless `rollbackOnDelete`
 * asks for the source to be powered on again.
 */
import type { Changed, Verification } from "../../agent/api";
import type { AgentClient } from "../../agent/client";
import { checkWith, CutoverInputsSchema, diffInputs, INPUT_KEYS, type CheckResult, type CutoverInputs, type InputsDiff } from "../inputs";
import { CREDENTIALS } from "../credentials";
import { poll, ResourceInitError, retrying } from "../waiting";
import type { CutoverStatus } from "../../proxy/api";
import { DIGEST_ALGORITHM } from "../../replication/sha256-blocks";
import { agentAt, currentCredentials, describeJob, proxyAt } from "./common";
import { cutoverDigests, cutoverFailure, cutoverProxied, DowntimeBudgetRefusal, type BudgetDecision } from "./proxied";
import { waitForRound } from "./replication";

/** Outputs of a `Cutover`. */
export interface CutoverOutputs extends CutoverInputs {
  /** How the source went down: through vSphere (`guest-shutdown`, `powered-off`, `already-off`) or `manual`. */
  readonly shutdown: string;
  /** Whether every disk's source and target digests were found equal after the final round. */
  readonly verified: boolean;
  /** Per job: source and target digests. */
  readonly digests: Record<string, { source: string; target: string; algorithm: string; size: number }>;
  readonly verifiedAt: string;
  /** Through a proxy: from the shutdown to the verification's end, the final delta, and what was read again to verify. */
  readonly downtimeSeconds?: number;
  readonly finalDeltaBytes?: number;
  readonly sourceBytesReadOverLink?: number;
  readonly verifiedBytes?: number;
  /** With a downtime budget or change window end: the downtime predicted before the shutdown. */
  readonly predictedDowntimeSeconds?: number;
  /** The refusal `ignoreDowntimeBudget: true` overrode, with its numbers. */
  readonly downtimeBudgetOverridden?: string;
}

/** A new VM or other disks is another cutover; everything else updates in place. */
const IMMUTABLE = ["vm", "jobIds"];

export async function check(_olds: Record<string, unknown>, news: Record<string, unknown>): Promise<CheckResult<CutoverInputs>> {
  const result = checkWith(CutoverInputsSchema, news);
  for (const key of ["downtimeBudget", "changeWindowEnd"] as const) {
    if (result.failures.length === 0 && news[key] !== undefined && news.proxy === undefined) {
      result.failures.push({
        property: key,
        reason: `${key} needs proxy: the prediction it is checked against comes from the source proxy's rounds; set proxy, or remove ${key}`,
      });
    }
  }
  if (result.failures.length === 0 && news.proxy === undefined && news.manualConfirmation !== true && !currentCredentials().vsphereConfigured()) {
    result.failures.push({
      property: "manualConfirmation",
      reason: `no vSphere client is configured (${CREDENTIALS.vcenterUrl.config} or ${CREDENTIALS.vcenterUrl.env}), so shut the source VM down yourself and set manualConfirmation: true`,
    });
  }
  return result;
}

export async function diff(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<InputsDiff> {
  return diffInputs(olds, news, IMMUTABLE, INPUT_KEYS.cutover);
}

/** Shuts the source down; `manual` when the operator did. */
async function shutDown(inputs: CutoverInputs): Promise<string> {
  const vc = await currentCredentials().vsphere();
  if (vc === undefined) {
    if (inputs.manualConfirmation) return "manual";
    throw new Error(`Cannot shut ${inputs.vm} down: no vSphere client is configured (${CREDENTIALS.vcenterUrl.config}) and manualConfirmation is not true.`);
  }
  try {
    return await vc.shutdownGuest(inputs.vm, { timeoutMs: inputs.shutdownTimeoutSeconds * 1000 });
  } finally {
    await vc.logout().catch(() => undefined);
  }
}

/** The final round of every disk, then one verification each: the digests per job. */
async function finalRoundAndVerify(client: AgentClient, inputs: CutoverInputs): Promise<CutoverOutputs["digests"]> {
  // Without a proxy, check made the round required.
  const round = inputs.round as number;
  for (const id of inputs.jobIds) {
    const s = await retrying(`job ${id}`, inputs, () => client.get(id));
    if (s.state === "frozen") throw new Error(`Job ${id} is frozen for rehearsal point ${s.frozenFor}; destroy that rehearsal before the cutover.`);
    await retrying(`the final round of job ${id} to be accepted`, inputs, () => client.round(id, round, inputs.changed as Changed));
  }
  for (const id of inputs.jobIds) await waitForRound(client, id, round, inputs);
  const digests: CutoverOutputs["digests"] = {};
  for (const id of inputs.jobIds) {
    const requestedAt = (await retrying(`verification of job ${id} to start`, inputs, () => client.verify(id))).verification?.requestedAt;
    const v = await poll<Verification>(`verification of job ${id}`, inputs, async () => {
      const s = await client.get(id);
      const v = s.verification;
      if (v !== undefined && v.state !== "running" && v.requestedAt === requestedAt) return { done: v };
      return { waiting: describeJob(s) };
    });
    if (v.state === "failed" || v.source === undefined || v.target === undefined)
      throw new Error(`Verification of job ${id} could not run: ${v.error ?? "no digests"}.`);
    digests[id] = { source: v.source.digest, target: v.target.digest, algorithm: v.source.algorithm, size: v.source.size };
  }
  return digests;
}

/** Runs the final round and verification; records an unverified Cutover (source off) when they fail. */
async function finish(inputs: CutoverInputs, shutdown: string): Promise<CutoverOutputs> {
  const id = `${inputs.vm}-cutover`;
  const unverified: CutoverOutputs = { ...inputs, shutdown, verified: false, digests: {}, verifiedAt: "" };
  let digests: CutoverOutputs["digests"];
  try {
    digests = await finalRoundAndVerify(agentAt(inputs.agentUrl), inputs);
  } catch (err) {
    throw new ResourceInitError(
      id,
      unverified,
      `Cutover of ${inputs.vm}: ${(err as Error).message} Nothing was launched; the source stays shut down; pulumi up runs the final round and the verification again.`,
    );
  }
  const mismatches = Object.entries(digests)
    .filter(([, d]) => d.source !== d.target)
    .map(([job, d]) => `${job}: source ${d.source} (${d.size} bytes), target ${d.target}`);
  if (mismatches.length > 0) {
    throw new ResourceInitError(
      id,
      { ...unverified, digests },
      `Cutover of ${inputs.vm} failed: source and target digests differ after final round ${inputs.round} — ${mismatches.join("; ")}. Nothing was launched; the source stays shut down.`,
    );
  }
  return { ...inputs, shutdown, verified: true, digests, verifiedAt: new Date().toISOString() };
}

/** What the Cutover records of its downtime budget's check. */
function budgetOutputs(decision: BudgetDecision | undefined): Pick<CutoverOutputs, "predictedDowntimeSeconds" | "downtimeBudgetOverridden"> {
  if (decision === undefined) return {};
  return {
    predictedDowntimeSeconds: decision.prediction.downtimeSeconds,
    ...(decision.overridden !== undefined ? { downtimeBudgetOverridden: decision.overridden } : {}),
  };
}

/** The cutover through the proxy; recorded unverified (source off) when it fails. */
async function finishProxied(inputs: CutoverInputs): Promise<CutoverOutputs> {
  const id = `${inputs.vm}-cutover`;
  let c: CutoverStatus;
  let decision: BudgetDecision | undefined;
  try {
    c = await cutoverProxied(inputs, (d) => (decision = d));
  } catch (err) {
    // Refused before anything was done: nothing to record, the next pulumi up checks again.
    if (err instanceof DowntimeBudgetRefusal) throw err;
    throw new ResourceInitError(
      id,
      { ...inputs, shutdown: "", verified: false, digests: {}, verifiedAt: "" },
      `Cutover of ${inputs.vm}: ${(err as Error).message} pulumi up asks the proxy again.`,
    );
  }
  const outs: CutoverOutputs = {
    ...inputs,
    shutdown: c.shutdown ?? "",
    verified: c.state === "verified",
    digests: cutoverDigests(c, inputs.jobIds, DIGEST_ALGORITHM),
    verifiedAt: c.state === "verified" ? (c.finishedAt ?? "") : "",
    downtimeSeconds: c.downtimeSeconds,
    finalDeltaBytes: c.finalDeltaBytes,
    sourceBytesReadOverLink: c.sourceBytesReadOverLink,
    verifiedBytes: c.verifiedBytes,
    ...budgetOutputs(decision),
  };
  if (c.state !== "verified") throw cutoverFailure(id, outs, inputs.vm, c);
  return outs;
}

export async function create(inputs: CutoverInputs): Promise<{ id: string; outs: CutoverOutputs }> {
  if (inputs.proxy !== undefined) return { id: `${inputs.vm}-cutover`, outs: await finishProxied(inputs) };
  const shutdown = await shutDown(inputs);
  return { id: `${inputs.vm}-cutover`, outs: await finish(inputs, shutdown) };
}

/** A verified Cutover only takes the new inputs; an unverified one runs its final round and verification again. */
export async function update(olds: CutoverOutputs, news: CutoverInputs): Promise<{ outs: CutoverOutputs }> {
  if (olds.verified === true) return { outs: { ...olds, ...news } };
  if (news.proxy !== undefined) return { outs: await finishProxied(news) };
  return { outs: await finish(news, olds.shutdown ?? (await shutDown(news))) };
}

/** Leaves the source off, or with `rollbackOnDelete` powers it on again through vSphere. */
export async function remove(olds: CutoverOutputs): Promise<void> {
  if (olds.rollbackOnDelete !== true) return;
  if (olds.proxy !== undefined) {
    const proxy = olds.proxy;
    await retrying(`${olds.vm} to be powered on by the proxy`, { timeoutSeconds: 600, pollSeconds: 5 }, () => proxyAt(proxy.url).rollback(olds.vm));
    return;
  }
  const vc = await currentCredentials().vsphere();
  if (vc === undefined) {
    if (olds.shutdown === "manual") return; // The operator shut it down; the operator powers it on (docs/providers.md).
    throw new Error(`Cannot power ${olds.vm} on: it was shut down through vSphere but ${CREDENTIALS.vcenterUrl.config} is not set now.`);
  }
  try {
    await vc.powerOn(olds.vm);
  } finally {
    await vc.logout().catch(() => undefined);
  }
}
