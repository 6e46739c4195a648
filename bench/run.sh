#!/usr/bin/env bash
# Runs the benchmarks: every bench/*.bench.ts, or the ones named (`npm run bench -- plan`).
# Each prints its figures and ratios against a peer measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in bench/*.bench.ts; do names+=("$(basename "$f" .bench.ts)"); done
fi
for name in "${names[@]}"; do
  echo "== bench/$name.bench.ts"
  node --expose-gc --import tsx "bench/$name.bench.ts"
done
