#!/usr/bin/env bash
# bench/wal_merge_toast.sh: one run of a merge pipeline with capture => 'wal'
# over a backlog where updates leave a large (TOASTed) column unchanged,
# which the WAL then does not carry: the case that made merge's statement
# quadratic (issue 16: 3 min 53 s for 164,000 changes before the rewrite).
# A table of ROWS (100,000) keys with a 2,240-byte column stored out of line
# (STORAGE EXTERNAL), copied by the pipeline's first run; then, committed
# before the timed run: 150,000 updates (ROWS * 1.5), one in ten leaving the
# large column alone, and 14,000 deletes (ROWS * 0.14).  Timed: the one
# incr_run that applies them all.  Checked: the target equals the source.
# Reported: the run's time and counts, the backend's peak private memory
# (RssAnon), and with EXPLAIN=1 the run statement's plan (auto_explain,
# ANALYZE, from the server log).
#
#   bash bench/wal_merge_toast.sh
#   ROWS=20000 EXPLAIN=1 bash bench/wal_merge_toast.sh
#
# Settings: ROWS (100000, a multiple of 100), EXPLAIN (0), BENCH_NO_BUILD=1
# (use the installed build).  Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

ROWS=${ROWS:-100000}
EXPLAIN=${EXPLAIN:-0}
if [ $((ROWS % 100)) != 0 ]; then
	echo "bench/wal_merge_toast.sh: ROWS must be a multiple of 100" >&2
	exit 2
fi
work=$(mktemp -d /tmp/incremental-bench-walt.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	build_install >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
fi
cluster_start "shared_buffers = '512MB'" "max_wal_size = '4GB'" "autovacuum = off" \
	"synchronous_commit = off" >/dev/null

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
createdb wt
export PGDATABASE=wt
# updates: 90% of the rows with both columns, 10% (id % 10 = 0) with v only;
# then the first 45% again with both, the next 5% with v only: 1.5 * ROWS
# updates of which 0.15 * ROWS leave the large column alone; then the last
# 14% of the rows deleted
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE wt (id int PRIMARY KEY, v int NOT NULL, big text);
ALTER TABLE wt ALTER big SET STORAGE EXTERNAL;
CREATE TABLE wt_copy (id int PRIMARY KEY, v int, big text);
INSERT INTO wt SELECT g, 0, repeat(md5(g::text), 70) FROM generate_series(1, $ROWS) g;
SELECT name FROM incr_create_pipeline('wt', source => 'wt', target => 'wt_copy', mode => 'merge',
                                      keys => ARRAY['id'], capture => 'wal');
SELECT status FROM incr_run('wt');
UPDATE wt SET v = v + 1, big = repeat(md5((id + 1)::text), 70) WHERE id % 10 <> 0;
UPDATE wt SET v = v + 1 WHERE id % 10 = 0;
UPDATE wt SET v = v + 1, big = repeat(md5((id + 2)::text), 70) WHERE id <= $ROWS * 45 / 100;
UPDATE wt SET v = v + 1 WHERE id > $ROWS * 45 / 100 AND id <= $ROWS / 2;
DELETE FROM wt WHERE id > $ROWS * 86 / 100;
CHECKPOINT;
SQL

explain_sql=""
if [ "$EXPLAIN" = 1 ]; then
	explain_sql="LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on; SET auto_explain.log_nested_statements = on;"
fi
log_at=$(wc -c <"$CLUSTER_LOG")
PGAPPNAME=wt_run psql -qXAt -v ON_ERROR_STOP=1 -o "$work/run.out" <<SQL &
SET client_min_messages = warning;
$explain_sql
SELECT extract(epoch FROM clock_timestamp())::text;
SELECT rows_read || ' read, ' || rows_inserted || ' inserted, ' || rows_updated || ' updated, '
       || rows_deleted || ' deleted, status ' || status FROM incr_run('wt');
SELECT extract(epoch FROM clock_timestamp())::text;
SQL
cpid=$!
bpid=
for _ in $(seq 200); do
	bpid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'wt_run'")
	[ -z "$bpid" ] || break
	sleep 0.02
done
: >"$work/rss"
while kill -0 "$cpid" 2>/dev/null; do
	[ -z "$bpid" ] || awk '/^RssAnon:/ { print $2 }' "/proc/$bpid/status" >>"$work/rss" 2>/dev/null || true
	sleep 0.2
done
wait "$cpid"
mapfile -t out <"$work/run.out"
ms=$(awk -v a="${out[0]}" -v b="${out[2]}" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
rss=$(awk '{ m = ($1 > m ? $1 : m) } END { printf "%.1f", m / 1024 }' "$work/rss")
diff=$(q -c "SELECT count(*) FROM ((TABLE wt EXCEPT ALL TABLE wt_copy) UNION ALL (TABLE wt_copy EXCEPT ALL TABLE wt)) x")
echo "rows $ROWS: one incr_run applied $((ROWS * 164 / 100)) changes in $ms ms (${out[1]}); backend at most $rss MB private memory; rows differing from the source: $diff"
if [ "$EXPLAIN" = 1 ]; then
	tail -c +"$((log_at + 1))" "$CLUSTER_LOG" | sed -n '/Query Text: WITH/,/^[0-9-]* [0-9:.]* UTC \[/p'
fi
[ "$diff" = 0 ] || { echo "bench/wal_merge_toast.sh: the target differs from the source" >&2; exit 1; }
