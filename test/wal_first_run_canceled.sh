#!/usr/bin/env bash
# test/wal_first_run_canceled.sh: a wal pipeline's first run that is canceled
# while creating its slot leaves nothing half-made, and a run refuses a slot
# of its name that the pipeline cannot have made.  What must hold:
#   * a first run canceled by statement_timeout while its slot waits for an
#     open writer, inside a PL/pgSQL exception block that catches the cancel,
#     leaves no slot and holds none; the same session's next run (after the
#     writer commits) creates a persistent slot, copies the table, releases
#     the slot, and later changes are applied;
#   * a slot of the pipeline's name made in advance with another plugin
#     (test_decoding), or with pgoutput and two-phase decoding, is refused
#     (55000, "is not one the pipeline made", the detail naming why);
#   * a slot of the pipeline's name of another database is refused too, the
#     hint saying to create the pipeline again (never to drop that slot).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "wal_first_run_canceled: FAILED: $*"; exit 1; }

createdb c
q -d c <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE src (id int PRIMARY KEY, v text);
CREATE TABLE dst (id int PRIMARY KEY, v text);
INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 10) g;
SELECT FROM incr_create_pipeline('pc', 'src', 'dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SQL
slot=$(q -d c -c "SELECT options->>'wal_slot' FROM incr_pipelines WHERE name = 'pc'")

# --- a first run canceled while its slot waits for an open writer
open_writer c "BEGIN; INSERT INTO src VALUES (100, 'open');" || fail "the writer did not start"
writer=$WRITER_PID
coproc R { exec 3>&-; psql -X -q -At -d c 2>&1; }
r_pid=$R_PID # bash unsets R_PID once the coprocess has ended
cat >&"${R[1]}" <<'SQL'
SET statement_timeout = '1s';
DO $$ BEGIN PERFORM incr_run('pc'); EXCEPTION WHEN query_canceled THEN RAISE WARNING 'canceled'; END $$;
RESET statement_timeout;
SELECT 'slots', count(*), count(active_pid) FROM pg_replication_slots;
SQL
out=""
while read -r -t 60 line <&"${R[0]}"; do
	out+="$line"$'\n'
	[[ "$line" == slots* ]] && break
done
grep -q "WARNING:  canceled" <<<"$out" || fail "the first run was not canceled: $out"
[ "$line" = "slots|0|0" ] || fail "the canceled first run left a slot behind (slots|count|active): $out"
echo "COMMIT;" >&3
exec 3>&-
wait "$writer"
echo "SELECT 'run', status, rows_read FROM incr_run('pc');" >&"${R[1]}"
read -r -t 60 line <&"${R[0]}" || fail "the next run did not answer"
[ "$line" = "run|ok|11" ] || fail "the next run in the same session: $line"
echo "SELECT 'after', count(*), count(active_pid) FROM pg_replication_slots WHERE slot_name = '$slot' AND NOT temporary AND confirmed_flush_lsn IS NOT NULL;" >&"${R[1]}"
read -r -t 60 line <&"${R[0]}" || fail "no answer"
[ "$line" = "after|1|0" ] || fail "the slot is not persistent and released: $line"
echo "\\q" >&"${R[1]}"
wait "$r_pid" 2>/dev/null || true
q -d c -c "UPDATE src SET v = 'changed' WHERE id = 1"
[ "$(q -d c -c "SELECT rows_updated FROM incr_run('pc')")" = 1 ] || fail "a later change is not applied"
[ "$(q -d c -c "SELECT count(*) FROM (TABLE src EXCEPT TABLE dst) d")" = 0 ] || fail "target differs"

# --- slots the pipeline cannot have made
refused() {					# $1 database, $2 SQL making the slot, $3 expected detail
	q -d c -c "SELECT FROM incr_reset('pc')" >/dev/null
	[ "$(q -d postgres -c "SELECT count(*) FROM pg_replication_slots")" = 0 ] || fail "reset left the slot"
	q -d "$1" -c "$2" >/dev/null
	err=$(psql -X -q -At -d c -v VERBOSITY=verbose -c "SELECT incr_run('pc')" 2>&1 || true)
	grep -q "ERROR:  55000: replication slot \"$slot\" of wal pipeline \"pc\" is not one the pipeline made" <<<"$err" ||
		fail "not refused: $err"
	grep -qF "DETAIL:  It is $3;" <<<"$err" || fail "detail: $err"
	q -d postgres -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null
}
refused c "SELECT pg_create_logical_replication_slot('$slot', 'test_decoding')" 'a slot of plugin "test_decoding"'
refused c "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput', false, true)" 'a slot with two-phase decoding'
createdb other
refused other "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" 'a slot of another database'
grep -qF "HINT:  A copy of a database keeps the original's slot names: drop the pipeline and create it again" <<<"$err" ||
	fail "the hint for another database's slot: $err"
echo "wal_first_run_canceled: ok"
