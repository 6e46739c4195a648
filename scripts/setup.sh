#!/usr/bin/env bash
# Installs what `npm test` and `npm run lab` need, idempotently:
# npm packages (when package-lock.json is newer than node_modules) and Debian packages.
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
)

say() { [ -n "${REHOST_SETUP_QUIET:-}" ] || echo "setup: $*" >&2; }

# 1. npm packages
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# 2. Debian packages
ensure_debian_packages setup "${debian_packages[@]}"
