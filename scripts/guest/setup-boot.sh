#!/usr/bin/env bash
# Installs what the guest-adaptation boot proof (`npm run test:boot`) needs, idempotently.
# As root it installs missing Debian packages itself; otherwise it stops with the exact command.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/debian-packages.sh

debian_packages=(
  qemu-system-x86    # boots the test image (TCG) and runs the libguestfs appliance
  libguestfs-tools   # guestfish: the adaptation mechanism
  linux-image-amd64  # the kernel supermin builds the libguestfs appliance from
  debootstrap        # builds the test image's Debian userland
  e2fsprogs          # mke2fs -d: the image's filesystem, written without mounting
  fdisk              # sfdisk: the image's partition table
  qemu-utils         # qemu-img: copy-on-write overlays of the cached image
)


ensure_debian_packages setup-boot "${debian_packages[@]}"
