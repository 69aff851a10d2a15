#!/usr/bin/env bash
# post-build.sh: build the site, deploy it, then purge what changed with `sitepurge run`.
#
#   post-build.sh [--build CMD] [--deploy CMD] [-- SITEPURGE_RUN_ARGS...]
#
# CMD is one shell command line, run by `bash -c` in the current folder (pipes and && work).
# Each step runs only if the one before it succeeded:
#
#   1. the build  (--build, or $SITEPURGE_HOOK_BUILD; skipped when empty)
#   2. the deploy (--deploy, or $SITEPURGE_HOOK_DEPLOY; skipped when empty)
#   3. sitepurge run SITEPURGE_RUN_ARGS... ($SITEPURGE_BIN, default: sitepurge on the PATH)
#
# Exit code: the failing build's or deploy's own code (sitepurge is then not run, so the CDN
# keeps serving the pages that are still deployed); otherwise sitepurge's exit code
# (0 ok, 1 purge failed, 2 setup error, ... see `sitepurge --help`); 127 if sitepurge is not
# found; 64 for a usage error of this script.
#
# Example:
#   CLOUDFLARE_API_TOKEN=... hooks/post-build.sh \
#     --build 'hugo --minify' \
#     --deploy 'rsync -a --delete public/ www@web1:/srv/www/example.com/' \
#     -- public --base-url https://example.com/ --base-url https://www.example.com/
set -euo pipefail

me=${0##*/}

usage() {
  cat <<EOF
usage: $me [--build CMD] [--deploy CMD] [-- SITEPURGE_RUN_ARGS...]

Runs CMD of --build, then CMD of --deploy (each with bash -c, in the current folder), then
'sitepurge run SITEPURGE_RUN_ARGS...'. A failing build or deploy stops there: sitepurge is not
run and the script exits with that step's code. Otherwise it exits with sitepurge's code.

Environment: SITEPURGE_HOOK_BUILD, SITEPURGE_HOOK_DEPLOY (used when the flag is not given),
SITEPURGE_BIN (the sitepurge binary; default: sitepurge on the PATH), and everything
sitepurge itself reads (CLOUDFLARE_API_TOKEN, SITEPURGE_CONFIG, ...).
EOF
}

die_usage() {
  printf '%s: %s\n' "$me" "$1" >&2
  printf "Try '%s --help'.\n" "$me" >&2
  exit 64
}

build=${SITEPURGE_HOOK_BUILD:-}
deploy=${SITEPURGE_HOOK_DEPLOY:-}

while [ $# -gt 0 ]; do
  case $1 in
    --build)
      [ $# -ge 2 ] || die_usage "--build needs a command"
      build=$2
      shift 2
      ;;
    --build=*)
      build=${1#--build=}
      shift
      ;;
    --deploy)
      [ $# -ge 2 ] || die_usage "--deploy needs a command"
      deploy=$2
      shift 2
      ;;
    --deploy=*)
      deploy=${1#--deploy=}
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      break
      ;;
    *)
      die_usage "unexpected argument '$1' (sitepurge's arguments go after --)"
      ;;
  esac
done

# Runs one step; on failure reports it (never the command line, which may name hosts or keys
# the log should not show) and exits with the step's own code.
step() {
  local name=$1 command=$2 status=0
  if [ -z "$command" ]; then
    return 0
  fi
  printf '%s: %s...\n' "$me" "$name" >&2
  bash -c "$command" || status=$?
  if [ "$status" -ne 0 ]; then
    printf '%s: the %s failed (exit %d); sitepurge not run\n' "$me" "$name" "$status" >&2
    exit "$status"
  fi
}

sitepurge=${SITEPURGE_BIN:-sitepurge}
if ! command -v "$sitepurge" >/dev/null 2>&1; then
  # Checked before the build, so a missing binary does not leave a deployed site unpurged.
  printf '%s: %s not found: install sitepurge or set SITEPURGE_BIN\n' "$me" "$sitepurge" >&2
  exit 127
fi

step build "$build"
step deploy "$deploy"
# sitepurge refuses some of its variables when set but empty (as CI systems often leave them):
# leave those unset.
for name in SITEPURGE_DIR SITEPURGE_STATE SITEPURGE_CONFIG SITEPURGE_BASE_URL SITEPURGE_THRESHOLD; do
  if [ -z "${!name-}" ]; then
    unset "$name"
  fi
done
exec "$sitepurge" run "$@"
