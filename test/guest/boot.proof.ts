/**
 * The boot proof of guest adaptation (`npm run test:boot`, or `npm test` with
 * REHOST_BOOT_TESTS=1): a Debian 12 image as VMware leaves it boots on VMware's paravirtual SCSI,
 * does not boot on a virtio disk, is adapted by `adaptDisk`, and then boots on a virtio disk with
 * a virtio NIC, printing its marker and its DHCP configuration on the serial console.
 * Every boot is qemu-system-x86_64 under TCG.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adaptDisk, GuestfishSession, type AdaptReport } from "../../lib/guest";
import { InputError } from "../../lib/problems";
import { tempDir } from "../helpers/tmp";

const repo = path.resolve(__dirname, "../..");
const buildScript = path.join(repo, "scripts/guest/build-test-image.sh");
const cacheRoot = path.join(repo, ".rehost/guest-cache");
const BOOT_TIMEOUT_MS = 900_000;

interface Image {
  readonly dir: string;
  readonly kernel: string;
  readonly rootUuid: string;
}

/** The cached image, built when the build script changed (its hash names the cache entry). */
function cachedImage(): Image {
  const hash = createHash("sha256").update(fs.readFileSync(buildScript)).digest("hex").slice(0, 16);
  const dir = path.join(cacheRoot, `image-${hash}`);
  if (!fs.existsSync(path.join(dir, "image.json"))) {
    if (process.getuid?.() !== 0) throw new Error(`building the test image needs root (debootstrap): run as root once, or run ${buildScript} ${dir} as root`);
    const building = `${dir}.building`;
    fs.rmSync(building, { recursive: true, force: true });
    const r = spawnSync("bash", [buildScript, building, path.join(cacheRoot, "debs")], { stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) throw new Error(`${buildScript} failed with exit ${r.status}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(building, dir);
  }
  const meta = JSON.parse(fs.readFileSync(path.join(dir, "image.json"), "utf8")) as { kernel: string; rootUuid: string };
  return { dir, kernel: meta.kernel, rootUuid: meta.rootUuid };
}

const running = new Set<number>();

interface Boot {
  readonly console: string;
  readonly exitCode: number | null;
}

/** Boots under TCG until the guest powers off or reboots (-no-reboot), returning the serial console. */
function boot(work: string, name: string, kernel: string, initrd: string, cmdline: string, devices: string[]): Promise<Boot> {
  const log = path.join(work, `${name}.console.log`);
  const args = [
    "-machine",
    "pc,accel=tcg",
    "-m",
    "512",
    "-smp",
    "1",
    "-display",
    "none",
    "-monitor",
    "none",
    "-serial",
    `file:${log}`,
    "-no-reboot",
    "-kernel",
    kernel,
    "-initrd",
    initrd,
    "-append",
    `${cmdline} console=ttyS0 panic=1`,
    ...devices,
  ];
  return new Promise((resolve, reject) => {
    const qemu = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    qemu.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    running.add(qemu.pid!);
    const timer = setTimeout(() => qemu.kill("SIGKILL"), BOOT_TIMEOUT_MS);
    qemu.on("error", reject);
    qemu.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(qemu.pid!);
      const console = fs.existsSync(log) ? fs.readFileSync(log, "latin1") : "";
      if (signal !== null) reject(new Error(`${name} boot did not end within ${BOOT_TIMEOUT_MS / 1000} s; console tail:\n${console.slice(-2000)}`));
      else if (code !== 0) reject(new Error(`qemu failed (exit ${code}): ${stderr}`));
      else resolve({ console, exitCode: code });
    });
  });
}

const markerLines = (console: string) => console.split(/\r?\n/).filter((l) => l.startsWith("REHOST-"));

describe("a VMware-built Debian guest boots on virtio after adaptDisk", () => {
  let image: Image;
  let work: string;
  let disk: string;
  let report: AdaptReport;
  const timings: Record<string, number> = {};

  beforeAll(() => {
    const setup = spawnSync("bash", [path.join(repo, "scripts/guest/setup-boot.sh")], { stdio: ["ignore", "inherit", "inherit"] });
    if (setup.status !== 0) throw new Error("scripts/guest/setup-boot.sh failed: install the packages it lists");
    const t = Date.now();
    image = cachedImage();
    timings["image (cached or built)"] = Date.now() - t;
    work = tempDir("rehost-boot-");
    disk = path.join(work, "clone.qcow2");
    // The clone the adaptation works on: a copy-on-write overlay of the cached image.
    const r = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", path.join(image.dir, "disk.raw"), "-F", "raw", disk]);
    expect(r.status, r.stderr?.toString()).toBe(0);
  });

  afterAll(() => {
    for (const pid of running) process.kill(pid, "SIGKILL");
    if (work) fs.rmSync(work, { recursive: true, force: true });
    process.stdout.write(
      `boot proof timings (s): ${Object.entries(timings)
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`)
        .join(", ")}\n`,
    );
  });

  it("boots on VMware's paravirtual SCSI before adaptation (the image itself is sound)", async () => {
    const t = Date.now();
    const control = path.join(work, "control.qcow2");
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", disk, "-F", "qcow2", control]);
    const b = await boot(work, "pvscsi", path.join(image.dir, "vmlinuz"), path.join(image.dir, "initrd.img"), "root=/dev/sda1 ro quiet", [
      "-drive",
      `file=${control},if=none,id=d0,format=qcow2`,
      "-device",
      "pvscsi",
      "-device",
      "scsi-hd,drive=d0",
    ]);
    timings["pvscsi boot"] = Date.now() - t;
    const lines = markerLines(b.console);
    expect(lines.find((l) => l.startsWith("REHOST-BOOT-MARKER"))).toContain("root=/dev/sda1");
    fs.rmSync(control);
  });

  it("refuses a disk without an operating system as bad input, leaving it unchanged", async () => {
    const blank = path.join(work, "blank.raw");
    fs.writeFileSync(blank, Buffer.alloc(0));
    fs.truncateSync(blank, 64 * 2 ** 20);
    const err = await adaptDisk(blank).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).problems).toEqual([expect.objectContaining({ file: blank, field: "disk", expected: "the VM's system disk" })]);
    expect(fs.statSync(blank).blocks).toBe(0);
  });

  it("does not boot with a virtio disk before adaptation", async () => {
    const t = Date.now();
    const b = await boot(work, "virtio-before", path.join(image.dir, "vmlinuz"), path.join(image.dir, "initrd.img"), "root=/dev/sda1 ro quiet", [
      "-drive",
      `file=${disk},if=virtio,format=qcow2,readonly=on`,
      "-netdev",
      "user,id=n0",
      "-device",
      "virtio-net-pci,netdev=n0",
    ]);
    timings["virtio boot before"] = Date.now() - t;
    expect(b.console).toContain("Gave up waiting for root file system device");
    expect(b.console).toContain("ALERT!  /dev/sda1 does not exist");
    expect(markerLines(b.console)).toEqual([]);
  });

  it("adapts the disk: virtio in the initramfs, UUIDs, DHCP on eth0, VMware Tools off", async () => {
    const t = Date.now();
    const steps: string[] = [];
    report = await adaptDisk(disk, { staticSecondary: [{ device: "eth0", address: "10.0.2.50", prefixLength: 24 }], onProgress: (s) => steps.push(s) });
    timings["adaptDisk"] = Date.now() - t;
    expect(report.ok, report.warnings.join("\n")).toBe(true);
    expect(report.os).toMatchObject({ family: "debian", id: "debian", version: "12", initramfsTool: "update-initramfs", network: "ifupdown" });
    expect(report.kernels).toEqual([
      {
        version: image.kernel,
        initramfs: `/boot/initrd.img-${image.kernel}`,
        modules: { virtio_pci: "initramfs", virtio_blk: "initramfs", virtio_scsi: "initramfs", virtio_net: "initramfs" },
        rebuilt: true,
      },
    ]);
    const changed = report.changes.map((c) => `${c.area} ${c.action} ${c.path}`);
    expect(changed).toEqual(
      expect.arrayContaining([
        "fstab write /etc/fstab",
        "bootloader write /boot/grub/grub.cfg",
        "bootloader write /etc/default/grub",
        "network move /etc/udev/rules.d/70-persistent-net.rules",
        "network write /etc/network/interfaces",
        "vmware-tools remove /etc/systemd/system/multi-user.target.wants/open-vm-tools.service",
        "initramfs write /etc/initramfs-tools/modules",
        `initramfs run /boot/initrd.img-${image.kernel}`,
      ]),
    );
    expect(report.rewrites).toContainEqual({ from: "/dev/sda1", to: `UUID=${image.rootUuid}`, where: "/" });
    expect(steps).toContain("virtio drivers in the initramfs");
  });

  it("boots the adapted disk on virtio-blk and virtio-net, with DHCP on eth0 and the secondary address", async () => {
    const t = Date.now();
    // Kernel, initramfs and command line come from the adapted disk, as its boot loader would load them.
    const session = await GuestfishSession.open([{ path: disk }], { readonly: true });
    let grubCfg: string;
    try {
      grubCfg = (await session.readFile("/boot/grub/grub.cfg")) ?? "";
      await session.call("download", `/boot/vmlinuz-${image.kernel}`, path.join(work, "vmlinuz"));
      await session.call("download", `/boot/initrd.img-${image.kernel}`, path.join(work, "initrd.img"));
    } finally {
      await session.close();
    }
    timings["extract kernel"] = Date.now() - t;
    const linux = /^\s*linux\s+(\S+)\s+(.*)$/m.exec(grubCfg);
    expect(linux?.[1]).toBe(`/boot/vmlinuz-${image.kernel}`);
    const cmdline = linux![2]!.trim();
    expect(cmdline).toBe(`root=UUID=${image.rootUuid} ro  quiet net.ifnames=0 biosdevname=0`);

    const t2 = Date.now();
    const b = await boot(work, "virtio-after", path.join(work, "vmlinuz"), path.join(work, "initrd.img"), cmdline, [
      "-drive",
      `file=${disk},if=virtio,format=qcow2`,
      "-netdev",
      "user,id=n0",
      "-device",
      "virtio-net-pci,netdev=n0",
    ]);
    timings["virtio boot after"] = Date.now() - t2;
    const lines = markerLines(b.console);
    expect(lines.find((l) => l.startsWith("REHOST-BOOT-MARKER"))).toMatch(/^REHOST-BOOT-MARKER root=\/dev\/vda1 /);
    const net = lines.filter((l) => l.startsWith("REHOST-NET") && l.includes(" eth0 "));
    expect(net.find((l) => l.includes("inet 10.0.2.15/24"))).toMatch(/scope global dynamic eth0/);
    expect(net.find((l) => l.includes("inet 10.0.2.50/24"))).toMatch(/scope global secondary eth0/);
    expect(lines).toContain("REHOST-ROUTE default via 10.0.2.2 dev eth0 ");
    expect(lines).toContain("REHOST-DHCP-LEASE /var/lib/dhcp/dhclient.eth0.leases");
  });
});
