#!/usr/bin/env bash
# Puts a sitepurge binary on the runner for the GitHub Action (action.yml, step "Install
# sitepurge"), and names the release archives for the release workflow.
#
#   install.sh                          install; the settings come from the environment (below)
#   install.sh asset-name TAG TARGET    print the name of a release archive:
#                                       sitepurge-v0.2.0-x86_64-unknown-linux-musl.tar.gz
#
# The first of these that applies wins, and the log says which:
# 1. INPUT_BINARY (the action's `binary` input): a path, or a command on the PATH, used as is;
# 2. the release archive of the wanted version for this runner (RUNNER_OS, RUNNER_ARCH), from the
#    GitHub release, checked against the SHA-256 published beside it (ARCHIVE.sha256). A mismatch
#    or a missing checksum is an error: nothing is installed, and no build is tried instead;
# 3. when there is no such archive (that version was never released, or it has no archive for
#    this platform): `cargo install --locked` from source. That builds the action's own checkout
#    (the sitepurge repository at the ref in `uses:`), or the tag `version` names when it names
#    another version than the action's own.
#
# The wanted version: INPUT_VERSION (the `version` input: 0.2.0, v0.2.0 or latest); when empty,
# the action's own ref when that is a version tag (uses: OWNER/sitepurge/hooks/github-actions@v0.2.0),
# else the latest release (uses: ...@main).
#
# Environment: the runner's RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_SERVER_URL,
# GITHUB_ACTION_PATH; SITEPURGE_ACTION_REPOSITORY and SITEPURGE_ACTION_REF (github.action_repository
# and github.action_ref, which a composite action only sees through `env:`); and
# SITEPURGE_RELEASE_BASE_URL, which replaces https://github.com/OWNER/sitepurge/releases (tests
# point it at a local server).
#
# Outputs (GITHUB_OUTPUT): path= the binary; source= binary, release or build; save-build=true
# when a build of the action's own source should be kept in the Actions cache.
set -euo pipefail

# The target triple of the release archive for a runner, if one is built for it.
target_of() {
  case "$1/$2" in
    Linux/X64) echo x86_64-unknown-linux-musl ;;
    Linux/ARM64) echo aarch64-unknown-linux-musl ;;
    macOS/X64) echo x86_64-apple-darwin ;;
    macOS/ARM64) echo aarch64-apple-darwin ;;
    Windows/X64) echo x86_64-pc-windows-msvc ;;
    *) return 1 ;;
  esac
}

# The release archive for TAG and TARGET; it holds one folder of the same name, without the
# extension, with the binary in it.
asset_name() {
  case $2 in
    *-windows-*) echo "sitepurge-$1-$2.zip" ;;
    *) echo "sitepurge-$1-$2.tar.gz" ;;
  esac
}

