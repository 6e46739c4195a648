/**
 * What `rehost status` shows: wave → VM → disk, from the source proxy's status (and, given the
 * agents' credentials, each disk's job on its agent). `gatherStatus` asks; `renderStatus` draws
 * the table (progress bars on a terminal); the JSON form is the `WaveStatusReport` itself.
 */
import type { AgentClient } from "../agent/client";
import type { JobStatus } from "../agent/api";
import type { ProxyClient } from "../proxy/client";
import type { RoundSummary, VmStatus } from "../proxy/api";
import { checkBudget, initialSyncEta, predictCutover, type CutoverPrediction } from "../proxy/predict";
import type { Plan } from "../plan/types";
import { formatBytes } from "./format";

/** Rounds of a disk its rate is taken over. */
const RATE_ROUNDS = 10;

/** One disk of a VM. */
interface DiskStatusRow {
  readonly disk: number;
  readonly job: string;
  readonly agentUrl: string;
  readonly sizeBytes?: number;
  /** The agent's job state when the agent was asked (`initial-sync`, `idle`, …), else the VM's state on the proxy. */
  readonly state: string;
  readonly lastRound?: number;
  /** Seconds since the snapshot of the disk's last round: how old its replica's data is. */
  readonly recoveryPointAgeSeconds?: number;
  /** Link bytes per second: of the initial sync under way when the agent reports one, else the disk's link bytes per second of its VM's recent rounds. */
  readonly rateBytesPerSecond?: number;
  /** Bytes of frames that crossed the link for this disk: every round (from the agent), or the rounds the proxy reports. */
  readonly bytesMoved: number;
  readonly bytesMovedOf: "every round" | "recent rounds";
  /** An initial sync under way: how far it is on the disk, its rate and when it should end. */
  readonly initialSync?: { readonly doneBytes: number; readonly totalBytes: number; readonly rateBytesPerSecond?: number; readonly etaSeconds?: number };
  readonly error?: string;
}

/** One VM. */
interface VmStatusRow {
  readonly vm: string;
  readonly state: VmStatus["state"];
  readonly rpoSeconds: number;
  readonly recoveryPointAgeSeconds?: number;
  readonly lastRound?: number;
  readonly nextRoundAt?: string;
  /** Link bytes per second of the VM's recent rounds (their fixed costs included). */
  readonly rateBytesPerSecond?: number;
  /** The link's throughput while the VM's rounds push, fitted from them (the prediction's). */
  readonly throughputBytesPerSecond?: number;
  readonly churnBytesPerSecond?: number;
  /** The proxy's prediction of the VM's cutover (absent before its first round, and once cut over). */
  readonly predictedDowntimeSeconds?: number;
  readonly predictedFinalDeltaBytes?: number;
  readonly prediction?: CutoverPrediction;
  /** With a plan: seconds left in the wave's change window, and whether the predicted downtime fits. */
  readonly windowLeftSeconds?: number;
  readonly fitsWindow?: boolean;
  readonly cutover?: { readonly state: string; readonly downtimeSeconds?: number };
  readonly error?: string;
  readonly disks: readonly DiskStatusRow[];
}

/** One wave (`wave` undefined: VMs the plan does not place, or every VM without a plan). */
interface WaveStatusRow {
  readonly wave?: string;
  readonly window?: { readonly start: string; readonly end: string };
  readonly vms: readonly VmStatusRow[];
}

/** The whole report, as `--json` prints it. */
export interface WaveStatusReport {
  readonly at: string;
  readonly proxy: string;
  /** Whether each disk's job was asked on its agent (agent credentials given). */
  readonly agents: boolean;
  readonly waves: readonly WaveStatusRow[];
  /** Agents that could not be asked, with why. */
  readonly problems: readonly string[];
}

/** What `gatherStatus` needs. */
export interface StatusSources {
  readonly proxyUrl: string;
  readonly proxy: ProxyClient;
  /** A client of the agent at a URL; absent: the agents are not asked. */
  readonly agent?: (url: string) => AgentClient;
  readonly plan?: Plan;
  readonly now?: () => number;
  /** The guest shutdown the predictions assume, seconds. @default - the proxy's (60 s) */
  readonly shutdownSeconds?: number;
}

const linkOf = (r: RoundSummary, key: number): number => r.disks.find((d) => d.key === key)?.linkBytes ?? 0;

