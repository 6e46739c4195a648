/**
 * The lab's report: per round what changed and what crossed the link, the rehearsal point checked
 * against the simulator's frozen disks, the cutover's downtime and what it read, per disk the
 * digests, and the cloud resources the wave would declare (offline preview). As a terminal table,
 * a Markdown file, and one JSON line (`rehost lab --json`).
 */

/** One round of the lab (every VM's round of that step). */
export interface LabRound {
  readonly round: number;
  readonly kind: string;
  /** Bytes the rounds' changed ranges cover (CBT's answers, or a full check's differing blocks). */
  readonly changedBytes: number;
  /** Bytes that crossed the link during the round, both directions (veth counters; on loopback, the proxy's frames and hashes). */
  readonly linkBytes: number;
  /** Bytes of block hashes sent for comparisons (full checks). */
  readonly hashBytes: number;
  /** Wall time of the step. */
  readonly seconds: number;
}

/** The cutover of the wave's VMs. */
export interface LabCutover {
  /** The longest VM's downtime: from its shutdown to the end of its verification. */
  readonly downtimeSeconds: number;
  /** Bytes of source data (with frame headers) the final rounds put on the link. */
  readonly sourceBytesReadOverLink: number;
  /** Bytes the final rounds' changed ranges cover. */
  readonly finalDeltaBytes: number;
  /** Bytes read again on both sides and compared by hash. */
  readonly verifiedBytes: number;
  /** Bytes that crossed the link during the cutover, both directions (as `LabRound.linkBytes`). */
  readonly linkBytes: number;
  readonly vms: ReadonlyArray<{ vm: string; downtimeSeconds: number; verified: boolean; error?: string }>;
}

/** One disk of the lab. */
export interface DiskReport {
  readonly disk: string;
  readonly vm: string;
  readonly sizeBytes: number;
  readonly gateway: string;
  /** Per lab round: what this disk's rounds changed and sent. */
  readonly rounds: ReadonlyArray<{ round: number; mode: string; changedBytes: number; linkBytes: number }>;
  /** The rehearsal point's target digest, and the digest of the disk as the simulator froze it at the point's snapshot. */
  readonly rehearsalDigest: string;
  readonly frozenDigest: string;
  readonly sourceDigest: string;
  readonly targetDigest: string;
  readonly verified: boolean;
  /** Bytes the business wrote to the source during the run. */
  readonly businessBytes: number;
}

