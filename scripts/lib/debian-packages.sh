# Sourced by the setup scripts: installs missing Debian packages idempotently.
#   ensure_debian_packages NAME PACKAGE...
# As root it installs what is missing; otherwise it prints the exact command and exits 1.
# NAME prefixes its messages; REHOST_SETUP_QUIET silences the progress lines.
ensure_debian_packages() {
  local name=$1
  shift
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "$name: not a Debian/Ubuntu machine: install the equivalents of: $*" >&2
    exit 1
  fi
  local missing=() pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$name: missing Debian packages. Run, then try again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  [ -n "${REHOST_SETUP_QUIET:-}" ] || echo "$name: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
