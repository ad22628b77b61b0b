#!/usr/bin/env bash
# generate.sh — writes the TypeScript client for presignd.v1 into
# clients/typescript/gen from proto/, with buf and protoc-gen-es from
# node_modules (run npm ci here first; buf comes from tools/go.mod).
#
#	clients/typescript/generate.sh           # regenerate clients/typescript/gen
#	clients/typescript/generate.sh --check   # fail if the committed code is stale
set -euo pipefail
cd "$(dirname "$0")/../.."
check=false
case "${1:-}" in
--check) check=true ;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac
if [[ ! -x clients/typescript/node_modules/.bin/protoc-gen-es ]]; then
	echo "protoc-gen-es is missing: run npm ci in clients/typescript" >&2
	exit 1
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
buf generate --template clients/typescript/buf.gen.yaml -o "$out"
if $check; then
	if ! diff -r "$out/clients/typescript/gen" clients/typescript/gen; then
		echo "clients/typescript/gen is stale: run clients/typescript/generate.sh and commit the result" >&2
		exit 1
	fi
	exit 0
fi
rm -rf clients/typescript/gen
cp -r "$out/clients/typescript/gen" clients/typescript/gen
