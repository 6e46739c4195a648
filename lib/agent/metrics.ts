/**
 * The agent's `/metrics`: per job its state, rounds, the bytes its rounds wrote, zeroed and took on
 * the link, its lag, the progress of its active round and its failed attempts. Byte and round
 * counters are sums over the job's recorded rounds (kept for the job's life); failures count from
 * the agent's start.
 */
import type { MetricFamily, Sample } from "../service/metrics";
import type { JobState, JobStatus } from "./api";

const STATES: readonly JobState[] = ["initial-sync", "idle", "syncing", "frozen", "stalled", "error"];

/** The agent's metric families from its jobs. */
export function agentMetrics(jobs: ReadonlyArray<{ status: JobStatus; failures: number }>): MetricFamily[] {
  const per = (pick: (s: JobStatus, failures: number) => number | undefined): Sample[] =>
    jobs.flatMap(({ status, failures }) => {
      const value = pick(status, failures);
      return value === undefined ? [] : [{ labels: { job: status.id }, value }];
    });
  const total = (field: "bytesWritten" | "bytesZeroed" | "bytesRead" | "linkBytes") => per((s) => s.rounds.reduce((n, r) => n + (r[field] ?? 0), 0));
  return [
    { name: "rehost_agent_jobs", help: "Jobs the agent holds.", type: "gauge", samples: [{ value: jobs.length }] },
    {
      name: "rehost_agent_job_state",
      help: "1 for the state each job is in.",
      type: "gauge",
      samples: jobs.flatMap(({ status }) => STATES.map((state) => ({ labels: { job: status.id, state }, value: status.state === state ? 1 : 0 }))),
    },
    { name: "rehost_agent_rounds_total", help: "Rounds the job finished.", type: "counter", samples: per((s) => s.rounds.length) },
    { name: "rehost_agent_written_bytes_total", help: "Bytes the job's rounds wrote to its target.", type: "counter", samples: total("bytesWritten") },
    { name: "rehost_agent_zeroed_bytes_total", help: "Bytes the job's rounds zeroed on its target.", type: "counter", samples: total("bytesZeroed") },
    {
      name: "rehost_agent_read_bytes_total",
      help: "Bytes the job's rounds read from their source (pushed rounds: received).",
      type: "counter",
      samples: total("bytesRead"),
    },
    { name: "rehost_agent_link_bytes_total", help: "Bytes of frames pushed rounds took on the link.", type: "counter", samples: total("linkBytes") },
    {
      name: "rehost_agent_round_failures_total",
      help: "Round attempts of the job that failed since the agent started.",
      type: "counter",
      samples: per((_s, failures) => failures),
    },
    {
      name: "rehost_agent_error",
      help: "1 when the job's last attempt failed (stalled or error), 0 otherwise.",
      type: "gauge",
      samples: per((s) => (s.error !== undefined ? 1 : 0)),
    },
    {
      name: "rehost_agent_lag_seconds",
      help: "Seconds since the start of the job's last finished round: how old its target's data is.",
      type: "gauge",
      samples: per((s) => s.lagSeconds),
    },
    { name: "rehost_agent_last_round", help: "Number of the job's last finished round.", type: "gauge", samples: per((s) => s.lastRound?.round) },
    {
      name: "rehost_agent_active_round_done_bytes",
      help: "How far the active round is (a pushed round: the offset reached on the target).",
      type: "gauge",
      samples: per((s) => (s.active !== undefined ? (s.active.pushedUpTo ?? s.active.bytesDone) : undefined)),
    },
    {
      name: "rehost_agent_active_round_total_bytes",
      help: "The active round's total (a pushed round: the disk's size).",
      type: "gauge",
      samples: per((s) => (s.active !== undefined && s.active.bytesTotal > 0 ? s.active.bytesTotal : undefined)),
    },
  ];
}
