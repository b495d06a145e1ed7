#!/usr/bin/env bash
# test/wal_slot_not_others.sh: a wal pipeline's drop, reset and orphan sweep
# never drop a slot that is not theirs.  What must hold:
#   * creating a wal pipeline in a REPEATABLE READ transaction that began
#     before another pipeline was created and ran its first run does not
#     take that pipeline's (inactive) slot for an orphan: it stays, and the
#     other pipeline still runs;
#   * a copy of database A's pipeline rows in database B on the same cluster
#     (as a restored dump holds them: same slot name) does not drop A's live
#     slot when B drops or resets its pipeline; A's pipeline still runs;
#   * a slot named like this database's pipelines' but of another plugin
#     (another tool's) survives the orphan sweep.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "wal_slot_not_others: FAILED: $*"; exit 1; }
setup() {
	q -d "$1" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE src (id int PRIMARY KEY, v text);
CREATE TABLE dst (id int PRIMARY KEY, v text);
CREATE TABLE dst2 (id int PRIMARY KEY, v text);
INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 10) g;
SQL
}
slot_of() { q -d "$1" -c "SELECT options->>'wal_slot' FROM incr_pipelines WHERE name = '$2'"; }
slot_exists() { q -d postgres -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$1'"; }

# --- a REPEATABLE READ transaction's sweep spares a pipeline created since
createdb a
setup a
coproc S1 { psql -X -q -At -d a 2>&1; }
s1_pid=$S1_PID # bash unsets S1_PID once the coprocess has ended
echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 'snapshot', count(*) FROM incr_pipelines;" >&"${S1[1]}"
read -r -t 30 line <&"${S1[0]}" || fail "session 1 did not answer"
[ "$line" = "snapshot|0" ] || fail "session 1: $line"
q -d a -c "SELECT FROM incr_create_pipeline('pa', 'src', 'dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')" >/dev/null
q -d a -c "SELECT FROM incr_run('pa')" >/dev/null
slot_a=$(slot_of a pa)
[ "$(slot_exists "$slot_a")" = 1 ] || fail "the first run made no slot"
echo "SELECT FROM incr_create_pipeline('pb', 'src', 'dst2', mode => 'merge', keys => ARRAY['id'], capture => 'wal'); COMMIT; SELECT 'done';" >&"${S1[1]}"
out=""
while read -r -t 60 line <&"${S1[0]}"; do
	out+="$line"$'\n'
	[ "$line" = "done" ] && break
done
[ "$line" = "done" ] || fail "session 1 did not finish: $out"
grep -q "ERROR" <<<"$out" && fail "session 1: $out"
grep -q "dropping replication slot" <<<"$out" && fail "the sweep dropped a slot: $out"
[ "$(slot_exists "$slot_a")" = 1 ] || fail "the sweep of a REPEATABLE READ creation dropped pipeline pa's live slot"
echo "\\q" >&"${S1[1]}"
wait "$s1_pid" 2>/dev/null || true
q -d a -c "INSERT INTO src VALUES (11, 'eleven')"
[ "$(q -d a -c "SELECT rows_inserted FROM incr_run('pa')")" = 1 ] || fail "pa does not run after the sweep"

# --- a copy of the pipeline rows in another database leaves A's slot alone
createdb b
setup b
q -d b -c "SELECT FROM incr_create_pipeline('pa', 'src', 'dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')" >/dev/null
q -d b -c "UPDATE incr_pipelines SET options = jsonb_set(options, '{wal_slot}', to_jsonb('$slot_a'::text)) WHERE name = 'pa'"
q -d b -c "SELECT FROM incr_reset('pa')" >/dev/null
[ "$(slot_exists "$slot_a")" = 1 ] || fail "incr_reset in database b dropped database a's slot"
q -d b -c "SELECT FROM incr_drop_pipeline('pa')" >/dev/null
[ "$(slot_exists "$slot_a")" = 1 ] || fail "incr_drop_pipeline in database b dropped database a's slot"
q -d a -c "UPDATE src SET v = 'x' WHERE id = 1"
[ "$(q -d a -c "SELECT rows_updated FROM incr_run('pa')")" = 1 ] || fail "pa does not run after b's drop"

# --- another tool's slot of the same form but another plugin survives the sweep
dboid=$(q -d a -c "SELECT oid FROM pg_database WHERE datname = 'a'")
q -d a -c "SELECT FROM pg_create_logical_replication_slot('incr_${dboid}_00000000feedbeef', 'test_decoding')"
q -d a -c "SELECT FROM incr_create_pipeline('pc', 'src', 'dst2', mode => 'merge', keys => ARRAY['id'], capture => 'wal')" >/dev/null 2>&1 ||
	fail "creating pc failed"
[ "$(slot_exists "incr_${dboid}_00000000feedbeef")" = 1 ] || fail "the sweep dropped another plugin's slot"
q -d a -c "SELECT pg_drop_replication_slot('incr_${dboid}_00000000feedbeef')" >/dev/null
q -d a -c "DROP EXTENSION incremental"
[ "$(q -d postgres -c "SELECT count(*) FROM pg_replication_slots")" = 0 ] || fail "DROP EXTENSION left slots"
echo "wal_slot_not_others: ok"
