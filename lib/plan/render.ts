/**
 * Renderings of a plan: a table for people at a terminal, the JSON contract for tools, and
 * Markdown for pull-request comments (a mermaid gantt of the waves and a mermaid flowchart of
 * on-prem ↔ CEN ↔ VPC).
 */
import { formatProblem } from "../problems";
import type { Plan, PlannedVm, PlannedWave } from "./types";

const GiB = 2 ** 30;
const TiB = 2 ** 40;

/** The plan as the JSON contract, pretty-printed, ending with a newline. */
export function renderJson(plan: Plan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

function bytes(value: number): string {
  if (value >= TiB) return `${(value / TiB).toFixed(2)} TiB`;
  if (value >= GiB) return `${(value / GiB).toFixed(1)} GiB`;
  return `${(value / 2 ** 20).toFixed(1)} MiB`;
}

/** `1 wave`, `4 waves`. */
function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** Hours as people read them: `6.03 h`, or minutes under six minutes (`< 1 min`, `4 min`). */
function duration(hours: number): string {
  if (hours >= 0.1) return `${hours} h`;
  const minutes = Math.round(hours * 60);
  return hours > 0 && minutes < 1 ? "< 1 min" : `${minutes} min`;
}

/** The addresses column of a VM: its addresses, each new one marked. */
function addresses(plan: Plan, vm: PlannedVm, separator: string): string {
  const fresh = new Set((plan.readdressed ?? []).filter((r) => r.vm === vm.name).map((r) => r.to));
  const ips = vm.ips.map((ip) => (fresh.has(ip) ? `${ip} (new IP)` : ip)).join(separator);
  if (vm.keepIp || fresh.size > 0) return ips;
  return ips ? `${ips} (new IP allowed)` : "new IP";
}

function money(value: number, currency: string): string {
  return `${value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency}`;
}

function saving(w: PlannedWave): string {
  const e = w.estimate;
  if (e.costFullHosts <= 0) return "";
  return `${Math.round((1 - e.costGateway / e.costFullHosts) * 100)}%`;
}

function columns(rows: readonly (readonly string[])[], indent = "  "): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n");
}

function totals(plan: Plan): { vms: number; disks: number; allocated: number } {
  let vms = 0;
  let disks = 0;
  let allocated = 0;
  for (const w of plan.waves) {
    vms += w.vms.length;
    for (const vm of w.vms) {
      disks += vm.disks.length;
      for (const d of vm.disks) allocated += d.allocatedBytes;
    }
  }
  return { vms, disks, allocated };
}

/** Options of `renderTable`. */
export interface TableOptions {
  /** Whether to end with the problems, one long line each. @default true */
  readonly problems?: boolean;
}

/** `names` joined, cut after `max` characters with a pointer to the full list. */
function nameList(names: readonly string[], max = 400): string {
  const all = names.join(", ");
  if (all.length <= max) return all;
  const cut = all.slice(0, max);
  const shown = cut.slice(0, cut.lastIndexOf(", "));
  const count = shown.split(", ").length;
  return `${shown}, … and ${names.length - count} more (every name: --format json)`;
}

/**
 * A plain-text report: per wave its subnets, VMs, gateways and estimate; then the blocked VMs
 * with their first reason, the new addresses, the VMs in no wave, and the problems.
 */
