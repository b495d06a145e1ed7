#!/usr/bin/env bash
# test/crash.sh: a run or a catch-up killed at any point loses and doubles
# nothing.  First a single incr_run of 200,000 rows is killed with kill -9 in
# the middle: nothing of it may remain.  Then CALL incr_catch_up loads the
# rows in batches of 10,000 (a slow trigger on the target makes each batch
# take a while); its backend is killed with kill -9 right after a batch
# commits and again in the middle of a batch, and the server is stopped with
# pg_ctl -m immediate once.  After every crash the target must hold exactly
# the rows up to the checkpoint; the resumed catch-up then completes the load
# exactly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start >/dev/null
export PGDATABASE=crash
createdb crash
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE cr_src (id bigint PRIMARY KEY, payload text NOT NULL);
INSERT INTO cr_src SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
CREATE TABLE cr_tgt (id bigint PRIMARY KEY, payload text);
-- about 0.5 s per batch of 10,000 rows, so a kill can land inside a batch
CREATE FUNCTION cr_slow() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN IF NEW.id % 100 = 0 THEN PERFORM pg_sleep(0.004); END IF; RETURN NEW; END $$;
CREATE TRIGGER cr_slow BEFORE INSERT ON cr_tgt FOR EACH ROW EXECUTE FUNCTION cr_slow();
SELECT incr_create_pipeline('cr', 'cr_src', 'cr_tgt', 'id', keys => ARRAY['id'],
                            batch_size => 10000);
SQL

# target rows, checkpoint, rows at or below the checkpoint, distinct ids
state() {
	q -F ' ' -c "SELECT (SELECT count(*) FROM cr_tgt),
	                    coalesce((SELECT value_numeric FROM incr_checkpoints WHERE pipeline = 'cr'), 0),
	                    (SELECT count(*) FROM cr_tgt t WHERE t.id <= coalesce((SELECT value_numeric FROM incr_checkpoints WHERE pipeline = 'cr'), 0)),
	                    (SELECT count(DISTINCT id) FROM cr_tgt)"
}

# the target must hold exactly the source rows up to the checkpoint
check_consistent() {
	local rows checkpoint below distinct
	read -r rows checkpoint below distinct <<<"$(state)"
	echo "crash: after $1: target rows $rows, checkpoint $checkpoint"
	if [ "$rows" != "$checkpoint" ] || [ "$below" != "$rows" ] || [ "$distinct" != "$rows" ]; then
		echo "crash: FAILED: target and checkpoint disagree after $1"
		exit 1
	fi
}

ok_runs() { q -c "SELECT count(*) FROM incr_runs WHERE pipeline = 'cr' AND status = 'ok'"; }
catch_up_pid() {
	q -c "SELECT pid FROM pg_stat_activity
	      WHERE (query LIKE 'CALL incr_catch_up%' OR query LIKE 'incremental: catch-up%')
	        AND pid <> pg_backend_pid()"
}

start_catch_up() {
	psql -X -q -c "CALL incr_catch_up('cr')" >/dev/null 2>&1 &
	catch_up=$!
	for _ in $(seq 100); do
		[ -n "$(catch_up_pid)" ] && return
		sleep 0.05
	done
	echo "crash: catch-up did not start"; exit 1
}

wait_ready() {
	for _ in $(seq 100); do
		pg_isready -q && q -c "SELECT 1" >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "crash: server did not come back"; exit 1
}

# 0. kill -9 in the middle of one incr_run (a batch of 10,000): all of it is rolled back
psql -X -q -c "SELECT incr_run('cr')" >/dev/null 2>&1 &
run=$!
for _ in $(seq 100); do
	pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT incr_run%' AND pid <> pg_backend_pid()")
	[ -n "$pid" ] && break
	sleep 0.05
done
[ -n "$pid" ] || { echo "crash: the run did not start"; exit 1; }
sleep 0.25
kill -9 "$pid"
wait $run 2>/dev/null || true
wait_ready
check_consistent "kill -9 inside one incr_run"
[ "$(q -c "SELECT count(*) FROM cr_tgt")" = 0 ] || { echo "crash: FAILED: a killed run left rows"; exit 1; }

# 1. kill -9 right after a batch commits (between batches)
start_catch_up
before=$(ok_runs)
while [ "$(ok_runs)" -le "$before" ]; do sleep 0.01; done
kill -9 "$(catch_up_pid)"
wait $catch_up 2>/dev/null || true
wait_ready
check_consistent "kill -9 between batches"

# 2. kill -9 in the middle of a batch
start_catch_up
before=$(ok_runs)
while [ "$(ok_runs)" -le "$before" ]; do sleep 0.01; done
sleep 0.25
kill -9 "$(catch_up_pid)"
wait $catch_up 2>/dev/null || true
wait_ready
check_consistent "kill -9 inside a batch"

# 3. immediate shutdown of the whole server during a batch
start_catch_up
sleep 0.8
_cluster_as_owner pg_ctl -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null
_cluster_as_owner pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w start >/dev/null
wait $catch_up 2>/dev/null || true
wait_ready
check_consistent "pg_ctl stop -m immediate"

# resume: the rest loads exactly once
q -c "CALL incr_catch_up('cr')" 2>/dev/null
read -r rows checkpoint below distinct <<<"$(state)"
missing=$(q -c "SELECT count(*) FROM cr_src s WHERE NOT EXISTS (SELECT 1 FROM cr_tgt t WHERE t.id = s.id AND t.payload = s.payload)")
echo "crash: resumed: target rows $rows of 200000, distinct $distinct, missing $missing, checkpoint $checkpoint"
if [ "$rows" != 200000 ] || [ "$distinct" != 200000 ] || [ "$missing" != 0 ]; then
	echo "crash: FAILED"
	exit 1
fi
