import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInventory, loadWaves } from "../../lib/inventory";
import { buildPlan } from "../../lib/plan/build";
import type { Plan } from "../../lib/plan/types";
import { InputError } from "../../lib/problems";
import { runOfflinePreview, type PreviewResult } from "../../lib/preview";
import { rehostSync } from "../helpers/cli";
import { tempDir } from "../helpers/tmp";

const ROOT = path.resolve(__dirname, "..", "..");
const EXAMPLE = path.join(ROOT, "examples", "exchange-center");
const VPC = "alicloud:vpc/network:Network";
const BLOCK = "alicloud:vpc/ipv4CidrBlock:Ipv4CidrBlock";

let plan: Plan;
let tmp: string;
let landing: PreviewResult;
let wave: PreviewResult;
let rehearsal: PreviewResult;

beforeAll(async () => {
  const inventory = await loadInventory(path.join(EXAMPLE, "inventory.yaml"), { networks: path.join(EXAMPLE, "networks.yaml") });
  plan = buildPlan(inventory, await loadWaves(path.join(EXAMPLE, "waves.yaml")));
  tmp = tempDir("rehost-preview-");
  landing = await runOfflinePreview({ stack: "landing-zone", projectDir: ROOT });
  wave = await runOfflinePreview({ stack: "wave-1", projectDir: ROOT });
  rehearsal = await runOfflinePreview({ stack: "wave-1-rehearsal-1", projectDir: ROOT });
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The VPC CIDR blocks a preview declares: primary first, then the secondary blocks. */
function vpcBlocks(result: PreviewResult): string[][] {
  return result.recorded
    .filter((r) => r.type === VPC)
    .map((vpc) => [
      vpc.inputs.cidrBlock as string,
      ...result.recorded.filter((b) => b.type === BLOCK && b.inputs.vpcId === vpc.id).map((b) => b.inputs.secondaryCidrBlock as string),
    ]);
}

function rehost(args: string[]) {
  return rehostSync(args, { timeout: 90_000 });
}

/** Writes a stack config into the temp stacks dir. */
function stackFile(name: string, lines: string[]): void {
  fs.writeFileSync(path.join(tmp, `Pulumi.${name}.yaml`), `config:\n${lines.map((l) => `  ${l}`).join("\n")}\n`);
}

/** A wave stack's gateway runtime (required): a Node.js already on the image. */
const RUNTIME = 'rehost:gatewayRuntime: {"manager":"none","node":"/usr/bin/node"}';

const COMMON = [
  "rehost:inventory: examples/exchange-center/inventory.yaml",
  "rehost:networks: examples/exchange-center/networks.yaml",
  "rehost:waves: examples/exchange-center/waves.yaml",
];

describe("rehost preview on the exchange-centre example", () => {
  it("lists every VM of wave 1 with its pinned IP in a vSwitch of its subnet (CLI, --json)", () => {
    // Wave 1 is in cutover: judge its change window as of a time inside it (2026-03-06 22:00 to 03-07 06:00).
    const cli = rehost(["preview", "--stack", "wave-1", "--json", "--at", "2026-03-07T01:00:00+08:00"]);
    expect(cli.status, cli.stderr).toBe(0);
    const json = JSON.parse(cli.stdout) as {
      stack: string;
      resources: Array<{ type: string; name: string; parent: string | null; inputs: Record<string, unknown> }>;
      policyViolations: unknown[];
    };
    expect(Object.keys(json).sort()).toEqual(["policyViolations", "resources", "stack"]);
    expect(json.stack).toBe("wave-1");
    expect(json.policyViolations).toEqual([]);
    for (const r of json.resources) expect(Object.keys(r).sort()).toEqual(["inputs", "name", "parent", "type"]);
    const wave = plan.waves.find((w) => w.name === "wave-1-infra")!;
    const instances = json.resources.filter(
      (r) => r.type === "alicloud:ecs/instance:Instance" && (r.inputs.tags as Record<string, string>)["rehost:source-vm"],
    );
    expect(instances).toHaveLength(wave.vms.length);
    for (const vm of wave.vms) {
      const host = instances.find((i) => i.inputs.instanceName === vm.name);
      expect(host, vm.name).toBeDefined();
      expect(host!.inputs.privateIp).toBe(vm.nics[0]!.ips[0]);
      const subnet = wave.subnets.find((s) => s.cidr === vm.nics[0]!.subnet)!;
      // The vSwitch lives in the landing-zone stack: its id is the one that stack's preview gave
      // the vSwitch of the VM's subnet, whose CIDR is the source subnet's.
      const vswitch = landing.recorded.find((r) => r.id === host!.inputs.vswitchId);
      expect(vswitch?.type).toBe("alicloud:vpc/switch:Switch");
      expect(vswitch?.inputs.cidrBlock).toBe(subnet.cidr);
      expect(host!.inputs.internetMaxBandwidthOut).toBe(0);
    }
    expect(cli.stdout).not.toContain("placeholder-set-with");
    // Progress went to stderr: the referenced landing zone first, then the wave.
    expect(cli.stderr).toMatch(/preview: landing-zone: \d+ resources .*\n(.|\n)*preview: wave-1: \d+ resources/);
  });

  it("gives the rehearsal VPC the landing zone's CIDRs and no CEN attachment", async () => {
    expect(rehearsal.referencedStacks).toEqual(["landing-zone", "wave-1"]);
    expect(vpcBlocks(landing)).toEqual([[...plan.vpc.cidrBlocks]]);
    expect(vpcBlocks(rehearsal)).toEqual(vpcBlocks(landing));
    expect(
      rehearsal.resources.filter(
        (r) => r.type.startsWith("alicloud:cen/") || r.type.startsWith("alicloud:expressconnect/") || r.type.startsWith("alicloud:vpn/"),
      ),
    ).toEqual([]);
    expect(
      landing.resources.some(
        (r) => r.type === "alicloud:cen/transitRouterVpcAttachment:TransitRouterVpcAttachment" && r.inputs.vpcId === "landing-zone-vpc-id",
      ),
    ).toBe(true);
    // Its hosts snapshot the replicas the wave stack declared.
    const replicas = new Set(wave.recorded.filter((r) => r.type === "alicloud:ecs/ecsDisk:EcsDisk").map((r) => r.id));
    const snapshots = rehearsal.resources.filter((r) => r.type === "alicloud:ecs/ecsSnapshot:EcsSnapshot");
    expect(snapshots.length).toBe(replicas.size);
    for (const s of snapshots) expect(replicas.has(s.inputs.diskId as string)).toBe(true);
    expect(rehearsal.pinnedIps.map((p) => p.ip).sort()).toEqual(wave.pinnedIps.map((p) => p.ip).sort());
  });

  it("advertises to on-prem only the sync ranges and the subnets of cut-over waves", () => {
    const routes = landing.resources
      .filter((r) => r.type === "alicloud:cen/transitRouterRouteEntry:TransitRouterRouteEntry")
      .map((r) => r.inputs.transitRouterRouteEntryDestinationCidrBlock);
    const wave1 = plan.waves[0]!;
    const later = new Set(plan.waves.slice(1).flatMap((w) => w.subnets.map((s) => s.cidr)));
    const expected = [...plan.waves.map((w) => w.syncSubnet.cidr), ...wave1.subnets.map((s) => s.cidr).filter((c) => !later.has(c))];
    expect([...routes].sort()).toEqual([...new Set(expected)].sort());
  });

  it("wires replication, cutover and the rehearsal point to the gateways, devices and snapshots", () => {
    const planned = plan.waves[0]!;
    const outputs = wave.outputs as { agentEndpoints: Record<string, string>; devices: Record<string, string> };
    const disks = planned.vms.flatMap((vm) => vm.disks);
    const replications = wave.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/rehost:Replication");
    expect(replications).toHaveLength(disks.length);
    for (const disk of disks) {
      const r = replications.find((x) => x.inputs.jobId === disk.id)!;
      expect(r.inputs).toMatchObject({
        agentUrl: outputs.agentEndpoints[disk.gateway],
        target: outputs.devices[disk.id],
        source: `nbds://10.30.9.10:10809/${disk.id}`,
        round: 9,
      });
    }
    const cutovers = wave.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/rehost:Cutover");
    for (const vm of planned.vms) {
      const mine = cutovers.filter((c) => c.inputs.vm === vm.uuid);
      expect(mine.flatMap((c) => c.inputs.jobIds as string[]).sort()).toEqual(vm.disks.map((d) => d.id).sort());
      for (const c of mine) expect(c.inputs.round).toBe(10);
    }
    // Every cutover waits for every replication of the wave.
    const replicationNames = wave.recorded.filter((r) => r.type === "pulumi-nodejs:dynamic/rehost:Replication").map((r) => r.name);
    expect(replicationNames).toHaveLength(disks.length);
    const recordedCutovers = wave.recorded.filter((r) => r.type === "pulumi-nodejs:dynamic/rehost:Cutover");
    expect(recordedCutovers).toHaveLength(cutovers.length);
    for (const c of recordedCutovers) expect(c.dependencies).toEqual(expect.arrayContaining(replicationNames));
    // Hosts are built from snapshots taken at the digests the cutover verified.
    const snapshots = wave.resources.filter((r) => r.type === "alicloud:ecs/ecsSnapshot:EcsSnapshot");
    expect(snapshots).toHaveLength(disks.length);
    for (const s of snapshots) expect(s.inputs.description).toContain(`verified digest preview:${(s.inputs.tags as Record<string, string>)["rehost:disk"]}`);
    // The rehearsal freezes each gateway's jobs, snapshots at that point, then thaws after the snapshots.
    const points = rehearsal.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/rehost:RehearsalPoint");
    expect(points.map((p) => p.inputs.agentUrl).sort()).toEqual(Object.values(outputs.agentEndpoints).sort());
    expect(points.flatMap((p) => p.inputs.jobIds as string[]).sort()).toEqual(disks.map((d) => d.id).sort());
    const rehearsalSnapshots = rehearsal.recorded.filter((r) => r.type === "alicloud:ecs/ecsSnapshot:EcsSnapshot");
    for (const s of rehearsalSnapshots) expect(s.inputs.description).toMatch(/at round 0, digest preview:/);
    const thaws = rehearsal.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/rehost:RehearsalThaw");
    expect(thaws).toHaveLength(points.length);
    for (const t of thaws) expect([...(t.inputs.snapshots as string[])].sort()).toEqual(rehearsalSnapshots.map((s) => s.id).sort());
  });

  it("gives no gateway or host of the example a public IP, and no gateway more disks than the limit", () => {
    for (const result of [wave, rehearsal]) {
      const instances = result.resources.filter((r) => r.type === "alicloud:ecs/instance:Instance");
      for (const i of instances) {
        if ((i.inputs.tags as Record<string, string>)["rehost:role"] === "bastion") continue;
        expect(i.inputs.internetMaxBandwidthOut, i.name).toBe(0);
      }
    }
    const gateways = wave.recorded.filter(
      (r) => r.type === "alicloud:ecs/instance:Instance" && (r.inputs.tags as Record<string, string>)["rehost:role"] === "sync-gateway",
    );
    expect(gateways).toHaveLength(plan.waves[0]!.gateways.length);
    for (const gw of gateways) {
      const attached = wave.recorded.filter((r) => r.type === "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment" && r.inputs.instanceId === gw.id);
      expect(attached.length).toBeGreaterThan(0);
      expect(attached.length).toBeLessThanOrEqual(16);
    }
  });

  it("keeps the wave-1 graph stable (snapshot)", async () => {
    const graph = [...wave.resources].sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
    await expect(`${JSON.stringify(graph, null, 1)}\n`).toMatchFileSnapshot("__snapshots__/exchange-center-wave-1.graph.json");
  });
});

describe("bad stack config", () => {
  async function problemsOf(stack: string) {
    const error = await runOfflinePreview({ stack, stacksDir: tmp, projectDir: ROOT }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).problems;
  }

  it("names rehost:role when the role is unknown, and the CLI exits 2", async () => {
    stackFile("bad-role", ["rehost:role: wavez", ...COMMON]);
    expect((await problemsOf("bad-role")).map((p) => p.field)).toEqual(["rehost:role"]);
    const cli = rehost(["preview", "--stack", "bad-role", "--stacks", tmp]);
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain("rehost:role");
    expect(cli.stderr).toContain("wavez");
    expect(cli.stdout).toBe("");
  });

  it("names rehost:wave when the wave is not in the plan", async () => {
    stackFile(
      "landing-zone",
      fs
        .readFileSync(path.join(ROOT, "stacks", "Pulumi.landing-zone.yaml"), "utf8")
        .split("\n")
        .filter((l) => l.startsWith("  "))
        .map((l) => l.slice(2)),
    );
    stackFile("ghost", [
      "rehost:role: wave",
      ...COMMON,
      RUNTIME,
      "rehost:wave: wave-9",
      "rehost:landingZoneStack: landing-zone",
      "rehost:sourceNbd: nbd://127.0.0.1:10809",
      "rehost:agentToken: t",
      "rehost:agentPsk: p",
    ]);
    const problems = await problemsOf("ghost");
    expect(problems.map((p) => p.field)).toEqual(["rehost:wave"]);
    expect(problems[0]!.expected).toContain("wave-1-infra");
  });

  it("names rehost:landingZoneStack when the reference is missing or points nowhere", async () => {
    stackFile("orphan", [
      "rehost:role: wave",
      ...COMMON,
      RUNTIME,
      "rehost:wave: wave-2-portal",
      "rehost:sourceNbd: nbd://127.0.0.1:10809",
      "rehost:agentToken: t",
      "rehost:agentPsk: p",
    ]);
    expect((await problemsOf("orphan")).map((p) => p.field)).toEqual(["rehost:landingZoneStack"]);
    stackFile("dangling", [
      "rehost:role: wave",
      ...COMMON,
      RUNTIME,
      "rehost:wave: wave-2-portal",
      "rehost:landingZoneStack: nowhere",
      "rehost:sourceNbd: nbd://127.0.0.1:10809",
      "rehost:agentToken: t",
      "rehost:agentPsk: p",
    ]);
    const problems = await problemsOf("dangling");
    expect(problems.map((p) => p.field)).toEqual(["rehost:landingZoneStack"]);
    expect(problems[0]!.message).toContain("nowhere");
  });

  it("names a misspelt key, in the config file that was read", async () => {
    stackFile("typo", [
      "rehost:role: wave",
      ...COMMON,
      RUNTIME,
      "rehost:wave: wave-2-portal",
      "rehost:landingZoneStack: landing-zone",
      "rehost:sourceNbd: nbd://127.0.0.1:10809",
      "rehost:rounds: 2",
      "rehost:agentToken: t",
      "rehost:agentPsk: p",
    ]);
    const problems = await problemsOf("typo");
    expect(problems.map((p) => p.field)).toEqual(["rehost:rounds"]);
    expect(problems[0]!.file).toBe(path.relative(ROOT, path.join(tmp, "Pulumi.typo.yaml")));
  });

  it("shows a wave stack's missing secrets as placeholders offline, and names them when the stack runs for real", async () => {
    const lines = [
      "rehost:role: wave",
      ...COMMON,
      RUNTIME,
      "rehost:wave: wave-2-portal",
      "rehost:landingZoneStack: landing-zone",
      "rehost:sourceNbd: nbd://127.0.0.1:10809",
    ];
    stackFile("no-secrets", lines);
    fs.copyFileSync(path.join(ROOT, "stacks", "Pulumi.landing-zone.yaml"), path.join(tmp, "Pulumi.landing-zone.yaml"));
    const offline = await runOfflinePreview({ stack: "no-secrets", stacksDir: tmp, projectDir: ROOT });
    expect(offline.resources.some((r) => r.type === "alicloud:ecs/instance:Instance")).toBe(true);
    // Under Pulumi (no offline flag) the program stops at its config check.
    const config = Object.fromEntries(lines.map((l) => l.split(": ")).map(([k, v]) => [k, v]));
    const { runUnderMocks } = await import("../../lib/preview/mocks.js");
    const error = await runUnderMocks({ project: "rehost", stack: "no-secrets", config }, async () => {
      const program = (await import("../../stacks/index.js")).default as unknown as (dir: string) => Promise<unknown>;
      return program(ROOT);
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as InputError).problems.map((p) => p.field)).toEqual(["rehost:agentToken", "rehost:agentPsk"]);
  });
});

describe("program errors", () => {
  it("end the preview with the error instead of hanging (a wave reading another plan's landing zone)", () => {
    const dir = tempDir("mismatch-", tmp);
    fs.copyFileSync(path.join(ROOT, "examples", "lab", "stacks", "Pulumi.landing-zone.yaml"), path.join(dir, "Pulumi.landing-zone.yaml"));
    fs.copyFileSync(path.join(ROOT, "stacks", "Pulumi.wave-2.yaml"), path.join(dir, "Pulumi.wave-2.yaml"));
    const cli = rehost(["preview", "--stack", "wave-2", "--stacks", dir]);
    expect(cli.status).toBe(3);
    expect(cli.stderr).toContain("the landing zone has no sync vSwitch for wave wave-2-portal");
    expect(cli.stdout).toBe("");
  });
});
