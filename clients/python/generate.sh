#!/usr/bin/env bash
# generate.sh — writes the Python gRPC client for presignd.v1 into
# clients/python/gen from proto/, with grpc_tools.protoc (Debian's
# python3-grpc-tools, run by /usr/bin/python3 unless $PYTHON names another).
#
#	clients/python/generate.sh           # regenerate clients/python/gen
#	clients/python/generate.sh --check   # fail if the committed code is stale
#
# The protos presignd imports (google/api, buf/validate) are generated too,
# so that the stubs import without further packages; the well-known types
# come with the protobuf runtime.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-/usr/bin/python3}
check=false
case "${1:-}" in
--check) check=true ;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
wkt=$("$python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
include=(-Iproto -Ithird_party/googleapis -Ithird_party/protovalidate "-I$wkt")
mapfile -t services < <(cd proto && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
deps=(google/api/annotations.proto google/api/http.proto buf/validate/validate.proto)

"$python" -m grpc_tools.protoc "${include[@]}" "--python_out=$out" "${services[@]}" "${deps[@]}"
"$python" -m grpc_tools.protoc "${include[@]}" "--grpc_python_out=$out" "${services[@]}"

if $check; then
	if ! diff -r -x __pycache__ "$out" clients/python/gen; then
		echo "clients/python/gen is stale: run clients/python/generate.sh and commit the result" >&2
		exit 1
	fi
	exit 0
fi
rm -rf clients/python/gen
cp -r "$out" clients/python/gen
