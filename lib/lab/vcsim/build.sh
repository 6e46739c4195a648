#!/usr/bin/env bash
# Builds the lab's vCenter simulator once per version of main.go and prints the binary's path.
# The binary is cached under ${XDG_CACHE_HOME:-~/.cache}/rehost/vcsim/<sha256 of main.go>/, so
# only the first run after a change pays the ~20 s build (an installed package's folder may be
# read-only).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/rehost/vcsim"
hash="$(sha256sum "$here/main.go" | cut -c1-16)"
out="$cache/$hash"
bin="$out/vcsim"
mkdir -p "$cache"
# One build at a time: test files starting together wait for the first build instead of repeating it.
exec 9>"$cache/build.lock"
flock 9
if [ ! -x "$bin" ]; then
  if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/github.com/vmware/govmomi/simulator ]; then
    echo "vcsim: needs the Debian packages golang-go and golang-github-vmware-govmomi-dev (npm run setup)" >&2
    exit 1
  fi
  mkdir -p "$out"
  work="$(mktemp -d "$out/build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  cp "$here/main.go" "$work/main.go"
  (cd "$work" && GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="${GOCACHE:-$cache/go-cache}" go build -o "$work/vcsim" main.go)
  mv -f "$work/vcsim" "$bin"
fi
echo "$bin"
