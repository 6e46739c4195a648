/**
 * `Replication`: one source disk copied to a gateway disk by its agent.
 *
 * - create waits for the agent to answer, registers the job and returns once its initial sync
 *   runs (or, with `waitForInitialSync`, once it is done): a terabyte's sync outlives any CI job,
 *   and later `pulumi up`s and `pulumi refresh` show its progress;
 * - update runs the round asked for (`round` went up) and waits for it; a new `agentUrl`,
 *   `source` or `credentials` re-points the existing job, keeping every byte already copied;
 * - read (`pulumi refresh`) reports the job as the agent sees it, or that it is gone;
 * - delete unregisters the job (the target disk keeps its data).
 *
 * With `proxy` instead of `source`, the on-prem proxy reads the VM's frozen disks and pushes to a
 * pushed job: create registers the job and the disk on the proxy, which then takes rounds at the
 * declared recovery point on its own; raising `round` asks for one now (`proxied.ts`).
 *
 * Once a job exists, a failure is a `ResourceInitError`: the resource is recorded with what the
 * agent reported, so the next `pulumi up` picks it up instead of starting over.
 */
import type { Changed, JobStatus } from "../../agent/api";
import type { AgentClient } from "../../agent/client";
import { checkWith, diffInputs, INPUT_KEYS, ReplicationInputsSchema, type CheckResult, type InputsDiff, type ReplicationInputs } from "../inputs";
import { poll, ResourceInitError, retrying, type Timing } from "../waiting";
import type { VmStatus } from "../../proxy/api";
import { agentAt, describeJob, proxyAt, waitForAgent } from "./common";
import { registerProxied, roundNowProxied, settleProxied, unregisterProxied, waitForProxyRound } from "./proxied";

/** Outputs of a `Replication`. */
export interface ReplicationOutputs extends ReplicationInputs {
  readonly state: string;
  /** Last finished round (0 is the initial sync); -1 while the initial sync runs. */
  readonly lastRound: number;
  /** Percent done of the round running now; 100 when none runs. */
  readonly progress: number;
  /** Bytes written to the target over every round (data and zeroes). */
  readonly bytesCopied: number;
  /** Bytes the last round wrote. */
  readonly lastRoundBytes: number;
  readonly lastRoundAt: string;
  readonly lastRoundSeconds: number;
  /** Digest of the target after the last round. */
  readonly digest: string;
  readonly digestAlgorithm: string;
  /** When the data of the last round was taken (the proxy's snapshot, or the round's start): the recovery point. */
  readonly recoveryPointAt: string;
}

/** Inputs that name another disk: changing them replaces the resource. */
const IMMUTABLE = ["jobId", "target"];

/** Outputs from the inputs and the job's status. */
function replicationOutputs(inputs: ReplicationInputs, s: JobStatus, recoveryPointAt?: string): ReplicationOutputs {
  const last = s.lastRound;
  const a = s.active;
  return {
    ...inputs,
    state: s.state,
    lastRound: last?.round ?? -1,
    progress: a === undefined ? 100 : a.bytesTotal > 0 ? Math.floor((100 * a.bytesDone) / a.bytesTotal) : 0,
    bytesCopied: s.rounds.reduce((sum, r) => sum + r.bytesWritten + r.bytesZeroed, 0),
    lastRoundBytes: last !== undefined ? last.bytesWritten + last.bytesZeroed : 0,
    lastRoundAt: last?.finishedAt ?? "",
    lastRoundSeconds: last?.seconds ?? 0,
    digest: last?.digest.digest ?? "",
    digestAlgorithm: last?.digest.algorithm ?? "",
    recoveryPointAt: recoveryPointAt ?? last?.startedAt ?? "",
  };
}

/** Waits until job `id` has finished round `round` (or a later one). */
export async function waitForRound(client: AgentClient, id: string, round: number, timing: Timing): Promise<JobStatus> {
  return poll<JobStatus>(`round ${round} of job ${id}`, timing, async () => {
    const s = await client.get(id);
    if (s.lastRound !== undefined && s.lastRound.round >= round && s.active === undefined) return { done: s };
    if (s.state === "error") throw new Error(`Round ${round} of job ${id} failed: ${s.error ?? "unknown error"}.`);
    return { waiting: describeJob(s) };
  });
}

/**
 * Watches a new job for `seconds`: a round that fails its first attempt (a source that cannot
 * be opened, a target that cannot be written) fails the create; one that copies is left running.
 */
