#!/usr/bin/env bash
# test/pg_cron.sh: pg_cron as the alternative scheduler.  On a cluster with
# shared_preload_libraries = 'pg_cron,incremental', incr_cron_schedule makes
# the job "incremental:<name>" that calls incr_run; within about a minute (pg_cron
# schedules by the minute) it has run, and its incr_runs row says pg_cron.
# incr_drop_pipeline removes the job; the extension installs and drops the
# same with or without pg_cron.  pg_cron connects over the unix socket
# (cron.host = the socket directory), as a socket-only server needs.
# pg_cron is found as an extension, never as a schema named cron: in a
# database without pg_cron, a schema cron that a role with CREATE on the
# database made, with its own schedule, unschedule and job, is never called
# by a superuser's incr_cron_schedule, incr_cron_unschedule or
# incr_drop_pipeline.  With pg_cron, a pipeline its owner scheduled is
# dropped, with its job, by a superuser, by a member of the owning role,
# and by a superuser after the owner role was dropped (never an XX000).
# A pipeline scheduled both by pg_cron and by the worker draws a WARNING
# each way round; with cron.use_background_workers = on a job's run is
# still recorded with trigger pg_cron.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start "shared_preload_libraries = 'pg_cron,incremental'" "cron.database_name = 'crondb'" \
	"max_worker_processes = 20" "incremental.database = ''" >/dev/null
echo "cron.host = '$CLUSTER_DIR'" >>"$CLUSTER_DIR/data/postgresql.conf"
_cluster_as_owner pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w restart >/dev/null
export PGDATABASE=crondb
createdb crondb
say() { echo "pg_cron: $*"; }
fail() { echo "pg_cron: FAILED: $*"; grep -a "ERROR\|FATAL\|cron" "$CLUSTER_LOG" | tail -n 20; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# without pg_cron, a schema cron made by a role with CREATE on the database
# is not pg_cron: a superuser's calls never reach its functions
createdb nocron
q -d nocron >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE ROLE mallory LOGIN;
GRANT CREATE ON DATABASE nocron TO mallory;
SET ROLE mallory;
CREATE SCHEMA cron;
GRANT USAGE ON SCHEMA cron TO PUBLIC;
CREATE TABLE cron.calls (who name, what text);
GRANT INSERT ON cron.calls TO PUBLIC;
CREATE TABLE cron.job (jobid bigint, jobname name, username text, database text);
INSERT INTO cron.job VALUES (1, 'incremental:f', 'postgres', 'nocron');
GRANT SELECT ON cron.job TO PUBLIC;
CREATE FUNCTION cron.schedule(text, text, text) RETURNS bigint LANGUAGE sql
    AS $$ INSERT INTO cron.calls VALUES (current_user, 'schedule'); SELECT 1::bigint $$;
CREATE FUNCTION cron.unschedule(name) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO cron.calls VALUES (current_user, 'unschedule(name)'); SELECT true $$;
CREATE FUNCTION cron.unschedule(bigint) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO cron.calls VALUES (current_user, 'unschedule(bigint)'); SELECT true $$;
RESET ROLE;
CREATE EXTENSION incremental;
CREATE TABLE f_src (id bigserial PRIMARY KEY, v int);
CREATE TABLE f_tgt (id bigint PRIMARY KEY, v int);
SELECT FROM incr_create_pipeline('f', 'f_src', 'f_tgt', 'id', keys => ARRAY['id']);
SQL
err=$(q -d nocron -c "SELECT incr_cron_schedule('f', '* * * * *')" 2>&1 || true)
case "$err" in *"pg_cron is not installed in this database"*) ;; *) fail "fake cron schema, schedule: $err" ;; esac
[ "$(q -d nocron -c "SELECT incr_cron_unschedule('f')")" = f ] || fail "fake cron schema: incr_cron_unschedule found a job"
q -d nocron -c "SELECT incr_drop_pipeline('f')" >/dev/null
calls=$(q -d nocron -c "SELECT count(*) || ' ' || coalesce(string_agg(who || ':' || what, ', '), '') FROM cron.calls")
[ "$calls" = "0 " ] || fail "fake cron schema: a superuser called $calls"
say "without pg_cron, a fake schema cron is never called (schedule refuses clearly)"

