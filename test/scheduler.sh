#!/usr/bin/env bash
# test/scheduler.sh: the background worker runs pipelines on their schedules.
# On a cluster started with shared_preload_libraries = 'incremental':
# a pipeline scheduled every second loads within seconds; a failing pipeline
# records errors while the good one keeps loading; kill -9 of the worker
# (the cluster restarts) and SIGTERM of it (the launcher restarts it) lose
# and double nothing; a reload applies a new naptime; incr_pause stops runs;
# a manual run holding the pipeline makes the scheduler skip, not double;
# a run that takes longer than incremental.run_timeout is canceled and
# recorded as an error naming the setting while the others keep loading;
# DROP EXTENSION and DROP DATABASE work while the worker runs.
# incr_status says whether a pipeline is healthy (checked by the worker a
# moment ago even when idle, next run, failures, last error's SQLSTATE); a
# failed run's log entry names the run and pipeline and holds no generated
# statement; a schedule the worker serves draws no warning, one in a
# database it does not serve does; incremental.runs_retention prunes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start "shared_preload_libraries = 'incremental'" "incremental.database = 'sched'" \
	"incremental.naptime = '200ms'" "max_worker_processes = 16" "log_min_messages = warning" >/dev/null
export PGDATABASE=sched

say() { echo "scheduler: $*"; }
fail() { echo "scheduler: FAILED: $*"; grep -a "ERROR\|FATAL\|incremental" "$CLUSTER_LOG" | tail -n 30; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# wait_for SECONDS SQL: until the query returns t
wait_for() {
	local deadline=$((SECONDS + $1))
	while [ $SECONDS -lt $deadline ]; do
		[ "$(q -c "$2" 2>/dev/null)" = t ] && return 0
		sleep 0.2
	done
	return 1
}
worker_pid() { q -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'incremental worker'"; }
wait_log() { # wait_log SECONDS PATTERN
	local deadline=$((SECONDS + $1))
	while [ $SECONDS -lt $deadline ]; do
		grep -aq "$2" "$CLUSTER_LOG" && return 0
		sleep 0.2
	done
	return 1
}

wait_log 10 "incremental launcher started" || fail "the launcher did not start"
wait_log 10 'database "sched" does not exist' || fail "the launcher did not notice the missing database"
say "launcher started; it waits for database sched"

createdb sched
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE good_src (id bigserial PRIMARY KEY, v int NOT NULL);
CREATE TABLE good_tgt (id bigint PRIMARY KEY, v int);
CREATE TABLE bad_src (id bigserial PRIMARY KEY, v int NOT NULL);
CREATE TABLE bad_tgt (id bigint PRIMARY KEY, v int CHECK (v < 0));
INSERT INTO good_src (v) SELECT g FROM generate_series(1, 100) g;
INSERT INTO bad_src (v) VALUES (1);
SELECT incr_create_pipeline('good', 'good_src', 'good_tgt', 'id', keys => ARRAY['id'],
                            schedule => '1 second');
SELECT incr_create_pipeline('bad', 'bad_src', 'bad_tgt', 'id', keys => ARRAY['id'],
                            schedule => '1 second');
SQL
start=$SECONDS
wait_for 15 "SELECT count(*) = 100 FROM good_tgt" || fail "the good pipeline did not load"
say "loads on schedule: 100 rows in $((SECONDS - start)) s"

# 1. a failing pipeline records errors, the good one keeps loading
wait_for 10 "SELECT count(*) >= 1 FROM incr_runs WHERE pipeline = 'bad' AND status = 'error' AND trigger = 'scheduler'" ||
	fail "the failing pipeline recorded no error"
q -c "INSERT INTO good_src (v) SELECT g FROM generate_series(1, 50) g"
wait_for 10 "SELECT count(*) = 150 FROM good_tgt" || fail "the good pipeline stopped"
say "failure isolated: bad has $(q -c "SELECT count(*) FROM incr_runs WHERE pipeline = 'bad' AND status = 'error'") error runs ($(q -c "SELECT error FROM incr_runs WHERE pipeline = 'bad' AND status = 'error' LIMIT 1")); good loaded 150"

# 1b. incr_status answers "is it healthy?" from the worker's shared memory:
# checked a moment ago although idle runs are not recorded, the next run,
# consecutive failures with their backoff, the last error's SQLSTATE
status_of() { q -c "SELECT concat_ws(' ', schedule, health, consecutive_failures, last_error_sqlstate,
	now() - scheduler_checked_at, next_run_at - now(), last_success_at IS NOT NULL) FROM incr_status WHERE pipeline = '$1'"; }
wait_for 5 "SELECT scheduler_checked_at > now() - interval '2 seconds' AND health = 'ok'
	AND next_run_at IS NOT NULL AND consecutive_failures = 0 AND schedule = '1 second'
	AND last_success_at > now() - interval '5 seconds' FROM incr_status WHERE pipeline = 'good'" ||
	fail "incr_status of the idle good pipeline: $(status_of good)"
wait_for 10 "SELECT health = 'failing' AND consecutive_failures >= 2 AND last_error_sqlstate = '23514'
	AND next_run_at > now() AND scheduler_checked_at > now() - interval '2 seconds'
	FROM incr_status WHERE pipeline = 'bad'" || fail "incr_status of the failing pipeline: $(status_of bad)"
say "incr_status: good: $(status_of good); bad: $(status_of bad)"
# the failed run's error names its run and pipeline, without the generated
# statement (log_min_messages = warning: at "log" the server logs no ERROR)
grep -aq 'CONTEXT:  run [0-9]* of pipeline "bad"' "$CLUSTER_LOG" || fail "no CONTEXT naming the run in the log"
if grep -aq 'SQL statement "INSERT INTO' "$CLUSTER_LOG"; then fail "the generated statement is in the log's CONTEXT"; fi
say "the log names the failing run: $(grep -a 'CONTEXT:  run [0-9]* of pipeline "bad"' "$CLUSTER_LOG" | tail -n 1)"

# 1c. a schedule here draws no warning; in a database the scheduler does not serve, one
out=$(q -c "SELECT incr_schedule('good', '1 second')" 2>&1)
case "$out" in *WARNING*) fail "incr_schedule warned in a served database: $out" ;; esac
createdb unserved
out=$(q -d unserved -c "SET client_min_messages = warning" -c "CREATE EXTENSION incremental" \
	-c "CREATE TABLE u (id int PRIMARY KEY)" -c "CREATE TABLE u_copy (id int PRIMARY KEY)" \
	-c "SELECT FROM incr_create_pipeline('u', 'u', 'u_copy', 'id', schedule => '1 minute')" 2>&1)
case "$out" in *'WARNING:  pipeline "u" is scheduled, but the scheduler does not serve database "unserved"'*) ;;
*) fail "no warning for a schedule in a database the scheduler does not serve: $out" ;; esac
[ "$(q -d unserved -c "SELECT health FROM incr_status WHERE pipeline = 'u'")" = "scheduled, but no scheduler checks it" ] ||
	fail "incr_status of an unserved schedule: $(q -d unserved -c "SELECT health FROM incr_status")"
