#!/usr/bin/env bash
# bench/bound_cost.sh: what the safe upper bound costs a run.  pgbench runs
# incr_run in a loop (one client) on a timestamp-cursor pipeline and on a
# sequence-cursor pipeline: alone, next to 4 writer clients whose
# transactions stay open a few milliseconds, and next to the same writers
# with incremental.safe_upper_bound = off (what the bound costs, and what it
# protects).  Prints pgbench's average latency of a run for each case.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

secs=${BOUND_SECONDS:-10}
cluster_trap
cluster_start "max_connections = 50" >/dev/null
createdb bound
export PGDATABASE=bound
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE b_src (id bigserial PRIMARY KEY, v int, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON b_src (at);
CREATE TABLE b_ts (id bigint PRIMARY KEY, v int, at timestamptz);
CREATE TABLE b_seq (id bigint PRIMARY KEY, v int, at timestamptz);
INSERT INTO b_src (v, at) SELECT g, timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series(1, 100000) g;
SELECT incr_create_pipeline('b_ts', 'b_src', 'b_ts', 'at', keys => ARRAY['id']);
SELECT incr_create_pipeline('b_seq', 'b_src', 'b_seq', 'id', keys => ARRAY['id']);
SELECT incr_run('b_ts'), incr_run('b_seq');
SQL
dir=$CLUSTER_DIR
printf 'BEGIN;\nINSERT INTO b_src (v) VALUES (1);\n\\sleep 3 ms\nCOMMIT;\n' >"$dir/writer.sql"
printf "SELECT incr_run('b_ts');\n" >"$dir/run_ts.sql"
printf "SELECT incr_run('b_seq');\n" >"$dir/run_seq.sql"
chmod a+r "$dir"/*.sql

latency() { # latency SCRIPT [PGOPTIONS]
	PGOPTIONS="${2:-}" pgbench -n -c 1 -T "$secs" -f "$1" 2>/dev/null |
		awk '/latency average/ { print $4 }'
}
with_writers() { # with_writers SCRIPT [PGOPTIONS]
	pgbench -n -c 4 -j 2 -T $((secs + 2)) -f "$dir/writer.sql" >/dev/null 2>&1 &
	local w=$!
	sleep 1
	latency "$@"
	wait $w
}

echo "| cursor | alone | with 4 writers | with 4 writers, bound off |"
echo "|---|---|---|---|"
for kind in ts seq; do
	a=$(latency "$dir/run_$kind.sql")
	b=$(with_writers "$dir/run_$kind.sql")
	c=$(with_writers "$dir/run_$kind.sql" "-c incremental.safe_upper_bound=off")
	name=$([ $kind = ts ] && echo "timestamptz (now())" || echo "bigint (sequence)")
	echo "| $name | $a ms | $b ms | $c ms |"
done
echo
echo "latency average of one incr_run, pgbench -c 1 -T $secs; writers: BEGIN; INSERT; 3 ms; COMMIT"
