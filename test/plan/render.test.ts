import { beforeAll, describe, expect, it } from "vitest";
import { buildPlan, ganttChart, networkChart, renderMarkdown, renderTable, scheduleStart } from "../../lib/plan";
import type { Plan } from "../../lib/plan/types";
import { inventory, wavesFile } from "./fixture";

type Mermaid = typeof import("mermaid").default;
let mermaid: Mermaid;

beforeAll(async () => {
  const { JSDOM } = await import("jsdom");
  const dom = new JSDOM("<!doctype html><html><body></body></html>");
  Object.assign(globalThis, { window: dom.window, document: dom.window.document });
  mermaid = (await import("mermaid")).default;
});

/** An estate whose names contain what mermaid and Markdown treat specially. */
function awkwardPlan(): Plan {
  const inv = inventory(
    [
      { name: "web|1", nics: ['VM "Network" <dmz>=10.1.1.11'], disksGiB: [40, 20] },
      { name: "db:1", nics: ["db; net #2=10.1.3.31"], disksGiB: [80, 900] },
      { name: "app-1", nics: ["app=10.1.2.5"] },
    ],
    { 'VM "Network" <dmz>': "10.1.1.0/24", "db; net #2": "10.1.3.0/24", app: "10.1.2.0/24" },
  );
  const waves = wavesFile([
    { name: "front", members: { vms: ["web|1"] }, rehearsals: 2 },
    { name: "data", members: { vms: ["db:1"] }, after: ["front"], window: { start: "2026-04-03T22:00:00+08:00", end: "2026-04-04T06:00:00+08:00" } },
    { name: "apps", members: { vms: ["app-1"] }, after: ["front", "data"], rehearsals: 0 },
  ]);
  return buildPlan(inv, waves);
}