dropdb unserved
say "a schedule the scheduler will not run is warned about and shown in incr_status"

# 1d. incremental.runs_retention: the worker deletes old history, each pipeline's latest run kept
q -c "UPDATE incr_runs SET started_at = started_at - interval '2 days' WHERE pipeline = 'bad'"
before=$(q -c "SELECT count(*) FROM incr_runs WHERE pipeline = 'bad' AND started_at < now() - interval '1 day'")
q -c "ALTER SYSTEM SET incremental.runs_retention = '1d'" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 10 "SELECT count(*) <= 1 FROM incr_runs WHERE pipeline = 'bad' AND started_at < now() - interval '1 day'" ||
	fail "runs_retention did not prune: $(q -c "SELECT count(*) FROM incr_runs WHERE pipeline = 'bad' AND started_at < now() - interval '1 day'") left of $before"
q -c "ALTER SYSTEM RESET incremental.runs_retention" -c "SELECT pg_reload_conf()" >/dev/null
say "runs_retention: $before old runs of bad pruned to at most its latest"

# 2. kill -9 of the worker: the postmaster restarts the cluster, the worker comes back
pid=$(worker_pid)
[ -n "$pid" ] || fail "no worker in pg_stat_activity"
kill -9 "$pid"
wait_for 30 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'incremental worker')" ||
	fail "the worker did not come back after kill -9"
