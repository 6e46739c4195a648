/**
 * What the dynamic providers do, as plain functions: the providers' methods load this module
 * with `require()` and call one function, so their closures stay small and serializable.
 * They are controllers: every byte moves inside the agent; here we only ask and poll.
 *
 * Credentials come from the environment of the process running `pulumi up`:
 * - `REHOST_AGENT_TOKEN`, or `REHOST_AGENT_TOKEN_FILE`: the agents' bearer token;
 * - `REHOST_AGENT_FINGERPRINT`: SHA-256 fingerprint(s) of the agents' certificates (comma-separated),
 *   or `REHOST_AGENT_CA_FILE`: a PEM CA the agents' certificates chain to;
 * - for `Cutover`, `REHOST_VCENTER_URL`, `REHOST_VCENTER_USER`, `REHOST_VCENTER_PASSWORD` and
 *   optionally `REHOST_VCENTER_CA_FILE` / `REHOST_VCENTER_THUMBPRINT`: the vSphere client.
 */
import * as fs from "node:fs";
import type { Changed, JobStatus, Verification } from "../agent/api";
import { AgentClient } from "../agent/client";
import type { CutoverInputs, RehearsalPointInputs, RehearsalThawInputs, ReplicationInputs } from "./inputs";

/** Environment variable names the providers read. */
export const ENV = {
  token: "REHOST_AGENT_TOKEN",
  tokenFile: "REHOST_AGENT_TOKEN_FILE",
  fingerprint: "REHOST_AGENT_FINGERPRINT",
  caFile: "REHOST_AGENT_CA_FILE",
  vcenterUrl: "REHOST_VCENTER_URL",
  vcenterUser: "REHOST_VCENTER_USER",
  vcenterCa: "REHOST_VCENTER_CA_FILE",
  vcenterThumbprint: "REHOST_VCENTER_THUMBPRINT",
} as const;

/** A client for the agent at `url`, with credentials from the environment. */
export function agentClient(url: string, env: NodeJS.ProcessEnv = process.env): AgentClient {
  const token = env[ENV.token] ?? (env[ENV.tokenFile] !== undefined ? fs.readFileSync(env[ENV.tokenFile] as string, "utf8").trim() : undefined);
  if (token === undefined || token === "") {
    throw new Error(`No agent token: set ${ENV.token} or ${ENV.tokenFile} in the environment that runs pulumi up.`);
  }
  const fingerprint = env[ENV.fingerprint];
  const ca = env[ENV.caFile] !== undefined ? fs.readFileSync(env[ENV.caFile] as string, "utf8") : undefined;
  if (fingerprint === undefined && ca === undefined) {
    throw new Error(`No way to authenticate the agent: set ${ENV.fingerprint} (printed by rehost agent at start) or ${ENV.caFile}.`);
  }
  return new AgentClient({ url: url.replace(/\/$/, ""), token, fingerprint, ca });
}

/**
 * Polls `probe` every `pollSeconds` until it returns a value, and fails with a message naming
 * `what` and the last state seen once `timeoutSeconds` have passed.
 */
export async function poll<T>(what: string, timing: { timeoutSeconds: number; pollSeconds: number }, probe: () => Promise<{ done: T } | { waiting: string }>): Promise<T> {
  const deadline = Date.now() + timing.timeoutSeconds * 1000;
  for (;;) {
    const result = await probe();
    if ("done" in result) return result.done;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`Timed out after ${timing.timeoutSeconds} s waiting for ${what}; last state: ${result.waiting}.`);
    await new Promise((r) => setTimeout(r, Math.min(timing.pollSeconds * 1000, left)));
  }
}

/** One line describing a job for error messages. */
function describe(s: JobStatus): string {
  const progress = s.active !== undefined && s.active.bytesTotal > 0 ? ` ${Math.round((100 * s.active.bytesDone) / s.active.bytesTotal)}% of round ${s.active.round}` : "";
  return `job ${s.id} is ${s.state}${progress}${s.error !== undefined ? ` (${s.error})` : ""}`;
}

/** Waits until job `id` has finished round `round` (or a later one). */
export async function waitForRound(client: AgentClient, id: string, round: number, timing: { timeoutSeconds: number; pollSeconds: number }): Promise<JobStatus> {
  return poll<JobStatus>(`round ${round} of job ${id}`, timing, async () => {
    const s = await client.get(id);
    if (s.lastRound !== undefined && s.lastRound.round >= round && s.active === undefined) return { done: s };
    if (s.state === "error") throw new Error(`Round ${round} of job ${id} failed: ${s.error ?? "unknown error"}.`);
    return { waiting: describe(s) };
  });
}

/** Outputs of a `Replication`. */
export interface ReplicationOutputs extends ReplicationInputs {
  readonly state: string;
  /** Last finished round (0 is the initial sync); -1 while the initial sync runs unwaited. */
  readonly lastRound: number;
  /** Bytes written to the target over every round (data and zeroes). */
  readonly bytesCopied: number;
  /** Bytes the last round wrote. */
  readonly lastRoundBytes: number;
  readonly lastRoundAt: string;
  readonly lastRoundSeconds: number;
  /** Digest of the target after the last round. */
  readonly digest: string;
  readonly digestAlgorithm: string;
}

