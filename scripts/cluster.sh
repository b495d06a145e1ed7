# scripts/cluster.sh: throwaway PostgreSQL 15 clusters for tests, the demo and benchmarks.
# Usage: source scripts/cluster.sh; cluster_trap; cluster_start ['conf line'...]; psql ...
# (cluster_trap = `trap cluster_stop EXIT` plus INT/TERM; or set your own trap.)
#
# Functions (each returns non-zero on failure, so `set -e` callers stop):
#   ensure_packages   install the Debian packages the project needs (no-op if present)
#   build_install     make clean, make COPT=-Werror, make install (run from the repo root)
#   cluster_start     initdb + start a socket-only cluster in a new temp dir; extra
#                     arguments are appended to postgresql.conf, one line each.
#                     CLUSTER_POSTGRES names another program to start as the server
#                     (a wrapper that runs postgres under valgrind), and
#                     CLUSTER_START_TIMEOUT the seconds to wait for it (60).
#                     Exports PGHOST PGPORT PGUSER=postgres CLUSTER_DIR CLUSTER_LOG.
#   cluster_stop      immediate stop and remove the temp dir; safe to call twice
#                     (and only ever stops the clusters this shell started).
#   cluster_keep      set the running cluster aside, still running, so that
#                     cluster_start can start another one in this shell (a Citus
#                     coordinator and its workers); cluster_stop stops them all.
#                     PGHOST/PGPORT name the last one started: note each one's first.
# A cluster that other clusters connect to over TCP is started with
# "listen_addresses = 'localhost'" among its extra lines (later lines win).
# Sourcing puts the PostgreSQL 15 binaries (psql, pgbench, pg_config...) first on PATH;
# PG_BIN in the environment names another installation's bin directory (a private
# copy, so that a build under test never replaces the system's incremental.so).
# PG_PRIVATE in the environment names a directory for such a copy, made by
# build_install: it installs the build there (DESTDIR) instead of into the system,
# and clusters run from there, so that two checkouts can be tested at once.
# The server runs as the `postgres` user when the caller is root, else as the caller.

# shellcheck shell=bash
SYSTEM_PG_BIN=/usr/lib/postgresql/15/bin
if [ -n "${PG_PRIVATE:-}" ]; then
	PG_BIN=$PG_PRIVATE/usr/lib/postgresql/15/bin
fi
PG_BIN=${PG_BIN:-$SYSTEM_PG_BIN}
export PATH="$PG_BIN:$PATH"

PROJECT_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
	postgresql-15-cron libtap-parser-sourcehandler-pgtap-perl libipc-run-perl
	build-essential)

# Not exported: a child script that sources this file never stops our cluster.
_cluster_dir=
_cluster_lock=
_cluster_lock_fd=
# Clusters set aside by cluster_keep, each "dir|lock|fd".
_cluster_kept=()

ensure_packages() {
	local p missing=()
	for p in "${PROJECT_PACKAGES[@]}"; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "ensure_packages: missing ${missing[*]}; not root, so not installing" >&2
		return 1
	fi
	echo "ensure_packages: installing ${missing[*]}"
	apt-get update || return 1
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${PROJECT_PACKAGES[@]}" || return 1
}

build_install() {
	local pg_config=$SYSTEM_PG_BIN/pg_config
	make -s clean PG_CONFIG="$pg_config" || return 1
	make COPT=-Werror PG_CONFIG="$pg_config" || return 1
	if [ -z "${PG_PRIVATE:-}" ]; then
		make install PG_CONFIG="$pg_config" || return 1
		return 0
	fi
	# PostgreSQL finds its lib and share directories relative to its binaries, so a
	# copy of both trees under the same prefix is a working installation.
	if [ ! -x "$PG_BIN/postgres" ]; then
		mkdir -p "$PG_PRIVATE/usr/lib/postgresql" "$PG_PRIVATE/usr/share/postgresql" || return 1
		cp -a /usr/lib/postgresql/15 "$PG_PRIVATE/usr/lib/postgresql/" || return 1
		cp -a /usr/share/postgresql/15 "$PG_PRIVATE/usr/share/postgresql/" || return 1
	fi
	make install PG_CONFIG="$pg_config" DESTDIR="$PG_PRIVATE" || return 1
}

# Run a server-side command as the cluster owner, from inside the cluster dir.
_cluster_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd "$_cluster_dir" && runuser -u postgres -- "$@")
	else
		(cd "$_cluster_dir" && "$@")
	fi
}

# Claim a port: hold an flock on /tmp/incremental-pg-port.N.lock (the fd is inherited
# by the postmaster, so the claim lasts as long as the server) and skip ports that
# any unix socket on this machine already uses.
_cluster_claim_port() {
	local port lock
	for ((port = 54329; port < 54529; port++)); do
		grep -q "/\.s\.PGSQL\.$port\$" /proc/net/unix 2>/dev/null && continue
		# nor a TCP port something listens on (a cluster with listen_addresses)
		grep -qi "^ *[0-9]*: [0-9A-F]*:$(printf '%04X' "$port") [0-9A-F]*:0000 0A" \
			/proc/net/tcp /proc/net/tcp6 2>/dev/null && continue
		lock=/tmp/incremental-pg-port.$port.lock
		{ exec {_cluster_lock_fd}<>"$lock"; } 2>/dev/null || continue
		if flock -n "$_cluster_lock_fd"; then
			_cluster_lock=$lock
			echo "$port"
			return 0
		fi
		exec {_cluster_lock_fd}>&-
	done
	echo "cluster_start: no free port in 54329-54528" >&2
	return 1
}