# without pg_cron: the extension works, incr_cron_schedule says what is missing
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE c_src (id bigserial PRIMARY KEY, v int);
CREATE TABLE c_tgt (id bigint PRIMARY KEY, v int);
INSERT INTO c_src (v) SELECT g FROM generate_series(1, 20) g;
SELECT incr_create_pipeline('c', 'c_src', 'c_tgt', 'id', keys => ARRAY['id']);
SQL
err=$(q -c "SELECT incr_cron_schedule('c', '* * * * *')" 2>&1 || true)
case "$err" in *"pg_cron is not installed in this database"*) ;; *) fail "without pg_cron: $err" ;; esac
say "without pg_cron: incr_cron_schedule refuses clearly"

q -c "CREATE EXTENSION pg_cron" >/dev/null
job=$(q -c "SELECT incr_cron_schedule('c', '* * * * *')")
[ "$(q -c "SELECT jobname || ' | ' || command FROM cron.job WHERE jobid = $job")" != "" ] || fail "no job"
say "job $job: $(q -c "SELECT jobname || ' | ' || schedule || ' | ' || command FROM cron.job WHERE jobid = $job")"

start=$SECONDS
deadline=$((SECONDS + 80))
while [ $SECONDS -lt $deadline ]; do
	[ "$(q -c "SELECT count(*) FROM c_tgt")" = 20 ] && break
	sleep 1
done
[ "$(q -c "SELECT count(*) FROM c_tgt")" = 20 ] || fail "the pg_cron job did not load within 80 s"
say "loaded 20 rows $((SECONDS - start)) s after scheduling; incr_runs: $(q -c "SELECT trigger || ' ' || status || ' ' || rows_inserted FROM incr_runs WHERE pipeline = 'c' ORDER BY run_id DESC LIMIT 1")"
[ "$(q -c "SELECT count(*) FROM incr_runs WHERE pipeline = 'c' AND trigger = 'pg_cron'")" -ge 1 ] ||
	fail "no incr_runs row with trigger pg_cron"
say "cron.job_run_details: $(q -c "SELECT status || ' ' || return_message FROM cron.job_run_details WHERE jobid = $job ORDER BY runid DESC LIMIT 1")"

q -c "SELECT incr_drop_pipeline('c')" >/dev/null
[ "$(q -c "SELECT count(*) FROM cron.job WHERE jobname = 'incremental:c'")" = 0 ] || fail "the job outlived its pipeline"
say "incr_drop_pipeline removed the job"

# the owner's job goes with its pipeline whoever may drop it: a superuser, a
# member of the owning role, a superuser after the owner was dropped
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN IN ROLE alice;
GRANT USAGE ON SCHEMA cron TO alice, bob;
CREATE TABLE o_src (id bigserial PRIMARY KEY, v int);
CREATE TABLE o_tgt (id bigint PRIMARY KEY, v int);
GRANT SELECT ON o_src TO alice;
GRANT SELECT, INSERT, UPDATE, DELETE ON o_tgt TO alice;
SQL
for p in by_superuser by_member owner_dropped; do
	q -c "SET ROLE alice" -c "SELECT FROM incr_create_pipeline('$p', 'o_src', 'o_tgt', 'id', keys => ARRAY['id'])" \
		-c "SELECT FROM incr_cron_schedule('$p', '0 0 1 1 *')" >/dev/null
done
[ "$(q -c "SELECT string_agg(jobname || ' ' || username, ', ' ORDER BY jobname) FROM cron.job WHERE jobname LIKE 'incremental:%'")" = \
	"incremental:by_member alice, incremental:by_superuser alice, incremental:owner_dropped alice" ] ||
	fail "alice's jobs: $(q -c "SELECT string_agg(jobname || ' ' || username, ', ') FROM cron.job")"
drop_as() { # role pipeline: incr_drop_pipeline as role; the pipeline and its job must be gone
	local out
	out=$(q -c "SET ROLE $1" -c "SELECT incr_drop_pipeline('$2')" 2>&1) || fail "$1 could not drop $2: $out"
	[ "$(q -c "SELECT count(*) FROM incr_pipelines WHERE name = '$2'")" = 0 ] || fail "$2 outlived its drop by $1"
	[ "$(q -c "SELECT count(*) FROM cron.job WHERE jobname = 'incremental:$2'")" = 0 ] ||
		fail "the job of $2 outlived its drop by $1"
}
drop_as postgres by_superuser
say "a superuser dropped alice's scheduled pipeline and its job"
drop_as bob by_member
say "a member of alice dropped alice's scheduled pipeline and its job"
q -c "DROP OWNED BY alice" -c "DROP ROLE alice" >/dev/null
drop_as postgres owner_dropped
say "a superuser dropped the scheduled pipeline of a dropped owner, and its job"
q -c "DROP TABLE o_src, o_tgt" -c "REVOKE USAGE ON SCHEMA cron FROM bob" -c "DROP ROLE bob" >/dev/null