/** Everything the lab reports. */
export interface LabReport {
  readonly wave: string;
  readonly startedAt: string;
  readonly seconds: number;
  /** Where it ran: network namespaces joined by a counted link, or loopback (with why). */
  readonly link: "namespaces" | "loopback";
  /** The network namespaces the lab created and removed (none on loopback). */
  readonly namespaces: readonly string[];
  readonly linkNote?: string;
  readonly sizeFactor: number;
  readonly vcenter: string;
  readonly proxy: string;
  readonly agent: string;
  readonly rehearsalPoint: string;
  readonly rehearsalSkewSeconds: number;
  readonly rounds: readonly LabRound[];
  readonly cutover: LabCutover;
  readonly disks: readonly DiskReport[];
  readonly failures: readonly { vm: string; error: string }[];
  readonly preview:
    | { stack: string; resources: { type: string; count: number }[]; pinnedIps: { vm: string; ip: string; vswitch: string }[]; mandatoryViolations: number }
    | { stack: string; error: string };
  /** Every disk verified at cutover and every rehearsal disk equal to its frozen source. */
  readonly ok: boolean;
  readonly reportFile: string;
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The terminal table. */
export function renderTerminal(report: LabReport): string {
  const rounds = table(
    ["round", "kind", "changed MiB", "link MiB", "hashes KiB", "seconds"],
    report.rounds.map((r) => [String(r.round), r.kind, mib(r.changedBytes), mib(r.linkBytes), (r.hashBytes / 1024).toFixed(1), r.seconds.toFixed(1)]),
  );
  const disks = table(
    ["disk", "vm", "size MiB", "rehearsal = frozen", "source digest", "target digest", "match"],
    report.disks.map((d) => [
      d.disk,
      d.vm,
      mib(d.sizeBytes),
      d.rehearsalDigest === d.frozenDigest ? "yes" : "NO",
      d.sourceDigest.slice(0, 12) || "-",
      d.targetDigest.slice(0, 12) || "-",
      d.verified ? "yes" : "NO",
    ]),
  );
  const c = report.cutover;
  const lines = [
    "",
    rounds,
    "",
    disks,
    "",
    `Link: ${report.link === "namespaces" ? "on-prem and cloud network namespaces, bytes counted on the veth link" : `loopback (${report.linkNote}); link bytes as the proxy counts them`}. Disks ×${report.sizeFactor}.`,
    `Rehearsal point ${report.rehearsalPoint}: snapshots ${report.rehearsalSkewSeconds.toFixed(3)} s apart.`,
    `Cutover: downtime ${c.downtimeSeconds.toFixed(2)} s; final delta ${mib(c.finalDeltaBytes)} MiB, source data over the link ${mib(c.sourceBytesReadOverLink)} MiB, verified ${mib(c.verifiedBytes)} MiB by hash on both sides.`,
    "error" in report.preview
      ? `Cloud resources: offline preview of ${report.preview.stack} unavailable (${report.preview.error}).`
      : `Cloud resources the wave declares (offline preview of ${report.preview.stack}): ${report.preview.resources.reduce((s, r) => s + r.count, 0)}.`,
    report.ok
      ? `Cutover verified for every disk in ${report.seconds} s. Report: ${report.reportFile}`
      : `CUTOVER FAILED for ${report.failures.map((f) => f.vm).join(", ") || "some disks"}; nothing launched. Report: ${report.reportFile}`,
  ];
  return lines.join("\n");
}

/** The Markdown report. */
export function renderMarkdown(report: LabReport): string {
  const out: string[] = [];
  const c = report.cutover;
  out.push(`# rehost lab report: wave ${report.wave}`, "");
  out.push(
    `Started ${report.startedAt}, ${report.seconds} s. vCenter ${report.vcenter}, proxy ${report.proxy}, agent ${report.agent}; ` +
      `${report.link === "namespaces" ? "on-prem and cloud network namespaces joined by a counted veth link" : `loopback (${report.linkNote})`}; disks ×${report.sizeFactor}. ` +
      (report.ok ? "**Cutover verified.**" : "**Cutover failed: nothing was launched.**"),
    "",
  );
  out.push("## Rounds", "", "| round | kind | changed (MiB) | link (MiB) | hashes (KiB) | seconds |", "| ---: | --- | ---: | ---: | ---: | ---: |");
  for (const r of report.rounds)
    out.push(`| ${r.round} | ${r.kind} | ${mib(r.changedBytes)} | ${mib(r.linkBytes)} | ${(r.hashBytes / 1024).toFixed(1)} | ${r.seconds.toFixed(2)} |`);
  out.push("", "## Cutover", "");
  out.push(
    `Downtime ${c.downtimeSeconds.toFixed(2)} s (longest VM). Final delta ${mib(c.finalDeltaBytes)} MiB; source data over the link ${mib(c.sourceBytesReadOverLink)} MiB; all link traffic ${mib(c.linkBytes)} MiB; verified ${mib(c.verifiedBytes)} MiB read again on both sides.`,
    "",
  );
  out.push("| VM | downtime (s) | verified |", "| --- | ---: | --- |");
  for (const v of c.vms) out.push(`| ${v.vm} | ${v.downtimeSeconds.toFixed(2)} | ${v.verified ? "yes" : `**no**: ${v.error ?? ""}`} |`);
  out.push(
    "",
    "## Disks",
    "",
    "| disk | VM | gateway | size (MiB) | business writes (MiB) | rehearsal digest | frozen source at the point | target at cutover | equal |",
    "| --- | --- | --- | ---: | ---: | --- | --- | --- | --- |",
  );
  for (const d of report.disks) {
    out.push(
      `| ${d.disk} | ${d.vm} | ${d.gateway} | ${mib(d.sizeBytes)} | ${mib(d.businessBytes)} | \`${d.rehearsalDigest.slice(0, 16)}\` | \`${d.frozenDigest.slice(0, 16)}\` | \`${d.targetDigest.slice(0, 16) || "-"}\` | ${d.verified && d.rehearsalDigest === d.frozenDigest ? "yes" : "**no**"} |`,
    );
  }
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