/** Asks the proxy (and the agents) and builds the report. */
export async function gatherStatus(sources: StatusSources): Promise<WaveStatusReport> {
  const { vms } = await sources.proxy.list();
  const now = sources.now?.() ?? Date.now();
  const problems: string[] = [];
  const jobs = new Map<string, JobStatus>();
  if (sources.agent !== undefined) {
    const urls = [...new Set(vms.flatMap((v) => v.disks.map((d) => d.agentUrl)))];
    await Promise.all(
      urls.map(async (url) => {
        try {
          for (const job of (await sources.agent!(url).list()).jobs) jobs.set(`${url} ${job.id}`, job);
        } catch (err) {
          problems.push(`agent ${url}: ${(err as Error).message}`);
        }
      }),
    );
  }
  const rows = vms.map((vm) => vmRow(sources.shutdownSeconds === undefined ? vm : withShutdown(vm, sources.shutdownSeconds, now), jobs, now));
  return {
    at: new Date(now).toISOString(),
    proxy: sources.proxyUrl,
    agents: sources.agent !== undefined,
    waves: groupByWave(rows, sources.plan, now),
    problems,
  };
}

/** The VM with its prediction made again for another expected shutdown. */
function withShutdown(vm: VmStatus, shutdownSeconds: number, now: number): VmStatus {
  if (vm.prediction === undefined || vm.cutover !== undefined) return vm;
  return { ...vm, prediction: predictCutover(vm.rounds, { now, shutdownSeconds, diskSizes: vm.disks.map((d) => d.sizeBytes ?? 0) }) };
}

function vmRow(vm: VmStatus, jobs: ReadonlyMap<string, JobStatus>, now: number): VmStatusRow {
  const disks = vm.disks.map((d): DiskStatusRow => {
    const job = jobs.get(`${d.agentUrl} ${d.jobId}`);
    const rounds = vm.rounds.filter((r) => r.skipped === undefined && r.disks.some((x) => x.key === d.key)).slice(-RATE_ROUNDS);
    const seconds = rounds.reduce((a, r) => a + r.seconds, 0);
    const link = rounds.reduce((a, r) => a + linkOf(r, d.key), 0);
    const snapshot = vm.rounds.find((r) => r.round === d.lastRound)?.snapshotAt ?? d.lastRoundAt;
    const active = job?.active;
    const initial = active !== undefined && (job!.state === "initial-sync" || active.round === 0) ? activeProgress(job!, d.sizeBytes, now) : undefined;
    // The disk's round pushed while its VM's round goes on with another disk: the agent's record of it.
    const last = job?.lastRound;
    const lastPush = last !== undefined && last.seconds > 0 ? (last.linkBytes ?? last.bytesWritten + last.bytesZeroed) / last.seconds : undefined;
    const moved =
      job !== undefined
        ? job.rounds.reduce((a, r) => a + (r.linkBytes ?? r.bytesWritten + r.bytesZeroed), 0)
        : vm.rounds.reduce((a, r) => a + linkOf(r, d.key), 0);
    return {
      disk: d.key,
      job: d.jobId,
      agentUrl: d.agentUrl,
      ...(d.sizeBytes !== undefined ? { sizeBytes: d.sizeBytes } : {}),
      state: job?.state ?? vm.state,
      ...(d.lastRound !== undefined ? { lastRound: d.lastRound } : {}),
      ...(snapshot !== undefined ? { recoveryPointAgeSeconds: Math.max(0, (now - Date.parse(snapshot)) / 1000) } : {}),
      ...(initial?.rateBytesPerSecond !== undefined
        ? { rateBytesPerSecond: initial.rateBytesPerSecond }
        : seconds > 0
          ? { rateBytesPerSecond: link / seconds }
          : lastPush !== undefined
            ? { rateBytesPerSecond: lastPush }
            : {}),
      bytesMoved: moved,
      bytesMovedOf: job !== undefined ? "every round" : "recent rounds",
      ...(initial !== undefined ? { initialSync: initial } : {}),
      ...(job?.error !== undefined ? { error: job.error } : {}),
    };
  });
  const p = vm.prediction;
  const recent = vm.rounds.filter((r) => r.skipped === undefined).slice(-RATE_ROUNDS);
  const vmSeconds = recent.reduce((a, r) => a + r.seconds, 0);
  const vmLink = recent.reduce((a, r) => a + r.disks.reduce((n, d) => n + d.linkBytes, 0), 0);
  return {
    vm: vm.vm,
    state: vm.state,
    rpoSeconds: vm.rpoSeconds,
    ...(vm.recoveryPointAgeSeconds !== undefined ? { recoveryPointAgeSeconds: vm.recoveryPointAgeSeconds } : {}),
    ...(vm.lastRound !== undefined ? { lastRound: vm.lastRound.round } : {}),
    ...(vm.nextRoundAt !== undefined ? { nextRoundAt: vm.nextRoundAt } : {}),
    ...(vmSeconds > 0 ? { rateBytesPerSecond: vmLink / vmSeconds } : {}),
    ...(p?.throughputBytesPerSecond !== undefined ? { throughputBytesPerSecond: p.throughputBytesPerSecond } : {}),
    ...(p !== undefined && p.churnRounds > 0 ? { churnBytesPerSecond: p.churnBytesPerSecond } : {}),
    ...(p?.known ? { predictedDowntimeSeconds: p.downtimeSeconds, predictedFinalDeltaBytes: p.finalDeltaBytes } : {}),
    ...(p !== undefined ? { prediction: p } : {}),
    ...(vm.cutover !== undefined
      ? { cutover: { state: vm.cutover.state, ...(vm.cutover.downtimeSeconds !== undefined ? { downtimeSeconds: vm.cutover.downtimeSeconds } : {}) } }
      : {}),
    ...(vm.error !== undefined ? { error: vm.error } : {}),
    disks,
  };
}

