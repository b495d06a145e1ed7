#!/usr/bin/env bash
# test/wal_drop_during_first_run.sh: dropping a wal pipeline while its first
# run creates the slot does not deadlock.  What must hold: a transaction T
# that has written and then drops the pipeline, while a first run waits for T
# (finding the slot's consistent point waits for open transactions), fails at
# commit at once with 55006 "could not drop replication slot ... a run is
# using it" instead of waiting for the run forever (which waits for T); the
# pipeline stays, the run then completes, and a later drop removes the slot.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "wal_drop_during_first_run: FAILED: $*"; exit 1; }

createdb d
q -d d <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE src (id int PRIMARY KEY, v text);
CREATE TABLE dst (id int PRIMARY KEY, v text);
INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 10) g;
SELECT FROM incr_create_pipeline('pd', 'src', 'dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SQL
slot=$(q -d d -c "SELECT options->>'wal_slot' FROM incr_pipelines WHERE name = 'pd'")

# T: writes, so that the first run's slot waits for it
tout=$(mktemp)
open_writer d "BEGIN; INSERT INTO src VALUES (100, 'T');" "$tout" || fail "T did not start"
tpid=$WRITER_PID

# the first run, in the background: it creates the slot and waits for T
rout=$(mktemp)
(exec 3>&-; psql -X -q -At -d d -c "SELECT status, rows_read FROM incr_run('pd')" >"$rout" 2>&1) &
rpid=$!
for _ in $(seq 1 300); do
	[ "$(q -d d -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active")" = 1 ] && break
	sleep 0.1
done
[ "$(q -d d -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active")" = 1 ] ||
	fail "the first run holds no slot"

# T drops the pipeline and commits: it must fail at once, not wait
echo "SELECT incr_drop_pipeline('pd'); COMMIT;" >&3
exec 3>&-
for _ in $(seq 1 100); do
	kill -0 "$tpid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$tpid" 2>/dev/null; then
	kill "$tpid" "$rpid" 2>/dev/null || true
	fail "the drop's commit waits for the first run, which waits for it"
fi
grep -q "ERROR:  55006: could not drop replication slot \"$slot\" of a wal pipeline: a run is using it" "$tout" ||
	fail "T did not fail with 55006: $(cat "$tout")"
wait "$rpid" || fail "the first run failed: $(cat "$rout")"
[ "$(cat "$rout")" = "ok|10" ] || fail "the first run: $(cat "$rout")"
[ "$(q -d d -c "SELECT count(*) FROM incr_pipelines WHERE name = 'pd'")" = 1 ] || fail "the failed drop dropped the pipeline"
q -d d -c "SELECT incr_drop_pipeline('pd')" >/dev/null
[ "$(q -d d -c "SELECT count(*) FROM pg_replication_slots")" = 0 ] || fail "the drop left the slot"
rm -f "$tout" "$rout"
echo "wal_drop_during_first_run: ok"
