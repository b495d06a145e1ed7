#!/usr/bin/env bash
# bench/wal.sh: WAL capture (capture => 'wal') against PostgreSQL's own
# logical replication, applying the same backlog in the same cluster.
# Per round: a table of 100,000 keys is copied to both sides (the merge
# pipeline's first run; the subscriber's table filled by hand), then
# 1,000,000 changes are committed (1,000 transactions, each 600 updates,
# 200 deletes and 200 inserts of keys deleted by the previous one) while the
# subscription is disabled and its slot, made beforehand, holds the WAL.
# Timed: CALL incr_catch_up on the merge pipeline, and the subscription from
# its ENABLE until the last transaction is visible in the subscriber (also
# reported: until its slot's confirmed_flush_lsn reaches the end of the
# changes).  Both targets must then equal the source.  The medians over ROUNDS
# (3) give the ratio incremental / native; the backend's private memory is
# sampled during the catch-up (and the apply worker's during the native
# side).  Then the end-to-end delay: a pipeline with schedule => '1 second'
# driven by the scheduler while a steady writer inserts rows stamped with
# clock_timestamp(); delay = when the row was written to the target minus
# its insert time, median and p95 over DELAY_SECONDS (30).
#
#   bash bench/wal.sh
#   ROUNDS=5 WAL_BATCH=200000 bash bench/wal.sh
#
# Settings: ROUNDS (3), CHANGES (1000000, a multiple of 1,000), KEYS
# (100000), WAL_BATCH (batch_size of the pipeline, 100000 changes; 0 for
# none: a single run), DELAY_SECONDS (30), DELAY_RATE (rows per second of the
# writer, 50), QUIET_WAIT (seconds to wait for an idle machine, 30),
# WAL_TOAST=1 (the pad column 2,240 bytes stored out of line, so that
# every update, which leaves it alone, is one whose WAL lacks its value, an
# unchanged TOAST value; default 96 bytes in line),
# BENCH_NO_BUILD=1 (use the installed build), WRITE_DOC (1: rewrite the
# bench:wal section of doc/benchmarks.md; 0: print only).  Not part of the
# test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

bench_cmd="bash bench/wal.sh"
for v in WAL_TOAST BENCH_NO_BUILD WRITE_DOC QUIET_WAIT DELAY_RATE DELAY_SECONDS WAL_BATCH KEYS CHANGES ROUNDS; do
	if [ -n "${!v+x}" ]; then bench_cmd="$v=${!v} $bench_cmd"; fi
done
ROUNDS=${ROUNDS:-3}
CHANGES=${CHANGES:-1000000}
KEYS=${KEYS:-100000}
WAL_BATCH=${WAL_BATCH:-100000}
DELAY_SECONDS=${DELAY_SECONDS:-30}
DELAY_RATE=${DELAY_RATE:-50}
WRITE_DOC=${WRITE_DOC:-1}
QUIET_WAIT=${QUIET_WAIT:-30}
WAL_TOAST=${WAL_TOAST:-0}
pad_md5s=3
[ "$WAL_TOAST" != 1 ] || pad_md5s=70
XACTS=$((CHANGES / 1000))
if [ $((CHANGES % 1000)) != 0 ] || [ $((KEYS % 200)) != 0 ] || [ "$KEYS" -lt 1000 ]; then
	echo "bench/wal.sh: CHANGES must be a multiple of 1000, KEYS a multiple of 200 and at least 1000" >&2
	exit 2
fi

