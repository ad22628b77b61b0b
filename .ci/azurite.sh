# shellcheck shell=bash
# azurite.sh — start and stop a throwaway Azurite (the Azure Storage
# emulator) for presignd's Azure Blob tests.
#
# Source this file, then:
#
#	azurite_start            # installs Azurite once into the cache, starts it,
#	trap azurite_stop EXIT   # exports PRESIGND_TEST_AZURE_* for the tests
#	azurite_start_oauth      # a second one taking OAuth tokens over HTTPS:
#	                         # PRESIGND_TEST_AZURE_OAUTH_ENDPOINT and _CA
#	trap 'azurite_stop; azurite_stop_oauth' EXIT
#
# Azurite is the npm package pinned by .ci/azurite/package-lock.json,
# installed with npm ci into ${PRESIGND_CACHE:-$HOME/.cache/presignd}/azurite-<lock hash>,
# the path CI caches. It runs in strict mode; --skipApiVersionCheck lets it
# answer the newer service version the Go SDK sends. Each start uses a fresh
# temporary directory on a free loopback port; azurite_stop kills that
# server and removes the directory. The account is Azurite's well-known
# devstoreaccount1 with its published key.

# _azurite_free_port prints a TCP port on 127.0.0.1 that nothing listens on.
_azurite_free_port() {
	local port
	for _ in $(seq 1 100); do
		port=$(( (RANDOM % 20000) + 30000 ))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "azurite: no free port found" >&2
	return 1
}

# azurite_start installs Azurite if missing, starts it, waits until it
# answers and exports PRESIGND_TEST_AZURE_ENDPOINT, _ACCOUNT and _KEY.
azurite_start() {
	local src lock_hash dir
	src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/azurite"
	lock_hash=$(sha256sum "$src/package-lock.json" | cut -c1-12)
	dir="${PRESIGND_CACHE:-$HOME/.cache/presignd}/azurite-$lock_hash"
	if [[ ! -x "$dir/node_modules/.bin/azurite-blob" ]]; then
		if ! command -v npm >/dev/null; then
			echo "azurite: npm is missing (install nodejs and npm)" >&2
			return 1
		fi
		echo "azurite: installing into $dir" >&2
		mkdir -p "$dir"
		cp "$src/package.json" "$src/package-lock.json" "$dir/"
		(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) || return 1
	fi

	local attempt
	for attempt in 1 2 3; do
		_azurite_try_start "$dir/node_modules/.bin/azurite-blob" && return 0
		[[ $? -eq 2 ]] || return 1 # 2: exited early, perhaps a port race; retry
		echo "azurite: start attempt $attempt failed; retrying on another port" >&2
	done
	return 1
}

# _azurite_try_start starts "$1" once. It returns 0 when it answers, 2 when
# the server exited during start (the log is printed), 1 otherwise.
_azurite_try_start() {
	local bin="$1" port
	port=$(_azurite_free_port) || return 1
	AZURITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/presignd-azurite.XXXXXX") || return 1
	"$bin" --blobHost 127.0.0.1 --blobPort "$port" --location "$AZURITE_DIR/data" \
		--skipApiVersionCheck --silent >"$AZURITE_DIR/azurite.log" 2>&1 &
	AZURITE_PID=$!

	local rc=0
	# Any HTTP answer (403 to an unsigned request) means it is up.
	_azurite_wait "$AZURITE_PID" "$AZURITE_DIR/azurite.log" "http://127.0.0.1:$port/devstoreaccount1?comp=list" || rc=$?
	if ((rc != 0)); then
		azurite_stop
		return "$rc"
	fi
	export PRESIGND_TEST_AZURE_ENDPOINT="http://127.0.0.1:$port/devstoreaccount1"
	export PRESIGND_TEST_AZURE_ACCOUNT=devstoreaccount1
	export PRESIGND_TEST_AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
	# For tests that need an Azurite of their own (account-wide settings
	# such as CORS).
	export PRESIGND_TEST_AZURITE_BIN="$bin"
	echo "azurite: live at $PRESIGND_TEST_AZURE_ENDPOINT (pid $AZURITE_PID)" >&2
}

# _azurite_wait polls url (with the curl options after it) until Azurite
# answers: 0. It returns 2 when the server (pid) exited during start and 1
# after 60s, having printed its log (file log).
_azurite_wait() {
	local pid="$1" log="$2" url="$3" _ code
	shift 3
	for _ in $(seq 1 600); do
		code=$(curl -s "$@" -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)
		if [[ "$code" != "000" && -n "$code" ]]; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "azurite: exited during start; log follows" >&2
			cat "$log" >&2
			return 2
		fi
		sleep 0.1
	done
	echo "azurite: not answering after 60s; log follows" >&2
	cat "$log" >&2
	return 1
}

