#!/usr/bin/env bash
# The package as a user gets it (issue 21, item 6): `npm pack`, install the tarball in an empty
# folder, run `npx antidote demo --quick` there. Catches what `npm test` cannot see from inside
# the repository: a file the package needs at run time but "files" leaves out, a bin that is not
# executable, a dependency listed under devDependencies. Dependencies come from the npm registry
# (as in CI). Run after `npm run build` (it packs dist/ as built; builds it when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# As in .ci/run: onnxruntime-node's postinstall would fetch CUDA binaries from outside npm.
export ONNXRUNTIME_NODE_INSTALL=skip
work=$(mktemp -d "${TMPDIR:-/tmp}/antidote-pack-smoke-XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS

[ -f dist/cli/main.js ] || npm run build
tarball=$(npm pack --ignore-scripts --silent --pack-destination "$work" | tail -n 1)
echo "pack-smoke: packed $tarball ($(du -h "$work/$tarball" | cut -f1)) in $((SECONDS - start)) s"

mkdir "$work/app"
cd "$work/app"
printf '{ "name": "antidote-pack-smoke", "version": "0.0.0", "private": true }\n' > package.json
# Install scripts off: the package has none of its own (prepare runs only from a git checkout),
# and better-sqlite3's downloads a prebuilt binary or compiles SQLite for minutes. Its binary is
# the one `npm ci` already built in the repository for this Node when the versions match (else
# it is rebuilt here); onnxruntime-node's is skipped anyway; msgpackr-extract is optional.
npm install --no-audit --no-fund --prefer-offline --ignore-scripts --loglevel=error "$work/$tarball"
addon=node_modules/better-sqlite3
version_of() { node -p "require('$1/package.json').version" 2>/dev/null || true; }
if [ -f "$repo/$addon/build/Release/better_sqlite3.node" ] \
  && [ "$(version_of "$repo/$addon")" = "$(version_of "$PWD/$addon")" ]; then
  mkdir -p "$addon/build/Release"
  cp "$repo/$addon/build/Release/better_sqlite3.node" "$addon/build/Release/"
else
  npm rebuild better-sqlite3 --loglevel=error
fi
echo "pack-smoke: installed in $((SECONDS - start)) s"

# Nothing of the repository may be reachable from here: run from the empty folder only.
[ "$(npx --no-install antidote --version)" = "$(node -p "require('$repo/package.json').version")" ]
npx --no-install antidote demo --quick --quiet --out "$work/app/demo"
for f in report.json report.html; do
  [ -s "$work/app/demo/$f" ] || { echo "pack-smoke: demo wrote no $f" >&2; exit 1; }
done
echo "pack-smoke: ok in $((SECONDS - start)) s"
