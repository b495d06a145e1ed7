#!/usr/bin/env bash
# test/pg_cron.sh: pg_cron as the alternative scheduler.  On a cluster with
# shared_preload_libraries = 'pg_cron,incremental', incr_cron_schedule makes
# the job "incremental:<name>" that calls incr_run; within about a minute (pg_cron
# schedules by the minute) it has run, and its incr_runs row says pg_cron.
# incr_drop_pipeline removes the job; the extension installs and drops the
# same with or without pg_cron.  pg_cron connects over the unix socket
# (cron.host = the socket directory), as a socket-only server needs.
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

q -c "DROP EXTENSION incremental" -c "DROP EXTENSION pg_cron" -c "CREATE EXTENSION incremental" \
	-c "DROP EXTENSION incremental" >/dev/null
say "the extension drops and installs with and without pg_cron"