new=$(worker_pid)
q -c "INSERT INTO good_src (v) SELECT g FROM generate_series(1, 50) g"
wait_for 15 "SELECT count(*) = 200 AND count(DISTINCT id) = 200 FROM good_tgt" ||
	fail "scheduling did not resume exactly after kill -9"
say "survives kill -9: worker $pid killed, worker $new back, target exact (200 rows)"

# 3. a reload applies a new naptime
q -c "ALTER SYSTEM SET incremental.naptime = '300ms'" -c "SELECT pg_reload_conf()" >/dev/null
wait_log 10 "configuration reloaded, naptime 300 ms" || fail "the reload was not applied"
say "reload applied: naptime 300 ms"

# 4. SIGTERM: the worker exits, the launcher starts a new one
pid=$(worker_pid)
q -d postgres -c "SELECT pg_terminate_backend($pid)" >/dev/null
wait_for 15 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'incremental worker' AND pid <> $pid)" ||
	fail "no worker after SIGTERM"
q -c "INSERT INTO good_src (v) SELECT g FROM generate_series(1, 10) g"
wait_for 15 "SELECT count(*) = 210 FROM good_tgt" || fail "no loading after SIGTERM"
say "SIGTERM: worker $pid exited, worker $(worker_pid) runs, target exact (210 rows)"

# 5. incr_pause stops runs, incr_resume starts them again
q -c "SELECT incr_pause('good')" -c "INSERT INTO good_src (v) SELECT g FROM generate_series(1, 10) g" >/dev/null
sleep 3
[ "$(q -c "SELECT count(*) FROM good_tgt")" = 210 ] || fail "a paused pipeline ran"
q -c "SELECT incr_resume('good')" >/dev/null
wait_for 10 "SELECT count(*) = 220 FROM good_tgt" || fail "a resumed pipeline did not run"
say "pause: no run for 3 s while paused; resumed and loaded 220"

# 6. a manual run holding the pipeline: the scheduler skips it, nothing doubles
q -c "INSERT INTO good_src (v) SELECT g FROM generate_series(1, 10) g"
psql -X -q -c "BEGIN" -c "SELECT incr_run('good')" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
manual=$!
sleep 1.5
q -c "INSERT INTO good_src (v) SELECT g FROM generate_series(1, 10) g"
wait $manual
wait_for 10 "SELECT count(*) = 240 AND count(DISTINCT id) = 240 FROM good_tgt" ||
	fail "a manual run and the scheduler together lost or doubled rows"
say "manual run during scheduling: 240 rows, 240 distinct"

# 7. incremental.run_timeout: a run that hangs is canceled and recorded, the others go on
q -c "ALTER SYSTEM SET incremental.run_timeout = '700ms'" -c "SELECT pg_reload_conf()" >/dev/null
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE slow_src (id bigserial PRIMARY KEY, v int NOT NULL);
CREATE TABLE slow_tgt (id bigint PRIMARY KEY, v int);
INSERT INTO slow_src (v) VALUES (1);
CREATE FUNCTION slow_true() RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN PERFORM pg_sleep(30); RETURN true; END$$;
CREATE VIEW slow_v AS SELECT id, v FROM slow_src WHERE slow_true();
SELECT incr_create_pipeline('slow', 'slow_v', 'slow_tgt', 'id', keys => ARRAY['id'],
                            schedule => '1 second');
