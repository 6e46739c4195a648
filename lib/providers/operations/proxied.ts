/**
 * The providers' operations when the source is read by the on-prem proxy (`rehost proxy`), not by
 * the agent: the agent's job is a pushed one, the proxy takes rounds at the recovery point each
 * `Replication` declares — cycles that run without Pulumi — and takes the consistent points and
 * the cutovers. Here, as elsewhere in the providers, only requests and polls: every byte moves
 * between the proxy and the agent.
 */
import type { JobStatus } from "../../agent/api";
import type { ProxyClient } from "../../proxy/client";
import type { CutoverStatus, PointStatus, VmStatus } from "../../proxy/api";
import { checkBudget, describePrediction, predictCutover, type BudgetVerdict, type CutoverPrediction } from "../../proxy/predict";
import type { CutoverInputs, RehearsalPointInputs, ReplicationInputs } from "../inputs";
import { poll, ResourceInitError, retrying, type Timing } from "../waiting";
import { agentAt, formatSeconds, proxyAt, waitForAgent, waitForProxy } from "./common";

type ProxySource = NonNullable<ReplicationInputs["proxy"]>;

/** What the agent records as the pushed job's source: stable across proxy addresses. */
function pushedBy(proxy: ProxySource): string {
  return `rehost proxy, VM ${proxy.vm} disk ${proxy.diskKey}`;
}

/** One line describing a VM on the proxy for messages. */
function describeVm(s: VmStatus): string {
  const age = s.recoveryPointAgeSeconds !== undefined ? `, recovery point ${formatSeconds(s.recoveryPointAgeSeconds)} old` : "";
  return `VM ${s.vm} on the proxy is ${s.state}${s.inFlight !== undefined ? ` (round ${s.inFlight.round})` : ""}${age}${s.error !== undefined ? ` (${s.error})` : ""}`;
}

/** Registers the pushed job on the agent and the disk on the proxy (both idempotent), once both answer. */
export async function registerProxied(inputs: ReplicationInputs): Promise<{ job: JobStatus; vm: VmStatus }> {
  const proxy = inputs.proxy!;
  const agent = agentAt(inputs.agentUrl);
  await waitForAgent(agent, inputs.agentUrl, inputs);
  const job = await retrying(`job ${inputs.jobId} to be registered`, inputs, () =>
    agent.register({ id: inputs.jobId, source: { pushedBy: pushedBy(proxy) }, target: inputs.target }),
  );
  const client = proxyAt(proxy.url);
  await waitForProxy(client, proxy.url, inputs);
  const vm = await retrying(`disk ${proxy.diskKey} of VM ${proxy.vm} to be registered on the proxy`, inputs, () =>
    client.registerDisk(proxy.vm, proxy.diskKey, {
      agentUrl: inputs.agentUrl,
      jobId: inputs.jobId,
      rpoSeconds: proxy.rpo,
      quiesce: proxy.quiesce,
      fullCheckSeconds: proxy.fullCheck,
    }),
  );
  return { job, vm };
}

/** Waits until the disk has had a round of the proxy's that started at `after` or later (its initial round, or one asked for). */
export async function waitForProxyRound(client: ProxyClient, proxy: ProxySource, after: number, timing: Timing): Promise<VmStatus> {
  return poll<VmStatus>(`a round of VM ${proxy.vm} on the proxy`, timing, async () => {
    const s = await client.get(proxy.vm);
    const disk = s.disks.find((d) => d.key === proxy.diskKey);
    const round = s.rounds.find((r) => r.round === disk?.lastRound);
    if (round !== undefined && Date.parse(round.snapshotAt) >= after && s.inFlight === undefined) return { done: s };
    if (s.state === "error") throw new Error(`The round of VM ${proxy.vm} failed on the proxy: ${s.error}.`);
    return { waiting: describeVm(s) };
  });
}

/**
 * Watches a new registration for `seconds`: a round that fails at once (a datastore the proxy
 * cannot read, an agent it cannot reach) fails the create; one that pushes is left running.
 */
export async function settleProxied(client: ProxyClient, proxy: ProxySource, seconds: number, pollSeconds: number): Promise<VmStatus> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const s = await client.get(proxy.vm);
    if (s.state === "error") throw new Error(`The first round of VM ${proxy.vm} failed on the proxy: ${s.error}.`);
    if (s.disks.find((d) => d.key === proxy.diskKey)?.lastRound !== undefined || Date.now() >= deadline) return s;
    await new Promise((r) => setTimeout(r, Math.min(pollSeconds * 1000, 1000, Math.max(0, deadline - Date.now()))));
  }
}

