#!/usr/bin/env bash
# Watch benchmark: how soon after a build burst does `sitepurge watch` purge, and what does it
# cost while idle?
#
# 1. Writes a site of FILES (default 5,000) small HTML pages, records a baseline, and starts the
#    release `sitepurge watch --settle 2s` on it against a local stand-in for the Cloudflare API
#    (bench/watch-server.py: 127.0.0.1 only, logs the CLOCK_MONOTONIC receipt time of each
#    request, stops by itself after 5 minutes).
# 2. Rewrites every page in place, as a generator does (one page with new content, the others
#    with the same bytes), and measures the time from the burst's last write to the first purge
#    request the server receives. Target: <= settle + 250 ms (2.25 s).
# 3. Leaves the watcher idle for IDLE_SECONDS (default 60) and reports the CPU time it used then
#    (utime + stime of /proc/PID/stat). Target: ~0.
#
# Usage: bench/watch.sh            (env: FILES=5000 IDLE_SECONDS=60)
# Needs: python3 and getconf (Debian: python3, libc-bin); the repo's release build.
set -euo pipefail
cd "$(dirname "$0")/.."
files=${FILES:-5000}
idle=${IDLE_SECONDS:-60}
settle_ms=2000
for tool in python3 getconf; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install python3 libc-bin" >&2; exit 2; }
done

cargo build --release --locked -q
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/sitepurge