# azurite_stop kills the server azurite_start started and removes its data.
# It is safe to call more than once and when azurite_start failed.
azurite_stop() {
	if [[ -n "${AZURITE_PID:-}" ]]; then
		kill "$AZURITE_PID" 2>/dev/null || true
		wait "$AZURITE_PID" 2>/dev/null || true
		unset AZURITE_PID
	fi
	if [[ -n "${AZURITE_DIR:-}" ]]; then
		rm -rf "$AZURITE_DIR"
		unset AZURITE_DIR
	fi
	unset PRESIGND_TEST_AZURE_ENDPOINT PRESIGND_TEST_AZURE_ACCOUNT PRESIGND_TEST_AZURE_KEY PRESIGND_TEST_AZURITE_BIN
}

# azurite_start_oauth starts a second Azurite that takes OAuth bearer
# tokens, which Azurite accepts only over HTTPS: it generates a self-signed
# certificate for 127.0.0.1 (openssl) in a fresh temporary directory, starts
# Azurite with --oauth basic (it checks a token's issuer, audience and
# lifetime, not its signature) on a free port, waits until it answers and
# exports PRESIGND_TEST_AZURE_OAUTH_ENDPOINT (https://127.0.0.1:PORT/devstoreaccount1)
# and PRESIGND_TEST_AZURE_OAUTH_CA (the certificate, for clients to trust).
# It uses the Azurite azurite_start installs: run that first.
azurite_start_oauth() {
	local src lock_hash bin
	src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/azurite"
	lock_hash=$(sha256sum "$src/package-lock.json" | cut -c1-12)
	bin="${PRESIGND_CACHE:-$HOME/.cache/presignd}/azurite-$lock_hash/node_modules/.bin/azurite-blob"
	if [[ ! -x "$bin" ]]; then
		echo "azurite: $bin is missing; run azurite_start first (it installs Azurite)" >&2
		return 1
	fi
	if ! command -v openssl >/dev/null; then
		echo "azurite: openssl is missing (install openssl)" >&2
		return 1
	fi
	local attempt
	for attempt in 1 2 3; do
		_azurite_try_start_oauth "$bin" && return 0
		[[ $? -eq 2 ]] || return 1
		echo "azurite (oauth): start attempt $attempt failed; retrying on another port" >&2
	done
	return 1
}

# _azurite_try_start_oauth starts "$1" once with OAuth over HTTPS. It
# returns 0 when it answers, 2 when the server exited during start, 1
# otherwise.
_azurite_try_start_oauth() {
	local bin="$1" port
	port=$(_azurite_free_port) || return 1
	AZURITE_OAUTH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/presignd-azurite-oauth.XXXXXX") || return 1
	if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
		-keyout "$AZURITE_OAUTH_DIR/key.pem" -out "$AZURITE_OAUTH_DIR/cert.pem" >"$AZURITE_OAUTH_DIR/openssl.log" 2>&1; then
		echo "azurite (oauth): openssl could not make a certificate; log follows" >&2
		cat "$AZURITE_OAUTH_DIR/openssl.log" >&2
		azurite_stop_oauth
		return 1
	fi
	# NODE_EXTRA_CA_CERTS: Azurite checks a copy source carrying a SAS by
	# asking it, over this same TLS.
	NODE_EXTRA_CA_CERTS="$AZURITE_OAUTH_DIR/cert.pem" \
		"$bin" --blobHost 127.0.0.1 --blobPort "$port" --location "$AZURITE_OAUTH_DIR/data" \
		--oauth basic --cert "$AZURITE_OAUTH_DIR/cert.pem" --key "$AZURITE_OAUTH_DIR/key.pem" \
		--skipApiVersionCheck --silent >"$AZURITE_OAUTH_DIR/azurite.log" 2>&1 &
	AZURITE_OAUTH_PID=$!

	local rc=0
	_azurite_wait "$AZURITE_OAUTH_PID" "$AZURITE_OAUTH_DIR/azurite.log" "https://127.0.0.1:$port/devstoreaccount1?comp=list" \
		--cacert "$AZURITE_OAUTH_DIR/cert.pem" || rc=$?
	if ((rc != 0)); then
		azurite_stop_oauth
		return "$rc"
	fi
	export PRESIGND_TEST_AZURE_OAUTH_ENDPOINT="https://127.0.0.1:$port/devstoreaccount1"
	export PRESIGND_TEST_AZURE_OAUTH_CA="$AZURITE_OAUTH_DIR/cert.pem"
	echo "azurite (oauth): live at $PRESIGND_TEST_AZURE_OAUTH_ENDPOINT (pid $AZURITE_OAUTH_PID)" >&2
}

# azurite_stop_oauth kills the server azurite_start_oauth started and
# removes its data and certificate. It is safe to call more than once and
# when azurite_start_oauth failed.
azurite_stop_oauth() {
	if [[ -n "${AZURITE_OAUTH_PID:-}" ]]; then
		kill "$AZURITE_OAUTH_PID" 2>/dev/null || true
		wait "$AZURITE_OAUTH_PID" 2>/dev/null || true
		unset AZURITE_OAUTH_PID
	fi
	if [[ -n "${AZURITE_OAUTH_DIR:-}" ]]; then
		rm -rf "$AZURITE_OAUTH_DIR"
		unset AZURITE_OAUTH_DIR
	fi
	unset PRESIGND_TEST_AZURE_OAUTH_ENDPOINT PRESIGND_TEST_AZURE_OAUTH_CA
}
