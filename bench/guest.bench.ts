/**
 * Guest adaptation through libguestfs under TCG, on the boot proof's cached Debian 12 image
 * (`npm run test:boot` builds it):
 *  1. inspection: `GuestfishSession` (one `guestfish --listen` appliance, one `--remote` call per
 *     operation) detecting the OS and kernels, against the peer `guestfish --ro -i` single-shot
 *     reading the same files;
 *  2. the whole `adaptDisk` against the peer `virt-customize --run-command` doing only the
 *     initramfs rebuild, each on its own qcow2 overlay.
 * Prints seconds and the ratios ours/peer.
 */
import "tsx/cjs";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { adaptDisk, detectOs, GuestfishSession, installedKernels } from "../lib/guest";
import { tempDir } from "../test/helpers/tmp";

const cache = path.join(__dirname, "../.rehost/guest-cache");

function seconds(since: number): number {
  return (Date.now() - since) / 1000;
}

function overlay(dir: string, image: string, name: string): string {
  const file = path.join(dir, `${name}.qcow2`);
  const r = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", image, "-F", "raw", file]);
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return file;
}

async function main(): Promise<void> {
  const entry = fs.existsSync(cache)
    ? fs.readdirSync(cache).find((d) => d.startsWith("image-") && fs.existsSync(path.join(cache, d, "image.json")))
    : undefined;
  if (entry === undefined) throw new Error("no cached test image: run `npm run test:boot` once (as root) to build it");
  const image = path.join(cache, entry, "disk.raw");
  const env = { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" };
  const dir = tempDir("rehost-bench-guest-");
  try {
    let t = Date.now();
    const session = await GuestfishSession.open([{ path: image, format: "raw" }], { readonly: true });
    const detected = await detectOs(session, image);
    const kernels = await installedKernels(session);
    await session.close();
    const ours = seconds(t);
    t = Date.now();
    const peer = spawnSync("guestfish", ["--ro", "--format=raw", "-a", image, "-i", "cat", "/etc/os-release", ":", "ls", "/lib/modules", ":", "ls", "/boot"], {
      env,
    });
    if (peer.status !== 0) throw new Error(peer.stderr.toString());
    const peerSeconds = seconds(t);
    console.log(
      `inspection (${detected.prettyName}, kernels ${kernels.join(" ")}): GuestfishSession ${ours.toFixed(1)} s, guestfish -i single-shot ${peerSeconds.toFixed(1)} s, ratio ${(ours / peerSeconds).toFixed(2)}`,
    );

    t = Date.now();
    const report = await adaptDisk(overlay(dir, image, "ours"));
    const adaptSeconds = seconds(t);
    t = Date.now();
    const vc = spawnSync(
      "virt-customize",
      [
        "--format",
        "qcow2",
        "-a",
        overlay(dir, image, "peer"),
        "--run-command",
        "printf 'virtio_pci\\nvirtio_blk\\nvirtio_scsi\\nvirtio_net\\n' >> /etc/initramfs-tools/modules && update-initramfs -u -k all",
      ],
      { env },
    );
    if (vc.status !== 0) throw new Error(vc.stderr.toString());
    const vcSeconds = seconds(t);
    console.log(
      `adaptation (${report.changes.length} changes, ok ${report.ok}): adaptDisk ${adaptSeconds.toFixed(1)} s, virt-customize initramfs only ${vcSeconds.toFixed(1)} s, ratio ${(adaptSeconds / vcSeconds).toFixed(2)}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
