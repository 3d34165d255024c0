#!/usr/bin/env sh
# Install the independent VDA 5050 vehicle the tests drive (vda-5050-lib, pinned in package-lock.json) into
# var/npm/ (git-ignored). Does nothing when that exact lock is already installed, so reruns need no network.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/../../var/npm"
if [ -f "$dest/node_modules/vda-5050-lib/package.json" ] && cmp -s "$here/package-lock.json" "$dest/.installed-lock"; then
    exit 0
fi
command -v npm >/dev/null || { echo "npm is not installed (Debian packages nodejs npm; make system-deps)" >&2; exit 1; }
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
npm ci --prefix "$dest" --no-audit --no-fund --loglevel=error
cp "$here/package-lock.json" "$dest/.installed-lock"