/** An active pushed round's progress on the agent: the offset reached on the disk since it started. */
function activeProgress(job: JobStatus, sizeBytes: number | undefined, now: number): DiskStatusRow["initialSync"] {
  const a = job.active!;
  const done = a.pushedUpTo ?? a.bytesDone;
  const total = sizeBytes ?? (a.bytesTotal > 0 ? a.bytesTotal : 0);
  const since = a.startedAt ?? a.requestedAt;
  const eta = initialSyncEta({ bytesDone: done, bytesTotal: total, elapsedSeconds: (now - Date.parse(since)) / 1000 });
  return { doneBytes: done, totalBytes: total, ...(eta !== undefined ? { rateBytesPerSecond: eta.rateBytesPerSecond, etaSeconds: eta.etaSeconds } : {}) };
}

/** The plan's waves in order (a VM matched by name or BIOS UUID), then the VMs no wave holds. */
function groupByWave(rows: VmStatusRow[], plan: Plan | undefined, now: number): WaveStatusRow[] {
  if (plan === undefined) return rows.length === 0 ? [] : [{ vms: rows }];
  const placed = new Set<string>();
  const waves: WaveStatusRow[] = [];
  for (const wave of plan.waves) {
    const members = rows.filter((r) => wave.vms.some((v) => v.name === r.vm || v.uuid.toLowerCase() === r.vm.toLowerCase()));
    if (members.length === 0) continue;
    members.forEach((m) => placed.add(m.vm));
    const end = wave.window !== undefined ? Date.parse(wave.window.end) : undefined;
    waves.push({
      wave: wave.name,
      ...(wave.window !== undefined ? { window: wave.window } : {}),
      vms: members.map((m) => {
        if (end === undefined || Number.isNaN(end) || m.predictedDowntimeSeconds === undefined) return m;
        const verdict = checkBudget(m.predictedDowntimeSeconds, { changeWindowEnd: end, now })!;
        return { ...m, windowLeftSeconds: verdict.secondsLeft, fitsWindow: verdict.fits };
      }),
    });
  }
  const rest = rows.filter((r) => !placed.has(r.vm));
  if (rest.length > 0) waves.push({ vms: rest });
  return waves;
}

/**
 * The policy pack config (`pulumi preview --policy-pack-config FILE`) that gives the
 * `cutover-within-downtime-budget` and `cutover-downtime-predicted` rules every VM's predicted
 * downtime, keyed by the VM as the proxy names it (the Cutover's `vm`).
 */
