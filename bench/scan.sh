#!/usr/bin/env bash
# Scan benchmark (issue: "speed"): on a warm synthetic tree of about 100,000 files / 2 GB,
# time `sitepurge plan` (after a baseline) against
#   find DIR -type f -print0 | xargs -0 -P2 -n 500 openssl dgst -sha256 >/dev/null
# and measure sitepurge's peak memory. Target: sitepurge <= 0.85x the pipeline, < 200 MB.
#
# Usage: bench/scan.sh [TREE_DIR]    (default /tmp/sitepurge-bench/site; reused if present;
#        env BIN=another sitepurge binary to measure)
# Needs: python3, openssl, hyperfine, GNU time (apt-get install hyperfine time).
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${1:-/tmp/sitepurge-bench/site}
work=$(dirname "$tree")
for tool in python3 openssl hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install hyperfine time openssl python3" >&2; exit 2; }
done

# BIN=path measures another build (an older one, to compare) instead of this checkout's.
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -q
fi
bin=${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/sitepurge}

if [ ! -d "$tree" ]; then
  mkdir -p "$work"
  python3 bench/gen-site.py "$tree"
fi
state=$work/state.json
"$bin" baseline "$tree" --state "$state" -q

# Warm the page cache, so both commands read from memory.
find "$tree" -type f -print0 | xargs -0 cat >/dev/null

hyperfine --warmup 1 --runs 5 --export-json "$work/hyperfine.json" \
  -n sitepurge "$bin plan $tree --state $state --base-url https://example.com/ -q" \
  -n openssl "find $tree -type f -print0 | xargs -0 -P2 -n 500 openssl dgst -sha256 >/dev/null"

python3 - "$work/hyperfine.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
sp, ossl = r["sitepurge"]["median"], r["openssl"]["median"]
print(f"median: sitepurge {sp:.3f} s, openssl pipeline {ossl:.3f} s, ratio {sp / ossl:.2f} (target <= 0.85)")
PY

/usr/bin/time -f "peak memory of sitepurge plan: %M KB (target < 204800 KB)" \
  "$bin" plan "$tree" --state "$state" --base-url https://example.com/ -q
