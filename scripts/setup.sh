#!/usr/bin/env bash
# Installs what `npm test` and `npm run lab` need, idempotently:
# npm packages (when package-lock.json is newer than node_modules) and Debian packages; with
# --engine also the Pulumi engine built from its Go modules (scripts/pulumi-engine.sh, cached).
# As root it installs missing Debian packages itself; otherwise it stops with the exact command.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/debian-packages.sh

# Debian packages, one concern per line.
debian_packages=(
  qemu-utils                        # qemu-nbd, qemu-img: NBD sources with dirty bitmaps, peer benchmark
  nbdkit                            # nbdkit servers and filters (file, memory, curl, error, delay, ...)
  libnbd-bin                        # nbdcopy, nbdinfo: the peer copier for benchmarks
  gnutls-bin                        # psktool, certtool: TLS-PSK keys and X.509 test certificates
  e2fsprogs                         # mkfs.ext4 -d: the lab builds filesystems with files, without mounting
  golang-go                         # builds the vcsim harness
  golang-github-vmware-govmomi-dev  # govmomi's simulator library for the vcsim harness
  build-essential python3           # zstd-napi builds zstd from its bundled sources at npm install
  iproute2                          # ip netns, tc tbf: the lab's on-prem and cloud namespaces
  libguestfs-tools                  # guestfish: Windows adaptation tests open synthetic NTFS disks in its appliance
  qemu-system-x86                   # runs the libguestfs appliance (TCG)
  linux-image-amd64                 # the kernel supermin builds the libguestfs appliance from
  ntfs-3g                           # mkntfs, ntfscat: synthetic Windows disks, read back without mounting
  libwin-hivex-perl                 # hivexregedit: registry hives merged and exported offline
  xorriso                           # reads (and, in tests, makes) virtio-win ISOs without mounting
  fdisk                             # sfdisk: partition tables of the synthetic disks
)

say() { [ -n "${REHOST_SETUP_QUIET:-}" ] || echo "setup: $*" >&2; }

# 1. Debian packages (first: an npm package builds with the compiler)
ensure_debian_packages setup "${debian_packages[@]}"

# 2. npm packages
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The checkout resolves its own package name, as an installed rehost does: the providers that
# Pulumi serializes into a stack's state load their code by name (`rehost/providers/runtime`).
[ "$(readlink node_modules/rehost 2>/dev/null)" = ".." ] || ln -sfn .. node_modules/rehost

# 3. The Pulumi engine (only for the tests that run it)
if [ "${1:-}" = "--engine" ]; then
  bash scripts/pulumi-engine.sh >/dev/null
fi