export function policyConfigOf(report: WaveStatusReport): Record<string, { predictions: Record<string, number> }> {
  const predictions: Record<string, number> = {};
  for (const vm of report.waves.flatMap((w) => w.vms))
    if (vm.predictedDowntimeSeconds !== undefined) predictions[vm.vm] = Math.round(vm.predictedDowntimeSeconds * 10) / 10;
  return { "cutover-within-downtime-budget": { predictions }, "cutover-downtime-predicted": { predictions } };
}

/** How the table is drawn. */
export interface RenderOptions {
  /** Progress bars for a terminal; plain percentages otherwise. */
  readonly tty: boolean;
}

/** `45 s`, `12 min`, `3.5 h`. */
function formatDuration(seconds: number): string {
  if (seconds < 100) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 6000) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function bar(fraction: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
}

/** The report as a table: one block per wave, a line per VM and one per disk under it. */
export function renderStatus(report: WaveStatusReport, options: RenderOptions): string {
  const header = ["VM / disk", "state", "point age", "rate", "moved", "initial sync", "downtime"];
  const lines: string[] = [];
  const table: string[][] = [];
  const blank = (): void => {
    table.push([]);
  };
  for (const wave of report.waves) {
    if (table.length > 0) blank();
    const window = wave.window !== undefined ? ` — change window ${wave.window.start} to ${wave.window.end}` : "";
    table.push([
      `#${wave.wave !== undefined ? `wave ${wave.wave}${window}` : report.waves.length > 1 ? "not in any wave of the plan" : `VMs of the proxy ${report.proxy}`}`,
    ]);
    table.push(header);
    for (const vm of wave.vms) {
      const downtime =
        vm.cutover?.state === "verified"
          ? `cut over (${formatDuration(vm.cutover.downtimeSeconds ?? 0)})`
          : vm.predictedDowntimeSeconds !== undefined
            ? `~${formatDuration(vm.predictedDowntimeSeconds)}${vm.fitsWindow === false ? " > window left" : ""}`
            : "unknown";
      table.push([
        vm.vm,
        vm.state,
        age(vm.recoveryPointAgeSeconds),
        rate(vm.rateBytesPerSecond),
        formatBytes(vm.disks.reduce((a, d) => a + d.bytesMoved, 0)),
        "",
        downtime,
      ]);
      for (const d of vm.disks) {
        const sync = d.initialSync !== undefined ? progress(d.initialSync, options.tty) : d.lastRound !== undefined ? "done" : "waiting";
        table.push([`  ${d.disk} ${d.job}`, d.state, age(d.recoveryPointAgeSeconds), rate(d.rateBytesPerSecond), formatBytes(d.bytesMoved), sync, ""]);
      }
      if (vm.error !== undefined) table.push([`  error: ${vm.error}`]);
    }
  }
  const widths = header.map((_, i) => Math.max(...table.filter((r) => r.length === header.length).map((r) => [...r[i]].length)));
  for (const row of table) {
    if (row.length === 0) lines.push("");
    else if (row.length === 1) lines.push(row[0].startsWith("#") ? row[0].slice(1) : row[0]);
    else
      lines.push(
        row
          .map((c, i) => c + " ".repeat(Math.max(0, widths[i] - [...c].length)))
          .join("  ")
          .trimEnd(),
      );
  }
  if (report.waves.length === 0) lines.push(`The proxy ${report.proxy} replicates no VM.`);
  if (!report.agents)
    lines.push(
      "",
      "Initial-sync progress needs the agents' credentials (--agent-token-file, --agent-fingerprint or REHOST_AGENT_*); bytes moved count the rounds the proxy reports.",
    );
  for (const p of report.problems) lines.push(`warning: ${p}`);
  lines.push(`at ${report.at}`);
  return `${lines.join("\n")}\n`;
}

const age = (s: number | undefined): string => (s === undefined ? "-" : formatDuration(s));
const rate = (b: number | undefined): string => (b === undefined ? "-" : `${formatBytes(b)}/s`);

function progress(p: NonNullable<DiskStatusRow["initialSync"]>, tty: boolean): string {
  const fraction = p.totalBytes > 0 ? p.doneBytes / p.totalBytes : 0;
  const pct = `${(fraction * 100).toFixed(0)}%`;
  const eta = p.etaSeconds !== undefined ? ` eta ${formatDuration(p.etaSeconds)}` : "";
  return tty ? `${bar(fraction, 12)} ${pct}${eta}` : `${pct}${eta}`;
}