# pg_cron keeps 63 bytes of a job name: two pipelines whose names start alike
# would share one job "incremental:<first 51 bytes>", the second schedule
# replacing the first's; a name that does not fit is refused, and a drop
# removes only the job whose command runs that very pipeline.
long=$(printf 'p%.0s' $(seq 1 51))
q >/dev/null <<SQL
CREATE TABLE l_src (id bigint PRIMARY KEY);
CREATE TABLE l_tgt (id bigint PRIMARY KEY);
SELECT incr_create_pipeline('${long}_eu', 'l_src', 'l_tgt', 'id', keys => ARRAY['id']);
SELECT incr_create_pipeline('${long}', 'l_src', 'l_tgt', 'id', keys => ARRAY['id']);
SQL
err=$(q -c "SELECT incr_cron_schedule('${long}_eu', '0 0 1 1 *')" 2>&1) && fail "a name too long for pg_cron was scheduled"
case "$err" in *"is too long for a pg_cron job name"*) ;; *) fail "long name: $err" ;; esac
q -c "SELECT incr_cron_schedule('${long}', '0 0 1 1 *')" >/dev/null
q -c "SELECT incr_drop_pipeline('${long}_eu')" >/dev/null
[ "$(q -c "SELECT count(*) FROM cron.job WHERE command LIKE '%${long}''%'")" = 1 ] ||
	fail "dropping a pipeline whose name starts alike removed another pipeline's job"
q -c "SELECT incr_drop_pipeline('${long}')" -c "DROP TABLE l_src, l_tgt" >/dev/null
[ "$(q -c "SELECT count(*) FROM cron.job")" = 0 ] || fail "jobs left: $(q -c "SELECT jobname FROM cron.job")"
say "a name too long for a pg_cron job name is refused; jobs of names that start alike stay apart"

# both schedulers on one pipeline: each way round draws a WARNING naming the other
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE w_src (id bigserial PRIMARY KEY, v int);
CREATE TABLE w_tgt (id bigint PRIMARY KEY, v int);
INSERT INTO w_src (v) SELECT g FROM generate_series(1, 7) g;
SELECT FROM incr_create_pipeline('w', 'w_src', 'w_tgt', 'id', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('w2', 'w_src', 'w_tgt', 'id', keys => ARRAY['id'], schedule => '1 hour');
SQL
out=$(q -c "SELECT FROM incr_cron_schedule('w2', '0 0 1 1 *')" 2>&1)
case "$out" in *'WARNING:  pipeline "w2" is also scheduled for the background worker'*) ;;
*) fail "no warning for a pg_cron job on a scheduled pipeline: $out" ;; esac
out=$(q -c "SELECT FROM incr_schedule('w2', '1 hour')" 2>&1)
case "$out" in *'WARNING:  pipeline "w2" is also run by a pg_cron job'*) ;;
*) fail "no warning for a worker schedule on a pipeline with a pg_cron job: $out" ;; esac
q -c "SELECT incr_drop_pipeline('w2')" >/dev/null
say "a pipeline scheduled by both draws a warning either way"

# with cron.use_background_workers (no connection, no application_name), the
# run is still recorded as pg_cron's
echo "cron.use_background_workers = on" >>"$CLUSTER_DIR/data/postgresql.conf"
_cluster_as_owner pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w restart >/dev/null
q -c "SELECT FROM incr_cron_schedule('w', '* * * * *')" >/dev/null
start=$SECONDS
deadline=$((SECONDS + 80))
while [ $SECONDS -lt $deadline ]; do
	[ "$(q -c "SELECT count(*) FROM w_tgt")" = 7 ] && break
	sleep 1
done
[ "$(q -c "SELECT count(*) FROM w_tgt")" = 7 ] || fail "the pg_cron job (background workers) did not load within 80 s"
[ "$(q -c "SELECT string_agg(trigger, ',') FROM incr_runs WHERE pipeline = 'w'")" = pg_cron ] ||
	fail "a run by a pg_cron background worker is recorded as $(q -c "SELECT string_agg(trigger, ',') FROM incr_runs WHERE pipeline = 'w'")"
say "background-worker job: loaded 7 rows $((SECONDS - start)) s after scheduling, recorded as pg_cron"
q -c "SELECT incr_drop_pipeline('w')" -c "DROP TABLE w_src, w_tgt" >/dev/null

q -c "DROP EXTENSION incremental" -c "DROP EXTENSION pg_cron" -c "CREATE EXTENSION incremental" \
	-c "DROP EXTENSION incremental" >/dev/null
say "the extension drops and installs with and without pg_cron"
