#!/usr/bin/env bash
# bench/peer.sh — the peer-style benchmark: wrk against presignd's REST
# CreateUpload (SQLite and PostgreSQL), its REST echo, a do-nothing
# node:http server and a do-nothing Go net/http JSON handler, in
# interleaved rounds at 16 and 64 connections, with CPU per request from
# /proc (server, and PostgreSQL's backends for the PostgreSQL rows), RSS,
# p50/p99, and the performance goals checked. See bench/README.md.
#
#   bash bench/peer.sh [flags of bench/peer]     e.g. -d 20s -rounds 2
#
# The PostgreSQL rows run when PRESIGND_TEST_POSTGRES_URI is set (or
# -postgres-uri is given); they use a fresh schema, dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
	echo "peer.sh: installing wrk (Debian package)" >&2
	if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
	$sudo apt-get update -qq >&2
	$sudo apt-get install -y -qq wrk >&2
fi
command -v node >/dev/null || { echo "peer.sh: node is needed for the node:http baseline" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The binary the Dockerfile builds, run from a copy (see bench/loadtest).
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$dir/presignd.build" ./cmd/presignd
cp "$dir/presignd.build" "$dir/presignd"
go build -o "$dir/loadtest" ./bench/loadtest
go build -o "$dir/peer" ./bench/peer
"$dir/peer" -binary "$dir/presignd" -loadtest "$dir/loadtest" "$@"
