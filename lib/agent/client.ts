/**
 * A client of the agent's API for controllers (the dynamic providers, the lab, the proxy), over
 * `ServiceClient`: the certificate pinned (or a CA trusted) before the token is sent, error
 * responses as `AgentRequestError`s.
 */
import { ServiceClient, ServiceRequestError, type ServiceClientOptions } from "../service/client";
import type { Changed, JobStatus, RegisterRequest, RoundRecord } from "./api";

/** How to reach and authenticate an agent. */
export type AgentClientOptions = ServiceClientOptions;

/** An error response from the agent (or a failure to reach it, with status 0). */
export class AgentRequestError extends ServiceRequestError {
  constructor(status: number, message: string, body: unknown = undefined) {
    super(status, message, body);
    this.name = "AgentRequestError";
  }
}

/** Typed calls to the agent API (see docs/agent.md); one TLS connection per request. */
export class AgentClient extends ServiceClient {
  constructor(options: AgentClientOptions) {
    super(options, "Agent", (status, message, body) => new AgentRequestError(status, message, body));
  }

  health(): Promise<Record<string, unknown>> {
    return this.request("GET", "/v1/health");
  }
  list(): Promise<{ jobs: JobStatus[] }> {
    return this.request("GET", "/v1/jobs");
  }
  register(spec: RegisterRequest): Promise<JobStatus> {
    return this.request("POST", "/v1/jobs", spec);
  }
  get(id: string): Promise<JobStatus> {
    return this.request("GET", `/v1/jobs/${encodeURIComponent(id)}`);
  }
  /** Returns the job, or undefined when the agent does not know it. */
  async find(id: string): Promise<JobStatus | undefined> {
    try {
      return await this.get(id);
    } catch (err) {
      if (err instanceof AgentRequestError && err.status === 404) return undefined;
      throw err;
    }
  }
  /** Unregisters; returns false when the job was already gone. */
  async unregister(id: string): Promise<boolean> {
    try {
      await this.request("DELETE", `/v1/jobs/${encodeURIComponent(id)}`);
      return true;
    } catch (err) {
      if (err instanceof AgentRequestError && err.status === 404) return false;
      throw err;
    }
  }
  round(id: string, round: number, changed: Changed): Promise<JobStatus> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/rounds`, { round, changed });
  }
  freeze(id: string, point: string): Promise<JobStatus> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/freeze`, { point });
  }
  /** Ends the job's freeze; with `point`, only a freeze held for that point. */
  thaw(id: string, point?: string): Promise<JobStatus> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/thaw`, point === undefined ? undefined : { point });
  }
  /** Points the job at another way to reach its source disk. */
  updateSource(id: string, source: RegisterRequest["source"]): Promise<JobStatus> {
    return this.request("PATCH", `/v1/jobs/${encodeURIComponent(id)}`, { source });
  }
  verify(id: string): Promise<JobStatus> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/verify`);
  }

  /**
   * Pushes a round to a pushed job: `frames` (see `lib/link/frames.ts`) streamed as the body, with
   * backpressure; resolves with the recorded round. `onSent` counts the bytes put on the link.
   */
  push(
    id: string,
    round: { round: number; snapshot: string; size: number },
    frames: AsyncIterable<Buffer>,
    onSent?: (bytes: number) => void,
  ): Promise<RoundRecord> {
    const query = `round=${round.round}&snapshot=${encodeURIComponent(round.snapshot)}&size=${round.size}`;
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/push?${query}`, undefined, {
      stream: frames,
      onSent,
      contentType: "application/octet-stream",
    });
  }

  /** Compares source block hashes from block `first` on with the target's; `fresh` reads the target now. */
  compare(id: string, first: number, hashes: Buffer, fresh = false): Promise<{ differing: number[]; compared: number; bytesRead: number }> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/compare?first=${first}${fresh ? "&fresh=1" : ""}`, undefined, {
      raw: hashes,
      contentType: "application/octet-stream",
    });
  }
  /** Compares the listed blocks (in increasing order) with their source hashes (32 bytes each, in the same order). */
  compareBlocks(id: string, blocks: readonly number[], hashes: Buffer, fresh = false): Promise<{ differing: number[]; compared: number; bytesRead: number }> {
    const body = Buffer.alloc(blocks.length * 40);
    blocks.forEach((b, i) => {
      body.writeBigUInt64BE(BigInt(b), i * 40);
      hashes.copy(body, i * 40 + 8, i * 32, (i + 1) * 32);
    });
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/compare?list=1${fresh ? "&fresh=1" : ""}`, undefined, {
      raw: body,
      contentType: "application/octet-stream",
    });
  }
}
