#!/usr/bin/env bash
# Scale benchmark (issue 10): a site of 1,000,000 files within 200 MB.
#
# 1. Writes (once, then reuses) a deterministic tree of 1,000,000 small files under
#    /tmp/sitepurge-scale/site: bench/gen-site.py --small 1000000 (2.2 GB of content, about
#    5.7 GB on disk; delete it when done: rm -rf /tmp/sitepurge-scale).
# 2. Warms the page cache, then measures the peak memory (GNU time's maximum RSS) of
#    `sitepurge baseline` on a first run (no state; with and without a base URL), `sitepurge
#    baseline` again (state present) and `sitepurge plan`. Target: each below 200 MB.
# 3. Reports the state file's size and how long the release build takes to load and to save it,
#    read off strace timestamps of `baseline`'s main thread (the scan runs on other threads and
#    is not traced): load = open to close of the state file, save = creating the state folder to
#    the fsync of the folder after the rename. Target: under 2 s each.
# 4. Times `sitepurge plan` against
#      find DIR -type f -print0 | xargs -0 -P2 -n 500 openssl dgst -sha256 >/dev/null
#    with hyperfine, the two in turns over ROUNDS rounds (default 5). Target: at most 0.7x the
#    pipeline's median.
#
# Usage: bench/scale.sh [TREE_DIR]   (default /tmp/sitepurge-scale/site; reused if present;
#        env ROUNDS=5, BIN=another sitepurge binary to measure)
# Needs: python3, openssl, hyperfine, GNU time, strace (apt-get install hyperfine time strace).
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${1:-/tmp/sitepurge-scale/site}
work=$(dirname "$tree")
for tool in python3 openssl hyperfine /usr/bin/time strace; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install hyperfine time strace openssl python3" >&2; exit 2; }
done

# BIN=path measures another build (an older one, to compare) instead of this checkout's.
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -q
fi
bin=${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/sitepurge}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"

if [ ! -d "$tree" ]; then
  mkdir -p "$work"
  python3 bench/gen-site.py "$tree" --small 1000000
fi
state=$work/state.json
base=https://example.com/

# Warm the page cache, so every command reads from memory.
find "$tree" -type f -print0 | xargs -0 cat >/dev/null

peak() { # LABEL COMMAND...: prints the command's peak RSS
  local label=$1
  shift
  /usr/bin/time -f "peak memory of $label: %M KB (target < 204800 KB), %e s" "$@"
}
rm -f "$state"
# A first run with base URLs would list every URL of a million new files if anything printed
# or purged them; baseline does neither.
peak "baseline, first run, with a base URL" "$bin" baseline "$tree" --state "$state" --base-url "$base" -q
rm -f "$state"
peak "baseline, first run" "$bin" baseline "$tree" --state "$state" -q
peak "baseline, state present" "$bin" baseline "$tree" --state "$state" -q
peak "plan" "$bin" plan "$tree" --state "$state" --base-url "$base" -q

echo "state file: $(stat -c %s "$state") bytes"
trace=$work/state-io.trace
strace -ttt -e trace=openat,close,mkdir,fsync -o "$trace" "$bin" baseline "$tree" --state "$state" -q
python3 - "$trace" "$state" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
state = sys.argv[2]
def at(line):
    return float(line.split()[0])
opened = fd = loaded = save_start = save_end = None
for line in lines:
    if opened is None and re.search(r'openat\(.*"%s", O_RDONLY' % re.escape(state), line):
        opened, fd = at(line), line.rsplit("= ", 1)[1]
    elif opened is not None and loaded is None and re.search(r'close\(%s\)' % fd, line):
        loaded = at(line)
    elif loaded is not None and save_start is None and "mkdir(" in line:
        save_start = at(line)
    elif save_start is not None and "fsync(" in line:
        save_end = at(line)  # the last fsync: the folder's, after the rename
print(f"state load: {loaded - opened:.2f} s, save: {save_end - save_start:.2f} s (target < 2 s each)")
PY

# The machine is shared: a block of runs of one command and then a block of the other would
# compare two different loads. So the two run in turns, one run each per round, after a round
# that only warms up.
rounds=${ROUNDS:-5}
for round in $(seq 0 "$rounds"); do
  hyperfine --runs 1 --style none --export-json "$work/hyperfine-$round.json" \
    -n sitepurge "$bin plan $tree --state $state --base-url $base -q" \
    -n openssl "find $tree -type f -print0 | xargs -0 -P2 -n 500 openssl dgst -sha256 >/dev/null"
done

python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
times = {"sitepurge": [], "openssl": []}
for n in range(1, rounds + 1):  # round 0 only warmed up
    for r in json.load(open(f"{work}/hyperfine-{n}.json"))["results"]:
        times[r["command"]].append(r["median"])
sp, ossl = (statistics.median(times[k]) for k in ("sitepurge", "openssl"))
pairs = [s / o for s, o in zip(times["sitepurge"], times["openssl"])]
print("sitepurge plan:   " + " ".join(f"{t:.2f}" for t in times["sitepurge"]) + " s")
print("openssl pipeline: " + " ".join(f"{t:.2f}" for t in times["openssl"]) + " s")
print(f"median: sitepurge plan {sp:.3f} s, openssl pipeline {ossl:.3f} s, ratio {sp / ossl:.2f}"
      f" (per round: median {statistics.median(pairs):.2f}, worst {max(pairs):.2f}; target <= 0.7)")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