function replicationOutputs(inputs: ReplicationInputs, s: JobStatus): ReplicationOutputs {
  const last = s.lastRound;
  return {
    ...inputs,
    state: s.state,
    lastRound: last?.round ?? -1,
    bytesCopied: s.rounds.reduce((sum, r) => sum + r.bytesWritten + r.bytesZeroed, 0),
    lastRoundBytes: last !== undefined ? last.bytesWritten + last.bytesZeroed : 0,
    lastRoundAt: last?.finishedAt ?? "",
    lastRoundSeconds: last?.seconds ?? 0,
    digest: last?.digest.digest ?? "",
    digestAlgorithm: last?.digest.algorithm ?? "",
  };
}

/** `Replication` create: register the job, wait for the initial sync, then for round `round` if above 0. */
export async function createReplication(inputs: ReplicationInputs): Promise<{ id: string; outs: ReplicationOutputs }> {
  const client = agentClient(inputs.agentUrl);
  let status = await client.register({ id: inputs.jobId, source: { uri: inputs.source, credentials: inputs.credentials }, target: inputs.target, initial: inputs.initial });
  if (inputs.waitForInitialSync || inputs.round > 0) status = await waitForRound(client, inputs.jobId, 0, inputs);
  if (inputs.round > 0) {
    await client.round(inputs.jobId, inputs.round, inputs.changed as Changed);
    status = await waitForRound(client, inputs.jobId, inputs.round, inputs);
  }
  return { id: inputs.jobId, outs: replicationOutputs(inputs, status) };
}

/** `Replication` update: run round `news.round` when it went up, and wait for it. */
export async function updateReplication(olds: ReplicationOutputs, news: ReplicationInputs): Promise<{ outs: ReplicationOutputs }> {
  const client = agentClient(news.agentUrl);
  let status = await client.get(news.jobId);
  if (news.round > olds.round || (status.lastRound?.round ?? -1) < news.round) {
    if (news.round > 0) {
      if (status.lastRound === undefined) status = await waitForRound(client, news.jobId, 0, news);
      await client.round(news.jobId, news.round, news.changed as Changed);
    }
    status = await waitForRound(client, news.jobId, news.round, news);
  }
  return { outs: replicationOutputs(news, status) };
}

/** `Replication` delete: unregister the job (the target disk keeps its data); already gone is fine. */
export async function deleteReplication(olds: ReplicationOutputs): Promise<void> {
  await agentClient(olds.agentUrl).unregister(olds.jobId);
}

/** Outputs of a `RehearsalPoint`. */
export interface RehearsalPointOutputs extends RehearsalPointInputs {
  /** Per job: the round the point holds and the target's digest after it. */
  readonly digests: Record<string, { round: number; digest: string; algorithm: string }>;
  readonly frozenAt: string;
}

/** `RehearsalPoint` create: freeze every job at a round boundary and return the point's digests. */
export async function createRehearsalPoint(inputs: RehearsalPointInputs): Promise<{ id: string; outs: RehearsalPointOutputs }> {
  const client = agentClient(inputs.agentUrl);
  const frozen: string[] = [];
  try {
    for (const id of inputs.jobIds) {
      await client.freeze(id, inputs.point);
      frozen.push(id);
    }
    const statuses = await poll<JobStatus[]>(`jobs ${inputs.jobIds.join(", ")} to freeze for ${inputs.point}`, inputs, async () => {
      const all = await Promise.all(inputs.jobIds.map((id) => client.get(id)));
      const failed = all.find((s) => s.state === "error");
      if (failed !== undefined) throw new Error(`Job ${failed.id} failed before reaching a round boundary: ${failed.error}.`);
      const waiting = all.filter((s) => s.state !== "frozen");
      return waiting.length === 0 ? { done: all } : { waiting: waiting.map(describe).join("; ") };
    });
    const digests: RehearsalPointOutputs["digests"] = {};
    for (const s of statuses) {
      if (s.lastRound === undefined) throw new Error(`Job ${s.id} has no finished round to hold.`);
      digests[s.id] = { round: s.lastRound.round, digest: s.lastRound.digest.digest, algorithm: s.lastRound.digest.algorithm };
    }
    return { id: `${inputs.point}`, outs: { ...inputs, digests, frozenAt: new Date().toISOString() } };
  } catch (err) {
    // A point that could not be taken holds nothing: release what was frozen.
    await Promise.allSettled(frozen.map((id) => client.thaw(id)));
    throw err;
  }
}

/** Thaws the jobs of a point; jobs already gone or thawed are fine. */
export async function thawJobs(agentUrl: string, jobIds: readonly string[]): Promise<void> {
  const client = agentClient(agentUrl);
  for (const id of jobIds) {
    if ((await client.find(id)) === undefined) continue;
    await client.thaw(id);
  }
}

