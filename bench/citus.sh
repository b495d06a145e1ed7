#!/usr/bin/env bash
# bench/citus.sh: a merge over Citus by incr_run against the hand-written
# distributed INSERT ... ON CONFLICT doing the same work (issue 17).
#
# On a coordinator and two workers (three throwaway clusters, 4 shards per
# table), a source and two co-located targets of ROWS rows (default
# 2,000,000) distributed by id; CHANGED rows (default 100,000) of the source
# change. One run each, in ROUND rounds (default 1), alternating which goes
# first: incr_run('bench') into one target, and the INSERT ... SELECT ... ON
# CONFLICT DO UPDATE a user would write into the other, each in a new session
# (both open their connections to the workers), with the source and both
# targets loaded into the workers' shared buffers before each round. Prints
# the times and their ratio. Needs Citus installed (test/citus.sh builds it); uses the
# installed extension, or the private copy named by PG_PRIVATE.
#
#
# MODE=scd2: the targets are histories (a current version per key at first);
# incr_run of an scd2 pipeline against the two statements a user would write,
# in one transaction (a DO block): the UPDATE that closes the current
# versions of changed keys, then the INSERT of their new versions. A third
# side, the same pipeline into a history whose valid_from may be NULL (which
# keeps the run the one statement of one node, through the coordinator, as
# before scd2 was pushed down), shows what the pushdown brings.
#
#   bash bench/citus.sh
#   ROWS=200000 CHANGED=10000 bash bench/citus.sh
#   MODE=scd2 ROUNDS=5 bash bench/citus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh
ROWS=${ROWS:-2000000}
CHANGED=${CHANGED:-100000}
ROUNDS=${ROUNDS:-1}
MODE=${MODE:-merge}
case "$MODE" in merge | scd2) ;; *) echo "bench/citus.sh: MODE is merge or scd2" >&2; exit 1 ;; esac

if [ ! -f "${PG_BIN%/bin}/lib/citus.so" ]; then
	echo "bench/citus.sh: Citus is not installed (run test/citus.sh, which builds it)" >&2
	exit 1
fi
cluster_trap
conf=("shared_preload_libraries = 'citus'" "listen_addresses = 'localhost'"
	"max_prepared_transactions = 20" "citus.shard_count = 4" "max_wal_size = 4GB"
	# the source and both targets stay in the shared buffers of each node, so
	# neither side finds its target colder than the other's
	"shared_buffers = 1GB")
cluster_start "${conf[@]}" >/dev/null
w1=$PGPORT
cluster_keep
cluster_start "${conf[@]}" >/dev/null
w2=$PGPORT
cluster_keep
cluster_start "${conf[@]}" >/dev/null
co=$PGPORT
q() {
	local port=$1
	shift
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h localhost -p "$port" -d postgres "$@"
}
for port in $w1 $w2 $co; do
	q "$port" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION citus'
done
q "$co" -c 'SET client_min_messages = warning' \
	-c "SELECT citus_set_coordinator_host('localhost', $co)" \
	-c "SELECT citus_add_node('localhost', $w1)" \
	-c "SELECT citus_add_node('localhost', $w2)" \
	-c 'CREATE EXTENSION incremental' -c 'CREATE EXTENSION pg_prewarm' >/dev/null

