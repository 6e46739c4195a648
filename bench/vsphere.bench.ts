/**
 * Reading the estate from vCenter: rehost's `estate()` (SOAP over HTTPS, fast-xml-parser, mapping
 * onto the inventory schema) against govmomi reading the same properties through the same kind of
 * container view and decoding them into its Go types, both against the same vcsim in this run.
 *
 * npm run bench -- vsphere         (REHOST_BENCH_VMS=1000 for a bigger estate)
 */
import { execFileSync } from "node:child_process";
import { connectVSphere } from "../lib/vsphere";
import { PASSWORD, startVcsim, USER, vcsimBinary, type EstateSpec } from "../test/vsphere/harness";

const VMS = Number(process.env.REHOST_BENCH_VMS ?? 300);
const RUNS = 7;

function estate(count: number): EstateSpec {
  const portgroups = Array.from({ length: 8 }, (_, i) => ({ name: `pg-${i}`, vlan: 100 + i }));
  return {
    portgroups,
    vms: Array.from({ length: count }, (_, i) => ({
      name: `vm-${String(i).padStart(4, "0")}`,
      folder: `site/app-${i % 10}`,
      cpus: 2,
      memoryMiB: 4096,
      guestId: "rhel8_64Guest",
      disks: [{ capacityMiB: 1 }, { capacityMiB: 1 }],
      nics: [
        { portgroup: `pg-${i % 8}`, ips: [`10.${i % 8}.${Math.floor(i / 250)}.${(i % 250) + 2}`] },
        { portgroup: `pg-${(i + 1) % 8}`, ips: [] },
      ],
      powerState: i % 5 === 0 ? ("poweredOff" as const) : ("poweredOn" as const),
    })),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function main(): Promise<void> {
  const binary = vcsimBinary();
  const started = Date.now();
  const sim = await startVcsim(estate(VMS));
  process.stdout.write(`vcsim with ${VMS} VMs (2 disks, 2 NICs each) ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  try {
    const vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    await vc.estate(); // warm-up: the first run pays for JIT compilation of the XML parser
    const ours: number[] = [];
    const peer: number[] = [];
    let peerObjects = 0;
    for (let run = 0; run < RUNS; run++) {
      const t0 = process.hrtime.bigint();
      const result = await vc.estate();
      ours.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (result.inventory.vms.length !== VMS) throw new Error(`estate() listed ${result.inventory.vms.length} VMs, not ${VMS}`);
      const out = execFileSync(binary, ["retrieve", "-url", sim.url, "-ca", sim.ca, "-user", USER, "-runs", "1"], {
        env: { ...process.env, VCSIM_PASSWORD: PASSWORD },
        encoding: "utf8",
      });
      const parsed = JSON.parse(out) as { objects: number; ms: number[] };
      peerObjects = parsed.objects;
      peer.push(...parsed.ms);
    }
    await vc.logout();
    const best = (xs: number[]) => Math.min(...xs);
    process.stdout.write(`objects read: ${peerObjects} (VMs, folders, portgroups, hosts, datastores)\n`);
    process.stdout.write(`rehost estate():            best ${best(ours).toFixed(1)} ms, median ${median(ours).toFixed(1)} ms\n`);
    process.stdout.write(`govmomi RetrievePropertiesEx: best ${best(peer).toFixed(1)} ms, median ${median(peer).toFixed(1)} ms\n`);
    process.stdout.write(`ratio (best): ${(best(ours) / best(peer)).toFixed(2)}× govmomi; (median): ${(median(ours) / median(peer)).toFixed(2)}×\n`);
  } finally {
    await sim.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
