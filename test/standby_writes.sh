#!/usr/bin/env bash
# test/standby_writes.sh: on a hot standby every function that changes a
# pipeline (runs, catch-up, backfill, reset, create, drop, pause, resume,
# schedule, unschedule) fails with 25006 naming the standby and pointing at
# the primary, instead of the generic "cannot execute SELECT FOR UPDATE in a
# read-only transaction"; incr_status and incr_plan still work there, also
# for a wal pipeline (capture => 'wal').  The
# standby is a real one: pg_basebackup -R of a primary, streaming from it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

standby=
stop_all() {
	if [ -n "$standby" ] && [ -f "$standby/data/postmaster.pid" ]; then
		_cluster_as_owner "$PG_BIN/pg_ctl" -D "$standby/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	cluster_stop
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cluster_start >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "standby_writes: FAILED: $*"; exit 1; }

createdb sb
q -d sb <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE sb_src (id bigint PRIMARY KEY, v int);
CREATE TABLE sb_tgt (id bigint PRIMARY KEY, v int);
INSERT INTO sb_src VALUES (1, 1), (2, 2);
SELECT FROM incr_create_pipeline('sb', 'sb_src', 'sb_tgt', 'id', keys => ARRAY['id']);
SELECT FROM incr_run('sb');
CREATE TABLE sbw_tgt (id bigint PRIMARY KEY, v int);
SELECT FROM incr_create_pipeline('sbw', 'sb_src', 'sbw_tgt', mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SELECT FROM incr_run('sbw');
SQL

# the standby: same port, its own socket directory
standby=$CLUSTER_DIR/standby
mkdir -p "$standby/sock"
[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$standby"
_cluster_as_owner "$PG_BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres \
	-D "$standby/data" -R -X stream -c fast >/dev/null 2>&1 || fail "pg_basebackup"
echo "unix_socket_directories = '$standby/sock'" >>"$standby/data/postgresql.conf"
_cluster_as_owner "$PG_BIN/pg_ctl" -D "$standby/data" -w -l "$standby/log" start >/dev/null ||
	fail "the standby did not start: $(cat "$standby/log")"
sq() { psql -X -q -At -h "$standby/sock" -d sb "$@"; }
[ "$(sq -c 'SELECT pg_is_in_recovery()')" = t ] || fail "the standby is not in recovery"

check() {
	local action=$1 sql=$2 out
	out=$(sq -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$sql" 2>&1) && fail "$sql succeeded on the standby"
	grep -q "ERROR:  25006: cannot $action pipeline \"sb\" on a standby" <<<"$out" ||
		fail "$sql: $out"
	grep -q "HINT:  Run it on the primary" <<<"$out" || fail "$sql: no hint: $out"
}
check run "SELECT * FROM incr_run('sb')"
check run "CALL incr_catch_up('sb')"
check backfill "SELECT * FROM incr_backfill('sb', '1', '2')"
check reset "SELECT incr_reset('sb', '1')"
check drop "SELECT incr_drop_pipeline('sb')"
check pause "SELECT incr_pause('sb')"
check resume "SELECT incr_resume('sb')"
check schedule "SELECT incr_schedule('sb', '1 minute')"
check unschedule "SELECT incr_unschedule('sb')"
check verify "SELECT * FROM incr_verify('sb')"
check repair "SELECT * FROM incr_repair('sb')"
check create "SELECT incr_create_pipeline('sb', 'sb_src', 'sb_tgt', 'id', keys => ARRAY['id'])"

[ "$(sq -c "SELECT checkpoint FROM incr_status WHERE pipeline = 'sb'")" = 2 ] ||
	fail "incr_status does not work on the standby"
sq -v ON_ERROR_STOP=1 -c "SELECT incr_plan('sb')" >/dev/null || fail "incr_plan does not work on the standby"

# a wal pipeline: its runs and creation are refused the same way; incr_status
# and incr_plan work (a standby has no copy of the primary's slot)
out=$(sq -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "SELECT * FROM incr_run('sbw')" 2>&1) && fail "a wal run succeeded on the standby"
grep -q 'ERROR:  25006: cannot run pipeline "sbw" on a standby' <<<"$out" || fail "wal run: $out"
out=$(sq -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
	-c "SELECT incr_create_pipeline('sbw2', 'sb_src', 'sbw_tgt', mode => 'merge', keys => ARRAY['id'], capture => 'wal')" 2>&1) &&
	fail "a wal pipeline was created on the standby"
grep -q 'ERROR:  25006: cannot create pipeline "sbw2" on a standby' <<<"$out" || fail "wal create: $out"
[ "$(sq -c "SELECT capture || ' ' || wal_status FROM incr_status WHERE pipeline = 'sbw'")" = "wal missing" ] ||
	fail "incr_status of a wal pipeline does not work on the standby"
sq -v ON_ERROR_STOP=1 -c "SELECT incr_plan('sbw')" >/dev/null || fail "incr_plan of a wal pipeline does not work on the standby"
echo "standby_writes: ok"
