#!/usr/bin/env bash
# build.sh — builds the Uppy bundle the upload page loads, static/uppy/
# (uppy.min.js and uppy.min.css), from src/ and the packages pinned in
# package-lock.json. The bundle is committed: presignd embeds static/, so
# building presignd needs neither node nor npm.
#
#   web/build.sh           install the locked packages (npm ci) and rebuild
#   web/build.sh --check   rebuild into a temporary directory and fail if the
#                          committed bundle differs (CI runs this)
#
# Needs node and npm, and the npm registry (nothing else is downloaded).
set -euo pipefail
cd "$(dirname "$0")"

check=""
case "${1:-}" in
"") ;;
--check) check=1 ;;
*)
	echo "usage: web/build.sh [--check]" >&2
	exit 2
	;;
esac

# The exact packages of package-lock.json, esbuild included; its postinstall
# script only checks the platform binary the lock already names, so no
# install script runs.
npm ci --no-audit --no-fund --ignore-scripts >/dev/null

out=static/uppy
if [[ -n "$check" ]]; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# Paths are relative to this directory and nothing depends on the time or
# the machine, so the same lock gives the same bytes anywhere.
esbuild=node_modules/.bin/esbuild
common=(--bundle --minify --log-level=warning --charset=utf8 --legal-comments=eof)
"$esbuild" src/uppy.js "${common[@]}" --format=iife --global-name=PresigndUppy \
	--target=es2020 --platform=browser --define:process.env.NODE_ENV='"production"' \
	--outfile="$out/uppy.min.js"
"$esbuild" src/uppy.css "${common[@]}" --outfile="$out/uppy.min.css"

if [[ -n "$check" ]]; then
	status=0
	for f in uppy.min.js uppy.min.css; do
		if ! cmp -s "$out/$f" "static/uppy/$f"; then
			echo "web/static/uppy/$f differs from what web/build.sh builds from package-lock.json: run web/build.sh and commit the result" >&2
			status=1
		fi
	done
	if [[ -n "$(ls -A static/uppy | grep -vxE 'uppy\.min\.(js|css)')" ]]; then
		echo "web/static/uppy/ holds files build.sh does not make: $(ls static/uppy | grep -vxE 'uppy\.min\.(js|css)' | tr '\n' ' ')" >&2
		status=1
	fi
	exit "$status"
fi
ls -l "$out"