SQL
wait_for 20 "SELECT count(*) >= 1 FROM incr_runs WHERE pipeline = 'slow' AND status = 'error' AND trigger = 'scheduler' AND error = 'run canceled after 700 ms: it took longer than incremental.run_timeout'" ||
	fail "the hanging run was not canceled and recorded"
q -c "INSERT INTO good_src (v) SELECT g FROM generate_series(1, 10) g"
wait_for 10 "SELECT count(*) = 250 FROM good_tgt" || fail "a hanging pipeline stalled the good one"
[ "$(q -c "SELECT count(*) FROM slow_tgt")" = 0 ] || fail "the canceled run loaded rows"
q -c "SELECT incr_drop_pipeline('slow')" >/dev/null
say "run_timeout: the hanging run was canceled after 700 ms and recorded; good loaded 250"

# 7b. a run whose code catches the cancel (EXCEPTION WHEN query_canceled) and
# goes on is ended 10 s later with a FATAL nobody catches; the worker comes
# back and the other pipelines go on
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE FUNCTION stubborn_true() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..120 LOOP
        BEGIN
            PERFORM pg_sleep(0.5);
        EXCEPTION WHEN query_canceled THEN
            NULL;
        END;
    END LOOP;
    RETURN true;
END $$;
CREATE VIEW stubborn_v AS SELECT id, v FROM slow_src WHERE stubborn_true();
SELECT incr_create_pipeline('stubborn', 'stubborn_v', 'slow_tgt', 'id', keys => ARRAY['id'],
                            schedule => '1 minute');
SQL
start=$SECONDS
for _ in $(seq 1 40); do
	grep -q 'pipeline "stubborn": run terminated' "$CLUSTER_LOG" && break
	sleep 1
done
grep -q 'pipeline "stubborn": run terminated' "$CLUSTER_LOG" ||
	fail "a run that catches its cancel was not terminated"
q -c "INSERT INTO good_src (v) SELECT g FROM generate_series(1, 5) g"
wait_for 40 "SELECT count(*) = 255 FROM good_tgt" || fail "a run that catches its cancel stalled the good one"
[ "$(q -c "SELECT count(*) FROM slow_tgt")" = 0 ] || fail "the terminated run loaded rows"
q -c "SELECT incr_drop_pipeline('stubborn')" -c "ALTER SYSTEM RESET incremental.run_timeout" \
	-c "SELECT pg_reload_conf()" >/dev/null
say "run_timeout: a run that catches its cancel was terminated after $((SECONDS - start)) s; good loaded 255"

# 8. DROP EXTENSION with the worker running, logged once, then back
q -c "DROP EXTENSION incremental CASCADE" >/dev/null
wait_log 10 'extension "incremental" is not installed in database "sched"' ||
	fail "the missing extension was not logged"
sleep 2
n=$(grep -ac 'extension "incremental" is not installed in database "sched"' "$CLUSTER_LOG")
[ "$n" = 1 ] || fail "the missing extension was logged $n times"
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
TRUNCATE good_tgt;
SELECT incr_create_pipeline('good', 'good_src', 'good_tgt', 'id', keys => ARRAY['id'],
                            schedule => '1 second');
SQL
wait_for 15 "SELECT count(*) = 255 FROM good_tgt" || fail "no loading after CREATE EXTENSION"
say "DROP EXTENSION: logged once in 2 s; after CREATE EXTENSION the pipeline loads again"

# 9. DROP DATABASE while the worker is connected
start=$SECONDS
dropdb sched || fail "DROP DATABASE failed with the worker running"
say "DROP DATABASE sched: done in $((SECONDS - start)) s while the worker ran"
wait_log 15 'database "sched" is being dropped' || fail "the worker did not leave"
say "all scheduler checks passed"
