/**
 * The adaptation's decisions on fixture trees of each distribution family. A directory has no
 * guest to run commands in: the initramfs tools are played by `toolRunner`, which builds an
 * "initramfs" from the tool configuration the adaptation wrote. The real tools run in the boot
 * proof (test/guest/boot.proof.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { adaptGuest, BACKUP_ROOT, DirectoryGuestFs, type AdaptReport, type CommandResult } from "../../lib/guest";
import { centos7, debian12, rocky9, sles11, ubuntu2204, writeTree, type Tree } from "./fixtures";

/** Plays update-initramfs/dracut/mkinitrd and their listing tools over a tree. */
function toolRunner(root: string, options: { failRebuild?: boolean } = {}) {
  const commands: string[] = [];
  const images = new Map<string, string[]>();
  const configured = (): string[] => {
    const read = (p: string) => (fs.existsSync(path.join(root, p)) ? fs.readFileSync(path.join(root, p), "utf8") : "");
    const text = [read("/etc/initramfs-tools/modules"), read("/etc/dracut.conf.d/90-rehost-virtio.conf"), read("/etc/sysconfig/kernel")].join("\n");
    return [...new Set(text.match(/virtio_[a-z]+/g) ?? [])];
  };
  const run = (script: string): CommandResult => {
    commands.push(script);
    const list = /^(?:lsinitramfs|lsinitrd) (\S+)|^zcat (\S+) \| cpio -t$/.exec(script);
    if (list) {
      const image = list[1] ?? list[2]!;
      return { status: 0, output: (images.get(image) ?? ["usr/lib/modules/x/kernel/drivers/scsi/vmw_pvscsi.ko"]).join("\n") + "\n" };
    }
    const rebuilt = /^update-initramfs -[uc] -k (\S+)$/.exec(script)?.[1]
      ? `/boot/initrd.img-${/-k (\S+)$/.exec(script)![1]}`
      : (/^dracut -f (\S+) /.exec(script)?.[1] ?? /^mkinitrd -k \S+ -i (\S+)$/.exec(script)?.[1]);
    if (rebuilt === undefined) return { status: 127, output: `sh: ${script}: not found\n` };
    if (options.failRebuild) return { status: 1, output: "E: zstd: No space left on device\n" };
    images.set(
      rebuilt,
      configured().map((m) => `usr/lib/modules/x/kernel/drivers/${m}.ko.zst`),
    );
    return { status: 0, output: "" };
  };
  return { run, commands };
}

async function adapt(tree: Tree, opts: { uuids?: Record<string, string>; cloudInit?: boolean; failRebuild?: boolean } = {}) {
  const root = writeTree(tree);
  const tools = toolRunner(root, opts);
  const guest = new DirectoryGuestFs(root, { run: tools.run, uuids: opts.uuids ?? {} });
  const report = await adaptGuest(guest, {
    disk: "vm.raw",
    staticSecondary: [{ address: "10.1.1.30", prefixLength: 24 }],
    ...(opts.cloudInit !== undefined ? { cloudInit: opts.cloudInit } : {}),
  });
  const read = (p: string) => (fs.existsSync(path.join(root, p)) ? fs.readFileSync(path.join(root, p), "utf8") : undefined);
  const present = (p: string) => {
    try {
      fs.lstatSync(path.join(root, p));
      return true;
    } catch {
      return false;
    }
  };
  return { root, guest, report, read, present, tools };
}

const changed = (r: AdaptReport) => r.changes.map((c) => `${c.area} ${c.action} ${c.path}`);