work=$(mktemp -d /tmp/incremental-bench-wal.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" = 0 ]; then ensure_packages; fi
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	build_install >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
	tree="commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
	[ -z "$(git status --porcelain -- src sql Makefile 2>/dev/null)" ] || tree="$tree plus uncommitted changes"
else
	tree="the installed build"
fi
cluster_start "shared_buffers = '1GB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
	"autovacuum = off" "synchronous_commit = off" "max_wal_senders = 10" \
	"shared_preload_libraries = 'incremental'" "incremental.database = 'wb_src'" \
	"incremental.naptime = '100ms'" >/dev/null

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
note() { echo "$*"; echo "- $*" >>"$work/notes"; }
: >"$work/notes"
createdb wb_src
createdb wb_sub
export PGDATABASE=wb_src
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION incremental"
if [ "$(q -c "SELECT count(*) FROM pg_proc WHERE proname = 'incr_create_pipeline'
               AND 'capture' = ANY (proargnames)")" = 0 ]; then
	echo "bench/wal.sh: incr_create_pipeline has no capture argument: capture => 'wal' is not built" >&2
	exit 1
fi
q -c "CREATE TABLE wb_times (round int, side text, ms float8)"

# wait_quiet: wait (up to QUIET_WAIT s) until the CPUs are less than 20% busy
# over half a second, as bench/run.sh does
wait_quiet() {
	local start=$SECONDS busy
	while ((SECONDS - start < QUIET_WAIT)); do
		busy=$({ head -n 1 /proc/stat; sleep 0.5; head -n 1 /proc/stat; } |
			awk '{ idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i
			       if (NR == 1) { i0 = idle; t0 = total } else print int(100 * (1 - (idle - i0) / (total - t0))) }')
		[ "$busy" -ge 20 ] || return 0
	done
}
# sample PID FILE WHILE-PID: RssAnon (kB) of PID every 0.2 s while WHILE-PID lives
sample() {
	while kill -0 "$3" 2>/dev/null; do
		awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" >>"$2" 2>/dev/null || true
		sleep 0.2
	done
}
mb() { awk '{ m = ($1 > m ? $1 : m) } END { printf "%.1f", m / 1024 }' "$1"; }

# the same table in both databases, the source's rows copied by hand to the
# subscriber; keys KEYS-199..KEYS are missing (deleted by "transaction 0")
table_sql="CREATE TABLE wb (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)"
[ "$WAL_TOAST" != 1 ] || table_sql="$table_sql; ALTER TABLE wb ALTER pad SET STORAGE EXTERNAL"
setup_round() {
	q -d wb_sub -c "DROP TABLE IF EXISTS wb" -c "$table_sql"
	q <<SQL
SET client_min_messages = warning;
SELECT incr_drop_pipeline(name) FROM incr_pipelines WHERE name IN ('wb', 'wb_delay');
DROP TABLE IF EXISTS wb, wb_copy;
DROP PUBLICATION IF EXISTS wb_pub;
$table_sql;
CREATE TABLE wb_copy (id int PRIMARY KEY, v int, pad text);
INSERT INTO wb SELECT g, 0, repeat(md5(g::text), $pad_md5s) FROM generate_series(1, $KEYS - 200) g;
SQL
	q -c "COPY wb TO STDOUT" | q -d wb_sub -c "COPY wb FROM STDIN"
	q -c "SELECT name FROM incr_create_pipeline('wb', source => 'wb', target => 'wb_copy', mode => 'merge',
	          keys => ARRAY['id'], capture => 'wal'$([ "$WAL_BATCH" = 0 ] || echo ", batch_size => $WAL_BATCH"))" >/dev/null
	q -c "CALL incr_catch_up('wb')"
	q -c "CREATE PUBLICATION wb_pub FOR TABLE wb" \
		-c "SELECT 'slot ' || slot_name FROM pg_create_logical_replication_slot('wb_native', 'pgoutput')" >/dev/null
	q -d wb_sub -c "CREATE SUBSCRIPTION wb_sub CONNECTION 'dbname=wb_src host=$PGHOST port=$PGPORT user=$PGUSER'
	                PUBLICATION wb_pub WITH (create_slot = false, slot_name = 'wb_native', enabled = false, copy_data = false)"
}
teardown_round() {
	q -d wb_sub -c "ALTER SUBSCRIPTION wb_sub DISABLE" -c "ALTER SUBSCRIPTION wb_sub SET (slot_name = NONE)" \
		-c "DROP SUBSCRIPTION wb_sub"
	q -c "SELECT pg_drop_replication_slot('wb_native')" >/dev/null
}

# the changes: transaction t deletes the block of 200 keys at (t*200) mod
# KEYS, inserts back the block the previous one deleted, and updates the
# 600 keys after its own block
changes() {
	q <<SQL
CREATE OR REPLACE PROCEDURE wb_changes(xacts int, keys int) LANGUAGE plpgsql AS \$\$
DECLARE
    w int;
    prev int;
BEGIN
    FOR t IN 0..xacts - 1 LOOP
        w := (t * 200) % keys;
        prev := (w - 200 + keys) % keys;
        DELETE FROM wb WHERE id BETWEEN w + 1 AND w + 200;
        INSERT INTO wb SELECT g, t, repeat(md5((g + t)::text), $pad_md5s) FROM generate_series(prev + 1, prev + 200) g;
        UPDATE wb SET v = v + 1
        WHERE id BETWEEN w + 201 AND w + 800 OR id BETWEEN w + 201 - keys AND w + 800 - keys;
        COMMIT;
    END LOOP;
END \$\$;
CALL wb_changes($XACTS, $KEYS);
SQL
}

digest() { q -d "$1" -c "SELECT count(*) || ' ' || md5(string_agg(wb::text, ',' ORDER BY id)) FROM $2 wb"; }

