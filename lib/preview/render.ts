/** Renders a preview for people (text), for pull requests (Markdown) and for machines (JSON). */
import type { PreviewResult, PreviewResource } from "./index";

/** The key inputs shown per resource, in this order. */
const KEY_INPUTS = [
  "cidrBlock",
  "secondaryCidrBlock",
  "transitRouterRouteEntryDestinationCidrBlock",
  "localSubnets",
  "remoteSubnets",
  "privateIp",
  "secondaryPrivateIps",
  "primaryIpAddress",
  "privateIpAddresses",
  "vswitchId",
  "zoneId",
  "instanceType",
  "internetMaxBandwidthOut",
  "systemDiskSize",
  "size",
  "category",
  "dataDisks",
  "portRange",
  "cidrIp",
  "diskId",
  "jobId",
  "target",
  "round",
] as const;

/** `key=value` pairs of the resource's key inputs. */
function keyInputs(resource: PreviewResource): string {
  const parts: string[] = [];
  for (const key of KEY_INPUTS) {
    const value = resource.inputs[key];
    if (value === undefined || value === null) continue;
    if (key === "dataDisks" && Array.isArray(value)) {
      parts.push(`dataDisks=[${value.map((d) => `${(d as { size?: number }).size}GiB`).join(",")}]`);
    } else {
      parts.push(`${key}=${Array.isArray(value) ? value.join(",") : typeof value === "object" ? JSON.stringify(value) : String(value)}`);
    }
  }
  return parts.join(" ");
}

/** The JSON contract: `{ stack, resources: [{ type, name, parent, inputs }], policyViolations }`. */
export function renderJson(result: PreviewResult): string {
  const contract = {
    stack: result.stack,
    resources: result.resources.map(({ type, name, parent, inputs }) => ({ type, name, parent, inputs })),
    policyViolations: result.policyViolations.map(({ policy, level, resource, message }) => ({ policy, level, resource, message })),
  };
  return `${JSON.stringify(contract, null, 2)}\n`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Plain text: every resource with its key inputs, the pinned-IP table, the policy verdicts. */
export function renderText(result: PreviewResult): string {
  const out: string[] = [];
  const refs = result.referencedStacks.length > 0 ? ` (references ${result.referencedStacks.join(", ")})` : "";
  out.push(`Stack ${result.stack}${refs}: ${result.resources.length} resources`);
  out.push("");
  out.push(
    table(
      ["TYPE", "NAME", "PARENT", "KEY INPUTS"],
      result.resources.map((r) => [r.type, r.name, r.parent ?? "-", keyInputs(r)]),
    ),
  );
  out.push("");
  out.push(`Pinned IPs (${result.pinnedIps.length})`);
  if (result.pinnedIps.length > 0)
    out.push(
      table(
        ["VM", "IP", "NIC", "VSWITCH", "CIDR", "PHASE"],
        result.pinnedIps.map((p) => [p.vm, p.ip, p.nic, p.vswitch, p.cidr, p.phase]),
      ),
    );
  out.push("");
  if (result.policyViolations.length === 0) out.push("Policy violations: none");
  else {
    out.push(`Policy violations (${result.policyViolations.length})`);
    out.push(
      table(
        ["LEVEL", "POLICY", "RESOURCE", "MESSAGE"],
        result.policyViolations.map((v) => [v.level, v.policy, v.resource, v.message]),
      ),
    );
  }
  return `${out.join("\n")}\n`;
}

const cell = (s: string) => s.replace(/\|/g, "\\|");

/** Markdown for a pull-request comment: violations first, resource counts by type, the IP table. */
export function renderMarkdown(result: PreviewResult): string {
  const out: string[] = [];
  out.push(`### rehost preview: \`${result.stack}\``);
  out.push("");
  const mandatory = result.policyViolations.filter((v) => v.level === "mandatory").length;
  if (result.policyViolations.length === 0) out.push("**Policy violations:** none.");
  else {
    out.push(`**Policy violations:** ${result.policyViolations.length} (${mandatory} mandatory)`);
    out.push("");
    out.push("| level | policy | resource | message |", "| --- | --- | --- | --- |");
    for (const v of result.policyViolations) out.push(`| ${v.level} | ${cell(v.policy)} | \`${cell(v.resource)}\` | ${cell(v.message)} |`);
  }
  out.push("");
  const counts = new Map<string, number>();
  for (const r of result.resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
  out.push(
    `**Resources:** ${result.resources.length}${result.referencedStacks.length > 0 ? ` (reads ${result.referencedStacks.map((s) => `\`${s}\``).join(", ")})` : ""}`,
  );
  out.push("");
  out.push("| type | count |", "| --- | ---: |");
  for (const [type, count] of [...counts].sort(([a], [b]) => a.localeCompare(b))) out.push(`| \`${type}\` | ${count} |`);
  out.push("");
  out.push(`**Pinned IPs:** ${result.pinnedIps.length}`);
  if (result.pinnedIps.length > 0) {
    out.push("");
    out.push("| VM | IP | NIC | vSwitch | CIDR | phase |", "| --- | --- | --- | --- | --- | --- |");
    for (const p of result.pinnedIps) out.push(`| ${cell(p.vm)} | ${p.ip} | ${p.nic} | \`${cell(p.vswitch)}\` | ${p.cidr} | ${p.phase} |`);
  }
  return `${out.join("\n")}\n`;
}
