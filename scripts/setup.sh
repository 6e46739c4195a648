#!/usr/bin/env bash
# Installs what `npm test` and `npm run lab` need, idempotently:
# npm packages (when package-lock.json is newer than node_modules) and Debian packages.
# As root it installs missing Debian packages itself; otherwise it stops with the exact command.
set -euo pipefail
cd "$(dirname "$0")/.."

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
    echo "setup: missing Debian packages. Run, then try again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
