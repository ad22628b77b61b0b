#!/usr/bin/env bash
# bench/run.sh — presignd's performance harness, the one command behind the
# README's "Performance" table:
#
#   bash bench/run.sh [loadtest flags]     e.g. -n 20000 -c 64 -store postgres
#
# It builds the static binary the Dockerfile builds, starts it on free
# loopback ports with a fresh data dir, runs every scenario of
# bench/loadtest (gRPC echo, gRPC and REST CreateUpload, REST echo,
# GetFile, ListFiles) and prints a Markdown table with throughput, p50/p99,
# the ratios to the echo baselines and the server's RSS. Needs only Go.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$dir/presignd" ./cmd/presignd
go build -o "$dir/loadtest" ./bench/loadtest
"$dir/loadtest" -binary "$dir/presignd" "$@"