incremental_side() {
	local r=$1 cpid bpid t0 t1
	wait_quiet
	first_run=$(q -c "SELECT coalesce(max(run_id), 0) + 1 FROM incr_runs")
	t0=$(date +%s%N)
	PGAPPNAME=wb_incremental psql -qX -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
		-c "CALL incr_catch_up('wb')" &
	cpid=$!
	for _ in $(seq 200); do
		bpid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'wb_incremental'")
		[ -z "$bpid" ] || break
		sleep 0.02
	done
	: >"$work/rss_incremental_$r"
	[ -z "$bpid" ] || sample "$bpid" "$work/rss_incremental_$r" "$cpid" &
	wait "$cpid"
	t1=$(date +%s%N)
	wait
	q -c "INSERT INTO wb_times VALUES ($r, 'incremental', ($t1 - $t0) / 1e6)"
}

# the native side: from ALTER SUBSCRIPTION ENABLE until the last transaction
# of the backlog is visible in the subscriber's table (commits are applied in
# order), and until the slot's confirmed_flush_lsn reaches the end of the
# changes (the subscriber reports its position about once a second, so this
# one is later by up to a second)
native_side() {
	local r=$1 end=$2 t0 t1 t2 apid='' last=$((XACTS - 1)) key
	key=$(((last * 200 % KEYS - 200 + KEYS) % KEYS + 1))
	wait_quiet
	t0=$(date +%s%N)
	q -d wb_sub -c "ALTER SUBSCRIPTION wb_sub ENABLE"
	: >"$work/rss_native_$r"
	while [ "$(q -d wb_sub -c "SELECT count(*) FROM wb WHERE id = $key AND v = $last")" != 1 ]; do
		[ -n "$apid" ] || apid=$(q -d wb_sub -c "SELECT pid FROM pg_stat_subscription WHERE subname = 'wb_sub' AND relid IS NULL")
		[ -z "$apid" ] || awk '/^RssAnon:/ { print $2 }' "/proc/$apid/status" >>"$work/rss_native_$r" 2>/dev/null || true
		sleep 0.02
	done
	t1=$(date +%s%N)
	while [ "$(q -c "SELECT coalesce(confirmed_flush_lsn >= '$end', false) FROM pg_replication_slots WHERE slot_name = 'wb_native'")" != t ]; do
		sleep 0.02
	done
	t2=$(date +%s%N)
	q -c "INSERT INTO wb_times VALUES ($r, 'native', ($t1 - $t0) / 1e6), ($r, 'native_confirmed', ($t2 - $t0) / 1e6)"
}

for ((r = 1; r <= ROUNDS; r++)); do
	setup_round
	t0=$SECONDS
	changes
	end=$(q -c "SELECT pg_current_wal_insert_lsn()")
	wal=$(q -c "SELECT pg_size_pretty(pg_wal_lsn_diff('$end', confirmed_flush_lsn)) FROM pg_replication_slots WHERE slot_name = 'wb_native'")
	echo "round $r: $CHANGES changes in $XACTS transactions committed in $((SECONDS - t0)) s ($wal of WAL)"
	q -c "CHECKPOINT"
	if ((r % 2)); then sides="incremental native"; else sides="native incremental"; fi
	for side in $sides; do
		if [ $side = incremental ]; then incremental_side "$r"; else native_side "$r" "$end"; fi
	done
	src=$(digest wb_src wb)
	[ "$(digest wb_src wb_copy)" = "$src" ] || { echo "bench/wal.sh: round $r: the pipeline's target differs from the source" >&2; exit 1; }
	[ "$(digest wb_sub wb)" = "$src" ] || { echo "bench/wal.sh: round $r: the subscriber's table differs from the source" >&2; exit 1; }
	echo "round $r: $(q -F ' ' -c "SELECT string_agg(side || ' ' || round(ms::numeric) || ' ms', ', ' ORDER BY side) FROM wb_times WHERE round = $r"); both targets equal the source"
	echo "round $r: the catch-up: $(q -c "SELECT count(*) || ' runs, ' || sum(rows_read) || ' changes read, '
	        || sum(rows_inserted) || ' inserted, ' || sum(rows_updated) || ' updated, ' || sum(rows_deleted) || ' deleted'
	        FROM incr_runs WHERE pipeline = 'wb' AND run_id >= $first_run")"
	teardown_round
done

