#!/usr/bin/env bash
# Builds the Pulumi engine rehost runs under, from Go modules, once, and prints the folder that
# holds it as its last line:
#   pulumi                          the Pulumi CLI, github.com/pulumi/pulumi/pkg/v3/cmd/pulumi at v3.248.0
#                                   (the version of our @pulumi/pulumi), built through engine/cli
#   pulumi-language-nodejs          rehost's Node.js language host (engine/language-nodejs), built on
#                                   github.com/pulumi/pulumi/sdk/v3 at v3.248.0
#   pulumi-resource-pulumi-nodejs   the dynamic-provider launcher, copied from that sdk module
# Nothing prebuilt is downloaded. The folder is keyed by the version, the wrapper modules and the Go
# version, under ${REHOST_ENGINE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/rehost/pulumi-engine}, so every
# checkout on a machine shares one build; Go's module and build caches make a rebuild quick.
# The first build downloads ~1.6 GB of modules and compiles for ~5 minutes on 2 cores (~2 GiB RAM).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="v3.248.0"
say() { [ -n "${REHOST_SETUP_QUIET:-}" ] || echo "pulumi-engine: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  echo "pulumi-engine: Go is not installed; install Go 1.25 or later (the Debian package golang-go of bookworm is too old) and run this again." >&2
  exit 2
fi
go_version="$(go env GOVERSION)"
case "$go_version" in
  go1.2[5-9]*|go1.[3-9][0-9]*|go[2-9]*) ;;
  *) echo "pulumi-engine: $(command -v go) is $go_version; the Pulumi $version modules need Go 1.25 or later." >&2; exit 2 ;;
esac

key="$(cat "$root"/engine/cli/go.mod "$root"/engine/cli/go.sum "$root"/engine/language-nodejs/go.mod \
  "$root"/engine/language-nodejs/go.sum "$root"/engine/language-nodejs/*.go | { cat; echo "$go_version"; } | sha256sum | cut -c1-16)"
cache="${REHOST_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rehost/pulumi-engine}"
dest="$cache/$version-$key"
if [ -x "$dest/pulumi" ] && [ -x "$dest/pulumi-language-nodejs" ] && [ -x "$dest/pulumi-resource-pulumi-nodejs" ]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$dest/pulumi" ]; then
  work="$(mktemp -d "$cache/.build-XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  ldflags="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
  started=$(date +%s)
  say "building the Pulumi CLI $version from its Go modules into $dest (first time: ~1.6 GB of modules, ~5 min)"
  (cd "$root/engine/cli" && go build -trimpath -ldflags "$ldflags" -o "$work/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  say "building the Node.js language host"
  (cd "$root/engine/language-nodejs" && go build -trimpath -ldflags "$ldflags" -o "$work/pulumi-language-nodejs" .)
  sdk_dir="$(cd "$root/engine/language-nodejs" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
  install -m 0755 "$sdk_dir/nodejs/dist/pulumi-resource-pulumi-nodejs" "$work/pulumi-resource-pulumi-nodejs"
  [ "$("$work/pulumi" version)" = "$version" ] || { echo "pulumi-engine: the built CLI reports $("$work/pulumi" version), not $version" >&2; exit 3; }
  rm -rf "$dest"
  mv "$work" "$dest"
  trap - EXIT
  say "built in $(( $(date +%s) - started )) s: $(du -sh "$dest" | cut -f1) in $dest"
fi
echo "$dest"
