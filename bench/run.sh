#!/usr/bin/env bash
# bench/run.sh: time incremental against the hand-written SQL it replaces.
# Starts a throwaway cluster, runs each scenario for ROUNDS rounds (default 5),
# alternating which side goes first, and prints medians and ratios; with
# WRITE_DOC=1 it also rewrites the results table in doc/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

ROUNDS=${ROUNDS:-5}
SCENARIOS=${SCENARIOS:-merge}

if [ "$(id -u)" = 0 ]; then ensure_packages; fi
build_install >/dev/null
cluster_trap
cluster_start "shared_buffers = '1GB'" "max_wal_size = '4GB'" "checkpoint_timeout = '30min'" \
	"autovacuum = off" "synchronous_commit = off" >/dev/null

export PGDATABASE=bench
createdb bench
psql -qX -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION incremental;
-- Run the statements in order and return the elapsed milliseconds.
CREATE FUNCTION bench_time(stmts text[]) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    s text;
BEGIN
    FOREACH s IN ARRAY stmts LOOP
        EXECUTE s;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
CREATE TABLE bench_results (scenario text, side text, round int, ms float8);
SQL

# time SCENARIO SIDE ROUND SQL-ARRAY-LITERAL: record one timed run
time_side() {
	psql -qXAt -v ON_ERROR_STOP=1 -c \
		"INSERT INTO bench_results SELECT '$1', '$2', $3, bench_time($4)"
}

# rotate "a b c" by n places, so each side goes first in turn
rotate() {
	local n=$1; shift
	local arr=("$@") k=${#arr[@]}
	for ((i = 0; i < k; i++)); do echo "${arr[$(((i + n) % k))]}"; done
}

scenario_merge() {
	psql -qX -v ON_ERROR_STOP=1 -f bench/merge.sql >/dev/null
	local cols="customer = EXCLUDED.customer, status = EXCLUDED.status, amount = EXCLUDED.amount, note = EXCLUDED.note, updated_at = EXCLUDED.updated_at"
	local mcols="customer = s.customer, status = s.status, amount = s.amount, note = s.note, updated_at = s.updated_at"
	local distinct="(t.customer, t.status, t.amount, t.note, t.updated_at) IS DISTINCT FROM"
	declare -A sql
	sql[incremental]="ARRAY[\$\$SELECT incr_run('bm')\$\$]"
	sql[insert_on_conflict]="ARRAY[\$\$INSERT INTO bm_upsert AS t SELECT s.* FROM bm_src s WHERE s.updated_at > (SELECT last_value FROM bm_watermark WHERE name = 'upsert') ON CONFLICT (id) DO UPDATE SET $cols WHERE $distinct (EXCLUDED.customer, EXCLUDED.status, EXCLUDED.amount, EXCLUDED.note, EXCLUDED.updated_at)\$\$, \$\$UPDATE bm_watermark SET last_value = (SELECT max(updated_at) FROM bm_src) WHERE name = 'upsert'\$\$]"
	sql[merge]="ARRAY[\$\$MERGE INTO bm_merge t USING (SELECT * FROM bm_src WHERE updated_at > (SELECT last_value FROM bm_watermark WHERE name = 'merge')) s ON t.id = s.id WHEN MATCHED AND $distinct (s.customer, s.status, s.amount, s.note, s.updated_at) THEN UPDATE SET $mcols WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.customer, s.status, s.amount, s.note, s.updated_at)\$\$, \$\$UPDATE bm_watermark SET last_value = (SELECT max(updated_at) FROM bm_src) WHERE name = 'merge'\$\$]"
	for ((r = 1; r <= ROUNDS; r++)); do
		psql -qX -v ON_ERROR_STOP=1 -v round="$r" -f bench/merge_round.sql >/dev/null
		for side in $(rotate "$r" incremental insert_on_conflict merge); do
			time_side merge "$side" "$r" "${sql[$side]}"
		done
		psql -qX -c "VACUUM bm_inc, bm_upsert, bm_merge" >/dev/null
	done
	# all three targets must equal the source
	psql -qXAt -v ON_ERROR_STOP=1 <<'SQL'
SELECT CASE WHEN (SELECT count(*) FROM (SELECT * FROM bm_src EXCEPT ALL SELECT * FROM bm_inc) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM bm_inc EXCEPT ALL SELECT * FROM bm_src) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM bm_src EXCEPT ALL SELECT * FROM bm_upsert) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM bm_src EXCEPT ALL SELECT * FROM bm_merge) d) = 0
        THEN 'merge: all targets equal the source'
        ELSE 'merge: TARGETS DIFFER' END;
SELECT 'merge: last incr_run ' || rows_read || ' read, ' || rows_updated || ' updated, '
       || rows_unchanged || ' unchanged'
FROM incr_runs WHERE pipeline = 'bm' ORDER BY run_id DESC LIMIT 1;
SQL
}

for s in $SCENARIOS; do
	"scenario_$s"
done

table=$(psql -qXAt -F ' | ' <<'SQL'
WITH m AS (
    SELECT scenario, side, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median
    FROM bench_results GROUP BY scenario, side)
SELECT '| ' || i.scenario, r.side, round(i.median::numeric, 1) || ' ms',
       round(r.median::numeric, 1) || ' ms',
       round((i.median / r.median)::numeric, 3) || ' |'
FROM m i JOIN m r ON r.scenario = i.scenario AND r.side <> 'incremental'
WHERE i.side = 'incremental'
ORDER BY i.scenario, r.side;
SQL
)
header="| scenario | reference | incremental (median) | reference (median) | ratio |
|---|---|---|---|---|"
echo
echo "$ROUNDS rounds, median; ratio = incremental / reference"
echo "$header"
echo "$table"
