/**
 * The parts of Windows adaptation that are pure or need only a host tool: the regedit text
 * and its round trip through hivex, partition tables and boot-sector signatures (tables, and
 * disks sfdisk and mkntfs make), virtio-win directory matching, the registry keys written, and
 * the first-boot script and its log.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  binary,
  bootMode,
  bootServiceKey,
  criticalDeviceKeys,
  devicePathWithVirtio,
  driverDatabaseKeys,
  driverSource,
  dword,
  expandSz,
  firstBootCmd,
  firstBootNics,
  firstBootPs1,
  firstBootServiceKeys,
  HiveFile,
  isDynamicDisk,
  matchDrivers,
  multiSz,
  parseFirstBootLog,
  parsePartitionTable,
  parseReg,
  prefixToMask,
  readDiskLayout,
  releaseNames,
  renderReg,
  sameValue,
  sz,
  volumeSignature,
  type RegValue,
} from "../../lib/guest";
import { buildDisk, emptyHive, fakeVirtioWin, GPT_LDM_DATA, isoOf, tempDir } from "./windows-fixtures";

describe("regedit text and hivex", () => {
  it("lists every ancestor before a key and writes each type as hivexregedit reads it", () => {
    const text = renderReg("HKEY_LOCAL_MACHINE\\SYSTEM", [
      { path: "ControlSet001\\Services\\viostor", values: { Start: dword(0), Group: sz("SCSI miniport") } },
      { path: "ControlSet001\\Services\\vioscsi", values: { "": sz("x"), 'a"b\\c': binary([1, 0xff]) } },
    ]);
    expect(text.split("\n")).toEqual([
      "Windows Registry Editor Version 5.00",
      "",
      "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001]",
      "",
      "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services]",
      "",
      "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\viostor]",
      '"Start"=dword:00000000',
      '"Group"=hex(1):53,00,43,00,53,00,49,00,20,00,6d,00,69,00,6e,00,69,00,70,00,6f,00,72,00,74,00,00,00',
      "",
      "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\vioscsi]",
      "@=hex(1):78,00,00,00",
      '"a\\"b\\\\c"=hex:01,ff',
      "",
    ]);
  });

  it("round-trips every value type through hivexregedit --merge and --export of a hive built here", async () => {
    const file = path.join(tempDir(), "SYSTEM");
    fs.writeFileSync(file, emptyHive());
    const hive = new HiveFile(file, "HKEY_LOCAL_MACHINE\\SYSTEM");
    const values: Record<string, RegValue> = {
      "": sz("default value"),
      Text: sz('quotes " and backslashes \\ and ünïcödé'),
      Path: expandSz("%SystemRoot%\\System32\\drivers\\viostor.sys"),
      List: multiSz(["first", "second", ""].slice(0, 2)),
      Count: dword(0xfffffffe),
      Blob: binary([0, 1, 2, 0xfe, 0xff]),
      'name with "quotes"': dword(7),
    };
    await hive.merge([{ path: "ControlSet001\\Services\\Test", values }]);
    await hive.merge([{ path: "ControlSet001\\Services\\Test", values: { Count: dword(1) } }]);
    const keys = await hive.read("ControlSet001\\Services\\Test", 1);
    const read = keys!.get("controlset001\\services\\test")!;
    expect(read.path).toBe("ControlSet001\\Services\\Test");
    for (const [name, value] of Object.entries({ ...values, Count: dword(1) })) {
      expect(read.values.get(name.toLowerCase())?.value, name).toEqual(value);
      expect(sameValue(read.values.get(name.toLowerCase())?.value, value), name).toBe(true);
    }
    expect(await hive.subkeys("ControlSet001\\Services")).toEqual(["Test"]);
    expect(await hive.subkeys("")).toEqual(["ControlSet001"]);
    expect(await hive.read("ControlSet002", 1)).toBeUndefined();
    expect(hive.header()).toMatchObject({ dirty: false });
  });

  it("tells a hive Windows did not finish writing (sequence numbers differ) and refuses a file that is not a hive", () => {
    const dir = tempDir();
    const dirty = emptyHive();
    dirty.writeUInt32LE(41, 4);
    dirty.writeUInt32LE(40, 8);
    fs.writeFileSync(path.join(dir, "dirty"), dirty);
    expect(new HiveFile(path.join(dir, "dirty"), "HKEY_LOCAL_MACHINE\\SYSTEM").header()).toEqual({ primarySequence: 41, secondarySequence: 40, dirty: true });
    fs.writeFileSync(path.join(dir, "text"), "not a hive at all");
    expect(() => new HiveFile(path.join(dir, "text"), "HKEY_LOCAL_MACHINE\\SYSTEM").header()).toThrow(/no regf signature/);
  });

  it("parses exports with continued hex lines, @ and plain strings", () => {
    const keys = parseReg(
      [
        "Windows Registry Editor Version 5.00",
        "",
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\A\\B]",
        '@="plain \\"x\\""',
        '"Bin"=hex:01,02,\\',
        "  03,04",
        '"N"=dword:0000000a',
        "",
      ].join("\r\n"),
      "HKEY_LOCAL_MACHINE\\SOFTWARE",
    );
    const b = keys.get("a\\b")!;
    expect(b.values.get("")?.value).toEqual(sz('plain "x"'));
    expect(b.values.get("bin")?.value).toEqual(binary([1, 2, 3, 4]));
    expect(b.values.get("n")?.value).toEqual(dword(10));
  });
});

describe("partition tables and boot sectors", () => {
  const sector = (oem: string, extra?: (b: Buffer) => void) => {
    const b = Buffer.alloc(512);
    b.write(oem, 3, "latin1");
    b.writeUInt16LE(0xaa55, 510);
    extra?.(b);
    return b;
  };

  it.each([
    ["NTFS", sector("NTFS    "), "ntfs"],
    ["BitLocker", sector("-FVE-FS-"), "bitlocker"],
    ["exFAT", sector("EXFAT   "), "exfat"],
    ["FAT32", sector("MSDOS5.0", (b) => b.write("FAT32   ", 82, "latin1")), "fat"],
    ["zeroes", Buffer.alloc(512), "none"],
    ["short", Buffer.alloc(16), "none"],
  ])("%s boot sector", (_name, bytes, expected) => {
    expect(volumeSignature(bytes)).toBe(expected);
  });

  it("reads MBR partitions (type, bootable, offsets) and treats a disk without a signature as unpartitioned", () => {
    const mbr = Buffer.alloc(512);
    mbr.writeUInt16LE(0xaa55, 510);
    const entry = (i: number, boot: boolean, type: number, lba: number, sectors: number) => {
      const at = 446 + i * 16;
      mbr[at] = boot ? 0x80 : 0;
      mbr[at + 4] = type;
      mbr.writeUInt32LE(lba, at + 8);
      mbr.writeUInt32LE(sectors, at + 12);
    };
    entry(0, true, 0x07, 2048, 1024000);
    entry(2, false, 0x42, 1026048, 2048);
    const layout = parsePartitionTable(mbr);
    expect(layout).toEqual({
      scheme: "mbr",
      partitions: [
        { number: 1, start: 2048 * 512, size: 1024000 * 512, mbrType: 7, bootable: true },
        { number: 3, start: 1026048 * 512, size: 2048 * 512, mbrType: 0x42, bootable: false },
      ],
    });
    expect(isDynamicDisk(layout)).toBe(true);
    expect(bootMode(layout)).toBe("bios");
    expect(parsePartitionTable(Buffer.alloc(512))).toEqual({ scheme: "none", partitions: [] });
  });

  it("reads a GPT disk sfdisk made: EFI system, Microsoft reserved and basic data partitions, UEFI boot, NTFS on the data partition", async () => {
    const { file } = buildDisk(path.join(tempDir(), "uefi.raw"), "gpt", [
      { type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", sizeMiB: 2 },
      { type: "E3C9E316-0B5C-4DB8-817D-F92DF00215AE", sizeMiB: 1 },
      { type: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", sizeMiB: 8, ntfs: "plain" },
    ]);
    const layout = await readDiskLayout(file, "raw");
    expect(layout.scheme).toBe("gpt");
    expect(layout.partitions.map((p) => [p.number, p.gptType, p.start / 1048576, p.size / 1048576, p.signature])).toEqual([
      [1, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", 1, 2, "none"],
      [2, "E3C9E316-0B5C-4DB8-817D-F92DF00215AE", 3, 1, "none"],
      [3, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", 4, 8, "ntfs"],
    ]);
    expect(bootMode(layout)).toBe("uefi");
    expect(isDynamicDisk(layout)).toBe(false);
    const ldm = await readDiskLayout(buildDisk(path.join(tempDir(), "ldm.raw"), "gpt", [{ type: GPT_LDM_DATA, sizeMiB: 2 }]).file, "raw");
    expect(isDynamicDisk(ldm)).toBe(true);
  });
});

describe("virtio-win drivers for a Windows version", () => {
  it.each([
    [{ major: 6, minor: 1, build: 7601, variant: "Server" }, ["2k8r2", "win2008r2"]],
    [{ major: 6, minor: 1, build: 7601, variant: "Client" }, ["w7", "win7"]],
    [{ major: 6, minor: 2, build: 9200, variant: "Server" }, ["2k12", "win2012"]],
    [{ major: 6, minor: 3, build: 9600, variant: "Server Core" }, ["2k12r2", "win2012r2"]],
    [{ major: 10, minor: 0, build: 14393, variant: "Server" }, ["2k16", "win2016"]],
    [{ major: 10, minor: 0, build: 17763, variant: "Server" }, ["2k19", "win2019"]],
    [{ major: 10, minor: 0, build: 18363, variant: "Server Core" }, ["2k19", "win2019"]],
    [{ major: 10, minor: 0, build: 20348, variant: "Server" }, ["2k22", "win2022"]],
    [{ major: 10, minor: 0, build: 26100, variant: "Server" }, ["2k25", "win2025"]],
    [{ major: 10, minor: 0, build: 19045, variant: "Client" }, ["w10", "win10"]],
    [{ major: 10, minor: 0, build: 22631, variant: "Client" }, ["w11", "win11"]],
    [{ major: 4, minor: 0, build: 1381, variant: "Server" }, []],
  ])("%j → %j", (version, names) => {
    expect(releaseNames(version)).toEqual(names);
  });

  const files = [
    "viostor/2k19/amd64/viostor.inf",
    "viostor/2k19/amd64/viostor.sys",
    "viostor/2k19/amd64/viostor.cat",
    "viostor/2k19/amd64/viostor.pdb",
    "viostor/2k19/x86/viostor.inf",
    "viostor/2k16/amd64/viostor.inf",
    "NetKVM/2k19/amd64/netkvm.inf",
    "NetKVM/2k19/amd64/netkvm.sys",
    "NetKVM/2k19/amd64/netkvmco.exe",
    "drivers/amd64/Win2019/balloon.inf",
    "drivers/amd64/Win2019/balloon.sys",
    "viorng/2k19/amd64/viorng.inf",
    "guest-agent/qemu-ga-x86_64.msi",
  ];

  it("takes one directory per driver under the guest's release and architecture, without debug symbols or other drivers", () => {
    expect(matchDrivers(files, { major: 10, minor: 0, build: 17763, variant: "Server", arch: "x86_64" })).toEqual([
      {
        name: "viostor",
        source: "viostor/2k19/amd64",
        files: ["viostor/2k19/amd64/viostor.cat", "viostor/2k19/amd64/viostor.inf", "viostor/2k19/amd64/viostor.sys"],
      },
      {
        name: "netkvm",
        source: "NetKVM/2k19/amd64",
        files: ["NetKVM/2k19/amd64/netkvm.inf", "NetKVM/2k19/amd64/netkvm.sys", "NetKVM/2k19/amd64/netkvmco.exe"],
      },
      { name: "balloon", source: "drivers/amd64/Win2019", files: ["drivers/amd64/Win2019/balloon.inf", "drivers/amd64/Win2019/balloon.sys"] },
    ]);
    expect(matchDrivers(files, { major: 10, minor: 0, build: 17763, variant: "Server", arch: "i386" }).map((m) => m.source)).toEqual(["viostor/2k19/x86"]);
    expect(matchDrivers(files, { major: 10, minor: 0, build: 20348, variant: "Server", arch: "x86_64" })).toEqual([]);
  });

  it("lists and extracts a virtio-win ISO with xorriso exactly as the directory it was made from", async () => {
    const dir = fakeVirtioWin(["2k19"], ["viostor", "NetKVM"]);
    const fromDir = driverSource(dir);
    const fromIso = driverSource(isoOf(dir));
    const listed = await fromDir.list();
    expect(await fromIso.list()).toEqual(listed);
    expect(listed).toContain("NetKVM/2k19/amd64/netkvm.inf");
    const out = tempDir();
    await fromIso.extract(["NetKVM/2k19/amd64/netkvm.sys", "viostor/2k19/x86/viostor.inf"], out);
    expect(fs.readFileSync(path.join(out, "NetKVM/2k19/amd64/netkvm.sys"), "utf8")).toBe("NetKVM 2k19 amd64 .sys (test file)\n");
    expect(fs.readFileSync(path.join(out, "viostor/2k19/x86/viostor.inf"), "utf8")).toBe("viostor 2k19 x86 .inf (test file)\n");
  });
});

describe("registry keys for booting from virtio", () => {
  it("registers a storage driver as a boot-start SCSI miniport", () => {
    expect(bootServiceKey("ControlSet002", "viostor")).toEqual({
      path: "ControlSet002\\Services\\viostor",
      values: { Type: dword(1), Start: dword(0), ErrorControl: dword(1), Group: sz("SCSI miniport"), ImagePath: expandSz("system32\\drivers\\viostor.sys") },
    });
  });

  it("binds the legacy and modern virtio PCI IDs in the CriticalDeviceDatabase", () => {
    expect(criticalDeviceKeys("ControlSet001", "vioscsi").map((k) => [k.path, k.values["Service"]])).toEqual([
      ["ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1004", sz("vioscsi")],
      ["ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1004&rev_00", sz("vioscsi")],
      ["ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1048", sz("vioscsi")],
      ["ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1048&rev_01", sz("vioscsi")],
    ]);
    expect(criticalDeviceKeys("ControlSet001", "viostor")[0]!.values["ClassGUID"]).toEqual(sz("{4D36E97B-E325-11CE-BFC1-08002BE10318}"));
  });

  it("writes a DriverDatabase package whose Version carries the SCSIAdapter class GUID in binary form", () => {
    const keys = driverDatabaseKeys("viostor");
    expect(keys.map((k) => k.path)).toEqual([
      "DriverDatabase\\DriverInfFiles\\rehost-viostor.inf",
      "DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1001",
      "DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1001&REV_00",
      "DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1042",
      "DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1042&REV_01",
      "DriverDatabase\\DriverPackages\\rehost-viostor.inf_rehost",
      "DriverDatabase\\DriverPackages\\rehost-viostor.inf_rehost\\Configurations\\rehost_viostor",
      "DriverDatabase\\DriverPackages\\rehost-viostor.inf_rehost\\Descriptors\\PCI\\VEN_1AF4&DEV_1001",
      "DriverDatabase\\DriverPackages\\rehost-viostor.inf_rehost\\Descriptors\\PCI\\VEN_1AF4&DEV_1001&REV_00",
      "DriverDatabase\\DriverPackages\\rehost-viostor.inf_rehost\\Descriptors\\PCI\\VEN_1AF4&DEV_1042",
      "DriverDatabase\\DriverPackages\\rehost-viostor.inf_rehost\\Descriptors\\PCI\\VEN_1AF4&DEV_1042&REV_01",
    ]);
    const version = keys[5]!.values["Version"]!;
    expect(version.type === "binary" && version.data.toString("hex")).toBe(`00ff090000000000${"7be9364d25e3ce11bfc108002be10318"}${"00".repeat(24)}`);
  });

  it("adds the staged drivers to DevicePath once", () => {
    expect(devicePathWithVirtio("%SystemRoot%\\inf")).toBe("%SystemRoot%\\inf;%SystemRoot%\\Drivers\\VirtIO");
    expect(devicePathWithVirtio(undefined)).toBe("%SystemRoot%\\inf;%SystemRoot%\\Drivers\\VirtIO");
    expect(devicePathWithVirtio("%SystemRoot%\\inf;%systemroot%\\drivers\\virtio")).toBeUndefined();
  });
});

describe("the first-boot script", () => {
  it.each([
    [24, "255.255.255.0"],
    [25, "255.255.255.128"],
    [16, "255.255.0.0"],
    [32, "255.255.255.255"],
    [8, "255.0.0.0"],
  ])("/%i is %s", (prefix, mask) => {
    expect(prefixToMask(prefix)).toBe(mask);
  });

  it("groups the plan's addresses by NIC", () => {
    expect(
      firstBootNics(
        [
          { device: "eth1", address: "10.1.2.21", prefixLength: 25 },
          { address: "10.1.1.21", prefixLength: 24 },
        ],
        [{ device: "eth0", address: "10.1.1.20", prefixLength: 24 }],
      ),
    ).toEqual([
      { index: 0, primary: "10.1.1.20", secondary: [{ address: "10.1.1.21", prefixLength: 24 }] },
      { index: 1, secondary: [{ address: "10.1.2.21", prefixLength: 25 }] },
    ]);
  });

  it("writes CRLF scripts with the plan's data quoted for PowerShell and pnputil's syntax for the version", () => {
    const ps1 = firstBootPs1({
      major: 10,
      nics: [{ index: 0, primary: "10.1.1.20", secondary: [{ address: "10.1.1.21", prefixLength: 24 }] }],
      vmwareTools: ["{AAA'BBB}"],
    });
    expect(ps1.split("\r\n").every((l) => !l.includes("\n"))).toBe(true);
    expect(ps1).toContain("@{ Index = 0; Primary = '10.1.1.20'; Addresses = @('10.1.1.21'); Masks = @('255.255.255.0') }");
    expect(ps1).toContain("$VmwareTools = @('{AAA''BBB}')");
    expect(ps1).toContain('pnputil.exe" /add-driver "$DriverDir\\*.inf" /install');
    expect(ps1).toContain("SetupDiCallClassInstaller(5, set, ref d)");
    expect(ps1).toContain('$summary = "REHOST-FIRSTBOOT-DONE ok=$script:Ok failed=$script:Failed"');
    expect(firstBootPs1({ major: 6, nics: [], vmwareTools: [] })).toContain('pnputil.exe" -i -a "$DriverDir\\*.inf"');
    const cmd = firstBootCmd();
    expect(cmd.endsWith("\r\n")).toBe(true);
    expect(cmd).toContain('-File "%DIR%\\firstboot.ps1" >> "%LOG%" 2>&1');
    expect(cmd).toContain('set "LOG=%SystemRoot%\\Temp\\rehost-firstboot.log"');
  });

  it("registers the service with a wrapper (virt-v2v's pattern) or with cmd.exe", () => {
    const wrapped = firstBootServiceKeys("ControlSet001", { kind: "wrapper", exe: "rhsrvany.exe" });
    expect(wrapped.map((k) => k.path)).toEqual(["ControlSet001\\Services\\rehost-firstboot", "ControlSet001\\Services\\rehost-firstboot\\Parameters"]);
    expect(wrapped[0]!.values["ImagePath"]).toEqual(expandSz("%SystemRoot%\\rehost\\firstboot\\rhsrvany.exe -s rehost-firstboot"));
    expect(wrapped[1]!.values["CommandLine"]).toEqual(sz('cmd /c "%SystemRoot%\\rehost\\firstboot\\firstboot.cmd"'));
    const plain = firstBootServiceKeys("ControlSet002", { kind: "cmd" });
    expect(plain).toHaveLength(1);
    expect(plain[0]!.values).toMatchObject({ Type: dword(0x10), Start: dword(2), ErrorControl: dword(0), ObjectName: sz("LocalSystem") });
    expect(plain[0]!.values["ImagePath"]).toEqual(
      expandSz(
        '%SystemRoot%\\System32\\cmd.exe /c start "rehost-firstboot" /b %SystemRoot%\\System32\\cmd.exe /c %SystemRoot%\\rehost\\firstboot\\firstboot.cmd',
      ),
    );
  });

  it("reads the log: the last result of each step counts, and only a finished run without failures is ok", () => {
    const first = [
      "Mon 06/03/2024 10:00:01.00 rehost first boot: start",
      "2024-06-03T10:00:05 step pnputil: ok: pnputil exit 0",
      "2024-06-03T10:00:06 step ghost-nics: ok: 1 VMware NICs removed",
      "2024-06-03T10:05:06 step secondary-addresses-eth0: failed: no virtio NIC got 10.1.1.20 from DHCP within 5 minutes",
      "2024-06-03T10:05:09 REHOST-FIRSTBOOT-DONE ok=2 failed=1",
    ];
    expect(parseFirstBootLog(first.join("\r\n"))).toMatchObject({ done: true, ok: false });
    const second = [
      ...first,
      "2024-06-03T10:07:00 step pnputil: skipped: done at an earlier boot",
      "2024-06-03T10:07:30 step secondary-addresses-eth0: ok: added 10.1.1.21",
      "2024-06-03T10:07:31 REHOST-FIRSTBOOT-DONE ok=3 failed=0",
    ];
    const log = parseFirstBootLog(second.join("\r\n"));
    expect(log.ok).toBe(true);
    expect(log.steps.map((s) => `${s.name} ${s.result}`)).toEqual(["pnputil skipped", "ghost-nics ok", "secondary-addresses-eth0 ok"]);
    expect(parseFirstBootLog(first.slice(0, 3).join("\n"))).toMatchObject({ done: false, ok: false });
  });
});
