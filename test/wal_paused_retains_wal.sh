#!/usr/bin/env bash
# test/wal_paused_retains_wal.sh: a paused wal pipeline's slot keeps WAL,
# and incr_status.wal_retained_bytes shows it growing; past
# max_slot_wal_keep_size the slot is lost, runs fail with 55000 naming
# incr_reset, and doc/wal.md's way back for a merge mirror whose lost WAL
# held deletes works: incr_reset with the target emptied in the same
# transaction, then a run, give an exact mirror again that follows later
# changes.  (test/wal_slot_lost.sh checks the invalidation itself.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

say() { echo "wal_paused_retains_wal: $*"; }
fail() { say "FAILED: $*"; grep -a "ERROR\|FATAL\|PANIC" "$CLUSTER_LOG" | tail -n 20; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

cluster_trap
cluster_start "max_slot_wal_keep_size = '32MB'" "max_wal_size = '64MB'" "min_wal_size = '32MB'" >/dev/null
export PGDATABASE=wal_paused
createdb wal_paused
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION incremental"


q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE sl_src (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE sl_copy (id int PRIMARY KEY, v text);
INSERT INTO sl_src SELECT g, 'v' || g FROM generate_series(1, 1000) g;
SELECT name FROM incr_create_pipeline('sl', source => 'sl_src', target => 'sl_copy', mode => 'merge',
                                      keys => ARRAY['id'], capture => 'wal');
-- WAL of another table: about 1 MB per 1,000 rows
CREATE TABLE sl_junk (x text);
CREATE PROCEDURE sl_write_wal(rows int) LANGUAGE sql AS
$$ INSERT INTO sl_junk SELECT repeat(md5(g::text), 30) FROM generate_series(1, rows) g; TRUNCATE sl_junk $$;
SQL
q -c "SELECT incr_run('sl')" >/dev/null
exact() {
	q -c "SELECT (SELECT count(*) FROM (SELECT * FROM sl_src EXCEPT ALL SELECT * FROM sl_copy) a)
	           + (SELECT count(*) FROM (SELECT * FROM sl_copy EXCEPT ALL SELECT * FROM sl_src) b)"
}
status() { q -F ' ' -c "SELECT coalesce(wal_status, 'NULL'), coalesce(wal_retained_bytes::text, 'NULL') FROM incr_status WHERE pipeline = 'sl'"; }

# a paused pipeline keeps WAL: wal_retained_bytes grows
q -c "UPDATE sl_src SET v = v || '!' WHERE id <= 10" -c "SELECT incr_run('sl')" >/dev/null
read -r st1 bytes1 <<<"$(status)"
q -c "SELECT incr_pause('sl')" -c "CALL sl_write_wal(20000)" >/dev/null
read -r st2 bytes2 <<<"$(status)"
say "paused: WAL retained $bytes1 bytes ($st1), after about 20 MB more WAL $bytes2 bytes ($st2)"
[ "$st1" = reserved ] || fail "incr_status.wal_status of a healthy slot is $st1, not reserved"
[[ $bytes2 =~ ^[0-9]+$ ]] && [ "$bytes2" -gt $((bytes1 + 16 * 1024 * 1024)) ] ||
	fail "incr_status.wal_retained_bytes did not grow with the WAL a paused pipeline keeps ($bytes1 -> $bytes2)"

# past max_slot_wal_keep_size at a checkpoint, the server invalidates the slot
q -c "DELETE FROM sl_src WHERE id <= 5" -c "UPDATE sl_src SET v = 'changed' WHERE id BETWEEN 6 AND 10"
q -c "CALL sl_write_wal(100000)" -c "CHECKPOINT" -c "CALL sl_write_wal(100000)" -c "CHECKPOINT"
lost=$(q -c "SELECT count(*) FROM pg_replication_slots WHERE database = current_database() AND wal_status = 'lost'")
[ "$lost" = 1 ] || fail "the slot was not invalidated; the test needs more WAL ($(q -c "SELECT string_agg(slot_name || ' ' || wal_status, ', ') FROM pg_replication_slots"))"
read -r st _ <<<"$(status)"
[ "$st" = lost ] || fail "incr_status.wal_status of an invalidated slot is $st, not lost"
q -c "SELECT incr_resume('sl')" >/dev/null
err=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "SELECT incr_run('sl')" 2>&1) &&
	fail "a run over an invalidated slot succeeded"
say "a run over the lost slot: $(head -n 1 <<<"$err")"
[[ $err == *"ERROR:  55000: replication slot"*"was invalidated"* ]] || fail "unexpected error: $err"
[[ $err == *"incr_reset('sl')"* ]] || fail "the error does not name incr_reset: $err"
[ "$(q -c "SELECT status FROM incr_runs WHERE pipeline = 'sl' ORDER BY run_id DESC LIMIT 1")" = error ] ||
	fail "the failed run is not recorded"
[ "$(exact)" != 0 ] || fail "the target already equals the source: the test checks nothing"

# the way back: reset (the target emptied with it), then the next run copies
q -c "BEGIN" -c "TRUNCATE sl_copy" -c "SELECT incr_reset('sl')" -c "COMMIT" >/dev/null
got=$(q -c "SELECT rows_read || ' ' || rows_inserted || ' ' || status FROM incr_run('sl')")
[ "$got" = "995 995 ok" ] || fail "the run after incr_reset read, inserted, status: $got (expected 995 995 ok)"
[ "$(exact)" = 0 ] || fail "the target differs from the source after incr_reset and a run"
q -c "INSERT INTO sl_src VALUES (5000, 'new')" -c "DELETE FROM sl_src WHERE id = 6"
got=$(q -c "SELECT rows_read || ' ' || rows_inserted || ' ' || rows_deleted FROM incr_run('sl')")
[ "$got" = "2 1 1" ] || fail "the run after the new copy read, inserted, deleted: $got (expected 2 1 1)"
[ "$(exact)" = 0 ] || fail "the target differs from the source after the changes that followed the reset"
read -r st _ <<<"$(status)"
[ "$st" = reserved ] || fail "incr_status.wal_status after incr_reset is $st, not reserved"
say "incr_reset and a run: exact mirror again, a new slot ($st) follows the changes"
say "ok"
