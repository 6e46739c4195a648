/**
 * The lab's report: a terminal table and a Markdown file with, per disk, the bytes each round
 * moved and its time, the rehearsal point's digest and the source/target digests at cutover, and
 * the cloud resources the wave would declare (offline preview).
 */

/** One round of one disk. */
export interface RoundReport {
  readonly round: number;
  readonly kind: string;
  /** Bytes read from the source (data moved over the link). */
  readonly bytesRead: number;
  /** Bytes written to the target as data, and as zeroes. */
  readonly bytesWritten: number;
  readonly bytesZeroed: number;
  readonly seconds: number;
  /** Target digest after the round. */
  readonly digest: string;
}

/** One disk of the lab: its rounds and digests. */
export interface DiskReport {
  readonly disk: string;
  readonly vm: string;
  readonly sizeBytes: number;
  readonly gateway: string;
  readonly rounds: readonly RoundReport[];
  readonly rehearsalDigest: string;
  readonly sourceDigest: string;
  readonly targetDigest: string;
  readonly verified: boolean;
  /** Bytes the business wrote to the source during the run. */
  readonly businessBytes: number;
}

/** Everything the lab reports (also written as JSON). */
export interface LabReport {
  readonly wave: string;
  readonly startedAt: string;
  readonly seconds: number;
  readonly agent: string;
  readonly rehearsalPoint: string;
  readonly disks: readonly DiskReport[];
  readonly failures: readonly { vm: string; error: string }[];
  readonly preview:
    | { stack: string; resources: { type: string; count: number }[]; pinnedIps: { vm: string; ip: string; vswitch: string }[]; mandatoryViolations: number }
    | { stack: string; error: string };
  /** Every disk verified (source digest == target digest after the final round). */
  readonly ok: boolean;
  readonly reportFile: string;
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

/** Round numbers present in the report, in order. */
function roundNumbers(report: LabReport): number[] {
  return [...new Set(report.disks.flatMap((d) => d.rounds.map((r) => r.round)))].sort((a, b) => a - b);
}

function roundLabel(report: LabReport, n: number): string {
  const kind = report.disks.flatMap((d) => d.rounds).find((r) => r.round === n)?.kind ?? "";
  return n === 0 ? "initial" : kind.startsWith("final") ? `final r${n}` : `round ${n}`;
}

/** Totals per round: bytes read and the slowest disk's seconds. */
export function roundTotals(report: LabReport): { round: number; label: string; bytesRead: number; bytesWritten: number; bytesZeroed: number; seconds: number }[] {
  return roundNumbers(report).map((n) => {
    const rs = report.disks.flatMap((d) => d.rounds.filter((r) => r.round === n));
    return {
      round: n,
      label: roundLabel(report, n),
      bytesRead: rs.reduce((s, r) => s + r.bytesRead, 0),
      bytesWritten: rs.reduce((s, r) => s + r.bytesWritten, 0),
      bytesZeroed: rs.reduce((s, r) => s + r.bytesZeroed, 0),
      seconds: Math.max(0, ...rs.map((r) => r.seconds)),
    };
  });
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The terminal table. */
export function renderTerminal(report: LabReport): string {
  const rounds = roundNumbers(report);
  const header = ["disk", "vm", "size MiB", ...rounds.map((n) => `${roundLabel(report, n)} MiB in s`), "source digest", "target digest", "match"];
  const rows = report.disks.map((d) => [
    d.disk,
    d.vm,
    mib(d.sizeBytes),
    ...rounds.map((n) => {
      const r = d.rounds.find((x) => x.round === n);
      return r === undefined ? "-" : `${mib(r.bytesRead)} in ${r.seconds.toFixed(1)}`;
    }),
    d.sourceDigest.slice(0, 12) || "-",
    d.targetDigest.slice(0, 12) || "-",
    d.verified ? "yes" : "NO",
  ]);
  const totals = roundTotals(report);
  const initial = totals.find((t) => t.round === 0)?.bytesRead ?? 0;
  const incremental = totals.filter((t) => t.round > 0);
  const lines = [
    "",
    table(header, rows),
    "",
    `Bytes read per round: ${totals.map((t) => `${t.label} ${mib(t.bytesRead)} MiB`).join(", ")}.`,
    incremental.length > 0 && initial > 0
      ? `Incremental rounds read on average ${((100 * incremental.reduce((s, t) => s + t.bytesRead, 0)) / incremental.length / initial).toFixed(1)}% of the initial sync.`
      : "",
    "preview" in report && "error" in report.preview
      ? `Cloud resources: offline preview of ${report.preview.stack} unavailable (${report.preview.error}).`
      : `Cloud resources the wave declares (offline preview of ${report.preview.stack}): ${(report.preview as { resources: { type: string; count: number }[] }).resources.reduce((s, r) => s + r.count, 0)}.`,
    report.ok ? `Cutover verified for every disk in ${report.seconds} s. Report: ${report.reportFile}` : `CUTOVER FAILED for ${report.failures.map((f) => f.vm).join(", ") || "some disks"}; nothing launched. Report: ${report.reportFile}`,
  ];
  return lines.filter((l) => l !== "").join("\n");
}

/** The Markdown report. */
export function renderMarkdown(report: LabReport): string {
  const rounds = roundNumbers(report);
  const out: string[] = [];
  out.push(`# rehost lab report: wave ${report.wave}`, "");
  out.push(
    `Started ${report.startedAt}, ${report.seconds} s. Agent ${report.agent}. Rehearsal point \`${report.rehearsalPoint}\`. ` +
      (report.ok ? "**Cutover verified: every source digest equals its target digest.**" : "**Cutover failed: nothing was launched.**"),
    "",
  );
  out.push("## Rounds", "");
  out.push("| round | read from sources (MiB) | written (MiB) | zeroed (MiB) | slowest disk (s) |", "| --- | ---: | ---: | ---: | ---: |");
  for (const t of roundTotals(report)) out.push(`| ${t.label} | ${mib(t.bytesRead)} | ${mib(t.bytesWritten)} | ${mib(t.bytesZeroed)} | ${t.seconds.toFixed(2)} |`);
  out.push("", "## Disks", "");
  out.push(`| disk | VM | gateway | size (MiB) | ${rounds.map((n) => `${roundLabel(report, n)}: MiB read / s`).join(" | ")} | business writes (MiB) |`);
  out.push(`| --- | --- | --- | ---: | ${rounds.map(() => "---:").join(" | ")} | ---: |`);
  for (const d of report.disks) {
    const cells = rounds.map((n) => {
      const r = d.rounds.find((x) => x.round === n);
      return r === undefined ? "-" : `${mib(r.bytesRead)} / ${r.seconds.toFixed(2)}`;
    });
    out.push(`| ${d.disk} | ${d.vm} | ${d.gateway} | ${mib(d.sizeBytes)} | ${cells.join(" | ")} | ${mib(d.businessBytes)} |`);
  }
  out.push("", "## Digests (sha256 over 1 MiB blocks)", "");
  out.push("| disk | rehearsal point | source at cutover | target at cutover | equal |", "| --- | --- | --- | --- | --- |");
  for (const d of report.disks) out.push(`| ${d.disk} | \`${d.rehearsalDigest}\` | \`${d.sourceDigest || "-"}\` | \`${d.targetDigest || "-"}\` | ${d.verified ? "yes" : "**no**"} |`);
  if (report.failures.length > 0) {
    out.push("", "## Failures", "");
    for (const f of report.failures) out.push(`- ${f.vm}: ${f.error}`);
  }
  out.push("", `## Cloud resources (offline preview of stack \`${report.preview.stack}\`)`, "");
  if ("error" in report.preview) {
    out.push(`The offline preview could not run: ${report.preview.error}`);
  } else {
    out.push("| resource type | count |", "| --- | ---: |");
    for (const r of report.preview.resources) out.push(`| \`${r.type}\` | ${r.count} |`);
    if (report.preview.pinnedIps.length > 0) {
      out.push("", "| VM | pinned IP | vSwitch |", "| --- | --- | --- |");
      for (const p of report.preview.pinnedIps) out.push(`| ${p.vm} | ${p.ip} | ${p.vswitch} |`);
    }
    out.push("", `Mandatory policy violations: ${report.preview.mandatoryViolations}.`);
  }
  out.push("");
  return out.join("\n");
}