/** `RehearsalThaw` create: the snapshots exist, so replication continues. */
export async function createRehearsalThaw(inputs: RehearsalThawInputs): Promise<{ id: string; outs: RehearsalThawInputs & { thawedAt: string } }> {
  await thawJobs(inputs.agentUrl, inputs.jobIds);
  return { id: `${inputs.point}-thaw`, outs: { ...inputs, thawedAt: new Date().toISOString() } };
}

/** Outputs of a `Cutover`. */
export interface CutoverOutputs extends CutoverInputs {
  /** How the source went down: through vSphere (`guest-shutdown`, `powered-off`, `already-off`) or `manual`. */
  readonly shutdown: string;
  /** Per job: source and target digests, equal. */
  readonly digests: Record<string, { source: string; target: string; algorithm: string; size: number }>;
  readonly verifiedAt: string;
}

/** The vSphere client when `REHOST_VCENTER_URL` is set. */
async function vsphereFromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<import("../vsphere").VSphereClient | undefined> {
  const url = env[ENV.vcenterUrl];
  if (url === undefined || url === "") return undefined;
  const user = env[ENV.vcenterUser];
  if (user === undefined) throw new Error(`${ENV.vcenterUrl} is set but ${ENV.vcenterUser} is not.`);
  const { connectVSphere } = require("../vsphere") as typeof import("../vsphere");
  return connectVSphere({ url, user, ca: env[ENV.vcenterCa], thumbprint: env[ENV.vcenterThumbprint] });
}

/** Whether a vSphere client is configured in the environment. */
export function vsphereConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env[ENV.vcenterUrl] ?? "") !== "";
}

/**
 * `Cutover` create: shut the source down, run the final round, and verify every disk. Throws —
 * so nothing depending on the cutover is launched — when any source and target digests differ.
 */
export async function createCutover(inputs: CutoverInputs): Promise<{ id: string; outs: CutoverOutputs }> {
  const client = agentClient(inputs.agentUrl);
  let shutdown: string;
  const vc = await vsphereFromEnvironment();
  if (vc !== undefined) {
    try {
      shutdown = await vc.shutdownGuest(inputs.vm, { timeoutMs: inputs.shutdownTimeoutSeconds * 1000 });
    } finally {
      await vc.logout().catch(() => undefined);
    }
  } else if (inputs.manualConfirmation) {
    shutdown = "manual";
  } else {
    throw new Error(`Cannot shut ${inputs.vm} down: no vSphere client is configured (${ENV.vcenterUrl}) and manualConfirmation is not true.`);
  }
  for (const id of inputs.jobIds) {
    const s = await client.get(id);
    if (s.state === "frozen") throw new Error(`Job ${id} is frozen for rehearsal point ${s.frozenFor}; destroy that rehearsal before the cutover.`);
    await client.round(id, inputs.round, inputs.changed as Changed);
  }
  for (const id of inputs.jobIds) await waitForRound(client, id, inputs.round, inputs);
  const digests: CutoverOutputs["digests"] = {};
  const mismatches: string[] = [];
  for (const id of inputs.jobIds) {
    const requestedAt = (await client.verify(id)).verification?.requestedAt;
    const verification = await poll<Verification>(`verification of job ${id}`, inputs, async () => {
      const s = await client.get(id);
      const v = s.verification;
      if (v !== undefined && v.state !== "running" && v.requestedAt === requestedAt) return { done: v };
      return { waiting: describe(s) };
    });
    if (verification.state === "failed" || verification.source === undefined || verification.target === undefined) {
      throw new Error(`Verification of job ${id} could not run: ${verification.error ?? "no digests"}. Nothing was launched.`);
    }
    digests[id] = { source: verification.source.digest, target: verification.target.digest, algorithm: verification.source.algorithm, size: verification.source.size };
    if (verification.equal !== true) mismatches.push(`${id}: source ${verification.source.digest} (${verification.source.size} bytes), target ${verification.target.digest} (${verification.target.size} bytes)`);
  }
  if (mismatches.length > 0) {
    throw new Error(`Cutover of ${inputs.vm} failed: source and target digests differ after final round ${inputs.round} — ${mismatches.join("; ")}. Nothing was launched; the source stays shut down.`);
  }
  return { id: `${inputs.vm}-cutover`, outs: { ...inputs, shutdown, digests, verifiedAt: new Date().toISOString() } };
}

/** `Cutover` delete (rollback): power the source VM on again through vSphere, when configured. */
export async function deleteCutover(olds: CutoverOutputs): Promise<void> {
  const vc = await vsphereFromEnvironment();
  if (vc === undefined) {
    if (olds.shutdown === "manual") return; // The operator shut it down; the operator powers it on (docs/providers.md).
    throw new Error(`Cannot power ${olds.vm} on: it was shut down through vSphere but ${ENV.vcenterUrl} is not set now.`);
  }
  try {
    await vc.powerOn(olds.vm);
  } finally {
    await vc.logout().catch(() => undefined);
  }
}
