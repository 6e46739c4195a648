/**
 * Planning benchmark: `buildPlan` on a generated estate of 10,000 VMs / 30,000 disks in 100
 * subnets and 10 waves; target ≤ 2 s. The peer is the same planner on a tenth of the estate,
 * measured in the same run: a linear planner takes about 10× as long for 10× the VMs, a quadratic
 * one about 100×.
 */
import type { Inventory, Vm } from "../lib/inventory/schema";
import { type WavesFile, WavesFileSchema } from "../lib/inventory/waves";
import { buildPlan } from "../lib/plan";

const GiB = 2 ** 30;

function estate(vmCount: number, subnets: number, waves: number): { inventory: Inventory; waves: WavesFile } {
  const perSubnet = Math.ceil(vmCount / subnets);
  const vms: Vm[] = [];
  for (let i = 0; i < vmCount; i++) {
    const s = i % subnets;
    const host = 1 + Math.floor(i / subnets);
    if (host > 252 || perSubnet > 252) throw new Error("too many VMs per /24");
    const diskCount = 1 + (i % 5); // 1..5 disks, 3 on average.
    vms.push({
      uuid: `uuid-${i}`,
      name: `vm-${String(i).padStart(5, "0")}`,
      cpus: 1 << (i % 4),
      memoryMiB: 2048 << (i % 5),
      guestOs: { family: i % 3 === 0 ? "windows" : "linux", id: "guest" },
      firmware: "bios",
      powerState: "poweredOn",
      folder: `dc/folder-${i % waves}`,
      tags: [],
      disks: Array.from({ length: diskCount }, (_, k) => ({
        key: 2000 + k,
        label: `Hard disk ${k + 1}`,
        capacityBytes: (k === 0 ? 60 : 100 + ((i * 7 + k * 13) % 900)) * GiB,
        allocatedBytes: (k === 0 ? 30 : 50 + ((i * 7 + k * 13) % 400)) * GiB,
        thin: true,
        controller: "pvscsi",
        backing: "flat" as const,
      })),
      nics: [{ mac: "00:50:56:00:00:00", portgroup: `pg-${s}`, ipv4: [`10.${100 + Math.floor(s / 200)}.${s % 200}.${host}`], adapter: "vmxnet3" }],
    });
  }
  const networks = Array.from({ length: subnets }, (_, s) => ({ portgroup: `pg-${s}`, cidr: `10.${100 + Math.floor(s / 200)}.${s % 200}.0/24` }));
  const wavesFile = WavesFileSchema.parse({
    waves: Array.from({ length: waves }, (_, w) => ({ name: `wave-${w}`, members: { folders: [`dc/folder-${w}`] } })),
  });
  return { inventory: { vms, networks }, waves: wavesFile };
}

/** Median wall-clock and CPU milliseconds of `runs` calls (CPU time is steadier on a busy machine). */
function time(fn: () => void, runs: number): { wall: number; cpu: number } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    (globalThis as { gc?: () => void }).gc?.();
    const start = process.hrtime.bigint();
    const used = process.cpuUsage();
    fn();
    const spent = process.cpuUsage(used);
    wall.push(Number(process.hrtime.bigint() - start) / 1e6);
    cpu.push((spent.user + spent.system) / 1e3);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { wall: median(wall), cpu: median(cpu) };
}

const big = estate(10_000, 100, 10);
const small = estate(1_000, 100, 10);
const diskCount = big.inventory.vms.reduce((s, vm) => s + vm.disks.length, 0);

// Warm up the JIT on the small estate, then measure both.
buildPlan(small.inventory, small.waves);
const plan = buildPlan(big.inventory, big.waves);
const errors = plan.problems.filter((p) => p.severity === "error");
if (errors.length > 0) throw new Error(`the generated estate has problems: ${errors[0]!.message}`);

const smallMs = time(() => buildPlan(small.inventory, small.waves), 7);
const bigMs = time(() => buildPlan(big.inventory, big.waves), 5);
const gateways = plan.waves.reduce((s, w) => s + w.gateways.length, 0);

console.log(
  `estate: ${big.inventory.vms.length} VMs, ${diskCount} disks, ${big.inventory.networks.length} subnets, ${big.waves.waves.length} waves → ${gateways} gateways`,
);
console.log(
  `buildPlan 10,000 VMs: ${bigMs.wall.toFixed(0)} ms wall, ${bigMs.cpu.toFixed(0)} ms CPU (median of 5); target ≤ 2000 ms: ${bigMs.wall <= 2000 ? "met" : "MISSED"}`,
);
console.log(`buildPlan  1,000 VMs: ${smallMs.wall.toFixed(1)} ms wall, ${smallMs.cpu.toFixed(1)} ms CPU (median of 7)`);
console.log(`scaling 10× VMs → ${(bigMs.cpu / smallMs.cpu).toFixed(1)}× CPU time (linear ≈ 10×, quadratic ≈ 100×)`);
if (bigMs.wall > 2000) process.exitCode = 1;
