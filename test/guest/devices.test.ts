import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ADDED_KERNEL_PARAMETERS, applianceDevice, rewriteBootloaderFile, rewriteFstab, rewriteKernelArgs } from "../../lib/guest";
import { centos7, debian12, rocky9, sles11 } from "./fixtures";

const uuids = new Map([
  ["/dev/sda1", "11111111-1111-4111-8111-111111111111"],
  ["/dev/sda2", "22222222-2222-4222-8222-222222222222"],
  ["/dev/sda5", "55555555-5555-4555-8555-555555555555"],
]);

describe("fstab rewriting", () => {
  it("rewrites controller-dependent devices it knows, keeps columns, reports the others", () => {
    const r = rewriteFstab(debian12["/etc/fstab"] as string, uuids);
    const lines = r.text.split("\n");
    expect(lines[0]).toBe("# /etc/fstab: static file system information.");
    expect(lines[2]).toBe("UUID=11111111-1111-4111-8111-111111111111       /               ext4    errors=remount-ro 0       1");
    expect(lines[3]).toMatch(/^UUID=55555555-5555-4555-8555-555555555555\s+none\s+swap\s+sw/);
    expect(lines[4]).toBe("/dev/sdb1       /srv/data       xfs     defaults        0       2");
    expect(lines[5]).toMatch(/^\/dev\/sr0/);
    expect(r.rewrites.map((w) => w.where)).toEqual(["/", "none"]);
    expect(r.unresolved).toEqual([{ from: "/dev/sdb1", to: "/dev/sdb1", where: "/srv/data" }]);
  });

  it("leaves LVM, UUID= and LABEL= entries alone", () => {
    const text = centos7["/etc/fstab"] as string;
    const r = rewriteFstab(text, new Map([["/dev/sda1", "b007"]]));
    expect(r.text).toBe(text.replace("/dev/sda1 /boot", "UUID=b007 /boot"));
    expect(rewriteFstab("LABEL=root / ext4 defaults 0 1\nUUID=x /home ext4 defaults 0 2\n", uuids).rewrites).toEqual([]);
  });

  it("is idempotent and changes only device fields (property)", () => {
    const device = fc.constantFrom("/dev/sda1", "/dev/sda2", "/dev/sdc3", "/dev/mapper/vg-root", "LABEL=data", "tmpfs");
    const line = fc
      .tuple(device, fc.constantFrom("/", "/var", "none"), fc.constantFrom("ext4", "xfs", "swap"))
      .map(([d, m, t]) => `${d} ${m} ${t} defaults 0 0`);
    fc.assert(
      fc.property(fc.array(fc.oneof(line, fc.constant("# comment /dev/sda1"), fc.constant(""))), (lines) => {
        const once = rewriteFstab(lines.join("\n"), uuids);
        expect(rewriteFstab(once.text, uuids).text).toBe(once.text);
        const before = lines.join("\n").split("\n");
        const after = once.text.split("\n");
        expect(after).toHaveLength(before.length);
        after.forEach((l, i) => expect(l.split(/\s+/).slice(1)).toEqual(before[i]!.split(/\s+/).slice(1)));
      }),
    );
  });
});