async function settle(client: AgentClient, id: string, seconds: number, pollSeconds: number): Promise<JobStatus> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const s = await client.get(id);
    if (s.state === "stalled" || s.state === "error") throw new Error(`The initial sync of job ${id} failed: ${s.error ?? s.state}.`);
    if (s.active === undefined || s.active.bytesDone > 0 || Date.now() >= deadline) return s;
    await new Promise((r) => setTimeout(r, Math.min(pollSeconds * 1000, 1000, Math.max(0, deadline - Date.now()))));
  }
}

/** Asks for round `round` once the job has finished its initial sync, and waits for it. */
async function runRound(client: AgentClient, inputs: ReplicationInputs, status: JobStatus): Promise<JobStatus> {
  if (status.lastRound === undefined) status = await waitForRound(client, inputs.jobId, 0, inputs);
  await retrying(`round ${inputs.round} of job ${inputs.jobId} to be accepted`, inputs, () =>
    client.round(inputs.jobId, inputs.round, inputs.changed as Changed),
  );
  return waitForRound(client, inputs.jobId, inputs.round, inputs);
}

/** Registers the job (idempotent: the same registration again is accepted) once the agent answers. */
async function register(client: AgentClient, inputs: ReplicationInputs): Promise<JobStatus> {
  await waitForAgent(client, inputs.agentUrl, inputs);
  return retrying(`job ${inputs.jobId} to be registered`, inputs, () =>
    client.register({ id: inputs.jobId, source: { uri: inputs.source!, credentials: inputs.credentials }, target: inputs.target, initial: inputs.initial }),
  );
}

/** Runs `work` on a job that exists; a failure records the resource with the job's last status. */
async function onJob(client: AgentClient, inputs: ReplicationInputs, status: JobStatus, work: () => Promise<JobStatus>): Promise<ReplicationOutputs> {
  try {
    return replicationOutputs(inputs, await work());
  } catch (err) {
    const last = (await client.find(inputs.jobId).catch(() => undefined)) ?? status;
    throw new ResourceInitError(
      inputs.jobId,
      replicationOutputs(inputs, last),
      `${(err as Error).message} The job is recorded; run pulumi up again to go on waiting, or pulumi refresh to see it.`,
    );
  }
}

