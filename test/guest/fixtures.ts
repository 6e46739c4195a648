/**
 * Guest root trees as VMware leaves them, for the adaptation's unit tests. Each is written into
 * a fresh temporary directory by {@link writeTree}. Contents follow what each distribution's
 * installer and tools write.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll } from "vitest";
import { tempDir } from "../helpers/tmp";

/** File path → content; a value `{ link }` is a symlink, `{ dir: true }` an empty directory. */
export type Tree = Record<string, string | { link: string } | { dir: true }>;

/** The directories `writeTree` made in this test file, removed after its last test. */
const written: string[] = [];
afterAll(() => {
  for (const root of written.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

/** Writes `tree` under a new temporary directory and returns it. */
export function writeTree(tree: Tree): string {
  const root = tempDir("rehost-guest-tree-");
  written.push(root);
  for (const [p, v] of Object.entries(tree)) {
    const target = path.join(root, p);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (typeof v === "string") fs.writeFileSync(target, v);
    else if ("link" in v) fs.symlinkSync(v.link, target);
    else fs.mkdirSync(target, { recursive: true });
  }
  return root;
}

const modulesDep = (kernel: string) =>
  [
    `kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko`,
    `kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko`,
    `kernel/drivers/scsi/virtio_scsi.ko: kernel/drivers/virtio/virtio.ko`,
    `kernel/drivers/net/virtio_net.ko: kernel/net/core/failover.ko`,
    `kernel/drivers/scsi/vmw_pvscsi.ko:`,
    `kernel/drivers/net/vmxnet3/vmxnet3.ko:`,
    `# ${kernel}`,
  ].join("\n");

const vmwareUdevRule = `# PCI device 0x15ad:0x07b0 (vmxnet3)
SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="00:50:56:a1:0b:20", ATTR{dev_id}=="0x0", ATTR{type}=="1", KERNEL=="eth*", NAME="eth0"
`;

/** Debian 12 on VMware: ifupdown, GRUB 2 by device name, initramfs-tools, open-vm-tools. */
export const debian12: Tree = {
  "/etc/os-release": `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n`,
  "/etc/debian_version": "12.8\n",
  "/lib/systemd/systemd": "",
  "/usr/sbin/update-initramfs": "",
  "/etc/initramfs-tools/modules": "# List of modules that you want to include in your initramfs.\nvmw_pvscsi\n",
  "/lib/modules/6.1.0-27-amd64/modules.dep": modulesDep("6.1.0-27-amd64"),
  "/lib/modules/6.1.0-27-amd64/modules.builtin": "kernel/drivers/virtio/virtio.ko\n",
  "/boot/vmlinuz-6.1.0-27-amd64": "kernel",
  "/boot/initrd.img-6.1.0-27-amd64": "initrd",
  "/etc/fstab": [
    "# /etc/fstab: static file system information.",
    "# <file system> <mount point>   <type>  <options>       <dump>  <pass>",
    "/dev/sda1       /               ext4    errors=remount-ro 0       1",
    "/dev/sda5       none            swap    sw              0       0",
    "/dev/sdb1       /srv/data       xfs     defaults        0       2",
    "/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto 0       0",
    "",
  ].join("\n"),
  "/etc/default/grub": `GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=\`lsb_release -i -s 2> /dev/null || echo Debian\`\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\nGRUB_DISABLE_LINUX_UUID=true\n`,
  "/boot/grub/grub.cfg": [
    "menuentry 'Debian GNU/Linux' --class debian {",
    "\tinsmod ext2",
    "\tset root='hd0,msdos1'",
    "\tlinux\t/boot/vmlinuz-6.1.0-27-amd64 root=/dev/sda1 ro  quiet",
    "\tinitrd\t/boot/initrd.img-6.1.0-27-amd64",
    "}",
    "menuentry 'Debian GNU/Linux (recovery mode)' --class debian {",
    "\tlinux\t/boot/vmlinuz-6.1.0-27-amd64 root=/dev/sda1 ro single resume=/dev/sda5",
    "}",
    "",
  ].join("\n"),
  "/etc/network/interfaces":
    "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug ens192\niface ens192 inet static\n\taddress 10.1.1.20/24\n\tgateway 10.1.1.1\n",
  "/etc/network/interfaces.d/ens224": "auto ens224\niface ens224 inet static\n\taddress 10.1.2.20/24\n",
  "/etc/udev/rules.d/70-persistent-net.rules": vmwareUdevRule,
  "/etc/udev/rules.d/60-local.rules": 'SUBSYSTEM=="block", ACTION=="add", ATTR{queue/scheduler}="none"\n',
  "/lib/systemd/system/open-vm-tools.service": "[Unit]\nDescription=Service for virtual machines hosted on VMware\n",
  "/etc/systemd/system/multi-user.target.wants/open-vm-tools.service": { link: "/lib/systemd/system/open-vm-tools.service" },
  "/etc/systemd/system/multi-user.target.wants/ssh.service": { link: "/lib/systemd/system/ssh.service" },
  "/etc/systemd/system/open-vm-tools.service.requires/vgauth.service": { link: "/lib/systemd/system/vgauth.service" },
};

/** Ubuntu 22.04 on VMware: netplan written by cloud-init, cloud-init installed. */
export const ubuntu2204: Tree = {
  "/etc/os-release": `PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n`,
  "/lib/systemd/systemd": "",
  "/usr/sbin/update-initramfs": "",
  "/usr/sbin/netplan": "",
  "/usr/bin/cloud-init": "",
  "/etc/cloud/cloud-init.disabled": "",
  "/etc/netplan/50-cloud-init.yaml":
    "network:\n  version: 2\n  ethernets:\n    ens160:\n      match: {macaddress: '00:50:56:a1:0b:21'}\n      addresses: [10.1.1.21/24]\n",
  "/lib/modules/5.15.0-105-generic/modules.dep": modulesDep("5.15.0-105-generic"),
  "/lib/modules/5.15.0-105-generic/modules.builtin":
    "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\nkernel/drivers/net/virtio_net.ko\nkernel/drivers/scsi/virtio_scsi.ko\n",
  "/boot/vmlinuz-5.15.0-105-generic": "kernel",
  "/boot/initrd.img-5.15.0-105-generic": "initrd",
  "/etc/fstab": "/dev/disk/by-uuid/0a1b2c3d-0000-4000-8000-000000000001 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n",
  "/boot/grub/grub.cfg": "\tlinux\t/boot/vmlinuz-5.15.0-105-generic root=UUID=0a1b2c3d-0000-4000-8000-000000000001 ro\n",
};

/** CentOS 7 on VMware: ifcfg network scripts, dracut host-only, GRUB 2 in /boot/grub2. */
export const centos7: Tree = {
  "/etc/os-release": `NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n`,
  "/etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n",
  "/etc/selinux/config": "# This file controls the state of SELinux on the system.\nSELINUX=enforcing\nSELINUXTYPE=targeted\n",
  "/usr/lib/systemd/systemd": "",
  "/usr/bin/dracut": "",
  "/lib/modules/3.10.0-1160.el7.x86_64/modules.dep": modulesDep("3.10.0-1160.el7.x86_64"),
  "/lib/modules/3.10.0-1160.el7.x86_64/modules.builtin": "",
  "/boot/vmlinuz-3.10.0-1160.el7.x86_64": "kernel",
  "/boot/initramfs-3.10.0-1160.el7.x86_64.img": "initrd",
  "/lib/modules/3.10.0-1160.el7.x86_64.debug/modules.dep": "",
  "/etc/fstab": "/dev/mapper/centos-root /  xfs defaults 0 0\n/dev/sda1 /boot xfs defaults 0 0\n/dev/mapper/centos-swap swap swap defaults 0 0\n",
  "/etc/default/grub":
    'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet"\nGRUB_DISABLE_RECOVERY="true"\n',
  "/boot/grub2/grub.cfg":
    "menuentry 'CentOS Linux' {\n\tlinux16 /vmlinuz-3.10.0-1160.el7.x86_64 root=/dev/mapper/centos-root ro crashkernel=auto rd.lvm.lv=centos/root rhgb quiet\n\tinitrd16 /initramfs-3.10.0-1160.el7.x86_64.img\n}\n",
  "/etc/sysconfig/network-scripts/ifcfg-lo": "DEVICE=lo\nIPADDR=127.0.0.1\n",
  "/etc/sysconfig/network-scripts/ifcfg-ens192":
    'TYPE="Ethernet"\nBOOTPROTO="none"\nNAME="ens192"\nDEVICE="ens192"\nONBOOT="yes"\nHWADDR=00:50:56:a1:0b:22\nIPADDR="10.1.1.22"\nPREFIX="24"\nGATEWAY="10.1.1.1"\n',
  "/etc/udev/rules.d/70-persistent-net.rules": vmwareUdevRule,
  "/etc/systemd/system/multi-user.target.wants/vmtoolsd.service": { link: "/usr/lib/systemd/system/vmtoolsd.service" },
};

/** Rocky Linux 9: NetworkManager keyfiles, BootLoaderSpec entries, kernelopts in grubenv. */
export const rocky9: Tree = {
  "/etc/os-release": `NAME="Rocky Linux"\nVERSION="9.4 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\nPRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\n`,
  "/usr/lib/systemd/systemd": "",
  "/usr/bin/dracut": "",
  "/lib/modules/5.14.0-427.el9.x86_64/modules.dep": modulesDep("5.14.0-427.el9.x86_64").replace(/\.ko/g, ".ko.xz"),
  "/lib/modules/5.14.0-427.el9.x86_64/modules.builtin": "kernel/drivers/virtio/virtio.ko\n",
  "/boot/vmlinuz-5.14.0-427.el9.x86_64": "kernel",
  "/boot/initramfs-5.14.0-427.el9.x86_64.img": "initrd",
  "/etc/fstab": "/dev/sda2 / xfs defaults 0 0\n/dev/sda1 /boot xfs defaults 0 0\n",
  "/boot/loader/entries/abc-5.14.0-427.el9.x86_64.conf":
    "title Rocky Linux (5.14.0-427.el9.x86_64) 9.4\nversion 5.14.0-427.el9.x86_64\nlinux /vmlinuz-5.14.0-427.el9.x86_64\ninitrd /initramfs-5.14.0-427.el9.x86_64.img\noptions $kernelopts\n",
  "/boot/grub2/grubenv": padGrubenv(
    "# GRUB Environment Block\nsaved_entry=abc-5.14.0-427.el9.x86_64\nkernelopts=root=/dev/sda2 ro crashkernel=1G-4G:192M rhgb quiet\nboot_success=0\n",
  ),
  "/etc/NetworkManager/system-connections/ens192.nmconnection":
    "[connection]\nid=ens192\ntype=ethernet\ninterface-name=ens192\n[ipv4]\nmethod=manual\naddress1=10.1.1.23/24,10.1.1.1\n",
};

/** SUSE Linux Enterprise Server 15 SP5: wicked ifcfg, dracut. */
export const sles15: Tree = {
  "/etc/os-release": `NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\nID="sles"\nID_LIKE="suse"\n`,
  "/usr/lib/systemd/systemd": "",
  "/usr/bin/dracut": "",
  "/lib/modules/5.14.21-150500.53-default/modules.dep": modulesDep("5.14.21-150500.53-default"),
  "/lib/modules/5.14.21-150500.53-default/modules.builtin": "",
  "/boot/vmlinuz-5.14.21-150500.53-default": "kernel",
  "/boot/initrd-5.14.21-150500.53-default": "initrd",
  "/etc/fstab": "/dev/sda2 / btrfs defaults 0 0\n",
  "/etc/sysconfig/network/ifcfg-lo": "IPADDR=127.0.0.1/8\n",
  "/etc/sysconfig/network/ifcfg-eth0": "BOOTPROTO='static'\nIPADDR='10.1.1.24/24'\nSTARTMODE='auto'\n",
};

/** SUSE Linux Enterprise Server 11 SP4: SuSE-release, mkinitrd with INITRD_MODULES, GRUB legacy. */
export const sles11: Tree = {
  "/etc/SuSE-release": "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n",
  "/sbin/mkinitrd": "",
  "/etc/sysconfig/kernel": '## Type: string\nINITRD_MODULES="mptspi vmw_pvscsi"\nDOMU_INITRD_MODULES="xennet xenblk"\n',
  "/lib/modules/3.0.101-63-default/modules.dep": modulesDep("3.0.101-63-default"),
  "/boot/vmlinuz-3.0.101-63-default": "kernel",
  "/boot/initrd-3.0.101-63-default": "initrd",
  "/etc/fstab": "/dev/sda1 swap swap defaults 0 0\n/dev/sda2 / ext3 acl,user_xattr 1 1\n",
  "/boot/grub/menu.lst":
    "default 0\ntitle SLES 11 SP4\n    root (hd0,1)\n    kernel /boot/vmlinuz-3.0.101-63-default root=/dev/sda2 resume=/dev/sda1 splash=silent showopts\n    initrd /boot/initrd-3.0.101-63-default\n",
  "/etc/sysconfig/network/ifcfg-eth0": "BOOTPROTO='static'\nIPADDR='10.1.1.25/24'\n",
  "/etc/init.d/vmware-tools": "#!/bin/sh\n",
  "/etc/rc3.d/S19vmware-tools": { link: "../vmware-tools" },
};

/** A Windows system volume. */
export const windows: Tree = { "/Windows/System32/config/SYSTEM": "regf" };

/** A FreeBSD root. */
export const freebsd: Tree = { "/etc/os-release": 'NAME=FreeBSD\nVERSION_ID="14.1"\nID=freebsd\nPRETTY_NAME="FreeBSD 14.1-RELEASE"\n' };

function padGrubenv(text: string): string {
  return text + "#".repeat(1024 - Buffer.byteLength(text));
}
