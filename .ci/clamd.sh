# shellcheck shell=bash
# clamd.sh — start and stop a throwaway clamd for presignd's malware
# scanning tests.
#
# Source this file, then:
#
#	clamd_start            # starts clamd on a free loopback port with a
#	trap clamd_stop EXIT   # test signature database; exports
#	                       # PRESIGND_TEST_CLAMD_ADDR (host:port)
#
# clamd comes from Debian's clamav-daemon (installed when missing, as
# root). Signatures cannot be downloaded here, and need not be: the
# database clamd_start writes holds one signature, the EICAR test file's
# MD5 and size (an .hdb line), which clamd reports as
# "Eicar-Test-Signature.UNOFFICIAL FOUND". StreamMaxLength is 1M so the
# tests can reach clamd's size limit with a small stream.

# clamd_start starts clamd and waits until it answers PING.
clamd_start() {
	if ! command -v clamd >/dev/null && [[ ! -x /usr/sbin/clamd ]]; then
		echo "clamd: installing clamav-daemon" >&2
		apt-get update -qq || return 1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav-daemon >/dev/null || return 1
	fi
	local bin
	bin=$(command -v clamd || echo /usr/sbin/clamd)
	local port
	port=$(_clamd_free_port) || return 1
	CLAMD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/presignd-clamd.XXXXXX") || return 1
	mkdir -p "$CLAMD_DIR/db"
	echo '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature' >"$CLAMD_DIR/db/test.hdb"
	cat >"$CLAMD_DIR/clamd.conf" <<CONF
DatabaseDirectory $CLAMD_DIR/db
TCPSocket $port
TCPAddr 127.0.0.1
Foreground yes
StreamMaxLength 1M
MaxThreads 4
LogFile $CLAMD_DIR/clamd.log
PidFile $CLAMD_DIR/clamd.pid
TemporaryDirectory $CLAMD_DIR
CONF
	"$bin" --config-file="$CLAMD_DIR/clamd.conf" >"$CLAMD_DIR/stdout.log" 2>&1 &
	CLAMD_PID=$!
	local _
	for _ in $(seq 1 300); do
		if [[ "$(_clamd_ping "$port")" == PONG ]]; then
			export PRESIGND_TEST_CLAMD_ADDR="127.0.0.1:$port"
			echo "clamd: live at $PRESIGND_TEST_CLAMD_ADDR (pid $CLAMD_PID)" >&2
			return 0
		fi
		if ! kill -0 "$CLAMD_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "clamd: did not answer PING; logs follow" >&2
	cat "$CLAMD_DIR/stdout.log" "$CLAMD_DIR/clamd.log" >&2 2>/dev/null
	clamd_stop
	return 1
}

# _clamd_ping prints clamd's answer to zPING on 127.0.0.1:$1, or nothing.
_clamd_ping() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
		printf 'zPING\0' >&3
		IFS= read -r -d '' -t 2 reply <&3
		printf '%s' "$reply"
	) 2>/dev/null
}

# _clamd_free_port prints a TCP port on 127.0.0.1 that nothing listens on.
_clamd_free_port() {
	local port
	for _ in $(seq 1 100); do
		port=$(( (RANDOM % 20000) + 30000 ))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "clamd: no free port found" >&2
	return 1
}

# clamd_stop kills the clamd clamd_start started and removes its files. It
# is safe to call more than once and when clamd_start failed.
clamd_stop() {
	if [[ -n "${CLAMD_PID:-}" ]]; then
		kill "$CLAMD_PID" 2>/dev/null || true
		wait "$CLAMD_PID" 2>/dev/null || true
		unset CLAMD_PID
	fi
	if [[ -n "${CLAMD_DIR:-}" ]]; then
		rm -rf "$CLAMD_DIR"
		unset CLAMD_DIR
	fi
	unset PRESIGND_TEST_CLAMD_ADDR
}
