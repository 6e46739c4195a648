/**
 * The boot proof of Windows adaptation, opt-in: `REHOST_WINDOWS_IMAGE=PATH
 * REHOST_VIRTIO_WIN=PATH npm run test:boot` (add `-- windows` to run only this proof).
 *
 * It needs what this repository cannot ship: a Windows evaluation image the user supplies
 * (Server 2019/2022 evaluation, installed on VMware's paravirtual SCSI as VMware leaves it, with
 * Emergency Management Services on COM1: `bcdedit /ems {current} on` and `bcdedit /emssettings
 * EMSPORT:1 EMSBAUDRATE:115200`) and a virtio-win ISO or directory. Without them it is skipped
 * and says so. Every boot is qemu-system-x86_64 on a copy-on-write overlay of the image
 * (the image is never written); TCG unless REHOST_BOOT_ACCEL=kvm.
 *
 * 1. The image boots on `-device pvscsi`: EMS reports the Special Administration Console.
 * 2. It stops with INACCESSIBLE_BOOT_DEVICE (0x7B) on a virtio disk.
 * 3. `adaptDisk` adapts an overlay (secondary address 10.0.2.50/24 on the NIC qemu's DHCP gives
 *    10.0.2.15).
 * 4. The adapted overlay boots on virtio-blk with a virtio-net NIC; the first-boot script
 *    reports REHOST-FIRSTBOOT-DONE on COM2; its log, read back from the disk, shows every step ok.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adaptDisk, GuestfishSession, parseFirstBootLog, readDiskLayout, bootMode, type AdaptReport } from "../../lib/guest";
import { tempDir } from "../helpers/tmp";

const image = process.env["REHOST_WINDOWS_IMAGE"];
const virtioWin = process.env["REHOST_VIRTIO_WIN"];
const accel = process.env["REHOST_BOOT_ACCEL"] === "kvm" ? "kvm" : "tcg";
const BOOT_TIMEOUT_MS = Number(process.env["REHOST_WINDOWS_BOOT_MINUTES"] ?? "90") * 60_000;

if (image === undefined || virtioWin === undefined) {
  process.stdout.write(
    [
      "Windows boot proof skipped: it needs a Windows image and virtio drivers this repository cannot ship.",
      `  REHOST_WINDOWS_IMAGE=${image ?? "(unset)"}: a Windows Server evaluation image installed on pvscsi, EMS on COM1 (see docs/windows-guests.md)`,
      `  REHOST_VIRTIO_WIN=${virtioWin ?? "(unset)"}: the virtio-win ISO or directory`,
      "  Run: REHOST_WINDOWS_IMAGE=/path/win2019.qcow2 REHOST_VIRTIO_WIN=/path/virtio-win.iso npm run test:boot -- windows",
      "",
    ].join("\n"),
  );
}

const running = new Set<number>();

interface Boot {
  readonly com1: string;
  readonly com2: string;
  /** How the boot ended: the guest reset or powered off (qemu exited), or `until` matched and qemu was stopped. */
  readonly ended: "exited" | "matched";
}

/**
 * Boots `disk` with `devices` until `until` matches the serial output (COM1: EMS, COM2: the
 * first-boot summary), the guest resets (-no-reboot) or the timeout passes.
 */
function boot(work: string, name: string, uefi: boolean, devices: string[], until: RegExp): Promise<Boot> {
  const com1 = path.join(work, `${name}.com1.log`);
  const com2 = path.join(work, `${name}.com2.log`);
  const firmware = uefi
    ? ["-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd", "-drive", `if=pflash,format=raw,file=${ovmfVars(work, name)}`]
    : [];
  const args = [
    "-machine",
    `q35,accel=${accel}`,
    "-cpu",
    "max",
    "-m",
    "4096",
    "-smp",
    "2",
    "-display",
    "none",
    "-monitor",
    "none",
    "-no-reboot",
    "-serial",
    `file:${com1}`,
    "-serial",
    `file:${com2}`,
    ...firmware,
    ...devices,
  ];
  return new Promise((resolve, reject) => {
    const qemu = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    qemu.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    running.add(qemu.pid!);
    const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "latin1") : "");
    let matched = false;
    const poll = setInterval(() => {
      if (until.test(read(com1)) || until.test(read(com2))) {
        matched = true;
        qemu.kill("SIGTERM");
      }
    }, 5000);
    const timer = setTimeout(() => qemu.kill("SIGKILL"), BOOT_TIMEOUT_MS);
    qemu.on("error", reject);
    qemu.on("close", (code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      running.delete(qemu.pid!);
      const out = { com1: read(com1), com2: read(com2) };
      if (matched) resolve({ ...out, ended: "matched" });
      else if (signal !== null)
        reject(
          new Error(
            `${name}: nothing matching ${until} within ${BOOT_TIMEOUT_MS / 60000} min; COM1 tail:\n${out.com1.slice(-2000)}\nCOM2 tail:\n${out.com2.slice(-2000)}`,
          ),
        );
      else if (code !== 0) reject(new Error(`qemu failed (exit ${code}): ${stderr}`));
      else resolve({ ...out, ended: "exited" });
    });
  });
}

function ovmfVars(work: string, name: string): string {
  const vars = path.join(work, `${name}.OVMF_VARS.fd`);
  if (!fs.existsSync(vars)) fs.copyFileSync("/usr/share/OVMF/OVMF_VARS_4M.fd", vars);
  return vars;
}