export async function check(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<CheckResult<ReplicationInputs>> {
  const result = checkWith(ReplicationInputsSchema, news);
  if (result.failures.length === 0 && typeof olds?.round === "number" && typeof news.round === "number" && news.round < olds.round) {
    result.failures.push({ property: "round", reason: `round cannot go down (from ${olds.round} to ${news.round}); rounds only move forward` });
  }
  return result;
}

export async function diff(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<InputsDiff> {
  return diffInputs(olds, news, IMMUTABLE, INPUT_KEYS.replication);
}

export async function create(inputs: ReplicationInputs): Promise<{ id: string; outs: ReplicationOutputs }> {
  if (inputs.proxy !== undefined) return createProxied(inputs);
  const client = agentAt(inputs.agentUrl);
  const registered = await register(client, inputs);
  const outs = await onJob(client, inputs, registered, async () => {
    let s = inputs.waitForInitialSync
      ? await waitForRound(client, inputs.jobId, 0, inputs)
      : await settle(client, inputs.jobId, inputs.settleSeconds, inputs.pollSeconds);
    if (inputs.round > 0) s = await runRound(client, inputs, s);
    return s;
  });
  return { id: inputs.jobId, outs };
}

/** The proxy's snapshot time of the disk's last round. */
function proxyRecoveryPoint(vm: VmStatus, diskKey: number): string | undefined {
  const disk = vm.disks.find((d) => d.key === diskKey);
  return vm.rounds.find((r) => r.round === disk?.lastRound)?.snapshotAt ?? disk?.lastRoundAt;
}

/** Runs `work` (which returns the proxy's view of the VM); the outputs come from the agent's job with the proxy's recovery point. */
async function onProxiedJob(inputs: ReplicationInputs, status: JobStatus, work: () => Promise<VmStatus>): Promise<ReplicationOutputs> {
  const client = agentAt(inputs.agentUrl);
  let recoveryPointAt: string | undefined;
  const outs = await onJob(client, inputs, status, async () => {
    recoveryPointAt = proxyRecoveryPoint(await work(), inputs.proxy!.diskKey);
    return client.get(inputs.jobId);
  });
  return { ...outs, recoveryPointAt: recoveryPointAt ?? outs.recoveryPointAt };
}

async function createProxied(inputs: ReplicationInputs): Promise<{ id: string; outs: ReplicationOutputs }> {
  const proxy = inputs.proxy!;
  const { job } = await registerProxied(inputs);
  const client = proxyAt(proxy.url);
  const outs = await onProxiedJob(inputs, job, async () => {
    let vm = inputs.waitForInitialSync
      ? await waitForProxyRound(client, proxy, 0, inputs)
      : await settleProxied(client, proxy, inputs.settleSeconds, inputs.pollSeconds);
    if (inputs.round > 0) vm = await roundNowProxied(inputs);
    return vm;
  });
  return { id: inputs.jobId, outs };
}

export async function read(id: string, props: ReplicationOutputs): Promise<{ id: string; props: ReplicationOutputs | Record<string, never> }> {
  const status = await retrying(`job ${id} on ${props.agentUrl}`, { timeoutSeconds: 60, pollSeconds: 5 }, () => agentAt(props.agentUrl).find(id));
  // A job the agent no longer knows is gone: an empty id tells the engine so.
  if (status === undefined) return { id: "", props: {} };
  let recoveryPointAt: string | undefined;
  if (props.proxy !== undefined) {
    const proxy = props.proxy;
    const vm = await retrying(`VM ${proxy.vm} on ${proxy.url}`, { timeoutSeconds: 60, pollSeconds: 5 }, () => proxyAt(proxy.url).find(proxy.vm));
    if (vm !== undefined) recoveryPointAt = proxyRecoveryPoint(vm, proxy.diskKey);
  }
  return { id, props: replicationOutputs(props, status, recoveryPointAt) };
}

export async function update(olds: ReplicationOutputs, news: ReplicationInputs): Promise<{ outs: ReplicationOutputs }> {
  if (news.proxy !== undefined) return updateProxied(olds, news);
  const client = agentAt(news.agentUrl);
  let status: JobStatus | undefined = await retrying(`job ${news.jobId} on ${news.agentUrl}`, news, () => client.find(news.jobId));
  // Another address for the gateway, or another gateway: the job is found there or registered.
  if (status === undefined) status = await register(client, news);
  const outs = await onJob(client, news, status, async () => {
    let s = status as JobStatus;
    const current = s.source as { uri?: string; credentials?: string };
    if (current.uri !== news.source || current.credentials !== news.credentials) {
      s = await retrying(`job ${news.jobId} to take its new source`, news, () =>
        client.updateSource(news.jobId, { uri: news.source!, credentials: news.credentials }),
      );
    }
    if (news.round > 0 && (news.round > olds.round || (s.lastRound?.round ?? -1) < news.round)) s = await runRound(client, news, s);
    return s;
  });
  return { outs };
}

/** A new recovery point, proxy address or gateway re-registers (idempotent); a higher `round` asks for a round now. */
async function updateProxied(olds: ReplicationOutputs, news: ReplicationInputs): Promise<{ outs: ReplicationOutputs }> {
  if (olds.proxy !== undefined && (olds.proxy.url !== news.proxy!.url || olds.proxy.vm !== news.proxy!.vm || olds.proxy.diskKey !== news.proxy!.diskKey)) {
    await unregisterProxied(olds.proxy, news.deleteTimeoutSeconds).catch(() => undefined);
  }
  const { job, vm } = await registerProxied(news);
  const outs = await onProxiedJob(news, job, async () => (news.round > olds.round ? roundNowProxied(news) : vm));
  return { outs };
}

export async function remove(olds: ReplicationOutputs): Promise<void> {
  if (olds.proxy !== undefined) await unregisterProxied(olds.proxy, olds.deleteTimeoutSeconds ?? 120);
  const client = agentAt(olds.agentUrl);
  try {
    await retrying(`job ${olds.jobId} to be unregistered`, { timeoutSeconds: olds.deleteTimeoutSeconds ?? 120, pollSeconds: 5 }, () =>
      client.unregister(olds.jobId),
    );
  } catch (err) {
    throw new Error(
      `${(err as Error).message} The agent at ${olds.agentUrl} must be reachable to stop job ${olds.jobId}; if that gateway no longer exists, remove this resource from the state with pulumi state delete.`,
    );
  }
}
