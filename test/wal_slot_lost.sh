#!/usr/bin/env bash
# test/wal_slot_lost.sh: a wal pipeline whose slot max_slot_wal_keep_size
# invalidated has lost changes, and says so.  What must hold:
#   * incr_status shows wal_status 'lost' for it;
#   * its runs fail with 55000 "replication slot ... was invalidated" and the
#     hint naming incr_reset, and change neither target nor checkpoint;
#   * incr_reset(name) starts over: the next run creates a new slot and
#     copies the table, and the target equals the source again; later
#     changes are applied as usual.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start 'max_slot_wal_keep_size = 1MB' 'max_wal_size = 32MB' 'min_wal_size = 32MB' >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "wal_slot_lost: FAILED: $*"; exit 1; }

createdb sl
q -d sl <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE sl_src (id int PRIMARY KEY, v text);
CREATE TABLE sl_dst (id int PRIMARY KEY, v text);
CREATE TABLE sl_filler (x text);
INSERT INTO sl_src SELECT g, 'v' || g FROM generate_series(1, 100) g;
SELECT FROM incr_create_pipeline('sl', 'sl_src', 'sl_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SQL
q -d sl -c "SELECT FROM incr_run('sl')" >/dev/null
[ "$(q -d sl -c "SELECT wal_status FROM incr_status WHERE pipeline = 'sl'")" = "reserved" ] ||
	fail "a fresh slot is not reserved"

# changes the pipeline will never see, then WAL past max_slot_wal_keep_size
q -d sl -c "UPDATE sl_src SET v = 'lost' WHERE id <= 10"
for i in 1 2 3 4 5 6; do
	q -d sl -c "INSERT INTO sl_filler SELECT repeat('x', 1000) FROM generate_series(1, 2000)" -c "SELECT pg_switch_wal()" >/dev/null
done
q -d sl -c "CHECKPOINT"
[ "$(q -d sl -c "SELECT wal_status FROM pg_replication_slots")" = "lost" ] ||
	fail "the slot was not invalidated: $(q -d sl -c "SELECT wal_status, restart_lsn FROM pg_replication_slots")"
[ "$(q -d sl -c "SELECT wal_status FROM incr_status WHERE pipeline = 'sl'")" = "lost" ] ||
	fail "incr_status does not show the slot lost"

before=$(q -d sl -c "SELECT checkpoint FROM incr_status WHERE pipeline = 'sl'")
err=$(psql -X -q -At -d sl -v VERBOSITY=verbose -c "SELECT incr_run('sl')" 2>&1 || true)
grep -q 'ERROR:  55000: replication slot "incr_[0-9]*_[0-9a-f]*" of wal pipeline "sl" was invalidated' <<<"$err" ||
	fail "the run did not fail with 55000: $err"
grep -q "HINT:  Start it over with SELECT incr_reset('sl'); its next run copies the table again." <<<"$err" ||
	fail "the hint does not name incr_reset: $err"
[ "$(q -d sl -c "SELECT checkpoint FROM incr_status WHERE pipeline = 'sl'")" = "$before" ] ||
	fail "the failed run moved the checkpoint"
[ "$(q -d sl -c "SELECT count(*) FROM sl_dst WHERE v = 'lost'")" = "0" ] || fail "the failed run wrote"
[ "$(q -d sl -c "SELECT last_error_sqlstate FROM incr_status WHERE pipeline = 'sl'")" = "55000" ] ||
	fail "the failure is not recorded"

q -d sl -c "SELECT FROM incr_reset('sl')" >/dev/null
q -d sl -c "SELECT FROM incr_run('sl')" >/dev/null
[ "$(q -d sl -c "SELECT wal_status FROM incr_status WHERE pipeline = 'sl'")" = "reserved" ] ||
	fail "no new slot after incr_reset and a run"
q -d sl -c "DELETE FROM sl_src WHERE id = 100" -c "UPDATE sl_src SET v = 'after' WHERE id = 1"
q -d sl -c "SELECT FROM incr_run('sl')" >/dev/null
[ "$(q -d sl -c "SELECT count(*) FROM (SELECT * FROM sl_src EXCEPT ALL SELECT * FROM sl_dst UNION ALL (SELECT * FROM sl_dst EXCEPT ALL SELECT * FROM sl_src)) d")" = "0" ] ||
	fail "the target does not equal the source after incr_reset"

echo "wal_slot_lost: ok"