function overlay(work: string, name: string, backing: string): string {
  const file = path.join(work, `${name}.qcow2`);
  const format = backing.endsWith(".qcow2") ? "qcow2" : "raw";
  const r = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", path.resolve(backing), "-F", format, file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`qemu-img create: ${r.stderr}`);
  return file;
}

/** EMS's Special Administration Console, printed on COM1 once Windows is up. */
const SAC_READY = /SAC (?:started and initialized|is ready)|EVENT: The CMD command is now available|Computer is booting, SAC started/i;
const STOP_7B = /INACCESSIBLE_BOOT_DEVICE|0x0*7B\b/i;

describe.skipIf(image === undefined || virtioWin === undefined)("a VMware-built Windows guest boots on virtio after adaptDisk", () => {
  let work: string;
  let uefi: boolean;
  let adapted: string;
  let report: AdaptReport;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const setup = spawnSync("bash", [path.join(__dirname, "../../scripts/guest/setup-boot.sh")], { stdio: ["ignore", "inherit", "inherit"] });
    if (setup.status !== 0) throw new Error("scripts/guest/setup-boot.sh failed: install the packages it lists");
    work = tempDir("rehost-windows-boot-");
    const layout = await readDiskLayout(image!, image!.endsWith(".qcow2") ? "qcow2" : "raw");
    uefi = bootMode(layout) === "uefi";
  });

  afterAll(() => {
    for (const pid of running) process.kill(pid, "SIGKILL");
    if (work) fs.rmSync(work, { recursive: true, force: true });
    process.stdout.write(
      `Windows boot proof timings (s): ${Object.entries(timings)
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(0)}`)
        .join(", ")}\n`,
    );
  });

  it(
    "boots on VMware's paravirtual SCSI before adaptation (the image itself is sound)",
    async () => {
      const t = Date.now();
      const disk = overlay(work, "pvscsi", image!);
      const b = await boot(
        work,
        "pvscsi",
        uefi,
        ["-drive", `file=${disk},if=none,id=d0,format=qcow2`, "-device", "pvscsi", "-device", "scsi-hd,drive=d0", "-nic", "user,model=e1000"],
        SAC_READY,
      );
      timings["pvscsi boot"] = Date.now() - t;
      expect(b.ended, "EMS must be on COM1 (bcdedit /ems {current} on)").toBe("matched");
      expect(b.com1).toMatch(SAC_READY);
    },
    BOOT_TIMEOUT_MS + 60_000,
  );

  it(
    "stops with INACCESSIBLE_BOOT_DEVICE (0x7B) on a virtio disk before adaptation",
    async () => {
      const t = Date.now();
      const disk = overlay(work, "virtio-before", image!);
      const b = await boot(work, "virtio-before", uefi, ["-drive", `file=${disk},if=virtio,format=qcow2`, "-nic", "user,model=virtio-net-pci"], STOP_7B);
      timings["virtio boot before"] = Date.now() - t;
      expect(b.com1).toMatch(STOP_7B);
      expect(b.com1).not.toMatch(SAC_READY);
    },
    BOOT_TIMEOUT_MS + 60_000,
  );

  it(
    "adapts an overlay: virtio drivers boot-start in every control set, first-boot script queued",
    async () => {
      const t = Date.now();
      adapted = overlay(work, "adapted", image!);
      report = await adaptDisk(adapted, {
        virtioWin: virtioWin!,
        staticSecondary: [{ device: "eth0", address: "10.0.2.50", prefixLength: 24 }],
        nicAddresses: [{ device: "eth0", address: "10.0.2.15", prefixLength: 24 }],
      });
      timings["adaptDisk"] = Date.now() - t;
      expect(report.ok, report.warnings.join("\n")).toBe(true);
      expect(report.os.family).toBe("windows");
      const w = report.windows!;
      expect(w.drivers.map((d) => d.name)).toEqual(expect.arrayContaining(["viostor", "netkvm"]));
      for (const s of w.services.filter((s) => s.name === "viostor"))
        expect(s.controlSets).toEqual(report.os.family === "windows" ? report.os.controlSets : []);
    },
    BOOT_TIMEOUT_MS,
  );

  it(
    "boots the adapted disk on virtio-blk and virtio-net; the first-boot log shows every step ok, the secondary address on the DHCP NIC",
    async () => {
      const t = Date.now();
      const b = await boot(
        work,
        "virtio-after",
        uefi,
        ["-drive", `file=${adapted},if=virtio,format=qcow2`, "-nic", "user,model=virtio-net-pci"],
        /REHOST-FIRSTBOOT-DONE ok=\d+ failed=\d+/,
      );
      timings["virtio boot after"] = Date.now() - t;
      expect(b.ended).toBe("matched");
      expect(b.com1).not.toMatch(STOP_7B);
      const session = await GuestfishSession.open([{ path: adapted }], { readonly: true });
      let text: string;
      try {
        const log = await session.resolvePath("/Windows/Temp/rehost-firstboot.log");
        text = log === undefined ? "" : ((await session.readFile(log)) ?? "");
      } finally {
        await session.close();
      }
      const log = parseFirstBootLog(text);
      expect(log.done, text).toBe(true);
      expect(log.ok, text).toBe(true);
      expect(log.steps.map((s) => s.name)).toEqual(expect.arrayContaining(["pnputil", "ghost-nics", "secondary-addresses-eth0"]));
      expect(log.steps.find((s) => s.name === "secondary-addresses-eth0")?.detail).toContain("10.0.2.15");
    },
    BOOT_TIMEOUT_MS + 300_000,
  );
});