describe("kernel command lines and boot loaders", () => {
  it("rewrites root= and resume= and adds the naming parameters once", () => {
    const r = rewriteKernelArgs("root=/dev/sda1 ro resume=/dev/sda5 net.ifnames=1 quiet", uuids, ADDED_KERNEL_PARAMETERS);
    expect(r.text).toBe("root=UUID=11111111-1111-4111-8111-111111111111 ro resume=UUID=55555555-5555-4555-8555-555555555555 net.ifnames=0 quiet biosdevname=0");
    expect(rewriteKernelArgs(r.text, uuids, ADDED_KERNEL_PARAMETERS).text).toBe(r.text);
    expect(rewriteKernelArgs("root=/dev/sdb2 ro", uuids).unresolved).toEqual([{ from: "/dev/sdb2", to: "/dev/sdb2", where: "root" }]);
  });

  it("GRUB 2: every linux line of grub.cfg, nothing else", () => {
    const text = debian12["/boot/grub/grub.cfg"] as string;
    const r = rewriteBootloaderFile("/boot/grub/grub.cfg", text, uuids);
    expect(r.text).toContain("\tlinux\t/boot/vmlinuz-6.1.0-27-amd64 root=UUID=11111111-1111-4111-8111-111111111111 ro  quiet net.ifnames=0 biosdevname=0\n");
    expect(r.text).toContain(
      "root=UUID=11111111-1111-4111-8111-111111111111 ro single resume=UUID=55555555-5555-4555-8555-555555555555 net.ifnames=0 biosdevname=0\n",
    );
    expect(r.text).toContain("\tset root='hd0,msdos1'\n\tlinux");
    expect(r.text).toContain("\tinitrd\t/boot/initrd.img-6.1.0-27-amd64\n");
    const centos = rewriteBootloaderFile("/boot/grub2/grub.cfg", centos7["/boot/grub2/grub.cfg"] as string, uuids);
    expect(centos.text).toContain("root=/dev/mapper/centos-root ro crashkernel=auto rd.lvm.lv=centos/root rhgb quiet net.ifnames=0 biosdevname=0\n");
  });

  it("/etc/default/grub: command line and GRUB_DISABLE_LINUX_UUID", () => {
    const r = rewriteBootloaderFile("/etc/default/grub", debian12["/etc/default/grub"] as string, uuids);
    expect(r.text).toContain('GRUB_CMDLINE_LINUX="net.ifnames=0 biosdevname=0"\n');
    expect(r.text).toContain('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n');
    expect(r.text).toContain("GRUB_DISABLE_LINUX_UUID=false\n");
    expect(r.text).not.toContain("GRUB_DISABLE_LINUX_UUID=true");
    const appended = rewriteBootloaderFile("/etc/default/grub", "GRUB_TIMEOUT=5\n", uuids);
    expect(appended.text).toBe('GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="net.ifnames=0 biosdevname=0"\n');
  });

  it("BootLoaderSpec: entries using $kernelopts are left to grubenv, which keeps its 1024 bytes", () => {
    const entryPath = "/boot/loader/entries/abc-5.14.0-427.el9.x86_64.conf";
    const entry = rewriteBootloaderFile(entryPath, rocky9[entryPath] as string, uuids);
    expect(entry.text).toBe(rocky9[entryPath]);
    const env = rewriteBootloaderFile("/boot/grub2/grubenv", rocky9["/boot/grub2/grubenv"] as string, uuids);
    expect(Buffer.byteLength(env.text)).toBe(1024);
    expect(env.text).toContain(
      "kernelopts=root=UUID=22222222-2222-4222-8222-222222222222 ro crashkernel=1G-4G:192M rhgb quiet net.ifnames=0 biosdevname=0\nboot_success=0\n###",
    );
    const own = rewriteBootloaderFile("/boot/loader/entries/x.conf", "title x\noptions root=/dev/sda2 ro\n", uuids);
    expect(own.text).toBe("title x\noptions root=UUID=22222222-2222-4222-8222-222222222222 ro net.ifnames=0 biosdevname=0\n");
  });

  it("GRUB legacy menu.lst kernel lines", () => {
    const r = rewriteBootloaderFile("/boot/grub/menu.lst", sles11["/boot/grub/menu.lst"] as string, uuids);
    expect(r.text).toContain(
      "    kernel /boot/vmlinuz-3.0.101-63-default root=UUID=22222222-2222-4222-8222-222222222222 resume=UUID=11111111-1111-4111-8111-111111111111 splash=silent showopts net.ifnames=0 biosdevname=0\n",
    );
    expect(r.text).toContain("    root (hd0,1)\n");
  });
});

describe("guest device names in the libguestfs appliance", () => {
  it.each([
    ["/dev/sda1", "/dev/sda1"],
    ["/dev/hdb", "/dev/sdb"],
    ["/dev/vdc2", "/dev/sdc2"],
    ["/dev/xvdaa3", "/dev/sdaa3"],
    ["/dev/mapper/vg-root", undefined],
    ["/dev/nvme0n1p1", undefined],
  ])("%s → %s", (guest, appliance) => {
    expect(applianceDevice(guest)).toBe(appliance);
  });
});
