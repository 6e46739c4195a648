/**
 * `rehost plan` as a user runs it, on the example estates and on broken inputs. One test per exit
 * path (0; 2 with `--out` not written) runs `node bin/rehost.js` as a child process; the others
 * call the same `main` in this process, which gives the same output and exit code without the
 * seconds a child process costs to start.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import type { Plan } from "../../lib/plan/types";
import { dropCsvColumn } from "../inventory/helpers";
import { sheetsFromCsvExport, writeWorkbook } from "../inventory/rvtools-workbook";
import { EXAMPLES, exampleInputs, type Run, rehostChild } from "../helpers/cli";
import { rehostInProcess } from "../helpers/cli-in-process";
import { tempDir } from "../helpers/tmp";

const exchange = path.join(EXAMPLES, "exchange-center");
/** The exchange-centre estate in its YAML form. */
const exchangeYaml = exampleInputs("exchange-center");

let dir: string;
beforeAll(() => {
  dir = tempDir("rehost-plan-cli-");
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes a YAML document into the temp dir and returns its path. */
function write(name: string, document: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof document === "string" ? document : YAML.stringify(document));
  return file;
}

describe("rehost plan on the example estates", () => {
  it("plans the lab estate as a table (child process, exit 0)", async () => {
    const run = await rehostChild("plan", ...exampleInputs("lab", { networks: false }));
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Plan for cn-shenzhen: 1 wave, 4 VMs/);
    expect(run.stdout).toContain("lab-web-02  10.10.1.12,10.10.1.13");
  });

  let yamlPlan: Plan;
  let yamlRun: Run;
  beforeAll(async () => {
    const out = path.join(dir, "exchange-yaml.json");
    yamlRun = await rehostInProcess("plan", ...exchangeYaml, "--format", "json", "--out", out);
    if (yamlRun.code === 0) yamlPlan = JSON.parse(fs.readFileSync(out, "utf8")) as Plan;
  });

  it("keeps every IP of every exchange-centre VM (YAML form)", () => {
    const run = yamlRun;
    expect(run.code).toBe(0);
    const source = YAML.parse(fs.readFileSync(path.join(exchange, "inventory.yaml"), "utf8")) as {
      vms: Array<{ name: string; nics: Array<{ ipv4?: string[] }> }>;
    };
    const waves = YAML.parse(fs.readFileSync(path.join(exchange, "waves.yaml"), "utf8")) as {
      waves: Array<{ overrides?: Record<string, { keepIp?: boolean }> }>;
    };
    const mayChange = new Set(
      waves.waves.flatMap((w) =>
        Object.entries(w.overrides ?? {})
          .filter(([, o]) => o.keepIp === false)
          .map(([name]) => name),
      ),
    );
    const planned = new Map(yamlPlan.waves.flatMap((w) => w.vms).map((vm) => [vm.name, vm]));
    expect(planned.size).toBeGreaterThanOrEqual(100);
    expect(yamlPlan.problems.filter((p) => p.severity === "error")).toEqual([]);
    for (const vm of source.vms) {
      const p = planned.get(vm.name);
      if (!p) continue;
      const ips = vm.nics.flatMap((n) => n.ipv4 ?? []);
      if (mayChange.has(vm.name)) expect(run.stderr).toContain(`VM ${vm.name}`);
      else expect(p.ips).toEqual(ips);
    }
    expect(yamlPlan.waves.length).toBe(4);
  });

  it("spreads each wave's disks evenly over its gateways (none opened for a few leftovers)", () => {
    for (const wave of yamlPlan.waves) {
      const average = wave.gateways.reduce((sum, g) => sum + g.bytes, 0) / wave.gateways.length;
      for (const g of wave.gateways) expect(g.bytes, `${g.name} of ${wave.name}`).toBeGreaterThan(average / 2);
    }
  });

  it("gives the same plan from the RVTools form", async () => {
    const run = await rehostInProcess("plan", ...exampleInputs("exchange-center", { inventory: "rvtools" }), "--format", "json");
    expect(run.code).toBe(0);
    const rvPlan = JSON.parse(run.stdout) as Plan;
    const withoutFiles = (plan: Plan) => ({ ...plan, problems: plan.problems.map(({ file: _file, ...rest }) => rest) });
    expect(withoutFiles(rvPlan)).toEqual(withoutFiles(yamlPlan));
  });

  it("gives the same plan from the workbook RVTools writes (x:-prefixed SpreadsheetML) as from its CSV form", async () => {
    const workbook = writeWorkbook(path.join(dir, "RVTools_export_all.xlsx"), sheetsFromCsvExport(path.join(exchange, "rvtools")));
    const args = ["--networks", path.join(exchange, "networks.yaml"), "--waves", path.join(exchange, "waves.yaml"), "--format", "json"];
    const [fromXlsx, fromCsv] = [
      await rehostInProcess("plan", "--inventory", workbook, ...args),
      await rehostInProcess("plan", "--inventory", path.join(exchange, "rvtools"), ...args),
    ];
    expect(fromXlsx.code).toBe(0);
    const withoutFiles = (plan: Plan) => ({ ...plan, problems: plan.problems.map(({ file: _file, ...rest }) => rest) });
    expect(withoutFiles(JSON.parse(fromXlsx.stdout) as Plan)).toEqual(withoutFiles(JSON.parse(fromCsv.stdout) as Plan));
  });

  it("plans every VM of a workbook that can move and lists every other one in blocked[] (exit 2, JSON on stdout)", async () => {
    const sheets = sheetsFromCsvExport(path.join(exchange, "rvtools"));
    const info = sheets.find((s) => s.name === "vInfo")!;
    const disk = sheets.find((s) => s.name === "vDisk")!;
    const col = (rows: typeof info.rows, header: string) => rows[0]!.indexOf(header);
    const rows = (sheet: typeof info) => sheet.rows as (string | number | boolean | null)[][];
    // One VM with a 1,639 GiB system disk, one with a malformed memory cell, one with no disk at all.
    const big = rows(info)[1]![col(info.rows, "VM")] as string;
    const badMemory = rows(info)[2]![col(info.rows, "VM")] as string;
    const noDisk = rows(info)[3]![col(info.rows, "VM")] as string;
    rows(info)[2]![col(info.rows, "Memory")] = "lots";
    const systemDisk = rows(disk).findIndex((r) => r[col(disk.rows, "VM")] === big && r[col(disk.rows, "Disk Key")] === 2000);
    rows(disk)[systemDisk]![col(disk.rows, "Capacity MiB")] = 1639 * 1024;
    const kept = sheets.map((sheet) => (sheet === disk ? { ...disk, rows: rows(disk).filter((r) => r[col(disk.rows, "VM")] !== noDisk) } : sheet));
    const workbook = writeWorkbook(path.join(dir, "broken.xlsx"), kept);
    const rest = write("rest-waves.yaml", {
      ...YAML.parse(fs.readFileSync(path.join(exchange, "waves.yaml"), "utf8")),
      waves: [{ name: "all", members: { rest: true }, overrides: { "szx-web-ftpgw-01": { keepIp: false } } }],
    });
    const run = await rehostInProcess("plan", "--inventory", workbook, "--networks", path.join(exchange, "networks.yaml"), "--waves", rest, "--format", "json");
    expect(run.code).toBe(2);
    const plan = JSON.parse(run.stdout) as Plan;
    expect(plan.blocked!.map((b) => b.name).sort()).toEqual([big, badMemory, noDisk].sort());
    const names = rows(info)
      .slice(1)
      .map((r) => r[col(info.rows, "VM")] as string);
    const planned = plan.waves.flatMap((w) => w.vms.map((v) => v.name));
    expect(planned.length).toBe(names.length - 3);
    expect([...planned, ...plan.blocked!.map((b) => b.name)].sort()).toEqual([...names].sort());
    expect(plan.blocked!.find((b) => b.name === big)!.reasons[0]).toMatchObject({ field: "disks[0].capacityBytes", received: "1639 GiB" });
    expect(run.stderr).toContain(`VM ${badMemory}, field Memory: Row 3: VM ${badMemory} has an invalid memory size`);
    expect(run.stderr).toContain(`plan: ${names.length - 3} VM(s) planned, 3 blocked (see blocked[]), 0 in no wave; the plan has errors (exit 2)`);
  });

  it("writes Markdown whose mermaid blocks parse", async () => {
    const out = path.join(dir, "exchange.md");
    const run = await rehostInProcess("plan", ...exchangeYaml, "--format", "md", "--start", "2026-02-02", "--out", out);
    expect(run.code).toBe(0);
    const markdown = fs.readFileSync(out, "utf8");
    const blocks = [...markdown.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBe(2);
    const { JSDOM } = await import("jsdom");
    const dom = new JSDOM("<!doctype html><html><body></body></html>");
    Object.assign(globalThis, { window: dom.window, document: dom.window.document });
    const mermaid = (await import("mermaid")).default;
    expect(await mermaid.parse(blocks[0]!)).toMatchObject({ diagramType: "gantt" });
    expect(await mermaid.parse(blocks[1]!)).toMatchObject({ diagramType: "flowchart-v2" });
    // The parser is strict enough to catch a broken diagram.
    await expect(mermaid.parse(blocks[1]!.replace("flowchart LR", "flowchart LR\n  a[[[ --> ]"))).rejects.toThrow();
    expect(blocks[0]).toContain("section wave-4-core");
    expect(blocks[1]).toContain("wave-1-infra-gw-1");
  });
});

describe("rehost plan on broken inputs exits 2, names VM or file and field, and still writes the plan when the inputs could be read", () => {
  const vm = (name: string, ips: string[], extra: Record<string, unknown> = {}) => ({
    name,
    uuid: `uuid-${name}`,
    cpus: 2,
    memoryMiB: 4096,
    guestOs: { family: "linux", id: "rhel8_64Guest" },
    disks: [{ key: 2000, label: "Hard disk 1", capacityBytes: 42949672960 }],
    nics: [{ mac: "00:50:56:00:00:01", portgroup: "web", ipv4: ips }],
    ...extra,
  });
  const networks = [
    { portgroup: "web", cidr: "10.1.1.0/24" },
    { portgroup: "app", cidr: "10.1.2.0/24" },
  ];
  const wavesFor = (names: string[]) => ({ waves: [{ name: "w1", members: { vms: names } }] });

  /**
   * Runs `rehost plan --format json --out FILE`, expects exit 2 and the problems on stderr; when
   * the inputs could be read (`written`), the plan is in FILE with every VM of `names` planned or
   * blocked; when they could not, nothing is written.
   */
  async function expectExit2(
    inventory: string,
    waves: unknown,
    mustMention: RegExp[],
    extra: string[] = [],
    rehost = rehostInProcess,
    written: { names: string[]; blocked: string[] } | false = false,
  ): Promise<Plan | undefined> {
    const out = path.join(dir, `out-${Math.random().toString(36).slice(2)}.json`);
    const run = await rehost(
      "plan",
      "--inventory",
      inventory,
      "--waves",
      write(`w-${path.basename(out)}.yaml`, waves),
      "--format",
      "json",
      "--out",
      out,
      ...extra,
    );
    expect(run.code).toBe(2);
    for (const re of mustMention) expect(run.stderr).toMatch(re);
    expect(run.stdout).toBe("");
    if (!written) {
      expect(fs.existsSync(out)).toBe(false);
      return undefined;
    }
    const plan = JSON.parse(fs.readFileSync(out, "utf8")) as Plan;
    const planned = plan.waves.flatMap((w) => w.vms.map((vm) => vm.name));
    expect(plan.blocked!.map((b) => b.name)).toEqual(written.blocked);
    expect([...planned, ...plan.blocked!.map((b) => b.name)].sort()).toEqual([...written.names].sort());
    for (const b of plan.blocked!) expect(b.reasons.length).toBeGreaterThan(0);
    return plan;
  }

  it("a duplicate IP (child process, exit 2, the plan written with VM b blocked)", async () => {
    const inv = write("dup.yaml", { networks, vms: [vm("a", ["10.1.1.7"]), vm("b", ["10.1.1.7"])] });
    await expectExit2(inv, wavesFor(["a", "b"]), [/dup\.yaml, VM b, field nics\[0\]\.ipv4\[0\]: .*10\.1\.1\.7.*also held by VM a/], [], rehostChild, {
      names: ["a", "b"],
      blocked: ["b"],
    });
  });

  it("an IP outside its subnet", async () => {
    const inv = write("outside.yaml", { networks, vms: [vm("a", ["10.1.2.7"])] });
    await expectExit2(
      inv,
      wavesFor(["a"]),
      [/outside\.yaml, VM a, field nics\[0\]\.ipv4\[0\]: The address 10\.1\.2\.7 is outside .*10\.1\.1\.0\/24/],
      [],
      rehostInProcess,
      { names: ["a"], blocked: ["a"] },
    );
  });

  it("a reserved IP", async () => {
    const inv = write("reserved.yaml", { networks, vms: [vm("a", ["10.1.1.253"])] });
    await expectExit2(
      inv,
      wavesFor(["a"]),
      [/reserved\.yaml, VM a, field nics\[0\]\.ipv4\[0\]: The address 10\.1\.1\.253 is reserved by Alibaba Cloud/],
      [],
      rehostInProcess,
      { names: ["a"], blocked: ["a"] },
    );
  });

  it("overlapping subnets", async () => {
    const inv = write("overlap.yaml", {
      networks: [
        { portgroup: "web", cidr: "10.1.1.0/24" },
        { portgroup: "wide", cidr: "10.1.0.0/16" },
      ],
      vms: [vm("a", ["10.1.1.7"]), vm("b", ["10.1.2.7"], { nics: [{ mac: "00:50:56:00:00:02", portgroup: "wide", ipv4: ["10.1.2.7"] }] })],
    });
    await expectExit2(
      inv,
      wavesFor(["a", "b"]),
      [/overlap\.yaml, field networks\[0\]\.cidr: The subnet 10\.1\.1\.0\/24 of portgroup web overlaps 10\.1\.0\.0\/16/],
      [],
      rehostInProcess,
      { names: ["a", "b"], blocked: [] },
    );
  });

  it("a negative disk size", async () => {
    const inv = write("negative.yaml", { networks, vms: [vm("a", ["10.1.1.7"], { disks: [{ key: 2000, label: "Hard disk 1", capacityBytes: -5 }] })] });
    const plan = await expectExit2(inv, wavesFor(["a"]), [/negative\.yaml, VM a, field disks\[0\]\.capacityBytes/], [], rehostInProcess, {
      names: ["a"],
      blocked: ["a"],
    });
    expect(plan!.blocked![0]).toMatchObject({ name: "a", wave: "w1", reasons: [expect.objectContaining({ field: "disks[0].capacityBytes" })] });
  });

  it("a wave naming an unknown VM", async () => {
    const inv = write("known.yaml", { networks, vms: [vm("a", ["10.1.1.7"])] });
    await expectExit2(
      inv,
      wavesFor(["a", "ghost"]),
      [/w-out-.*\.yaml, VM ghost, field waves\[0\]\.members\.vms\[1\]: Wave w1 names the VM ghost/],
      [],
      rehostInProcess,
      { names: ["a"], blocked: [] },
    );
  });

  it("an RVTools CSV missing a required column", async () => {
    const rv = path.join(dir, "rvtools-broken");
    fs.cpSync(path.join(exchange, "rvtools"), rv, { recursive: true });
    const info = path.join(rv, "RVTools_tabvInfo.csv");
    const drop = dropCsvColumn(info, "vInfoCPUs", "\n");
    expect(drop).toBeGreaterThanOrEqual(0);
    await expectExit2(
      rv,
      YAML.parse(fs.readFileSync(path.join(exchange, "waves.yaml"), "utf8")),
      [/RVTools_tabvInfo\.csv.*CPUs/],
      ["--networks", path.join(exchange, "networks.yaml")],
    );
  });

  it("a --start that is not a calendar date", async () => {
    const run = await rehostInProcess("plan", ...exampleInputs("lab", { networks: false }), "--format", "md", "--start", "2026-02-30");
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: field --start: The start date is not a calendar date (received 2026-02-30; expected YYYY-MM-DD)");
    expect(run.stdout).toBe("");
  });

  it("reports the problems of the inventory and the waves file together", async () => {
    const inv = write("bad-inv.yaml", { networks, vms: [vm("a", ["10.1.1.7"], { cpus: 0 })] });
    await expectExit2(inv, { waves: [{ name: "Not Valid" }] }, [/bad-inv\.yaml, VM a, field cpus/, /field waves\[0\]\.name/]);
  });
});