describe("adaptGuest on fixture trees", () => {
  it("Debian 12: initramfs-tools modules, UUIDs, ifupdown DHCP, VMware Tools disabled, originals kept", async () => {
    const { report, read, present, tools } = await adapt(debian12, { uuids: { "/dev/sda1": "aaaa-root", "/dev/sda5": "aaaa-swap" } });
    expect(report.ok).toBe(true);
    expect(report.os).toMatchObject({ family: "debian", initramfsTool: "update-initramfs", network: "ifupdown" });
    expect(report.kernels).toEqual([
      {
        version: "6.1.0-27-amd64",
        initramfs: "/boot/initrd.img-6.1.0-27-amd64",
        modules: { virtio_pci: "initramfs", virtio_blk: "initramfs", virtio_scsi: "initramfs", virtio_net: "initramfs" },
        rebuilt: true,
      },
    ]);
    expect(tools.commands).toContain("update-initramfs -u -k 6.1.0-27-amd64");
    expect(read("/etc/initramfs-tools/modules")).toBe(
      "# List of modules that you want to include in your initramfs.\nvmw_pvscsi\n# virtio drivers for Alibaba Cloud ECS (added by rehost)\nvirtio_pci\nvirtio_blk\nvirtio_scsi\nvirtio_net\n",
    );
    expect(read("/etc/fstab")).toContain("UUID=aaaa-root       /               ext4");
    expect(read("/etc/fstab")).toContain("/dev/sdb1       /srv/data");
    expect(report.warnings).toEqual([expect.stringContaining("fstab mounts /dev/sdb1 on /srv/data but that device is not attached")]);
    expect(read("/boot/grub/grub.cfg")).toContain("root=UUID=aaaa-root ro single resume=UUID=aaaa-swap net.ifnames=0 biosdevname=0");
    expect(read("/etc/network/interfaces")).toContain("auto eth0\niface eth0 inet dhcp\niface eth0 inet static\n\taddress 10.1.1.30/24\n");
    expect(read("/etc/network/interfaces")).not.toContain("ens192");
    expect(present("/etc/network/interfaces.d/ens224")).toBe(false);
    expect(present("/etc/udev/rules.d/70-persistent-net.rules")).toBe(false);
    expect(present("/etc/udev/rules.d/60-local.rules")).toBe(true);
    expect(present("/.autorelabel")).toBe(false);
    expect(present("/etc/systemd/system/multi-user.target.wants/open-vm-tools.service")).toBe(false);
    expect(present("/etc/systemd/system/multi-user.target.wants/ssh.service")).toBe(true);
    // Originals, for the rehearsal sign-off and for rollback.
    expect(read(`${BACKUP_ROOT}/etc/fstab`)).toBe(debian12["/etc/fstab"]);
    expect(read(`${BACKUP_ROOT}/etc/network/interfaces`)).toBe(debian12["/etc/network/interfaces"]);
    expect(read(`${BACKUP_ROOT}/etc/network/interfaces.d/ens224`)).toBe(debian12["/etc/network/interfaces.d/ens224"]);
    expect(read(`${BACKUP_ROOT}/etc/udev/rules.d/70-persistent-net.rules`)).toContain("00:50:56:a1:0b:20");
    expect(changed(report)).toEqual([
      "fstab write /etc/fstab",
      "bootloader write /etc/default/grub",
      "bootloader write /boot/grub/grub.cfg",
      "network move /etc/udev/rules.d/70-persistent-net.rules",
      "network move /etc/network/interfaces.d/ens224",
      "network write /etc/network/interfaces",
      "vmware-tools remove /etc/systemd/system/multi-user.target.wants/open-vm-tools.service",
      "initramfs write /etc/initramfs-tools/modules",
      "initramfs run /boot/initrd.img-6.1.0-27-amd64",
    ]);
  });

  it("is idempotent: a second run changes nothing and rebuilds nothing, and keeps the first backups", async () => {
    const first = await adapt(debian12, { uuids: { "/dev/sda1": "aaaa-root", "/dev/sda5": "aaaa-swap" } });
    const commandsBefore = first.tools.commands.length;
    const again = await adaptGuest(first.guest, { disk: "vm.raw", staticSecondary: [{ address: "10.1.1.30", prefixLength: 24 }] });
    expect(again.changes).toEqual([]);
    expect(again.kernels[0]!.rebuilt).toBe(false);
    expect(first.tools.commands.slice(commandsBefore).every((c) => c.startsWith("lsinitramfs"))).toBe(true);
    expect(first.read(`${BACKUP_ROOT}/etc/fstab`)).toBe(debian12["/etc/fstab"]);
  });

  it("Ubuntu 22.04: virtio built in (no rebuild), netplan replaced, cloud-init enabled on request", async () => {
    const { report, read, present, tools, root } = await adapt(ubuntu2204, { cloudInit: true });
    expect(report.ok).toBe(true);
    expect(report.kernels[0]!.modules).toEqual({ virtio_pci: "builtin", virtio_blk: "builtin", virtio_scsi: "builtin", virtio_net: "builtin" });
    expect(report.kernels[0]!.rebuilt).toBe(false);
    expect(tools.commands.some((c) => c.startsWith("update-initramfs"))).toBe(false);
    expect(present("/etc/netplan/50-cloud-init.yaml")).toBe(false);
    expect(read("/etc/netplan/50-rehost.yaml")).toContain("eth0:\n      dhcp4: true\n      addresses:\n        - 10.1.1.30/24\n");
    expect(fs.statSync(path.join(root, "/etc/netplan/50-rehost.yaml")).mode & 0o777).toBe(0o600);
    expect(present("/etc/cloud/cloud-init.disabled")).toBe(false);
    expect(read("/etc/cloud/cloud.cfg.d/90-rehost-aliyun.cfg")).toContain("datasource_list: [ AliYun, None ]");
    expect(read("/etc/cloud/cloud.cfg.d/99-rehost-network.cfg")).toContain("network: {config: disabled}");
    expect(report.rewrites).toEqual([]);
  });

  it("CentOS 7: dracut add_drivers, ifcfg-eth0, /boot by UUID, vmtoolsd disabled, debug kernels ignored", async () => {
    const { report, read, present, tools } = await adapt(centos7, { uuids: { "/dev/sda1": "bbbb-boot" } });
    expect(report.ok).toBe(true);
    expect(report.kernels.map((k) => k.version)).toEqual(["3.10.0-1160.el7.x86_64"]);
    expect(read("/etc/dracut.conf.d/90-rehost-virtio.conf")).toContain('add_drivers+=" virtio_pci virtio_blk virtio_scsi virtio_net "');
    expect(tools.commands).toContain("dracut -f /boot/initramfs-3.10.0-1160.el7.x86_64.img 3.10.0-1160.el7.x86_64");
    expect(read("/etc/fstab")).toContain("UUID=bbbb-boot /boot xfs");
    expect(read("/etc/fstab")).toContain("/dev/mapper/centos-root /  xfs");
    expect(present("/etc/sysconfig/network-scripts/ifcfg-ens192")).toBe(false);
    expect(present("/etc/sysconfig/network-scripts/ifcfg-lo")).toBe(true);
    expect(read("/etc/sysconfig/network-scripts/ifcfg-eth0")).toContain("BOOTPROTO=dhcp\nONBOOT=yes\nPERSISTENT_DHCLIENT=yes\nIPADDR0=10.1.1.30\nPREFIX0=24\n");
    expect(present("/etc/systemd/system/multi-user.target.wants/vmtoolsd.service")).toBe(false);
    expect(present("/.autorelabel")).toBe(true);
    expect(read("/etc/default/grub")).toContain(
      'GRUB_CMDLINE_LINUX="crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet net.ifnames=0 biosdevname=0"',
    );
  });

  it("Rocky 9: kernelopts in grubenv, NetworkManager keyfile", async () => {
    const { report, read, present } = await adapt(rocky9, { uuids: { "/dev/sda1": "cccc-boot", "/dev/sda2": "cccc-root" } });
    expect(report.ok).toBe(true);
    const grubenv = read("/boot/grub2/grubenv")!;
    expect(grubenv).toHaveLength(1024);
    expect(grubenv).toContain("kernelopts=root=UUID=cccc-root ro crashkernel=1G-4G:192M rhgb quiet net.ifnames=0 biosdevname=0\n");
    expect(present("/etc/NetworkManager/system-connections/ens192.nmconnection")).toBe(false);
    expect(read("/etc/NetworkManager/system-connections/rehost-eth0.nmconnection")).toContain(
      "interface-name=eth0\nautoconnect=true\n\n[ipv4]\nmethod=auto\naddress1=10.1.1.30/24\n",
    );
  });

  it("SLES 11: mkinitrd with INITRD_MODULES, GRUB legacy, SysV VMware Tools link", async () => {
    const { report, read, present, tools } = await adapt(sles11, { uuids: { "/dev/sda1": "dddd-swap", "/dev/sda2": "dddd-root" } });
    expect(report.ok).toBe(true);
    expect(read("/etc/sysconfig/kernel")).toContain(
      'INITRD_MODULES="mptspi vmw_pvscsi virtio_pci virtio_blk virtio_scsi virtio_net"\nDOMU_INITRD_MODULES="xennet xenblk"',
    );
    expect(tools.commands).toContain("mkinitrd -k /boot/vmlinuz-3.0.101-63-default -i /boot/initrd-3.0.101-63-default");
    expect(read("/boot/grub/menu.lst")).toContain("root=UUID=dddd-root resume=UUID=dddd-swap");
    expect(present("/etc/rc3.d/S19vmware-tools")).toBe(false);
    expect(present(`${BACKUP_ROOT}/etc/rc3.d/S19vmware-tools`)).toBe(true);
    expect(read("/etc/sysconfig/network/ifcfg-eth0")).toContain("BOOTPROTO='dhcp'");
  });

  it("reports a failed initramfs rebuild: ok is false and the tool's output is in the warnings", async () => {
    const { report } = await adapt(debian12, { uuids: { "/dev/sda1": "aaaa-root" }, failRebuild: true });
    expect(report.ok).toBe(false);
    expect(report.kernels[0]!.modules.virtio_blk).toBe("missing");
    expect(report.warnings).toContainEqual(expect.stringContaining("update-initramfs -u -k 6.1.0-27-amd64 failed (exit 1): E: zstd: No space left on device"));
  });

  it("warns about fstab names that encode the VMware controller", async () => {
    const byId = { ...debian12, "/etc/fstab": "/dev/disk/by-id/scsi-36000c29a1b2c3d4e5f-part1 /srv ext4 defaults 0 2\n" };
    const { report } = await adapt(byId);
    expect(new Set(report.warnings).size).toBe(report.warnings.length);
    expect(report.warnings).toContainEqual(
      expect.stringContaining("fstab names /dev/disk/by-id/scsi-36000c29a1b2c3d4e5f-part1, which encodes the VMware controller"),
    );
  });

  it("warns when cloud-init is requested but not installed, and when no kernel is found", async () => {
    const noKernel: Tree = { ...debian12 };
    delete noKernel["/boot/vmlinuz-6.1.0-27-amd64"];
    const { report } = await adapt(noKernel, { cloudInit: true });
    expect(report.ok).toBe(false);
    expect(report.warnings).toContainEqual(expect.stringContaining("cloud-init was requested but is not installed"));
    expect(report.warnings).toContainEqual(expect.stringContaining("No kernel found"));
  });

  it("stops between steps when aborted", async () => {
    const root = writeTree(debian12);
    const controller = new AbortController();
    const guest = new DirectoryGuestFs(root, { run: toolRunner(root).run });
    const done = adaptGuest(guest, {
      disk: "vm.raw",
      signal: controller.signal,
      onProgress: (step) => {
        if (step.startsWith("configuring the network")) controller.abort(new Error("operator stopped the wave"));
      },
    });
    await expect(done).rejects.toThrow("operator stopped the wave");
    expect(fs.readFileSync(path.join(root, "/etc/network/interfaces"), "utf8")).toBe(debian12["/etc/network/interfaces"]);
  });
});
