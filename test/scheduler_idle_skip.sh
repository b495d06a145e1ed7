#!/usr/bin/env bash
# test/scheduler_idle_skip.sh: the scheduler skips pipelines that are still
# idle since their last run, and skipping never loses or holds back a row.
# What must hold, on a cluster with the worker (naptime 200 ms, schedules of
# 1 s): idle pipelines draw no run id tick after tick (they are not run; at
# most one full run each per IDLE_RECHECK of 10 s), while incr_status still
# shows them checked a moment ago; a row past the checkpoint is loaded at
# the next tick, also through a chain of pipelines (one's target is the
# next one's source); a late tie at the checkpoint's value and a target row
# deleted within the re-read stretch are loaded again as before (the
# statistics' write counts change); incr_reset makes the next tick run; a
# pipeline whose owner lost the right to read its source fails and is
# recorded at once; with incremental.record_idle_runs = on nothing is
# skipped: every idle run is recorded.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start "shared_preload_libraries = 'incremental'" "incremental.database = 'idle'" \
	"incremental.naptime = '200ms'" "log_min_messages = warning" >/dev/null
export PGDATABASE=idle

say() { echo "scheduler_idle_skip: $*"; }
fail() { echo "scheduler_idle_skip: FAILED: $*"; grep -a "ERROR\|FATAL\|incremental" "$CLUSTER_LOG" | tail -n 30; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
wait_for() { # wait_for SECONDS SQL: until the query returns t
	local deadline=$((SECONDS + $1))
	while [ $SECONDS -lt $deadline ]; do
		[ "$(q -c "$2" 2>/dev/null)" = t ] && return 0
		sleep 0.2
	done
	return 1
}
run_ids() { q -c "SELECT last_value FROM incr_runs_run_id_seq"; }

createdb idle
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE ROLE alice LOGIN;
CREATE TABLE seq_src (id bigint PRIMARY KEY, v int);
CREATE TABLE seq_tgt (id bigint PRIMARY KEY, v int);
CREATE TABLE chain_tgt (id bigint PRIMARY KEY, v int);
CREATE TABLE ts_src (id bigint PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX ON ts_src (at);
CREATE TABLE ts_tgt (id bigint PRIMARY KEY, at timestamptz);
CREATE TABLE own_src (id bigint PRIMARY KEY, v int);
CREATE TABLE own_tgt (id bigint PRIMARY KEY, v int);
GRANT SELECT ON own_src TO alice;
GRANT SELECT, INSERT, UPDATE, DELETE ON own_tgt TO alice;
INSERT INTO seq_src SELECT g, g FROM generate_series(1, 100) g;
INSERT INTO ts_src SELECT g, timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 100) g;
INSERT INTO own_src SELECT g, g FROM generate_series(1, 10) g;
SELECT incr_create_pipeline('seq', 'seq_src', 'seq_tgt', 'id', keys => ARRAY['id'], schedule => '1 second');
SELECT incr_create_pipeline('chain', 'seq_tgt', 'chain_tgt', 'id', keys => ARRAY['id'], schedule => '1 second');
SELECT incr_create_pipeline('ts', 'ts_src', 'ts_tgt', 'at', keys => ARRAY['id'], schedule => '1 second');
SET ROLE alice;
SELECT incr_create_pipeline('own', 'own_src', 'own_tgt', 'id', keys => ARRAY['id'], schedule => '1 second');
RESET ROLE;
SQL
wait_for 20 "SELECT (SELECT count(*) FROM seq_tgt) = 100 AND (SELECT count(*) FROM chain_tgt) = 100
             AND (SELECT count(*) FROM ts_tgt) = 100 AND (SELECT count(*) FROM own_tgt) = 10" ||
	fail "the first runs did not load everything"
say "first runs loaded 100, 100, 100 and 10 rows"

# 1. idle pipelines are not run again: over 5 s, four pipelines scheduled
# every second would draw about 20 run ids; skipped, at most one each (the
# full run every 10 s)
sleep 3
before=$(run_ids)
sleep 5
drawn=$(($(run_ids) - before))
[ "$drawn" -le 4 ] || fail "idle pipelines drew $drawn run ids in 5 s: they were run, not skipped"
wait_for 3 "SELECT bool_and(scheduler_checked_at > now() - interval '2 seconds') FROM incr_status" ||
	fail "incr_status does not show the skipped pipelines checked: $(q -c "SELECT string_agg(name || ' ' || scheduler_checked_at, ', ') FROM incr_status")"
[ "$(q -c "SELECT count(*) FROM incr_runs")" = 4 ] || fail "idle runs were recorded: $(q -c "SELECT count(*) FROM incr_runs")"
say "idle: $drawn run ids drawn in 5 s by 4 pipelines scheduled every second; incr_status shows them checked"

# 2. a row past the checkpoint is loaded at the next tick, and through the chain
q -c "INSERT INTO seq_src VALUES (101, 101)"
q -c "INSERT INTO ts_src VALUES (101, now())"
start=$SECONDS
wait_for 5 "SELECT count(*) = 101 FROM seq_tgt" || fail "a new row was not loaded within 5 s"
wait_for 5 "SELECT count(*) = 101 FROM chain_tgt" || fail "the new row did not go down the chain within 5 s"
wait_for 5 "SELECT count(*) = 101 FROM ts_tgt" || fail "a new timestamp row was not loaded within 5 s"
say "new rows loaded in $((SECONDS - start)) s, down the chain too"

# 3. a late tie at the checkpoint's value, and a target row deleted within
# the stretch a run reads again: runs find both, as before
sleep 3
cp=$(q -c "SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'ts'")
q -c "INSERT INTO ts_src VALUES (102, '$cp')"
start=$SECONDS
wait_for 15 "SELECT count(*) = 1 FROM ts_tgt WHERE id = 102" || fail "a late tie at the checkpoint ($cp) was not loaded within 15 s"
say "a late tie at the checkpoint loaded in $((SECONDS - start)) s"
sleep 3
q -c "DELETE FROM seq_tgt WHERE id = 101"
start=$SECONDS
wait_for 15 "SELECT count(*) = 1 FROM seq_tgt WHERE id = 101" || fail "the deleted row at the checkpoint was not loaded again within 15 s"
say "a deleted target row at the checkpoint loaded again in $((SECONDS - start)) s"

# 4. incr_reset: the next tick runs and loads from the start again
sleep 3
q -c "SELECT incr_reset('seq')" >/dev/null
wait_for 5 "SELECT value_numeric = 101 FROM incr_checkpoints WHERE pipeline = 'seq'" ||
	fail "after incr_reset the pipeline was not run within 5 s"
say "after incr_reset the next tick ran the pipeline"

# 5. the owner lost the right to read the source: the run fails at once
sleep 3
q -c "REVOKE SELECT ON own_src FROM alice"
wait_for 5 "SELECT count(*) >= 1 FROM incr_runs WHERE pipeline = 'own' AND status = 'error'" ||
	fail "the failing pipeline was not run within 5 s"
say "a revoked privilege: $(q -c "SELECT error FROM incr_runs WHERE pipeline = 'own' AND status = 'error' LIMIT 1")"
q -c "SELECT incr_pause('own')" >/dev/null

# 6. record_idle_runs = on: nothing is skipped
q -c "ALTER SYSTEM SET incremental.record_idle_runs = on" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
before=$(q -c "SELECT count(*) FROM incr_runs WHERE pipeline = 'seq'")
sleep 4
recorded=$(($(q -c "SELECT count(*) FROM incr_runs WHERE pipeline = 'seq'") - before))
[ "$recorded" -ge 3 ] || fail "with record_idle_runs = on, only $recorded idle runs were recorded in 4 s"
say "record_idle_runs = on: $recorded idle runs of seq recorded in 4 s"

# nothing doubled, nothing lost
[ "$(q -c "SELECT (SELECT count(*) FROM seq_tgt) || ' ' || (SELECT count(*) FROM chain_tgt) || ' ' || (SELECT count(*) FROM ts_tgt)")" = "101 101 102" ] ||
	fail "targets: $(q -c "SELECT (SELECT count(*) FROM seq_tgt) || ' ' || (SELECT count(*) FROM chain_tgt) || ' ' || (SELECT count(*) FROM ts_tgt)")"
say "ok"
