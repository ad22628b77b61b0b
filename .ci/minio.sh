# shellcheck shell=bash
# minio.sh — start and stop a throwaway MinIO for presignd's S3 tests.
#
# Source this file, then:
#
#	minio_start            # builds MinIO once into the cache, starts it,
#	trap minio_stop EXIT   # exports PRESIGND_TEST_S3_* for the tests
#
# The binary lives at ${PRESIGND_CACHE:-$HOME/.cache/presignd}/bin/minio,
# the path CI caches. Each start uses a fresh temporary data directory on
# free loopback ports; minio_stop kills that server and removes the directory.

PRESIGND_MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

# _minio_free_port prints a TCP port on 127.0.0.1 that nothing listens on.
_minio_free_port() {
	local port
	for _ in $(seq 1 100); do
		port=$(( (RANDOM % 20000) + 30000 ))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "minio: no free port found" >&2
	return 1
}

# minio_start builds MinIO if missing, starts it, waits until it is live and
# exports PRESIGND_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY and _REGION.
minio_start() {
	local cache="${PRESIGND_CACHE:-$HOME/.cache/presignd}"
	local bin="$cache/bin/minio"
	if [[ ! -x "$bin" ]]; then
		echo "minio: building $PRESIGND_MINIO_VERSION into $cache/bin (a few minutes)" >&2
		mkdir -p "$cache/bin"
		GOBIN="$cache/bin" go install "github.com/minio/minio@$PRESIGND_MINIO_VERSION" || return 1
	fi

	local attempt
	for attempt in 1 2 3; do
		_minio_try_start "$bin" && return 0
		[[ $? -eq 2 ]] || return 1 # 2: exited early, perhaps a port race; retry
		echo "minio: start attempt $attempt failed; retrying on other ports" >&2
	done
	return 1
}

# _minio_try_start starts "$1" once. It returns 0 when live, 2 when the
# server exited during start (the log is printed), 1 otherwise.
_minio_try_start() {
	local bin="$1" port console
	port=$(_minio_free_port) || return 1
	console=$(_minio_free_port) || return 1
	while [[ "$console" == "$port" ]]; do
		console=$(_minio_free_port) || return 1
	done

	MINIO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/presignd-minio.XXXXXX") || return 1
	mkdir -p "$MINIO_DIR/data"
	MINIO_ROOT_USER=minioadmin MINIO_ROOT_PASSWORD=minioadmin123 MINIO_BROWSER=off \
		"$bin" server "$MINIO_DIR/data" \
		--address "127.0.0.1:$port" --console-address "127.0.0.1:$console" \
		>"$MINIO_DIR/minio.log" 2>&1 &
	MINIO_PID=$!

	local _
	for _ in $(seq 1 300); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$port/minio/health/live" 2>/dev/null; then
			export PRESIGND_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
			export PRESIGND_TEST_S3_ACCESS_KEY=minioadmin
			export PRESIGND_TEST_S3_SECRET_KEY=minioadmin123
			export PRESIGND_TEST_S3_REGION=us-east-1
			# For tests that need a MinIO of their own (another
			# server-wide setting).
			export PRESIGND_TEST_MINIO_BIN="$bin"
			echo "minio: live at $PRESIGND_TEST_S3_ENDPOINT (pid $MINIO_PID)" >&2
			return 0
		fi
		if ! kill -0 "$MINIO_PID" 2>/dev/null; then
			echo "minio: exited during start; log follows" >&2
			cat "$MINIO_DIR/minio.log" >&2
			minio_stop
			return 2
		fi
		sleep 0.1
	done
	echo "minio: not live after 30s; log follows" >&2
	cat "$MINIO_DIR/minio.log" >&2
	minio_stop
	return 1
}

# minio_stop kills the server minio_start started and removes its data. It is
# safe to call more than once and when minio_start failed.
minio_stop() {
	if [[ -n "${MINIO_PID:-}" ]]; then
		kill "$MINIO_PID" 2>/dev/null || true
		wait "$MINIO_PID" 2>/dev/null || true
		unset MINIO_PID
	fi
	if [[ -n "${MINIO_DIR:-}" ]]; then
		rm -rf "$MINIO_DIR"
		unset MINIO_DIR
	fi
	unset PRESIGND_TEST_S3_ENDPOINT PRESIGND_TEST_S3_ACCESS_KEY PRESIGND_TEST_S3_SECRET_KEY PRESIGND_TEST_S3_REGION PRESIGND_TEST_MINIO_BIN
}