is_version_tag() {
  [[ $1 =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]
}

say() {
  echo "sitepurge: $*"
}

fail() {
  echo "::error::$*"
  exit 1
}

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "$1" >>"$GITHUB_OUTPUT"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# GET URL into FILE, following redirects; prints the HTTP status. Fails only when no answer
# came (curl retries timeouts, 429 and 5xx itself).
fetch() {
  curl --silent --show-error --location --retry 3 --connect-timeout 20 \
    --output "$2" --write-out '%{http_code}' "$1"
}

if [ "${1:-}" = asset-name ]; then
  if [ $# -ne 3 ]; then
    echo "usage: install.sh asset-name TAG TARGET" >&2
    exit 64
  fi
  asset_name "$2" "$3"
  exit 0
elif [ $# -ne 0 ]; then
  echo "usage: install.sh | install.sh asset-name TAG TARGET" >&2
  exit 64
fi

finish() {
  local bin=$1 source=$2
  "$bin" --version
  output "path=$bin"
  output "source=$source"
}

# 1. A given binary.
if [ -n "${INPUT_BINARY:-}" ]; then
  if ! bin=$(command -v -- "$INPUT_BINARY"); then
    fail "sitepurge binary '$INPUT_BINARY' not found"
  fi
  say "using the given binary $bin"
  finish "$bin" binary
  exit 0
fi

: "${RUNNER_TEMP:?RUNNER_TEMP is not set (this script runs in a GitHub Actions step)}"
script=${BASH_SOURCE[0]}
action_path=${GITHUB_ACTION_PATH:-}
if command -v cygpath >/dev/null; then
  # Windows: Git Bash's tools want /d/a/_temp, not D:\a\_temp.
  RUNNER_TEMP=$(cygpath -u "$RUNNER_TEMP")
  script=$(cygpath -u "$script")
  if [ -n "$action_path" ]; then
    action_path=$(cygpath -u "$action_path")
  fi
fi
checkout=$(cd "$(dirname "$script")/../.." && pwd)

# Which repository and ref the action was used from: github.action_repository and
# github.action_ref when the runner fills them in, else the folder the runner checked the
# action out to: .../_actions/OWNER/REPO/REF/hooks/github-actions.
repository=${SITEPURGE_ACTION_REPOSITORY:-}
ref=${SITEPURGE_ACTION_REF:-}
if [ -z "$repository$ref" ] && [[ $action_path == */_actions/*/*/*/hooks/github-actions ]]; then
  rest=${action_path##*/_actions/}
  rest=${rest%/hooks/github-actions}
  repository=${rest%%/*}
  rest=${rest#*/}
  repository=$repository/${rest%%/*}
  ref=${rest#*/}
fi

# The wanted version, as a tag (v0.2.0) or latest.
wanted=${INPUT_VERSION:-}
if [ -n "$wanted" ]; then
  why="the version input"
  if [ "$wanted" != latest ]; then
    wanted=v${wanted#v}
    if ! is_version_tag "$wanted"; then
      fail "version '$INPUT_VERSION' is not a version: give one like 0.2.0 or v0.2.0, or latest"
    fi
  fi
elif is_version_tag "$ref"; then
  wanted=$ref
  why="the action's own version"
else
  wanted=latest
  why="the action is used at ${ref:-an unknown ref}, not at a version tag"
fi

exe=""
target=""
if target=$(target_of "${RUNNER_OS:-}" "${RUNNER_ARCH:-}"); then
  case $target in *-windows-*) exe=.exe ;; esac
fi

if [ -n "${SITEPURGE_RELEASE_BASE_URL:-}" ]; then
  base=${SITEPURGE_RELEASE_BASE_URL%/}
elif [ -n "$repository" ]; then
  base=${GITHUB_SERVER_URL:-https://github.com}/$repository/releases
else
  base=""
fi

# 3. Build from source: the action's own checkout, or the tag `version` names when that is not
# the action's own version.
build() {
  say "$1"
  if ! command -v cargo >/dev/null; then
    fail "building sitepurge from source needs cargo, which is not installed on this runner: install Rust first, or give the action a binary"
  fi
  local root bin
  if [ "$why" = "the version input" ] && [ "$wanted" != latest ] && [ "$wanted" != "$ref" ]; then
    if [ -z "$repository" ]; then
      fail "cannot tell which repository this action comes from, so cannot build $wanted: give the action a binary"
    fi
    root=$RUNNER_TEMP/sitepurge-build-$wanted
    bin=$root/bin/sitepurge$exe
    local url=${GITHUB_SERVER_URL:-https://github.com}/$repository
    say "building $wanted from source: cargo install --locked --git $url --tag $wanted"
    cargo install --locked --quiet --git "$url" --tag "$wanted" --root "$root" sitepurge
  else
    root=$RUNNER_TEMP/sitepurge-build
    bin=$root/bin/sitepurge$exe
    if [ -x "$bin" ]; then
      say "using the build of this action's source kept in the Actions cache"
    else
      say "building this action's source (${ref:-$checkout}): cargo install --locked --path $checkout"
      cargo install --locked --quiet --path "$checkout" --root "$root"
      output "save-build=true"
    fi
  fi
  finish "$bin" build
  exit 0
}

# 2. The release archive.
if [ -z "$target" ]; then
  build "no release archive is built for ${RUNNER_OS:-this OS} ${RUNNER_ARCH:-}"
fi
if [ -z "$base" ]; then
  build "cannot tell which repository this action comes from (a local action?), so no release is looked for"
fi

tag=$wanted
if [ "$wanted" = latest ]; then
  # /releases/latest redirects to /releases/tag/TAG of the newest release that is neither a
  # draft nor a prerelease.
  if ! location=$(curl --silent --show-error --retry 3 --connect-timeout 20 \
    --output /dev/null --write-out '%{redirect_url}' "$base/latest"); then
    fail "cannot reach $base/latest to find the latest sitepurge release"
  fi
  tag=${location##*/releases/tag/}
  if [ "$tag" = "$location" ] || ! is_version_tag "$tag"; then
    build "no sitepurge release found at $base ($why, so the latest release was wanted)"
  fi
fi

asset=$(asset_name "$tag" "$target")
url=$base/download/$tag/$asset
say "looking for the release $tag for $RUNNER_OS $RUNNER_ARCH ($why): $url"
download=$(mktemp -d "$RUNNER_TEMP/sitepurge-download.XXXXXX")
trap 'rm -rf "$download"' EXIT
if ! status=$(fetch "$url" "$download/$asset"); then
  fail "cannot download $url"
fi
case $status in
  200) ;;
  404) build "no release archive $asset (HTTP 404: $tag was not released, or not for $RUNNER_OS $RUNNER_ARCH)" ;;
  *) fail "downloading $url failed: HTTP $status" ;;
esac

if ! status=$(fetch "$url.sha256" "$download/$asset.sha256"); then
  fail "cannot download $url.sha256"
fi
if [ "$status" != 200 ]; then
  fail "no checksum for $asset: $url.sha256 answered HTTP $status; refusing to install a binary that cannot be checked"
fi
expected=""
read -r expected _ <"$download/$asset.sha256" || true
expected=$(echo "$expected" | tr 'A-F' 'a-f')
actual=$(sha256_of "$download/$asset")
if ! [[ $expected =~ ^[0-9a-f]{64}$ ]]; then
  fail "the checksum file $asset.sha256 holds no SHA-256; refusing to install $asset"
fi
if [ "$actual" != "$expected" ]; then
  fail "checksum mismatch for $asset: $asset.sha256 says $expected, the download is $actual; refusing to install it"
fi

dest=$RUNNER_TEMP/sitepurge-release
rm -rf "$dest"
mkdir -p "$dest"
case $asset in
  *.zip)
    if command -v unzip >/dev/null; then
      unzip -q "$download/$asset" -d "$dest"
    else
      7z x -bd -y "-o$dest" "$download/$asset" >/dev/null
    fi
    ;;
  *) tar -xzf "$download/$asset" -C "$dest" ;;
esac
bin=$dest/${asset%.zip}
bin=${bin%.tar.gz}/sitepurge$exe
if [ ! -f "$bin" ]; then
  fail "$asset holds no ${bin#"$dest"/}"
fi
chmod +x "$bin"
say "installed $asset (SHA-256 checked)"
finish "$bin" release