echo "bench/citus.sh: $MODE, $ROWS rows, $CHANGED changed, coordinator $co, workers $w1 $w2"
if [ "$MODE" = merge ]; then
q "$co" >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE src (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL, updated_at timestamptz NOT NULL);
CREATE INDEX ON src (updated_at);
CREATE TABLE dst_incr (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE dst_hand (LIKE dst_incr INCLUDING ALL);
SELECT create_distributed_table('src', 'id');
SELECT create_distributed_table('dst_incr', 'id', colocate_with => 'src');
SELECT create_distributed_table('dst_hand', 'id', colocate_with => 'src');
INSERT INTO src SELECT i, md5(i::text), i % 1000, to_timestamp(1704067200 + i / 100)
	FROM generate_series(1, $ROWS) AS i;
INSERT INTO dst_incr SELECT * FROM src;
INSERT INTO dst_hand SELECT * FROM src;
SELECT incr_create_pipeline('bench', 'src', 'dst_incr', 'updated_at', mode => 'merge', keys => '{id}');
SELECT incr_reset('bench', (SELECT max(updated_at) FROM src)::text);
VACUUM ANALYZE src;
VACUUM ANALYZE dst_incr;
VACUUM ANALYZE dst_hand;
SQL
else
q "$co" >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE src (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL, updated_at timestamptz NOT NULL);
CREATE INDEX ON src (updated_at);
CREATE TABLE dst_incr (id bigint NOT NULL, v text NOT NULL, n int NOT NULL, valid_from timestamptz NOT NULL,
	valid_to timestamptz, is_current boolean NOT NULL, PRIMARY KEY (id, valid_from));
CREATE UNIQUE INDEX ON dst_incr (id) WHERE is_current;
CREATE TABLE dst_hand (LIKE dst_incr INCLUDING ALL);
-- valid_from may be NULL: such a history gets the one statement through the coordinator
CREATE TABLE dst_one (id bigint NOT NULL, v text NOT NULL, n int NOT NULL, valid_from timestamptz,
	valid_to timestamptz, is_current boolean NOT NULL, UNIQUE (id, valid_from));
CREATE UNIQUE INDEX ON dst_one (id) WHERE is_current;
SELECT create_distributed_table('src', 'id');
SELECT create_distributed_table(t, 'id', colocate_with => 'src') FROM unnest(ARRAY['dst_incr', 'dst_hand', 'dst_one']) AS t;
INSERT INTO src SELECT i, md5(i::text), i % 1000, to_timestamp(1704067200 + i / 100)
	FROM generate_series(1, $ROWS) AS i;
INSERT INTO dst_incr SELECT id, v, n, updated_at, NULL, true FROM src;
INSERT INTO dst_hand SELECT * FROM dst_incr;
INSERT INTO dst_one SELECT * FROM dst_incr;
SELECT incr_create_pipeline('bench', 'src', 'dst_incr', 'updated_at', mode => 'scd2', keys => '{id}');
SELECT incr_create_pipeline('bench_one', 'src', 'dst_one', 'updated_at', mode => 'scd2', keys => '{id}');
SELECT incr_reset(p, (SELECT max(updated_at) FROM src)::text) FROM unnest(ARRAY['bench', 'bench_one']) AS p;
VACUUM ANALYZE src;
VACUUM ANALYZE dst_incr;
VACUUM ANALYZE dst_hand;
VACUUM ANALYZE dst_one;
SQL
fi

timing() { # timing SQL: milliseconds of the statement, from psql's \timing
	q "$co" -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1
}
hand="INSERT INTO dst_hand AS t SELECT s.id, s.v, s.n, s.updated_at FROM src AS s
	WHERE s.updated_at >= '%s' AND s.updated_at <= now()
	ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, n = EXCLUDED.n, updated_at = EXCLUDED.updated_at
	WHERE (t.v, t.n, t.updated_at) IS DISTINCT FROM (EXCLUDED.v, EXCLUDED.n, EXCLUDED.updated_at)"
if [ "$MODE" = scd2 ]; then
	hand="DO \$\$BEGIN
	UPDATE dst_hand AS t SET valid_to = s.updated_at, is_current = false FROM src AS s
	WHERE t.id = s.id AND t.is_current AND s.updated_at >= '%s' AND s.updated_at <= now()
	  AND s.updated_at > t.valid_from AND (t.v, t.n) IS DISTINCT FROM (s.v, s.n);
	INSERT INTO dst_hand SELECT s.id, s.v, s.n, s.updated_at, NULL, true FROM src AS s
	LEFT JOIN dst_hand AS t ON t.id = s.id AND t.is_current
	WHERE s.updated_at >= '%s' AND s.updated_at <= now() AND t.id IS NULL;
	END\$\$"
fi
incr_times=()
hand_times=()
one_times=()
for ((round = 1; round <= ROUNDS; round++)); do
	cp=$(q "$co" -c "SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'bench'")
	# CHANGED rows spread over every shard, at a new time
	q "$co" -c "UPDATE src SET v = md5(v), n = n + 1, updated_at = to_timestamp(1735689600 + $round * 86400 + id / 100)
		WHERE id % ($ROWS / $CHANGED) = 0" -c "VACUUM ANALYZE src" >/dev/null
	# both read the same rows: read them once first, so neither finds them cold;
	# and load every shard of the source and of both targets, with their
	# indexes, into the workers' shared buffers
	q "$co" -c "SELECT count(*) FROM src WHERE updated_at > '$cp'" >/dev/null
	for port in $w1 $w2; do
		q "$port" -c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class AS c
			WHERE c.relname ~ '^(src|dst_incr|dst_hand|dst_one)_' AND c.relkind IN ('r', 'i')" >/dev/null
	done
	h=${hand//%s/$cp}
	if [ "$MODE" = scd2 ]; then
		one_times+=("$(timing "SELECT rows_updated FROM incr_run('bench_one')")")
	fi
	if [ $((round % 2)) -eq 1 ]; then
		ti=$(timing "SELECT rows_updated FROM incr_run('bench')")
		th=$(timing "$h")
	else
		th=$(timing "$h")
		ti=$(timing "SELECT rows_updated FROM incr_run('bench')")
	fi
	incr_times+=("$ti")
	hand_times+=("$th")
	echo "round $round: incr_run $ti ms, hand-written $th ms${one_times:+, one statement through the coordinator ${one_times[-1]} ms}"
done
if [ "$MODE" = merge ]; then
	check=$(q "$co" -c "SELECT (SELECT count(*) FROM dst_incr i JOIN dst_hand h USING (id)
		WHERE (i.v, i.n, i.updated_at) = (h.v, h.n, h.updated_at)),
		(SELECT rows_read || ' read, ' || rows_updated || ' updated' FROM incr_runs
		 WHERE pipeline = 'bench' ORDER BY run_id DESC LIMIT 1)")
	echo "targets equal on $check (of $ROWS rows)"
else
	check=$(q "$co" -c "SELECT (SELECT count(*) FROM dst_incr), (SELECT count(*) FROM dst_incr i JOIN dst_hand h USING (id, valid_from)
		WHERE (i.v, i.n, i.valid_to, i.is_current) IS NOT DISTINCT FROM (h.v, h.n, h.valid_to, h.is_current)),
		(SELECT count(*) FROM dst_incr i JOIN dst_one o USING (id, valid_from)
		WHERE (i.v, i.n, i.valid_to, i.is_current) IS NOT DISTINCT FROM (o.v, o.n, o.valid_to, o.is_current)),
		(SELECT rows_read || ' read, ' || rows_updated || ' updated' FROM incr_runs
		 WHERE pipeline = 'bench' ORDER BY run_id DESC LIMIT 1)")
	echo "versions in the target, equal in the hand-written one, equal in the one-statement one, last run: $check"
fi
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
mi=$(median "${incr_times[@]}")
mh=$(median "${hand_times[@]}")
echo "median: incr_run $mi ms, hand-written $mh ms, ratio $(awk -v a="$mi" -v b="$mh" 'BEGIN {printf "%.3f", a / b}')"
if [ "$MODE" = scd2 ]; then
	mo=$(median "${one_times[@]}")
	echo "median: one statement through the coordinator $mo ms, ratio to the hand-written $(awk -v a="$mo" -v b="$mh" 'BEGIN {printf "%.3f", a / b}')"
fi