result=$(q -F ' ' -c "
WITH m AS (SELECT side, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM wb_times GROUP BY side)
SELECT round(i.ms::numeric), round(n.ms::numeric), round((i.ms / n.ms)::numeric, 2), round(c.ms::numeric)
FROM m i, m n, m c WHERE i.side = 'incremental' AND n.side = 'native' AND c.side = 'native_confirmed'")
read -r inc nat ratio conf <<<"$result"
all=$(q -F ' ' -c "SELECT string_agg(side || ' ' || round(ms::numeric), ', ' ORDER BY round, side) FROM wb_times")
rss_inc=$(cat "$work"/rss_incremental_* | awk '{ m = ($1 > m ? $1 : m) } END { printf "%.1f", m / 1024 }')
rss_inc_last=$(awk '{ a[NR] = $1 } END { printf "%.1f", a[int(NR / 2) + 1] / 1024 }' "$work/rss_incremental_$ROUNDS")
rss_nat=$(cat "$work"/rss_native_* | awk '{ m = ($1 > m ? $1 : m) } END { printf "%.1f", m / 1024 }')
batch_text=$([ "$WAL_BATCH" = 0 ] && echo "one run" || echo "batch_size $WAL_BATCH, a commit per batch")
note "backlog: $CHANGES changes over $KEYS keys in $XACTS transactions (60% updates, 20% deletes, 20% inserts), committed before either side starts$([ "$WAL_TOAST" != 1 ] || echo "; WAL_TOAST=1: every update leaves a 2,240-byte out-of-line value unchanged")"
note "incremental: CALL incr_catch_up ($batch_text), median $inc ms; native: from enabling the subscription until the backlog's last transaction is visible in the subscriber, median $nat ms ($conf ms until its slot confirmed the end LSN); ratio $ratio (goal ≤ 1.0)"
note "every timing (ms, by round): $all"
note "memory: the catch-up's backend at most $rss_inc MB private memory (RssAnon; $rss_inc_last MB at the middle sample of the last round); the native apply worker at most $rss_nat MB"

# the end-to-end delay under a steady writer, scheduled every second
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE wd (id bigserial PRIMARY KEY, v int, created_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE wd_copy (id bigint PRIMARY KEY, v int, created_at timestamptz,
                      loaded_at timestamptz NOT NULL DEFAULT clock_timestamp());
SELECT name FROM incr_create_pipeline('wb_delay', source => 'wd', target => 'wd_copy', mode => 'merge',
    keys => ARRAY['id'], capture => 'wal', schedule => '1 second');
SQL
echo "INSERT INTO wd (v) VALUES (1);" >"$work/delay.sql"
chmod a+r "$work/delay.sql"
sleep 2
pgbench -n -c 1 -R "$DELAY_RATE" -T "$DELAY_SECONDS" -f "$work/delay.sql" >"$work/delay.out" 2>&1
for _ in $(seq 100); do
	[ "$(q -c "SELECT (SELECT count(*) FROM wd) = (SELECT count(*) FROM wd_copy)")" = t ] && break
	sleep 0.1
done
delay=$(q -F ' ' -c "
SELECT count(*), round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d) * 1000)::numeric),
       round((percentile_cont(0.95) WITHIN GROUP (ORDER BY d) * 1000)::numeric),
       round((max(d) * 1000)::numeric)
FROM (SELECT extract(epoch FROM c.loaded_at - s.created_at) AS d FROM wd s JOIN wd_copy c USING (id)) x")
read -r n d50 d95 dmax <<<"$delay"
missing=$(q -c "SELECT count(*) FROM wd s WHERE NOT EXISTS (SELECT 1 FROM wd_copy c WHERE c.id = s.id)")
note "delay with schedule => '1 second' (incremental.naptime 100ms) and a writer inserting $DELAY_RATE rows/s for $DELAY_SECONDS s: $n rows, from insert to written in the target median $d50 ms, p95 $d95 ms, max $dmax ms; $missing rows not loaded"

elapsed=$SECONDS
{
	echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(pg_config --version), $tree,"
	echo "with \`$bench_cmd\` ($ROUNDS rounds; the bench took $((elapsed / 60)) min $((elapsed % 60)) s):"
	echo
	echo "| backlog | incremental (median) | native logical replication (median) | ratio |"
	echo "|---|---|---|---|"
	echo "| $CHANGES changes, $KEYS keys | $inc ms | $nat ms | $ratio |"
	echo
	cat "$work/notes"
} >"$work/results"
echo
cat "$work/results"
[ "$WRITE_DOC" = 1 ] || exit 0
doc=doc/benchmarks.md
if grep -qx "<!-- bench:wal:begin -->" "$doc" && grep -qx "<!-- bench:wal:end -->" "$doc"; then
	awk -v f="$work/results" '
		$0 == "<!-- bench:wal:begin -->" { print; while ((getline line < f) > 0) print line; skip = 1; next }
		$0 == "<!-- bench:wal:end -->" { skip = 0 }
		!skip { print }' "$doc" >"$work/doc"
	cat "$work/doc" >"$doc"
	echo "results written to $doc"
else
	echo "bench/wal.sh: no bench:wal markers in $doc; not written" >&2
fi