/** Asks the proxy for a round now and waits for it. */
export async function roundNowProxied(inputs: ReplicationInputs): Promise<VmStatus> {
  const proxy = inputs.proxy!;
  const client = proxyAt(proxy.url);
  const asked = Date.now();
  await retrying(`a round of VM ${proxy.vm} to be accepted`, inputs, () => client.roundNow(proxy.vm));
  return waitForProxyRound(client, proxy, asked, inputs);
}

/** Stops the proxy replicating the disk; a proxy that stays unreachable fails with what to do. */
export async function unregisterProxied(proxy: ProxySource, deleteTimeoutSeconds: number): Promise<void> {
  try {
    await retrying(`disk ${proxy.diskKey} of VM ${proxy.vm} to be unregistered on the proxy`, { timeoutSeconds: deleteTimeoutSeconds, pollSeconds: 5 }, () =>
      proxyAt(proxy.url).removeDisk(proxy.vm, proxy.diskKey),
    );
  } catch (err) {
    throw new Error(
      `${(err as Error).message} The source proxy at ${proxy.url} must be reachable to stop replicating VM ${proxy.vm}; if it no longer exists, remove this resource from the state with pulumi state delete.`,
    );
  }
}

/** A consistent point through the proxy: held, with each job's round and digest. */
export async function takePointProxied(inputs: RehearsalPointInputs): Promise<PointStatus> {
  const proxy = inputs.proxy!;
  const client = proxyAt(proxy.url);
  await retrying(`point ${inputs.point} to be accepted by the proxy`, inputs, () =>
    client.point({ name: inputs.point, vms: proxy.vms, maxSkewSeconds: Math.max(proxy.maxSkew, 0.001) }),
  );
  const point = await poll<PointStatus>(`point ${inputs.point} on the proxy`, inputs, async () => {
    const p = await client.getPoint(inputs.point);
    return p.state === "running" ? { waiting: `point ${inputs.point} is being taken (VMs ${proxy.vms.join(", ")})` } : { done: p };
  });
  if (point.state === "failed") {
    // A failed point holds nothing; it is forgotten so the next try starts afresh.
    await client.releasePoint(inputs.point).catch(() => undefined);
    throw new Error(`Rehearsal point ${inputs.point} could not be taken: ${point.error}.`);
  }
  const missing = inputs.jobIds.filter((id) => point.jobs?.[id] === undefined);
  if (missing.length > 0) {
    await client.releasePoint(inputs.point).catch(() => undefined);
    throw new Error(`Rehearsal point ${inputs.point} holds no round of ${missing.join(", ")}: list in proxy.vms every VM whose jobs the point names.`);
  }
  return point;
}

/** Ends a point taken through the proxy: its jobs thawed on every agent, the point forgotten. */
export async function releasePointProxied(url: string, point: string, deleteTimeoutSeconds: number): Promise<void> {
  try {
    await retrying(`point ${point} to be released by the proxy`, { timeoutSeconds: deleteTimeoutSeconds, pollSeconds: 5 }, () =>
      proxyAt(url).releasePoint(point),
    );
  } catch (err) {
    throw new Error(
      `${(err as Error).message} If the source proxy at ${url} no longer exists, thaw the jobs on their agents (POST /v1/jobs/:id/thaw) and remove this resource from the state with pulumi state delete.`,
    );
  }
}

/** What the downtime budget says of a proxied cutover about to start. */
export interface BudgetDecision {
  readonly prediction: CutoverPrediction;
  readonly verdict?: BudgetVerdict;
  /** Set when the cutover may not start: the refusal, with its numbers. */
  readonly refusal?: string;
  /** Set when it would have been refused but `ignoreDowntimeBudget` is true. */
  readonly overridden?: string;
}

/**
 * The cutover's prediction from the VM's rounds on the proxy (for this cutover's full check,
 * verification and shutdown allowance), checked against `downtimeBudget` and what is left until
 * `changeWindowEnd` at `now`. Undefined when neither is set.
 */
