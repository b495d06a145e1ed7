#!/usr/bin/env bash
# bench/scheduler_overhead.sh: what the background worker costs when it has
# nothing to do.  100 pipelines scheduled every second, no new rows; the
# worker's CPU time (utime + stime from /proc) over SECONDS_TO_MEASURE (60).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

measure=${SECONDS_TO_MEASURE:-60}
cluster_trap
cluster_start "shared_preload_libraries = 'incremental'" "incremental.database = 'sched'" \
	"incremental.naptime = '1s'" >/dev/null
createdb sched
export PGDATABASE=sched
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE so_src (id bigserial PRIMARY KEY, v int);
INSERT INTO so_src (v) SELECT g FROM generate_series(1, 1000) g;
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    EXECUTE format('CREATE TABLE so_tgt_%s (id bigint PRIMARY KEY, v int)', i);
    PERFORM incr_create_pipeline('so_' || i, 'so_src', format('so_tgt_%s', i)::regclass, 'id',
                                 keys => ARRAY['id'], schedule => '1 second');
  END LOOP;
END $$;
SQL
# let the first (loading) runs pass
for _ in $(seq 60); do
	[ "$(psql -X -At -c "SELECT count(*) FROM incr_checkpoints WHERE value_numeric = 1000")" = 100 ] && break
	sleep 1
done
pid=$(psql -X -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'incremental worker'")
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
c0=$(cpu "$pid")
sleep "$measure"
c1=$(cpu "$pid")
runs=$(psql -X -At -c "SELECT count(*) FROM incr_runs")
echo "scheduler overhead: 100 idle pipelines every 1 s, naptime 1 s, ${measure} s measured"
echo "worker pid $pid: CPU $(( (c1 - c0) * 1000 / ticks )) ms in ${measure} s ($(awk -v c=$((c1 - c0)) -v t="$ticks" -v s="$measure" 'BEGIN { printf "%.1f", c / t / s * 100 }') % of one core)"
echo "incr_runs rows (idle runs are not recorded by default): $runs"