cluster_start() {
	if [ -n "$_cluster_dir" ]; then
		echo "cluster_start: this shell already runs a cluster in $_cluster_dir" >&2
		return 1
	fi
	local port line
	_cluster_dir=$(mktemp -d /tmp/incremental-pg.XXXXXX) || return 1
	chmod 755 "$_cluster_dir"
	[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$_cluster_dir"
	# Not in $(...): the lock fd must stay open in this shell.
	_cluster_claim_port >"$_cluster_dir/port" || { cluster_stop; return 1; }
	port=$(cat "$_cluster_dir/port")

	if ! _cluster_as_owner "$PG_BIN/initdb" -D "$_cluster_dir/data" -U postgres \
		-A trust -E UTF8 --locale=C >"$_cluster_dir/initdb.log" 2>&1; then
		echo "cluster_start: initdb failed:" >&2
		cat "$_cluster_dir/initdb.log" >&2
		cluster_stop
		return 1
	fi
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$_cluster_dir'"
		echo "port = $port"
		echo "timezone = 'UTC'"
		echo "fsync = off"
		echo "log_min_messages = warning"
		# wal pipelines need logical decoding; a test wanting less says so
		echo "wal_level = logical"
		echo "max_replication_slots = 32"
		for line in "$@"; do echo "$line"; done
	} >>"$_cluster_dir/data/postgresql.conf"

	if ! _cluster_as_owner "$PG_BIN/pg_ctl" -D "$_cluster_dir/data" -w \
		-t "${CLUSTER_START_TIMEOUT:-60}" ${CLUSTER_POSTGRES:+-p "$CLUSTER_POSTGRES"} \
		-l "$_cluster_dir/log" start >/dev/null 2>&1; then
		echo "cluster_start: server did not start; its log:" >&2
		cat "$_cluster_dir/log" >&2
		cluster_stop
		return 1
	fi
	export PGHOST=$_cluster_dir PGPORT=$port PGUSER=postgres
	export CLUSTER_DIR=$_cluster_dir CLUSTER_LOG=$_cluster_dir/log
	echo "cluster: PostgreSQL 15 on port $port, socket and log in $_cluster_dir"
}

# Stop the current cluster (see cluster_stop).
_cluster_stop_one() {
	[ -n "$_cluster_dir" ] || return 0
	local pid=
	if [ -f "$_cluster_dir/data/postmaster.pid" ]; then
		pid=$(head -n 1 "$_cluster_dir/data/postmaster.pid")
		_cluster_as_owner "$PG_BIN/pg_ctl" -D "$_cluster_dir/data" -m immediate stop \
			>/dev/null 2>&1 || true
		# Last resort if pg_ctl could not stop it.
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -rf "$_cluster_dir"
	if [ -n "$_cluster_lock" ]; then
		rm -f "$_cluster_lock"
		exec {_cluster_lock_fd}>&-
	fi
	[ "${CLUSTER_DIR:-}" != "$_cluster_dir" ] || unset PGHOST PGPORT CLUSTER_DIR CLUSTER_LOG
	_cluster_dir='' _cluster_lock='' _cluster_lock_fd=''
	return 0
}

cluster_stop() {
	local kept
	_cluster_stop_one
	for kept in "${_cluster_kept[@]}"; do
		IFS='|' read -r _cluster_dir _cluster_lock _cluster_lock_fd <<<"$kept"
		_cluster_stop_one
	done
	_cluster_kept=()
	return 0
}

cluster_keep() {
	if [ -z "$_cluster_dir" ]; then
		echo "cluster_keep: this shell runs no cluster" >&2
		return 1
	fi
	_cluster_kept+=("$_cluster_dir|$_cluster_lock|$_cluster_lock_fd")
	_cluster_dir='' _cluster_lock='' _cluster_lock_fd=''
}

cluster_trap() {
	trap cluster_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# open_writer DB SQL [OUT]: a psql session on DB that runs SQL (a BEGIN and a
# write) and stays in that transaction, fed through the caller's file
# descriptor 3 (more commands with `echo ... >&3`; `exec 3>&-` ends the
# session), its output in OUT (default: none). Returns once the transaction
# holds a transaction id, or fails after 30 s. WRITER_PID is its process.
open_writer() {
	local db=$1 sql=$2 out=${3:-/dev/null} fifo
	fifo=$(mktemp -u)
	mkfifo "$fifo"
	psql -X -q -At -v VERBOSITY=verbose -d "$db" <"$fifo" >"$out" 2>&1 &
	WRITER_PID=$!
	exec 3>"$fifo"
	rm -f "$fifo"
	echo "$sql" >&3
	for _ in $(seq 1 300); do
		[ "$(psql -X -q -At -d "$db" -c "SELECT count(*) FROM pg_stat_activity
			WHERE state = 'idle in transaction' AND backend_xid IS NOT NULL")" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}
