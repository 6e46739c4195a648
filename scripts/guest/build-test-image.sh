#!/usr/bin/env bash
# Builds the disk image the guest-adaptation boot proof uses: a small Debian 12 system as a
# VMware guest leaves it, on a raw disk with one MBR partition.
#   - its initramfs holds only the VMware/IDE storage drivers (MODULES=list, no virtio);
#   - /etc/fstab and the boot loader name the root by device (/dev/sda1);
#   - the network is a static ens192 (vmxnet3 naming) with a persistent MAC rule,
#     and open-vm-tools is enabled;
#   - a one-shot unit prints a marker, the root device and the IPv4 configuration on the serial
#     console once the network is online, then powers the machine off.
# The image is built without mounting it: debootstrap into a directory, `mke2fs -d` into the
# partition's offset of a sparse file. Needs root (debootstrap chroots) and the packages listed
# by scripts/guest/setup-boot.sh.
#
# Usage: build-test-image.sh OUTDIR [DEB_CACHE_DIR]
# Writes OUTDIR/disk.raw, OUTDIR/vmlinuz, OUTDIR/initrd.img (the unadapted ones), OUTDIR/image.json.
set -euo pipefail

out=${1:?usage: build-test-image.sh OUTDIR [DEB_CACHE_DIR]}
debs=${2:-}
mirror=${REHOST_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
disk_mib=1024
part_offset=$((1024 * 1024))

mkdir -p "$out"
root="$out/rootfs"
rm -rf "$root" "$out/disk.raw"
mkdir -p "$root"

cache_args=()
if [ -n "$debs" ]; then
  mkdir -p "$debs"
  cache_args=(--cache-dir="$(cd "$debs" && pwd)")
fi

echo "build: debootstrap $suite (minbase + kernel + ifupdown + open-vm-tools)" >&2
debootstrap --variant=minbase "${cache_args[@]}" \
  --include=linux-image-amd64,initramfs-tools,zstd,systemd-sysv,udev,kmod,ifupdown,isc-dhcp-client,iproute2,open-vm-tools \
  "$suite" "$root" "$mirror" >"$out/debootstrap.log" 2>&1 || { tail -30 "$out/debootstrap.log" >&2; exit 1; }

kver=$(ls "$root/lib/modules" | sort -V | tail -1)

# Drop driver trees a server guest never loads, to keep the image small.
for dir in drivers/gpu drivers/media drivers/net/wireless drivers/infiniband drivers/staging \
           drivers/bluetooth drivers/iio drivers/hid drivers/input drivers/usb drivers/isdn \
           drivers/mtd drivers/video sound net/wireless net/bluetooth net/mac80211 fs/ocfs2 fs/gfs2; do
  rm -rf "$root/lib/modules/$kver/kernel/$dir"
done
chroot "$root" depmod -a "$kver"
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
       "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

# As a VMware guest built host-only: the initramfs knows VMware's and IDE storage only.
sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
cat >"$root/etc/initramfs-tools/modules" <<'MODULES'
# Storage of the VMware host this guest was installed on.
vmw_pvscsi
mptspi
ata_piix
sd_mod
ext4
MODULES
chroot "$root" update-initramfs -u -k "$kver" >/dev/null
if chroot "$root" lsinitramfs "/boot/initrd.img-$kver" | grep -q 'virtio'; then
  echo "build: the unadapted initramfs unexpectedly contains virtio modules" >&2
  exit 1
fi

echo "rehost-guest-test" >"$root/etc/hostname"
cat >"$root/etc/fstab" <<'FSTAB'
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/sda1 / ext4 errors=remount-ro 0 1
FSTAB

cat >"$root/etc/network/interfaces" <<'IFACES'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

# The primary network interface (vmxnet3)
allow-hotplug ens192
iface ens192 inet static
	address 10.1.1.20/24
	gateway 10.1.1.1
IFACES

cat >"$root/etc/udev/rules.d/70-persistent-net.rules" <<'RULES'
# PCI device 0x15ad:0x07b0 (vmxnet3)
SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="00:50:56:a1:0b:20", ATTR{dev_id}=="0x0", ATTR{type}=="1", KERNEL=="eth*", NAME="eth0"
RULES

# A GRUB 2 configuration as grub-mkconfig writes it with GRUB_DISABLE_LINUX_UUID=true.
# The image has no boot sector: the proof boots its kernel directly with this command line.
mkdir -p "$root/boot/grub"
cat >"$root/etc/default/grub" <<GRUB
GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
GRUB_DISABLE_LINUX_UUID=true
GRUB
cat >"$root/boot/grub/grub.cfg" <<GRUBCFG
set default="0"
set timeout=5
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os {
	insmod part_msdos
	insmod ext2
	set root='hd0,msdos1'
	echo	'Loading Linux $kver ...'
	linux	/boot/vmlinuz-$kver root=/dev/sda1 ro  quiet
	echo	'Loading initial ramdisk ...'
	initrd	/boot/initrd.img-$kver
}
GRUBCFG

cat >"$root/usr/local/sbin/rehost-boot-marker" <<'MARKER'
#!/bin/sh
# Prints what the boot proof checks on the serial console, then powers off.
{
  echo "REHOST-BOOT-MARKER root=$(findmnt -n -o SOURCE /) cmdline=$(cat /proc/cmdline)"
  ip -4 -o addr show | sed 's/^/REHOST-NET /'
  ip -4 route show default | sed 's/^/REHOST-ROUTE /'
  for lease in /var/lib/dhcp/dhclient*.leases; do
    [ -s "$lease" ] && echo "REHOST-DHCP-LEASE $lease"
  done
  echo "REHOST-BOOT-END"
} >/dev/ttyS0 2>&1
systemctl poweroff --no-block
MARKER
chmod 755 "$root/usr/local/sbin/rehost-boot-marker"
cat >"$root/etc/systemd/system/rehost-boot-marker.service" <<'UNIT'
[Unit]
Description=Print the boot proof marker on the serial console
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/rehost-boot-marker

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/rehost-boot-marker.service "$root/etc/systemd/system/multi-user.target.wants/rehost-boot-marker.service"
# Nothing waits on consoles or timers the proof does not need.
rm -f "$root/etc/systemd/system/timers.target.wants/"* 2>/dev/null || true
systemctl --root="$root" mask systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer >/dev/null 2>&1 || true

cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img"

echo "build: writing ${disk_mib} MiB raw disk" >&2
truncate -s "${disk_mib}M" "$out/disk.raw"
echo 'label: dos
start=2048, type=83, bootable' | sfdisk --quiet "$out/disk.raw"
part_bytes=$(( disk_mib * 1024 * 1024 - part_offset ))
mke2fs -q -t ext4 -L root -E offset=$part_offset -d "$root" "$out/disk.raw" "$((part_bytes / 1024))k"
uuid=$(blkid -p -O "$part_offset" -o value -s UUID "$out/disk.raw")
rm -rf "$root"
cat >"$out/image.json" <<JSON
{"kernel": "$kver", "rootUuid": "$uuid", "partitionOffset": $part_offset, "diskMiB": $disk_mib}
JSON
echo "build: done (kernel $kver, root UUID $uuid)" >&2