describe("Markdown renderings", () => {
  const plan = awkwardPlan();

  it("the estate plans cleanly", () => {
    expect(plan.problems).toEqual([]);
  });

  it("the gantt parses, chains rehearsals and waits for earlier waves' cutovers", async () => {
    const gantt = ganttChart(plan, "2026-03-02");
    await expect(mermaid.parse(gantt)).resolves.toMatchObject({ diagramType: "gantt" });
    expect(gantt).toContain("initial sync :w0sync, 2026-03-02, 1d");
    expect(gantt).toContain("rehearsal 2 :w0r2, after w0r1, 1d");
    expect(gantt).toContain("initial sync :w1sync, after w0cut, 1d");
    expect(gantt).toContain("cutover :crit, w1cut, 2026-04-03, 1d");
    expect(gantt).toContain("initial sync :w2sync, after w0cut w1cut, 1d");
    expect(gantt).toContain("cutover :crit, w2cut, after w2sync, 1d");
  });

  it("the network flowchart parses with quotes, angle brackets and colons in names", async () => {
    const chart = networkChart(plan);
    await expect(mermaid.parse(chart)).resolves.toMatchObject({ diagramType: "flowchart-v2" });
    expect(chart).toContain("VM #quot;Network#quot; dmz · 10.1.1.0/24");
    expect(chart).toContain("sync vSwitch data · 172.30.0.32/27");
    expect(chart).toContain("data-gw-1 · ecs.c7.large · 2 disks");
  });

  it("the Markdown holds both diagrams and one VM table per wave", () => {
    const md = renderMarkdown(plan, { start: "2026-03-02" });
    expect(md.match(/```mermaid/g)).toHaveLength(2);
    expect(md).toContain("## Wave front");
    expect(md).toContain("| web\\|1 | 10.1.1.11 |");
    expect(md).not.toContain("## Problems");
  });

  it("the table lists problems when there are some", () => {
    const inv = inventory([{ name: "a", nics: ["web=10.1.1.255"] }], { web: "10.1.1.0/24" });
    const p = buildPlan(inv, wavesFile([{ name: "w", members: { vms: ["a"] }, overrides: { a: { keepIp: false } } }]));
    const table = renderTable(p);
    expect(table).toContain("Problems:\n  warning: VM a, field nics[0].ipv4[0]: The address 10.1.1.255 is reserved");
    expect(table).toMatch(/\n {2}a {2,}10\.1\.1\.\d+ \(new IP\) {2,}ecs\./);
  });

  it("the table counts in words a person reads (one wave, one rehearsal, minutes for short rounds)", () => {
    const inv = inventory([{ name: "a", nics: ["web=10.1.1.11"], disksGiB: [1] }], { web: "10.1.1.0/24" });
    const table = renderTable(buildPlan(inv, wavesFile([{ name: "w", members: { vms: ["a"] }, rehearsals: 1 }])));
    expect(table).toMatch(/^Plan for [a-z0-9-]+: 1 wave, 1 VM, 1 disk, /);
    expect(table).toContain("Wave w: 1 VM, 1 rehearsal");
    expect(table).toMatch(/Initial sync (< 1 min|\d+ min); daily incremental round [0-9.]+ MiB in (< 1 min|\d+ min)\./);
  });
});

describe("scheduleStart", () => {
  const inv = inventory(
    [
      { name: "a", nics: ["web=10.1.1.11"] },
      { name: "b", nics: ["web=10.1.1.12"] },
    ],
    { web: "10.1.1.0/24" },
  );
  const window = { start: "2026-03-06T22:00:00+08:00", end: "2026-03-07T06:00:00+08:00" };

  it("starts early enough for a first wave's sync and rehearsals before its window", () => {
    const plan = buildPlan(inv, wavesFile([{ name: "w", members: { vms: ["a", "b"] }, rehearsals: 3, window }]));
    // One day of initial sync and three rehearsal days before the cutover on 2026-03-06.
    expect(scheduleStart(plan, "2026-11-24")).toBe("2026-03-02");
    expect(scheduleStart(plan, "2026-01-05")).toBe("2026-01-05");
    expect(ganttChart(plan, scheduleStart(plan, "2026-11-24"))).toContain("initial sync :w0sync, 2026-03-02, 1d");
  });

  it("is today when only later waves have windows (they follow their predecessors' cutovers)", () => {
    const plan = buildPlan(
      inv,
      wavesFile([
        { name: "w1", members: { vms: ["a"] } },
        { name: "w2", members: { vms: ["b"] }, after: ["w1"], window },
      ]),
    );
    expect(scheduleStart(plan, "2026-11-24")).toBe("2026-11-24");
  });
});

describe("renderings of VMs that cannot move as they are", () => {
  const plan = () =>
    buildPlan(
      inventory(
        [
          { name: "ok-1", nics: ["web=10.1.1.5"] },
          { name: "big-1", nics: ["web=10.1.1.6"], disksGiB: [900] },
          { name: "moved-1", nics: ["web=10.1.1.255"] },
          ...Array.from({ length: 60 }, (_, i) => ({ name: `left-out-with-a-long-name-${String(i).padStart(2, "0")}`, nics: [`web=10.1.1.${100 + i}`] })),
        ],
        { web: "10.1.1.0/24" },
      ),
      wavesFile([{ name: "w", members: { vms: ["ok-1", "big-1", "moved-1"] }, overrides: { "moved-1": { keepIp: false } } }]),
    );

  it("the table lists blocked VMs, new addresses, and VMs in no wave (cut with a pointer to the full list)", () => {
    const p = plan();
    const table = renderTable(p);
    expect(table).toMatch(/^Blocked: 1 VM cannot move as they are/m);
    expect(table).toMatch(/^ {2}big-1 {2,}w {2,}1 {2,}The system disk is 900 GiB/m);
    expect(table).toMatch(/^ {2}moved-1 {2,}w {2,}web {2,}10\.1\.1\.255 {2,}10\.1\.1\.\d+$/m);
    expect(table).toMatch(/^In no wave \(60 VMs\): left-out-with-a-long-name-00, .*, … and \d+ more \(every name: --format json\)$/m);
    expect(p.unassigned).toHaveLength(60);
    expect(renderTable(p, { problems: false })).not.toContain("Problems:");
  });

  it("the Markdown has sections for them", () => {
    const md = renderMarkdown(plan(), { start: "2026-03-02" });
    expect(md).toContain("## Blocked VMs");
    expect(md).toMatch(/\| big-1 \| w \| The system disk is 900 GiB/);
    expect(md).toMatch(/\| moved-1 \| w \| web \| 10\.1\.1\.255 \| 10\.1\.1\.\d+ \|/);
    expect(md).toContain("## In no wave\n\nleft-out-with-a-long-name-00,");
  });
});
