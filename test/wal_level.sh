#!/usr/bin/env bash
# test/wal_level.sh: a server whose WAL cannot be decoded refuses wal
# pipelines at creation.  What must hold, with wal_level = replica:
#   * incr_create_pipeline(..., capture => 'wal') fails with SQLSTATE 55000,
#     a message naming the pipeline and a hint naming wal_level;
#   * it leaves no pipeline, publication or slot behind;
#   * cursor pipelines work as ever.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start 'wal_level = replica' >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "wal_level: FAILED: $*"; exit 1; }

createdb wl
q -d wl <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE wl_src (id int PRIMARY KEY, v text, at int NOT NULL DEFAULT 0);
CREATE TABLE wl_dst (id int PRIMARY KEY, v text, at int);
INSERT INTO wl_src VALUES (1, 'one', 1);
SQL

[ "$(q -d wl -c 'SHOW wal_level')" = "replica" ] || fail "the cluster does not run with wal_level = replica"

err=$(psql -X -q -At -d wl -v VERBOSITY=verbose \
	-c "SELECT incr_create_pipeline('wl', 'wl_src', 'wl_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')" 2>&1 || true)
grep -q 'ERROR:  55000: wal pipeline "wl" needs wal_level = logical' <<<"$err" ||
	fail "creation not refused with 55000: $err"
grep -q 'HINT:  Set wal_level = logical in postgresql.conf and restart the server.' <<<"$err" ||
	fail "the hint does not name wal_level: $err"

[ "$(q -d wl -c "SELECT count(*) FROM incr_pipelines")" = "0" ] || fail "a pipeline was left behind"
[ "$(q -d wl -c "SELECT count(*) FROM pg_publication")" = "0" ] || fail "a publication was left behind"
[ "$(q -d wl -c "SELECT count(*) FROM pg_replication_slots")" = "0" ] || fail "a slot was left behind"

q -d wl -c 'SET client_min_messages = warning' -c "SELECT FROM incr_create_pipeline('wl_cursor', 'wl_src', 'wl_dst', 'at', mode => 'merge', keys => ARRAY['id'])" >/dev/null
q -d wl -c "SELECT FROM incr_run('wl_cursor')" >/dev/null
[ "$(q -d wl -c "SELECT v FROM wl_dst WHERE id = 1")" = "one" ] || fail "a cursor pipeline did not load"

echo "wal_level: ok"