export function budgetDecision(inputs: CutoverInputs, vm: VmStatus, now: number): BudgetDecision | undefined {
  if (inputs.downtimeBudget === undefined && inputs.changeWindowEnd === undefined) return undefined;
  const proxy = inputs.proxy!;
  const prediction = predictCutover(vm.rounds, {
    now,
    fullCheckFirst: proxy.fullCheckFirst,
    verify: proxy.verify,
    sampleBlocks: proxy.sampleBlocks,
    shutdownSeconds: inputs.expectedShutdown,
    diskSizes: vm.disks.map((d) => d.sizeBytes ?? 0),
  });
  const verdict = checkBudget(prediction.downtimeSeconds, {
    downtimeBudgetSeconds: inputs.downtimeBudget,
    changeWindowEnd: inputs.changeWindowEnd !== undefined ? Date.parse(inputs.changeWindowEnd) : undefined,
    now,
  });
  const left =
    verdict === undefined
      ? ""
      : verdict.boundBy === "budget"
        ? `the downtime budget of ${inputs.downtimeBudget} s`
        : `the ${verdict.secondsLeft.toFixed(0)} s left until the change window ends at ${inputs.changeWindowEnd}`;
  let problem: string | undefined;
  if (!prediction.known) problem = `its downtime cannot be predicted yet (${prediction.missing.join("; ")}), so it cannot be checked against ${left}`;
  else if (verdict !== undefined && !verdict.fits) problem = `${describePrediction(prediction)}: that exceeds ${left}`;
  if (problem === undefined) return { prediction, verdict };
  const message = `Cutover of ${inputs.vm} refused before the shutdown: ${problem}. Nothing was shut down; the source keeps running and replicating. Let replication catch up (more rounds, a lower rpo), cut over when the churn is lower, widen the window or the budget (changeWindowEnd, downtimeBudget), or set ignoreDowntimeBudget: true to cut over anyway.`;
  return inputs.ignoreDowntimeBudget ? { prediction, verdict, overridden: message } : { prediction, verdict, refusal: message };
}

/** The cutover through the proxy, waited for: shutdown, final round, verification by block hashes. */
export async function cutoverProxied(inputs: CutoverInputs, onDecision: (decision: BudgetDecision) => void = () => undefined): Promise<CutoverStatus> {
  const proxy = inputs.proxy!;
  const client = proxyAt(proxy.url);
  const current = await retrying(`VM ${inputs.vm} on the proxy`, inputs, () => client.get(inputs.vm));
  const before = current.cutover?.requestedAt;
  // A cutover already under way (or done) on the proxy is past its shutdown: no budget to check.
  if (current.cutover?.state !== "running" && current.cutover?.state !== "verified") {
    const decision = budgetDecision(inputs, current, Date.now());
    if (decision?.refusal !== undefined) throw new DowntimeBudgetRefusal(decision.refusal);
    if (decision !== undefined) onDecision(decision);
  }
  await retrying(`the cutover of ${inputs.vm} to be accepted`, inputs, () =>
    client.cutover(inputs.vm, {
      shutdown: "guest",
      shutdownTimeoutSeconds: inputs.shutdownTimeoutSeconds,
      verify: proxy.verify,
      sampleBlocks: proxy.sampleBlocks,
      fullCheckFirst: proxy.fullCheckFirst,
    }),
  );
  return poll<CutoverStatus>(`the cutover of ${inputs.vm} on the proxy`, inputs, async () => {
    const s = await client.get(inputs.vm);
    const c = s.cutover;
    if (c === undefined || c.state === "running" || (c.requestedAt === before && c.state !== "verified")) return { waiting: describeVm(s) };
    return { done: c };
  });
}

/** The Cutover's digests per job from the proxy's verification. */
export function cutoverDigests(
  c: CutoverStatus,
  jobIds: readonly string[],
  algorithm: string,
): Record<string, { source: string; target: string; algorithm: string; size: number }> {
  const out: Record<string, { source: string; target: string; algorithm: string; size: number }> = {};
  for (const d of c.disks ?? []) if (jobIds.includes(d.jobId)) out[d.jobId] = { source: d.sourceDigest, target: d.targetDigest, algorithm, size: d.sizeBytes };
  return out;
}

/** A proxied cutover that failed, as the resource records it (the source stays off). */
export function cutoverFailure(id: string, properties: object, vm: string, c: CutoverStatus): ResourceInitError {
  return new ResourceInitError(
    id,
    properties,
    `Cutover of ${vm} failed on the proxy: ${c.error ?? "not verified"} pulumi up runs it again (the full check, the final round and the verification).`,
  );
}

/** A proxied cutover refused by its downtime budget before anything was done. */
export class DowntimeBudgetRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DowntimeBudgetRefusal";
  }
}
