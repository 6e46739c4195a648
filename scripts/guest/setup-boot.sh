#!/usr/bin/env bash
# Installs what the guest-adaptation boot proof (`npm run test:boot`) needs, idempotently.
# As root it installs missing Debian packages itself; otherwise it stops with the exact command.
set -euo pipefail
cd "$(dirname "$0")/../.."

debian_packages=(
  qemu-system-x86    # boots the test image (TCG) and runs the libguestfs appliance
  libguestfs-tools   # guestfish: the adaptation mechanism
  linux-image-amd64  # the kernel supermin builds the libguestfs appliance from
  debootstrap        # builds the test image's Debian userland
  e2fsprogs          # mke2fs -d: the image's filesystem, written without mounting
  fdisk              # sfdisk: the image's partition table
  qemu-utils         # qemu-img: copy-on-write overlays of the cached image
)

say() { [ -n "${REHOST_SETUP_QUIET:-}" ] || echo "setup-boot: $*" >&2; }

if ! command -v dpkg-query >/dev/null 2>&1; then
  say "not a Debian/Ubuntu machine: install the equivalents of: ${debian_packages[*]}"
  exit 1
fi
missing=()
for pkg in "${debian_packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-boot: missing Debian packages. Run, then try again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