work=$(mktemp -d /tmp/sitepurge-watch-bench.XXXXXX)
server_pid=
watcher_pid=
cleanup() {
  set +e
  if [ -n "$watcher_pid" ]; then kill -TERM "$watcher_pid" 2>/dev/null; wait "$watcher_pid" 2>/dev/null; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Poll until a command succeeds, for at most $1 seconds.
wait_for() {
  local limit=$1
  shift
  local end=$((SECONDS + limit))
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.05
  done
}

# CPU time (utime + stime, in clock ticks) a process has used so far.
ticks() {
  # Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# Context switches (voluntary + involuntary) of all the process's threads: each is a wake-up.
switches() {
  cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ { s += $2 } END { print s }'
}

lines() { wc -l <"$work/cycles.jsonl"; }
at_least_lines() { [ "$(lines)" -ge "$1" ]; }

site=$work/site
mkdir -p "$site"
# The site: p/DD/NN/index.html pages of about 2 KB, plus a home page and a feed.
python3 - "$site/_site" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
def page(i):
    return (f"<!doctype html><title>Post {i}</title><h1>Post {i}</h1>" + "<p>lorem ipsum dolor sit amet</p>" * 60).encode()
os.makedirs(root)
for i in range(n - 2):
    d = os.path.join(root, "p", f"{i // 100:02d}", f"{i % 100:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "index.html"), "wb") as f:
        f.write(page(i))
with open(os.path.join(root, "index.html"), "wb") as f:
    f.write(b"<h1>Home</h1>")
with open(os.path.join(root, "feed.xml"), "wb") as f:
    f.write(b"<feed/>")
PY
cat >"$site/sitepurge.toml" <<'EOF'
base_urls = ["https://example.com/"]
zone = "023e105f4ecef8ad9ca31a8372d0c353"
EOF

python3 bench/watch-server.py "$work/port" "$work/requests.log" 300 &
server_pid=$!
wait_for 10 test -s "$work/port" || { echo "the stand-in server did not start" >&2; exit 1; }

# Nothing from the caller's environment leaks in.
for v in $(compgen -e); do
  case $v in SITEPURGE_* | CLOUDFLARE_*) unset "$v" ;; esac
done
port=$(cat "$work/port")
export CLOUDFLARE_API_BASE_URL="http://127.0.0.1:$port/client/v4"
export CLOUDFLARE_API_TOKEN=BenchTokenBenchTokenBenchTokenBenchToken

(cd "$site" && "$bin" baseline -q)
: >"$work/cycles.jsonl"
(cd "$site" && exec "$bin" watch --settle "${settle_ms}ms" --json >"$work/cycles.jsonl" 2>"$work/watch.err") &
watcher_pid=$!
# The first cycle compares with the baseline; once it is printed, the watches are in place.
wait_for 30 test -s "$work/cycles.jsonl" || { echo "the watcher printed no first cycle" >&2; cat "$work/watch.err" >&2; exit 1; }

# The burst: rewrite every page in place; page n/2 gets new content. Prints the monotonic
# times of the first and the last write (after its close).
changed=$(python3 -c "i = ($files - 2) // 2; print(f'p/{i // 100:02d}/{i % 100:02d}/index.html')")
read -r burst_start burst_end < <(python3 - "$site/_site" "$files" <<'PY'
import os, sys, time
root, n = sys.argv[1], int(sys.argv[2])
def page(i):
    return (f"<!doctype html><title>Post {i}</title><h1>Post {i}</h1>" + "<p>lorem ipsum dolor sit amet</p>" * 60).encode()
start = time.monotonic_ns()
for i in range(n - 2):
    body = page(i)
    if i == (n - 2) // 2:
        body += b"<p>edited</p>"
    with open(os.path.join(root, "p", f"{i // 100:02d}", f"{i % 100:02d}", "index.html"), "wb") as f:
        f.write(body)
with open(os.path.join(root, "index.html"), "wb") as f:
    f.write(b"<h1>Home</h1>")
with open(os.path.join(root, "feed.xml"), "wb") as f:
    f.write(b"<feed/>")
print(start, time.monotonic_ns())
PY
)
wait_for $((settle_ms / 1000 + 20)) test -s "$work/requests.log" || { echo "no purge request within 20 s after the settle" >&2; cat "$work/watch.err" >&2; exit 1; }
wait_for 10 at_least_lines 2 || { echo "no cycle line after the purge" >&2; exit 1; }

python3 - "$work/requests.log" "$burst_start" "$burst_end" "$settle_ms" "$changed" "$files" <<'PY'
import json, sys
log, start, end, settle_ms, changed, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
first = open(log).readline().split(" ", 3)
received, body = int(first[0]), json.loads(first[3])
expected = sorted([f"https://example.com/{changed[:-len('index.html')]}", f"https://example.com/{changed}"])
got = sorted(body.get("files", []))
print(f"burst: {files} files rewritten in {(end - start) / 1e6:.0f} ms")
print(f"first purge request {(received - end) / 1e6:.0f} ms after the burst's last write "
      f"(settle {settle_ms} ms + {(received - end) / 1e6 - settle_ms:.0f} ms; target <= {settle_ms + 250} ms)")
print(f"purged: {' '.join(got)} ({'as expected' if got == expected else 'EXPECTED ' + ' '.join(expected)})")
if got != expected:
    sys.exit(1)
PY
python3 - "$work/cycles.jsonl" <<'PY'
import json, sys
c = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(f"cycle: {c['files_changed']} file changed, {c['urls_purged']} URLs purged with "
      f"{c['requests']} request(s), {c['seconds']} s, ok={c['ok']}")
PY

# Idle: no file event for $idle seconds.
sleep 1
tick=$(getconf CLK_TCK)
lines_before=$(lines)
requests_before=$(wc -l <"$work/requests.log")
t0=$(ticks "$watcher_pid")
w0=$(switches "$watcher_pid")
sleep "$idle"
t1=$(ticks "$watcher_pid")
w1=$(switches "$watcher_pid")
awk -v d="$((t1 - t0))" -v hz="$tick" -v s="$idle" 'BEGIN { printf "idle CPU: %.2f s over %d s\n", d / hz, s }'
echo "idle wake-ups: $((w1 - w0)) context switches over $idle s"
echo "idle: $(($(lines) - lines_before)) cycle line(s), $(($(wc -l <"$work/requests.log") - requests_before)) request(s)"
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$watcher_pid/status")
echo "watcher memory: ${rss} KB resident"