export function renderTable(plan: Plan, options: TableOptions = {}): string {
  const t = totals(plan);
  const out: string[] = [];
  out.push(`Plan for ${plan.region}: ${count(plan.waves.length, "wave")}, ${count(t.vms, "VM")}, ${count(t.disks, "disk")}, ${bytes(t.allocated)} to copy`);
  out.push(`VPC CIDR blocks: ${plan.vpc.cidrBlocks.join(", ") || "(none)"}`);
  for (const w of plan.waves) {
    const e = w.estimate;
    out.push("");
    out.push(
      `Wave ${w.name}${w.after.length ? ` (after ${w.after.join(", ")})` : ""}: ${count(w.vms.length, "VM")}, ${count(w.rehearsals, "rehearsal")}${w.window ? `, cutover window ${w.window.start} – ${w.window.end}` : ""}`,
    );
    out.push(
      columns([
        ["vSwitch", "portgroup", "CIDR", "zone"],
        ...w.subnets.map((s) => [s.name, s.portgroup, s.cidr, s.zone]),
        ["(sync)", "", w.syncSubnet.cidr || "(none)", w.syncSubnet.zone],
      ]),
    );
    out.push("");
    out.push(
      columns([
        ["VM", "IPs", "instance type", "disks", "size", "gateway"],
        ...w.vms.map((vm) => [
          vm.name,
          addresses(plan, vm, ","),
          vm.instanceType,
          String(vm.disks.length),
          bytes(vm.disks.reduce((s, d) => s + d.sizeBytes, 0)),
          vm.gateway,
        ]),
      ]),
    );
    out.push("");
    out.push(
      columns([
        ["gateway", "instance type", "disks", "size", "link share MB/s"],
        ...w.gateways.map((g) => [g.name, g.instanceType, String(g.disks), bytes(g.bytes), String(g.throughputMBps)]),
      ]),
    );
    out.push(
      `  Initial sync ${duration(e.initialSyncHours)}; daily incremental round ${bytes(e.incrementalRoundBytes)} in ${duration(e.incrementalRoundHours)}. ` +
        `Cost over ${e.periodDays ?? "the"} days: ${money(e.costGateway, e.currency)} with sync gateways, ${money(e.costFullHosts, e.currency)} running every host${saving(w) ? ` (saves ${saving(w)})` : ""}.`,
    );
  }
  const blocked = plan.blocked ?? [];
  if (blocked.length > 0) {
    out.push("");
    out.push(`Blocked: ${count(blocked.length, "VM")} cannot move as they are (every reason under Problems)`);
    out.push(
      columns([
        ["VM", "wave", "reasons", "first reason"],
        ...blocked.map((b) => [b.name, b.wave ?? "(none)", String(b.reasons.length), shorten(b.reasons[0]?.message ?? "", 90)]),
      ]),
    );
  }
  const readdressed = plan.readdressed ?? [];
  if (readdressed.length > 0) {
    out.push("");
    out.push(`New addresses (keepIp: false): ${count(readdressed.length, "address", "addresses")} to update in DNS and clients`);
    out.push(columns([["VM", "wave", "portgroup", "from", "to"], ...readdressed.map((r) => [r.vm, r.wave, r.portgroup, r.from ?? "(none)", r.to])]));
  }
  const unassigned = plan.unassigned ?? [];
  if (unassigned.length > 0) {
    out.push("");
    out.push(`In no wave (${count(unassigned.length, "VM")}): ${nameList(unassigned)}`);
  }
  if (options.problems !== false && plan.problems.length > 0) {
    out.push("");
    out.push("Problems:");
    for (const p of plan.problems) out.push(`  ${formatProblem(p)}`);
  }
  return `${out.join("\n")}\n`;
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Options of `renderMarkdown`. */
export interface MarkdownOptions {
  /**
   * First day of the schedule, `YYYY-MM-DD`; waves with a change window cut over on its date.
   * @default "2026-01-05"
   */
  readonly start?: string;
}

/** Text safe inside a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/** Text safe inside a quoted mermaid label. */
function label(text: string): string {
  return text.replace(/"/g, "#quot;").replace(/[<>]/g, "");
}

/** Text safe as a mermaid gantt task name or section title (no colon, no hash, no semicolon). */
function ganttText(text: string): string {
  return text.replace(/[:#;]/g, " ");
}

/** Whole days the gantt gives a wave's initial sync (at least one). */
function syncDays(w: PlannedWave): number {
  return Math.max(1, Math.ceil(w.estimate.initialSyncHours / 24));
}

/** `YYYY-MM-DD` moved by `days` (negative: earlier). */
function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/**
 * The first day of the schedule when none is given: `today`, or earlier when a wave that follows
 * no other has a change window too soon for its initial sync and rehearsals (one day each), so
 * the gantt shows them before the cutover.
 * @param today `YYYY-MM-DD`
 */
export function scheduleStart(plan: Plan, today: string): string {
  let start = today;
  for (const w of plan.waves) {
    if (w.after.length > 0 || !w.window || !/^\d{4}-\d{2}-\d{2}/.test(w.window.start)) continue;
    const latest = addDays(w.window.start.slice(0, 10), -(syncDays(w) + w.rehearsals));
    if (latest < start) start = latest;
  }
  return start;
}

/** The mermaid gantt: per wave the initial sync, the rehearsals, then the cutover. */
export function ganttChart(plan: Plan, start = "2026-01-05"): string {
  const lines = ["gantt", "  title Migration waves", "  dateFormat YYYY-MM-DD", "  axisFormat %m-%d"];
  const cutoverId = new Map<string, string>();
  plan.waves.forEach((w, i) => cutoverId.set(w.name, `w${i}cut`));
  plan.waves.forEach((w, i) => {
    const id = `w${i}`;
    const deps = w.after.map((a) => cutoverId.get(a)).filter((x): x is string => x !== undefined);
    lines.push(`  section ${ganttText(w.name)}`);
    lines.push(`  initial sync :${id}sync, ${deps.length ? `after ${deps.join(" ")}` : start}, ${syncDays(w)}d`);
    let previous = `${id}sync`;
    for (let r = 1; r <= w.rehearsals; r++) {
      lines.push(`  rehearsal ${r} :${id}r${r}, after ${previous}, 1d`);
      previous = `${id}r${r}`;
    }
    const when = w.window && /^\d{4}-\d{2}-\d{2}/.test(w.window.start) ? w.window.start.slice(0, 10) : `after ${previous}`;
    lines.push(`  cutover :crit, ${id}cut, ${when}, 1d`);
  });
  return lines.join("\n");
}

/** The mermaid flowchart: on-prem subnets ↔ CEN ↔ VPC (mirrored vSwitches, sync vSwitches, gateways). */
export function networkChart(plan: Plan): string {
  const lines = ["flowchart LR"];
  const subnets = new Map<string, { portgroup: string; cidr: string; zone: string; name: string }>();
  for (const w of plan.waves) for (const s of w.subnets) if (!subnets.has(s.cidr)) subnets.set(s.cidr, s);
  const ids = new Map<string, number>();
  [...subnets.keys()].forEach((cidr, i) => ids.set(cidr, i));
  lines.push(`  subgraph onprem["On-prem data centre"]`);
  lines.push("    direction TB");
  for (const [cidr, s] of subnets) lines.push(`    op${ids.get(cidr)}["${label(`${s.portgroup} · ${cidr}`)}"]`);
  lines.push("  end");
  lines.push(`  cen{{"CEN"}}`);
  lines.push(`  subgraph vpc["${label(`VPC ${plan.region} · ${plan.vpc.cidrBlocks.join(", ")}`)}"]`);
  lines.push("    direction TB");
  for (const [cidr, s] of subnets) lines.push(`    vs${ids.get(cidr)}["${label(`vSwitch ${s.name} · ${cidr} · ${s.zone}`)}"]`);
  plan.waves.forEach((w, i) => {
    lines.push(`    subgraph sync${i}["${label(`sync vSwitch ${w.name} · ${w.syncSubnet.cidr} · ${w.syncSubnet.zone}`)}"]`);
    if (w.gateways.length === 0) lines.push(`      sync${i}none["no gateway"]`);
    w.gateways.forEach((g, j) => lines.push(`      gw${i}x${j}["${label(`${g.name} · ${g.instanceType} · ${g.disks} disks`)}"]`));
    lines.push("    end");
  });
  lines.push("  end");
  lines.push(`  onprem <-->|"routes per subnet, published at its cutover"| cen`);
  lines.push("  cen <--> vpc");
  for (const cidr of subnets.keys()) lines.push(`  op${ids.get(cidr)} -.->|"mirrored"| vs${ids.get(cidr)}`);
  plan.waves.forEach((_, i) => lines.push(`  onprem ==>|"block replication"| sync${i}`));
  return lines.join("\n");
}

/** Appends a second-level Markdown heading, with a blank line before and after. */
function heading(out: string[], title: string): void {
  out.push("", `## ${title}`, "");
}

/** Markdown for a pull-request comment: summary, schedule and network diagrams, VMs, problems. */
export function renderMarkdown(plan: Plan, options: MarkdownOptions = {}): string {
  const t = totals(plan);
  const out: string[] = [];
  out.push(`# Migration plan: ${plan.region}`);
  out.push("");
  out.push(
    `${count(plan.waves.length, "wave")}, ${count(t.vms, "VM")}, ${count(t.disks, "disk")}, ${bytes(t.allocated)} to copy. VPC CIDR blocks: ${plan.vpc.cidrBlocks.map((b) => `\`${b}\``).join(", ") || "none"}.`,
  );
  out.push("");
  out.push("| wave | after | VMs | subnets | sync subnet | gateways | initial sync | daily round | cost with gateways | cost with all hosts |");
  out.push("| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |");
  for (const w of plan.waves) {
    const e = w.estimate;
    out.push(
      `| ${w.name} | ${w.after.join(", ") || "–"} | ${w.vms.length} | ${w.subnets.map((s) => `\`${s.cidr}\``).join(", ")} | \`${w.syncSubnet.cidr}\` | ${w.gateways.length} | ${duration(e.initialSyncHours)} | ${bytes(e.incrementalRoundBytes)} / ${duration(e.incrementalRoundHours)} | ${money(e.costGateway, e.currency)} | ${money(e.costFullHosts, e.currency)} |`,
    );
  }
  heading(out, "Schedule");
  out.push("```mermaid");
  out.push(ganttChart(plan, options.start));
  out.push("```");
  heading(out, "Network");
  out.push("```mermaid");
  out.push(networkChart(plan));
  out.push("```");
  for (const w of plan.waves) {
    heading(out, `Wave ${w.name}`);
    out.push("| VM | IPs | instance type | disks | size | gateway |");
    out.push("| --- | --- | --- | ---: | ---: | --- |");
    for (const vm of w.vms) {
      out.push(
        `| ${cell(vm.name)} | ${addresses(plan, vm, ", ")} | ${vm.instanceType} | ${vm.disks.length} | ${bytes(vm.disks.reduce((s, d) => s + d.sizeBytes, 0))} | ${vm.gateway} |`,
      );
    }
    out.push("");
    out.push("| gateway | instance type | disks | size | link share MB/s |");
    out.push("| --- | --- | ---: | ---: | ---: |");
    for (const g of w.gateways) out.push(`| ${g.name} | ${g.instanceType} | ${g.disks} | ${bytes(g.bytes)} | ${g.throughputMBps} |`);
  }
  const blocked = plan.blocked ?? [];
  if (blocked.length > 0) {
    heading(out, "Blocked VMs");
    out.push("| VM | wave | reasons |");
    out.push("| --- | --- | --- |");
    for (const b of blocked) out.push(`| ${cell(b.name)} | ${b.wave ?? "–"} | ${b.reasons.map((r) => cell(r.message)).join("<br>")} |`);
  }
  const readdressed = plan.readdressed ?? [];
  if (readdressed.length > 0) {
    heading(out, "New addresses (update DNS and clients)");
    out.push("| VM | wave | portgroup | from | to |");
    out.push("| --- | --- | --- | --- | --- |");
    for (const r of readdressed) out.push(`| ${cell(r.vm)} | ${r.wave} | ${cell(r.portgroup)} | ${r.from ?? "–"} | ${r.to} |`);
  }
  if ((plan.unassigned ?? []).length > 0) {
    out.push("");
    out.push(`## In no wave\n\n${plan.unassigned!.map(cell).join(", ")}`);
  }
  if (plan.problems.length > 0) {
    heading(out, "Problems");
    for (const p of plan.problems) out.push(`- ${formatProblem(p).replace(/\|/g, "\\|")}`);
  }
  return `${out.join("\n")}\n`;
}
