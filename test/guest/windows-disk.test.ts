/**
 * Windows adaptation of synthetic Windows system disks built here (NTFS by mkntfs, hives by
 * hivex, no Microsoft files), through libguestfs as on a sync gateway, and read back with
 * ntfs-3g's ntfscat and hivex on this host, independently of libguestfs.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { adaptDisk, GuestRefused, HIVE_PREFIX, HiveFile, parseFirstBootLog, type AdaptReport } from "../../lib/guest";
import type { PlannedVm } from "../../lib/plan/types";
import {
  buildDisk,
  fakeVirtioWin,
  GPT_LDM_DATA,
  GPT_LDM_METADATA,
  ntfsRead,
  populate,
  server2019,
  sha256,
  tempDir,
  VMWARE_TOOLS_CODE,
  windowsFiles,
} from "./windows-fixtures";
import { rehostChild, type Run } from "../helpers/cli";

const SLOW = 900_000;

function rehost(...args: string[]): Promise<Run> {
  return rehostChild("adapt", ...args);
}

const vm: PlannedVm = {
  name: "win-app-01",
  uuid: "4210a1b2-0000-4000-8000-000000000019",
  ips: ["10.1.1.20", "10.1.1.21", "10.1.1.22"],
  nics: [{ mac: "00:50:56:a1:0b:40", portgroup: "app", subnet: "10.1.1.0/24", ips: ["10.1.1.20", "10.1.1.21", "10.1.1.22"], primary: true }],
  keepIp: true,
  instanceType: "ecs.g7.large",
  cpus: 2,
  memoryMiB: 8192,
  guestOs: { family: "windows", id: "windows2019srv_64Guest" },
  firmware: "bios",
  disks: [],
  gateway: "wave-1-gw-1",
};

const SIZE = 96;
const START = 1024 * 1024;

describe("Windows adaptation of a synthetic NTFS system disk", () => {
  let work: string;
  let pristine: string;
  let noSoftware: string;
  let hibernated: string;
  let virtioWin: string;
  let plan: string;

  beforeAll(async () => {
    work = tempDir("rehost-win-disk-");
    pristine = path.join(work, "server2019.raw");
    noSoftware = path.join(work, "no-software.raw");
    hibernated = path.join(work, "hibernated.raw");
    buildDisk(pristine, "dos", [{ type: "7", sizeMiB: SIZE, ntfs: "plain", bootable: true }]);
    buildDisk(noSoftware, "dos", [{ type: "7", sizeMiB: SIZE, ntfs: "plain", bootable: true }]);
    buildDisk(hibernated, "dos", [{ type: "7", sizeMiB: SIZE, ntfs: "plain", bootable: true }]);
    const hiberfil = path.join(work, "hiberfil.sys");
    fs.writeFileSync(hiberfil, Buffer.concat([Buffer.from("HIBR"), Buffer.alloc(8188)]));
    populate([
      { file: pristine, partition: 1, files: await windowsFiles(server2019, path.join(work, "files-2019")) },
      { file: noSoftware, partition: 1, files: await windowsFiles(server2019, path.join(work, "files-nosw"), { omit: "SOFTWARE" }) },
      { file: hibernated, partition: 1, files: { ...(await windowsFiles(server2019, path.join(work, "files-hib"))), "/hiberfil.sys": hiberfil } },
    ]);
    virtioWin = fakeVirtioWin(["2k16", "2k19", "2k22"]);
    plan = path.join(work, "plan.json");
    fs.writeFileSync(plan, JSON.stringify({ version: 1, waves: [{ name: "w1", vms: [vm] }] }));
  }, SLOW);

  const copy = (name: string) => {
    const file = path.join(work, name);
    fs.copyFileSync(pristine, file);
    return file;
  };

  it(
    "rehost adapt --json: virtio drivers staged and boot-start in every control set, first-boot script, report listing them",
    async () => {
      const disk = copy("adapted.raw");
      const r = await rehost(disk, "--virtio-win", virtioWin, "--plan", plan, "--vm", vm.name, "--json");
      expect(r.code, r.stderr).toBe(0);
      const events = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { event: string; step?: string; report?: AdaptReport });
      expect(events.filter((e) => e.event === "step").map((e) => e.step)).toContain("registering boot-start services in every control set");
      const report = events.at(-1)!.report!;
      expect(events.at(-1)!.event).toBe("done");
      expect(report.ok).toBe(true);
      expect(report.os).toMatchObject({
        family: "windows",
        prettyName: "Windows Server 2019 Datacenter",
        version: "10.0",
        build: 17763,
        edition: "ServerDatacenter",
        arch: "x86_64",
        osinfo: "win2k19",
        release: "2k19",
        controlSets: ["ControlSet001", "ControlSet002"],
        currentControlSet: "ControlSet001",
        bootMode: "bios",
      });
      const w = report.windows!;
      expect(w.drivers.map((d) => `${d.name} ${d.source}${d.bootStart ? " boot" : ""}`)).toEqual([
        "viostor viostor/2k19/amd64 boot",
        "vioscsi vioscsi/2k19/amd64 boot",
        "netkvm NetKVM/2k19/amd64",
        "balloon Balloon/2k19/amd64",
        "pvpanic pvpanic/2k19/amd64",
      ]);
      expect(w.services).toEqual([
        { name: "viostor", start: 0, controlSets: ["ControlSet001", "ControlSet002"] },
        { name: "vioscsi", start: 0, controlSets: ["ControlSet001", "ControlSet002"] },
        { name: "stornvme", start: 0, controlSets: ["ControlSet001", "ControlSet002"] },
      ]);
      expect(w.deviceBinding).toBe("DriverDatabase");
      expect(w.vmwareTools).toEqual([{ displayName: "VMware Tools", version: "12.3.5.22544099", productCode: VMWARE_TOOLS_CODE }]);
      expect(w.firstBoot.actions).toEqual([
        "pnputil installs viostor, vioscsi, netkvm, balloon, pvpanic",
        "remove ghost VMware NICs",
        "eth0 (10.1.1.20): add 10.1.1.21/24, 10.1.1.22/24",
        `uninstall VMware Tools 12.3.5.22544099 (${VMWARE_TOOLS_CODE})`,
      ]);
      const changed = report.changes.map((c) => `${c.area} ${c.path}`);
      expect(changed).toEqual(
        expect.arrayContaining([
          "drivers /Windows/System32/drivers/viostor.sys",
          "drivers /Windows/System32/drivers/vioscsi.sys",
          "drivers /Windows/Drivers/VirtIO/netkvm.inf",
          "firstboot /Windows/rehost/firstboot/firstboot.ps1",
          "registry HKLM\\SYSTEM\\ControlSet001\\Services\\viostor",
          "registry HKLM\\SYSTEM\\ControlSet002\\Services\\viostor",
          "registry HKLM\\SYSTEM\\ControlSet002\\Services\\rehost-firstboot",
          "registry HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion",
        ]),
      );

      // Read back from the disk with ntfs-3g and hivex, not through libguestfs.
      const hive = (name: "SYSTEM" | "SOFTWARE") => {
        const bytes = ntfsRead(disk, START, SIZE, `/Windows/System32/config/${name}`);
        expect(bytes, name).toBeDefined();
        const file = path.join(work, `read-${name}`);
        fs.writeFileSync(file, bytes!);
        return new HiveFile(file, HIVE_PREFIX[name]);
      };
      const system = hive("SYSTEM");
      for (const cs of ["ControlSet001", "ControlSet002"]) {
        for (const driver of ["viostor", "vioscsi"]) {
          const values = (await system.read(`${cs}\\Services\\${driver}`, 1))?.get(`${cs}\\services\\${driver}`.toLowerCase())?.values;
          expect(values?.get("start")?.value, `${cs} ${driver}`).toEqual({ type: "dword", data: 0 });
          expect(values?.get("type")?.value).toEqual({ type: "dword", data: 1 });
          expect(values?.get("group")?.value).toEqual({ type: "sz", data: "SCSI miniport" });
          expect(values?.get("imagepath")?.value).toEqual({ type: "expand_sz", data: `system32\\drivers\\${driver}.sys` });
        }
        const fb = (await system.read(`${cs}\\Services\\rehost-firstboot`, 1))?.get(`${cs}\\services\\rehost-firstboot`.toLowerCase())?.values;
        expect(fb?.get("start")?.value).toEqual({ type: "dword", data: 2 });
        expect(fb?.get("objectname")?.value).toEqual({ type: "sz", data: "LocalSystem" });
        const tools = (await system.read(`${cs}\\Services\\VMTools`, 1))?.get(`${cs}\\services\\vmtools`.toLowerCase())?.values;
        expect(tools?.get("start")?.value).toEqual({ type: "dword", data: 4 });
        // VMware's own boot driver is left as it was (the clone can still go back to VMware).
        const pvscsi = (await system.read(`${cs}\\Services\\pvscsi`, 1))?.get(`${cs}\\services\\pvscsi`.toLowerCase())?.values;
        expect(pvscsi?.get("start")?.value).toEqual({ type: "dword", data: 0 });
      }
      const ddb = await system.read("DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1001", 1);
      expect([...(ddb?.get("driverdatabase\\deviceids\\pci\\ven_1af4&dev_1001")?.values.keys() ?? [])]).toEqual(["rehost-viostor.inf"]);
      const software = hive("SOFTWARE");
      const devicePath = (await software.read("Microsoft\\Windows\\CurrentVersion", 1))
        ?.get("microsoft\\windows\\currentversion")
        ?.values.get("devicepath")?.value;
      expect(devicePath).toEqual({ type: "expand_sz", data: "%SystemRoot%\\inf;%SystemRoot%\\Drivers\\VirtIO" });
      expect(ntfsRead(disk, START, SIZE, "/Windows/System32/drivers/viostor.sys")?.toString()).toBe("viostor 2k19 amd64 .sys (test file)\n");
      expect(ntfsRead(disk, START, SIZE, "/Windows/Drivers/VirtIO/netkvm.cat")?.toString()).toBe("NetKVM 2k19 amd64 .cat (test file)\n");
      expect(ntfsRead(disk, START, SIZE, "/Windows/Drivers/VirtIO/viostor.pdb")).toBeUndefined();
      const ps1 = ntfsRead(disk, START, SIZE, "/Windows/rehost/firstboot/firstboot.ps1")!.toString();
      expect(ps1).toContain("@{ Index = 0; Primary = '10.1.1.20'; Addresses = @('10.1.1.21', '10.1.1.22'); Masks = @('255.255.255.0', '255.255.255.0') }");
      expect(ps1).toContain(`$VmwareTools = @('${VMWARE_TOOLS_CODE}')`);
      expect(ps1).toContain("/add-driver");
      expect(ps1.includes("\r\n")).toBe(true);
      // The originals are kept.
      expect(
        ntfsRead(disk, START, SIZE, "/Windows/rehost/backup/System32/config/SYSTEM")?.equals(
          ntfsRead(pristine, START, SIZE, "/Windows/System32/config/SYSTEM")!,
        ),
      ).toBe(true);
      // The sign-off reads the log the script writes: nothing ran yet.
      expect(parseFirstBootLog(ntfsRead(disk, START, SIZE, "/Windows/Temp/rehost-firstboot.log")?.toString() ?? "")).toEqual({
        steps: [],
        done: false,
        ok: false,
      });

      // A second run, as a person reads it: everything is in place, nothing is written again.
      const again = await rehost(disk, "--virtio-win", virtioWin, "--plan", plan, "--vm", vm.name);
      expect(again.code, again.stderr).toBe(0);
      const lines = again.stdout.trim().split("\n");
      expect(lines[0]).toBe(
        `${disk}: Windows Server 2019 Datacenter (10.0 build 17763, ServerDatacenter, x86_64, bios, control sets ControlSet001 ControlSet002)`,
      );
      expect(lines).toContain("  driver viostor  viostor/2k19/amd64 (boot start)");
      expect(lines).toContain("  service viostor Start=0 in ControlSet001, ControlSet002");
      expect(lines.filter((l) => /^  (drivers|registry|firstboot) /.test(l))).toEqual([]);
      expect(lines.at(-1)).toMatch(/^adapted in \d+ s$/);
    },
    SLOW,
  );

  it(
    "refuses a disk with no drivers for its version (exit 1, the reason, nothing written)",
    async () => {
      const disk = copy("no-drivers.raw");
      const before = sha256(disk);
      const r = await rehost(disk, "--virtio-win", fakeVirtioWin(["2k16", "2k22"]), "--json");
      expect(r.code).toBe(1);
      const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { event: string; reason: string; problems: Array<{ message: string; received: string }> };
      expect(last).toMatchObject({ event: "refused", reason: "no-drivers" });
      expect(last.problems[0]!.message).toBe("The virtio-win set has no viostor or netkvm for Windows Server 2019 Datacenter (10.0, build 17763, x86_64)");
      expect(last.problems[0]!.received).toContain("(it has 2k16, 2k22)");
      expect(r.stderr).toContain("refused (no-drivers); nothing was written");
      expect(sha256(disk)).toBe(before);
    },
    SLOW,
  );

  it(
    "refuses a disk without its SOFTWARE hive, untouched",
    async () => {
      const before = sha256(noSoftware);
      const err = await adaptDisk(noSoftware, { virtioWin }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GuestRefused);
      expect((err as GuestRefused).reason).toBe("missing-hive");
      expect((err as GuestRefused).problems[0]).toMatchObject({ field: "SOFTWARE hive", received: "no /Windows/System32/config/SOFTWARE" });
      expect(sha256(noSoftware)).toBe(before);
    },
    SLOW,
  );

  it(
    "refuses a hibernated Windows (hiberfil.sys in use: ntfs-3g mounts it read-only) after the read-only checks, untouched",
    async () => {
      const before = sha256(hibernated);
      const steps: string[] = [];
      const err = await adaptDisk(hibernated, { virtioWin, onProgress: (s) => steps.push(s) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GuestRefused);
      expect((err as GuestRefused).reason).toBe("hibernated");
      expect((err as GuestRefused).problems[0]!.fix).toContain("powercfg /h off");
      expect(steps.at(-1)).toBe("opening the Windows volume for writing");
      expect(sha256(hibernated)).toBe(before);
    },
    SLOW,
  );

  it("refuses BitLocker and dynamic disks from their first sectors, before libguestfs starts, untouched", async () => {
    const cases = [
      {
        name: "bitlocker.raw",
        label: "dos" as const,
        parts: [{ type: "7", sizeMiB: 8, ntfs: "bitlocker" as const, bootable: true }],
        reason: "bitlocker",
        received: "BitLocker on partition 1 (-FVE-FS- boot sector)",
      },
      {
        name: "bitlocker-d.raw",
        label: "dos" as const,
        parts: [
          { type: "7", sizeMiB: 8, ntfs: "plain" as const },
          { type: "7", sizeMiB: 8, ntfs: "bitlocker" as const },
        ],
        reason: "bitlocker",
        received: "BitLocker on partition 2 (-FVE-FS- boot sector)",
      },
      {
        name: "dynamic-mbr.raw",
        label: "dos" as const,
        parts: [{ type: "42", sizeMiB: 8 }],
        reason: "dynamic-disk",
        received: "a Windows dynamic disk (partition 1: MBR type 0x42)",
      },
      {
        name: "dynamic-gpt.raw",
        label: "gpt" as const,
        parts: [
          { type: GPT_LDM_METADATA, sizeMiB: 1 },
          { type: GPT_LDM_DATA, sizeMiB: 8 },
        ],
        reason: "dynamic-disk",
        received: `a Windows dynamic disk (partition 1: GPT type ${GPT_LDM_METADATA}, partition 2: GPT type ${GPT_LDM_DATA})`,
      },
    ];
    for (const c of cases) {
      const { file } = buildDisk(path.join(work, c.name), c.label, c.parts);
      const before = sha256(file);
      const started = Date.now();
      const err = await adaptDisk(file, { virtioWin }).catch((e: unknown) => e);
      expect(err, c.name).toBeInstanceOf(GuestRefused);
      expect((err as GuestRefused).reason, c.name).toBe(c.reason);
      expect((err as GuestRefused).problems[0]!.received, c.name).toBe(c.received);
      expect(Date.now() - started, `${c.name}: refused without an appliance`).toBeLessThan(10_000);
      expect(sha256(file), c.name).toBe(before);
    }
  });

  it("reads a qcow2 disk's first sectors through qemu-img: a BitLocker overlay is refused by the command (exit 1)", async () => {
    const { file } = buildDisk(path.join(work, "bl-base.raw"), "dos", [{ type: "7", sizeMiB: 8, ntfs: "bitlocker", bootable: true }]);
    const overlay = path.join(work, "bl.qcow2");
    await new Promise<void>((resolve, reject) =>
      execFile("qemu-img", ["create", "-q", "-f", "qcow2", "-b", file, "-F", "raw", overlay], (err) => (err ? reject(err) : resolve())),
    );
    const before = sha256(overlay);
    const r = await rehost(overlay, "--virtio-win", virtioWin);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("A volume of the disk is BitLocker-encrypted");
    expect(r.stderr).toContain("manage-bde -off C:");
    expect(sha256(overlay)).toBe(before);
  });

  it("asks for --virtio-win on a Windows disk (exit 2), before starting libguestfs", async () => {
    const disk = copy("no-flag.raw");
    const before = sha256(disk);
    const r = await rehost(disk);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("field virtioWin: The disk holds Windows, whose virtio drivers rehost cannot fetch");
    const bad = await rehost(disk, "--virtio-win", path.join(work, "missing.iso"));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("field --virtio-win: The virtio-win directory or ISO does not exist");
    expect(sha256(disk)).toBe(before);
  });
});
