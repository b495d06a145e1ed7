#!/usr/bin/env bash
# bench/run.sh: time incremental against the hand-written SQL it replaces.
# Builds and installs the extension from a temporary copy of the repo, starts
# a throwaway cluster, runs each scenario for ROUNDS rounds (default 5),
# alternating which side goes first, and prints medians and ratios.  A run of
# all scenarios also rewrites the results in doc/benchmarks.md (between the
# bench:begin/end markers; WRITE_DOC=1 forces it, WRITE_DOC=0 prevents it).
#
#   bash bench/run.sh                                  all scenarios
#   ROUNDS=9 SCENARIOS="merge append" bash bench/run.sh
#
# Scenarios: merge append scaling empty cdc client catch_up pg_incremental.
# PG_INCREMENTAL_SRC names a checkout of pg_incremental for the last one
# (git clone https://github.com/crunchydata/pg_incremental, then git checkout
# v1.3.0): the bench builds and installs it into its own PostgreSQL; without
# it the scenario is skipped, saying so.  Other settings: BIG_ROWS (rows of
# the large source of scaling and catch_up, default 10000000), SCALING_REPS
# (timings per round of scaling, 3), EMPTY_REPS (runs per timing of empty,
# 200), QUIET_WAIT (seconds to wait for an idle machine before a timing, 30),
# BUSY_LIMIT (CPU percent above which a timing counts as disturbed, 75),
# BENCH_NO_BUILD=1 (use the installed extension as it is), BENCH_RAW=1 (also
# print every timing).  See doc/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

ALL_SCENARIOS="merge append scaling empty cdc client catch_up pg_incremental"

# The command as given, for the doc: the settings that were set, then the script.
bench_cmd="bash bench/run.sh"
for v in PG_INCREMENTAL_SRC BENCH_NO_BUILD WRITE_DOC BUSY_LIMIT QUIET_WAIT EMPTY_REPS SCALING_REPS BIG_ROWS SCENARIOS ROUNDS; do
	if [ -n "${!v+x}" ]; then
		if [[ ${!v} =~ ^[A-Za-z0-9_.-]+$ ]]; then
			bench_cmd="$v=${!v} $bench_cmd"
		else
			bench_cmd="$v=\"${!v}\" $bench_cmd"
		fi
	fi
done

ROUNDS=${ROUNDS:-5}
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
BIG_ROWS=${BIG_ROWS:-10000000}
for s in $SCENARIOS; do
	if [[ " $ALL_SCENARIOS " != *" $s "* ]]; then
		echo "bench/run.sh: unknown scenario \"$s\" (known: $ALL_SCENARIOS)" >&2
		exit 2
	fi
done
read -r -a chosen <<<"$SCENARIOS"
if [ "${chosen[*]}" = "$ALL_SCENARIOS" ]; then
	WRITE_DOC=${WRITE_DOC:-1}
else
	WRITE_DOC=${WRITE_DOC:-0}
fi

work=$(mktemp -d /tmp/incremental-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
	cluster_stop
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Build and install from a copy of the working tree (tracked files and new
# files not ignored), so the repo's own build products are left alone.  The
# library and the install script are also kept in $work/lib (see pin_library).
lib=$work/lib
# pgxs_install DIR: build and install the PGXS extension in DIR into the
# bench's PostgreSQL: the system's, or the private copy PG_PRIVATE names
# (whose pg_config has no headers beside it: build with the system's, then
# install under PG_PRIVATE, as scripts/cluster.sh's build_install does)
pgxs_install() {
	if [ -z "${PG_PRIVATE:-}" ]; then
		(cd "$1" && make -s COPT="${2:-}" >/dev/null && make -s install >/dev/null)
		return
	fi
	if [ ! -x "$PG_BIN/postgres" ]; then
		mkdir -p "$PG_PRIVATE/usr/lib/postgresql" "$PG_PRIVATE/usr/share/postgresql"
		cp -a /usr/lib/postgresql/15 "$PG_PRIVATE/usr/lib/postgresql/"
		cp -a /usr/share/postgresql/15 "$PG_PRIVATE/usr/share/postgresql/"
	fi
	(cd "$1" && make -s COPT="${2:-}" PG_CONFIG="$SYSTEM_PG_BIN/pg_config" >/dev/null &&
		make -s install PG_CONFIG="$SYSTEM_PG_BIN/pg_config" DESTDIR="$PG_PRIVATE" >/dev/null)
}
build_in_copy() {
	local dir=$work/build
	mkdir "$dir"
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				if [ -f "$f" ]; then printf '%s\0' "$f"; fi
			done |
			tar --null -T - -cf - | tar -C "$dir" -xf -
	else
		tar --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$dir" -xf -
	fi
	pgxs_install "$dir" -Werror
	cp "$dir/incremental.so" "$dir"/sql/incremental--*.sql "$lib/"
	rm -rf "$dir"
}

# Point the extension's functions at the private copy of the library in
# $work/lib, so that someone installing another build while the bench runs
# (make install rewrites the installed file in place) cannot change or break
# it.  Refuse to go on if the install script changed since our build.
pin_library() {
	local f
	for f in "$lib"/incremental--*.sql; do
		if ! cmp -s "$f" "$(pg_config --sharedir)/extension/${f##*/}"; then
			echo "bench/run.sh: ${f##*/} was reinstalled during the bench's setup; run it again" >&2
			exit 1
		fi
	done
	q -c "UPDATE pg_catalog.pg_proc SET probin = '$lib/incremental.so' WHERE probin = '\$libdir/incremental'"
}

# What was measured, for the doc
describe_tree() {
	if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		echo "a copy of the source tree"
	elif [ -z "$(git status --porcelain -- src sql Makefile incremental.control)" ]; then
		echo "commit $(git rev-parse --short HEAD)"
	else
		echo "commit $(git rev-parse --short HEAD) plus uncommitted changes to the sources"
	fi
}

if [ "$(id -u)" = 0 ]; then ensure_packages; fi
mkdir "$lib"
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	build_in_copy
	tree=$(describe_tree)
else
	cp "$(pg_config --pkglibdir)/incremental.so" "$(pg_config --sharedir)"/extension/incremental--*.sql "$lib/"
	tree="the installed build"
fi
cluster_start "shared_buffers = '1GB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
	"autovacuum = off" "synchronous_commit = off" >/dev/null

export PGDATABASE=bench
createdb bench

# q: one psql call, quiet, unaligned, stop on error
q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
# run_file FILE [psql args]: run a setup script, output discarded
run_file() { local f=$1; shift; psql -qX -v ON_ERROR_STOP=1 "$@" -f "$f" >/dev/null; }
# note LINE: print a line and keep it for the doc
note() { echo "$*"; echo "- $*" >>"$work/notes"; }

q <<'SQL'
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
-- Run stmt once untimed, then reps times, each in its own transaction, and
-- return the mean milliseconds per execution.  $1 in stmt is arg.
CREATE PROCEDURE bench_repeat(stmt text, reps int, arg anyelement, INOUT ms float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
BEGIN
    EXECUTE stmt USING arg;
    COMMIT;
    t0 := clock_timestamp();
    FOR i IN 1..reps LOOP
        EXECUTE stmt USING arg;
        COMMIT;
    END LOOP;
    ms := extract(epoch FROM clock_timestamp() - t0) * 1000 / reps;
END $$;
-- busy: how busy all CPUs of the machine were during the timing, percent
CREATE TABLE bench_results (scenario text, side text, round int, ms float8, busy int);
SQL
pin_library

# wait_quiet: before a timing, wait (up to QUIET_WAIT seconds, default 30)
# until the machine's CPUs are less than 20% busy over half a second, so that
# neither other work on the machine nor the writeback of the previous side
# lands in a timing.  Counts waits in $work/quiet: "waited seconds busy".
QUIET_WAIT=${QUIET_WAIT:-30}
wait_quiet() {
	local start=$SECONDS busy
	while :; do
		busy=$({ head -n 1 /proc/stat; sleep 0.5; head -n 1 /proc/stat; } |
			awk '{ idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i
			       if (NR == 1) { i0 = idle; t0 = total } else print int(100 * (1 - (idle - i0) / (total - t0))) }')
		[ "$busy" -ge 20 ] || break
		if ((SECONDS - start >= QUIET_WAIT)); then
			echo "$((SECONDS - start)) 1" >>"$work/quiet"
			return 0
		fi
		sleep 0.5
	done
	echo "$((SECONDS - start)) 0" >>"$work/quiet"
}

# cpu_mark: "idle total" jiffies of all CPUs so far (/proc/stat)
cpu_mark() { awk 'NR == 1 { t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t; exit }' /proc/stat; }
# cpu_busy MARK0 MARK1: percent of all CPUs busy between two marks
cpu_busy() { echo "$1 $2" | awk '{ d = $4 - $2; print (d > 0 ? int(100 * (1 - ($3 - $1) / d)) : 0) }'; }

# record SCENARIO SIDE ROUND MS [BUSY]: keep one timing (MS may be an SQL expression)
record() {
	q -c "INSERT INTO bench_results VALUES ('$1', '$2', $3, $4, ${5:-NULL})"
}

# time_side SCENARIO SIDE ROUND SQL-ARRAY-LITERAL: time the statements with
# bench_time in a new session, as a cron job would run them
time_side() {
	local m0 ms
	wait_quiet
	m0=$(cpu_mark)
	ms=$(q -c "SELECT bench_time($4)")
	record "$1" "$2" "$3" "$ms" "$(cpu_busy "$m0" "$(cpu_mark)")"
}

# time_repeat SCENARIO SIDE ROUND STMT REPS ARG: time STMT with bench_repeat
time_repeat() {
	local m0 ms
	wait_quiet
	m0=$(cpu_mark)
	ms=$(q -c "CALL bench_repeat($4, $5, $6)")
	record "$1" "$2" "$3" "$ms" "$(cpu_busy "$m0" "$(cpu_mark)")"
}

# time_shell SCENARIO SIDE ROUND COMMAND...: time a shell command by the wall clock
time_shell() {
	local scenario=$1 side=$2 round=$3 m0 t0 t1
	shift 3
	wait_quiet
	m0=$(cpu_mark)
	t0=$(date +%s%N)
	"$@"
	t1=$(date +%s%N)
	record "$scenario" "$side" "$round" "($t1 - $t0) / 1e6" "$(cpu_busy "$m0" "$(cpu_mark)")"
}

# rotate N A B C...: the arguments rotated by N places, one a line, so each side goes first in turn
rotate() {
	local n=$1; shift
	local arr=("$@") k=$# i
	for ((i = 0; i < k; i++)); do echo "${arr[$(((i + n) % k))]}"; done
}

# the large source shared by scaling and catch_up, generated once per bench
ensure_big_source() {
	[ "$(q -c "SELECT to_regclass('big_src') IS NOT NULL")" = t ] && return 0
	local t0=$SECONDS
	run_file bench/source.sql -v src=big_src -v rows="$BIG_ROWS"
	echo "big_src: $BIG_ROWS rows generated in $((SECONDS - t0)) s"
}

# 1. merge: 100,000 changed rows into 1,000,000
scenario_merge() {
	run_file bench/merge.sql
	local cols="customer = EXCLUDED.customer, status = EXCLUDED.status, amount = EXCLUDED.amount, note = EXCLUDED.note, updated_at = EXCLUDED.updated_at"
	local mcols="customer = s.customer, status = s.status, amount = s.amount, note = s.note, updated_at = s.updated_at"
	local distinct="(t.customer, t.status, t.amount, t.note, t.updated_at) IS DISTINCT FROM"
	local r side
	declare -A sql
	sql[incremental]="ARRAY[\$\$SELECT incr_run('bm')\$\$]"
	local upsert="INSERT INTO bm_upsert AS t SELECT s.* FROM bm_src s WHERE s.updated_at > (SELECT last_value FROM bm_watermark WHERE name = 'upsert') ON CONFLICT (id) DO UPDATE SET $cols WHERE $distinct (EXCLUDED.customer, EXCLUDED.status, EXCLUDED.amount, EXCLUDED.note, EXCLUDED.updated_at)"
	sql[insert_on_conflict]="ARRAY[\$\$$upsert\$\$, \$\$UPDATE bm_watermark SET last_value = (SELECT max(updated_at) FROM bm_src) WHERE name = 'upsert'\$\$]"
	sql[merge]="ARRAY[\$\$MERGE INTO bm_merge t USING (SELECT * FROM bm_src WHERE updated_at > (SELECT last_value FROM bm_watermark WHERE name = 'merge')) s ON t.id = s.id WHEN MATCHED AND $distinct (s.customer, s.status, s.amount, s.note, s.updated_at) THEN UPDATE SET $mcols WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.customer, s.status, s.amount, s.note, s.updated_at)\$\$, \$\$UPDATE bm_watermark SET last_value = (SELECT max(updated_at) FROM bm_src) WHERE name = 'merge'\$\$]"
	for ((r = 1; r <= ROUNDS; r++)); do
		run_file bench/merge_round.sql -v round="$r"
		q -c "CHECKPOINT"
		for side in $(rotate "$r" incremental insert_on_conflict merge); do
			time_side merge "$side" "$r" "${sql[$side]}"
		done
		q -c "VACUUM bm_inc, bm_upsert, bm_merge"
	done
	# all three targets must equal the source
	note "$(q <<'SQL'
SELECT CASE WHEN (SELECT count(*) FROM (SELECT * FROM bm_src EXCEPT ALL SELECT * FROM bm_inc) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM bm_inc EXCEPT ALL SELECT * FROM bm_src) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM bm_src EXCEPT ALL SELECT * FROM bm_upsert) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM bm_src EXCEPT ALL SELECT * FROM bm_merge) d) = 0
        THEN 'merge: all three targets equal the source'
        ELSE 'merge: TARGETS DIFFER' END;
SQL
)"
	note "$(q -c "SELECT 'merge: the last incr_run read ' || rows_read || ' rows, updated ' || rows_updated
       || ', unchanged ' || rows_unchanged
FROM incr_runs WHERE pipeline = 'bm' ORDER BY run_id DESC LIMIT 1")"
	# the plans of one more round, each side rolled back
	run_file bench/merge_round.sql -v round=$((ROUNDS + 1))
	{
		echo "incremental, the generated statement (incr_plan('bm')):"
		psql -qX -v pl=bm -f bench/explain.sql
		echo
		echo "insert_on_conflict:"
		q -c "BEGIN" -c "EXPLAIN (ANALYZE, BUFFERS) $upsert" -c "ROLLBACK"
	} >"$work/plan_merge"
	q -c "DROP TABLE bm_src, bm_inc, bm_upsert, bm_merge, bm_watermark" -c "SELECT incr_drop_pipeline('bm')" >/dev/null
}

# 2. append: 1,000,000 new rows into empty targets
scenario_append() {
	run_file bench/source.sql -v src=ap_src -v rows=1000000
	local t
	for t in ap_ref ap_upsert ap_keys ap_nokeys; do
		run_file bench/target.sql -v src=ap_src -v tgt="$t" -v fill=false
	done
	q >/dev/null <<'SQL'
CREATE TABLE ap_watermark (name text PRIMARY KEY, last_value timestamptz NOT NULL);
INSERT INTO ap_watermark VALUES ('ref', '-infinity'), ('upsert', '-infinity');
SELECT name FROM incr_create_pipeline('ap_keys', 'ap_src', 'ap_keys', 'updated_at',
    mode => 'append', keys => ARRAY['id']);
SELECT name FROM incr_create_pipeline('ap_nokeys', 'ap_src', 'ap_nokeys', 'updated_at',
    mode => 'append');
SQL
	declare -A sql
	sql[incremental:keys]="ARRAY[\$\$SELECT incr_run('ap_keys')\$\$]"
	sql[incremental:no keys]="ARRAY[\$\$SELECT incr_run('ap_nokeys')\$\$]"
	sql[insert_select]="ARRAY[\$\$INSERT INTO ap_ref SELECT * FROM ap_src WHERE updated_at > (SELECT last_value FROM ap_watermark WHERE name = 'ref')\$\$, \$\$UPDATE ap_watermark SET last_value = (SELECT max(updated_at) FROM ap_src) WHERE name = 'ref'\$\$]"
	sql[insert_on_conflict]="ARRAY[\$\$INSERT INTO ap_upsert SELECT * FROM ap_src WHERE updated_at > (SELECT last_value FROM ap_watermark WHERE name = 'upsert') ON CONFLICT (id) DO NOTHING\$\$, \$\$UPDATE ap_watermark SET last_value = (SELECT max(updated_at) FROM ap_src) WHERE name = 'upsert'\$\$]"
	local order side r
	for ((r = 1; r <= ROUNDS; r++)); do
		q -c "TRUNCATE ap_ref, ap_upsert, ap_keys, ap_nokeys" -c "UPDATE ap_watermark SET last_value = '-infinity'" \
			-c "SELECT incr_reset('ap_keys'), incr_reset('ap_nokeys')" -c "CHECKPOINT" >/dev/null
		mapfile -t order < <(rotate "$r" "incremental:keys" "incremental:no keys" insert_select insert_on_conflict)
		for side in "${order[@]}"; do
			time_side append "$side" "$r" "${sql[$side]}"
		done
	done
	note "$(q <<'SQL'
SELECT CASE WHEN (SELECT count(*) FROM (SELECT * FROM ap_src EXCEPT ALL SELECT * FROM ap_ref) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM ap_src EXCEPT ALL SELECT * FROM ap_upsert) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM ap_src EXCEPT ALL SELECT * FROM ap_keys) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM ap_src EXCEPT ALL SELECT * FROM ap_nokeys) d) = 0
             AND (SELECT count(*) FROM ap_ref) = 1000000 AND (SELECT count(*) FROM ap_upsert) = 1000000
             AND (SELECT count(*) FROM ap_keys) = 1000000
             AND (SELECT count(*) FROM ap_nokeys) = 1000000
        THEN 'append: all four targets equal the source (1,000,000 rows each)'
        ELSE 'append: TARGETS DIFFER' END;
SQL
)"
	note "$(q -c "SELECT 'append: the last runs inserted ' || string_agg(pipeline || ' ' || rows_inserted, ', ' ORDER BY pipeline)
FROM (SELECT DISTINCT ON (pipeline) * FROM incr_runs WHERE pipeline LIKE 'ap%' ORDER BY pipeline, run_id DESC) r")"
	# the generated statements and the reference, on the first round's data
	q -c "TRUNCATE ap_ref, ap_upsert, ap_keys, ap_nokeys" -c "UPDATE ap_watermark SET last_value = '-infinity'" \
		-c "SELECT incr_reset('ap_keys'), incr_reset('ap_nokeys')" -c "CHECKPOINT" >/dev/null
	{
		echo "incremental:keys, the generated statement (incr_plan('ap_keys')):"
		psql -qX -v pl=ap_keys -f bench/explain.sql
		echo
		echo "incremental:no keys (incr_plan('ap_nokeys')):"
		psql -qX -v pl=ap_nokeys -f bench/explain.sql
		echo
		echo "insert_select, the reference's INSERT:"
		q -c "BEGIN" -c "EXPLAIN (ANALYZE, BUFFERS) INSERT INTO ap_ref SELECT * FROM ap_src WHERE updated_at > (SELECT last_value FROM ap_watermark WHERE name = 'ref')" -c "ROLLBACK"
		echo
		echo "insert_on_conflict, the reference's INSERT:"
		q -c "BEGIN" -c "EXPLAIN (ANALYZE, BUFFERS) INSERT INTO ap_upsert SELECT * FROM ap_src WHERE updated_at > (SELECT last_value FROM ap_watermark WHERE name = 'upsert') ON CONFLICT (id) DO NOTHING" -c "ROLLBACK"
	} >"$work/plan_append"
	q -c "DROP TABLE ap_src, ap_ref, ap_upsert, ap_keys, ap_nokeys, ap_watermark" \
		-c "SELECT incr_drop_pipeline('ap_keys'), incr_drop_pipeline('ap_nokeys')" >/dev/null
}

# 3. scaling: the same 1,000-row change on a BIG_ROWS-row and a 1,000,000-row source
SCALING_REPS=${SCALING_REPS:-3}
scenario_scaling() {
	ensure_big_source
	run_file bench/source.sql -v src=sc_src -v rows=1000000
	run_file bench/target.sql -v src=big_src -v tgt=sc_big_t -v fill=true
	run_file bench/target.sql -v src=sc_src -v tgt=sc_t -v fill=true
	q >/dev/null <<'SQL'
SELECT name FROM incr_create_pipeline('sc_big', 'big_src', 'sc_big_t', 'updated_at',
    mode => 'merge', keys => ARRAY['id']);
SELECT name FROM incr_create_pipeline('sc_small', 'sc_src', 'sc_t', 'updated_at',
    mode => 'merge', keys => ARRAY['id']);
SELECT incr_reset('sc_big', (SELECT max(updated_at) FROM big_src)::text);
SELECT incr_reset('sc_small', (SELECT max(updated_at) FROM sc_src)::text);
SQL
	local n=0 side r k
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((k = 1; k <= SCALING_REPS; k++)); do
			n=$((n + 1))
			run_file bench/change.sql -v src=big_src -v rows="$BIG_ROWS" -v step=$((BIG_ROWS / 1000)) -v round=$n
			run_file bench/change.sql -v src=sc_src -v rows=1000000 -v step=1000 -v round=$n
			q -c "CHECKPOINT"
			for side in $(rotate "$n" incremental incr_run_1M_rows); do
				case $side in
				incremental) time_side scaling incremental "$n" "ARRAY[\$\$SELECT incr_run('sc_big')\$\$]" ;;
				*) time_side scaling "$side" "$n" "ARRAY[\$\$SELECT incr_run('sc_small')\$\$]" ;;
				esac
			done
		done
	done
	note "$(q -c "SELECT 'scaling: ' || count(*) || ' runs, ' || count(*) FILTER (WHERE rows_updated = 1000)
       || ' of them updated exactly 1,000 rows'
FROM incr_runs WHERE pipeline IN ('sc_big', 'sc_small') AND rows_read > 1")"
	# the plan of one more run of each
	n=$((n + 1))
	run_file bench/change.sql -v src=big_src -v rows="$BIG_ROWS" -v step=$((BIG_ROWS / 1000)) -v round=$n
	run_file bench/change.sql -v src=sc_src -v rows=1000000 -v step=1000 -v round=$n
	{
		echo "incr_plan('sc_big') on the $(q -c "SELECT to_char($BIG_ROWS, 'FM999,999,999,999')")-row source:"
		psql -qX -v pl=sc_big -f bench/explain.sql
		echo
		echo "incr_plan('sc_small') on the 1,000,000-row source:"
		psql -qX -v pl=sc_small -f bench/explain.sql
	} >"$work/plan_scaling"
	q -c "DROP TABLE sc_src, sc_t, sc_big_t" \
		-c "SELECT incr_drop_pipeline('sc_big'), incr_drop_pipeline('sc_small')" >/dev/null
}

# 4. empty: a run when nothing is new, EMPTY_REPS runs timed together
EMPTY_REPS=${EMPTY_REPS:-200}
scenario_empty() {
	run_file bench/source.sql -v src=em_src -v rows=1000000
	run_file bench/target.sql -v src=em_src -v tgt=em_t -v fill=true
	q >/dev/null <<'SQL'
SELECT name FROM incr_create_pipeline('em', 'em_src', 'em_t', 'updated_at',
    mode => 'merge', keys => ARRAY['id']);
SELECT incr_reset('em', (SELECT max(updated_at) FROM em_src)::text);
SQL
	local cp side r
	cp=$(q -c "SELECT max(updated_at) FROM em_src")
	for ((r = 1; r <= ROUNDS; r++)); do
		for side in $(rotate "$r" incremental select_max); do
			case $side in
			incremental) time_repeat empty incremental "$r" "\$\$SELECT incr_run('em')\$\$" "$EMPTY_REPS" "NULL::timestamptz" ;;
			*) time_repeat empty "$side" "$r" "'SELECT max(updated_at) FROM em_src WHERE updated_at > \$1'" "$EMPTY_REPS" "'$cp'::timestamptz" ;;
			esac
		done
	done
	note "$(q -c "SELECT 'empty: ' || count(*) || ' runs, each read ' || string_agg(DISTINCT rows_read::text, ', ')
       || ' row (the checkpoint''s own, re-read for ties) and wrote ' || sum(rows_inserted + rows_updated)
FROM incr_runs WHERE pipeline = 'em'")"
	q -c "DROP TABLE em_src, em_t" -c "SELECT incr_drop_pipeline('em')" >/dev/null
}

# 5. cdc: 100,000 Debezium events over 10,000 keys into empty targets, against
# what a user would write: DISTINCT ON the last event per key, INSERT ... ON
# CONFLICT of the after images (jsonb_populate_record), DELETE of the deleted
# keys, and a watermark update
scenario_cdc() {
	run_file bench/cdc.sql
	local r side
	declare -A sql
	sql[incremental]="ARRAY[\$\$SELECT incr_run('cdc')\$\$]"
	sql[distinct_on_upsert_delete]="ARRAY[\$\$
WITH last AS (
    SELECT DISTINCT ON (id) id, op, after
    FROM (SELECT e.seq, e.payload->'payload'->>'op' AS op, e.payload->'payload'->'after' AS after,
                 (coalesce(e.payload->'payload'->'after', e.payload->'payload'->'before')->>'id')::int AS id
          FROM cdc_events e WHERE e.seq > (SELECT last_seq FROM cdc_watermark)) x
    ORDER BY id, seq DESC),
up AS (
    INSERT INTO cdc_ref SELECT (jsonb_populate_record(NULL::cdc_ref, after)).* FROM last WHERE op <> 'd'
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, tier = EXCLUDED.tier,
        balance = EXCLUDED.balance, updated = EXCLUDED.updated
    WHERE (cdc_ref.name, cdc_ref.tier, cdc_ref.balance, cdc_ref.updated)
          IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.tier, EXCLUDED.balance, EXCLUDED.updated)
    RETURNING 1)
DELETE FROM cdc_ref USING last WHERE last.op = 'd' AND cdc_ref.id = last.id\$\$,
\$\$UPDATE cdc_watermark SET last_seq = (SELECT max(seq) FROM cdc_events)\$\$]"
	for ((r = 1; r <= ROUNDS; r++)); do
		q -c "TRUNCATE cdc_inc, cdc_ref" -c "UPDATE cdc_watermark SET last_seq = 0" -c "SELECT incr_reset('cdc')" >/dev/null
		q -c "VACUUM ANALYZE cdc_events, cdc_inc, cdc_ref" -c "CHECKPOINT" >/dev/null
		for side in $(rotate "$r" incremental distinct_on_upsert_delete); do
			time_side cdc "$side" "$r" "${sql[$side]}"
		done
	done
	note "$(q -c "SELECT CASE WHEN (SELECT count(*) FROM (SELECT * FROM cdc_inc EXCEPT ALL SELECT * FROM cdc_ref) d) = 0
                     AND (SELECT count(*) FROM (SELECT * FROM cdc_ref EXCEPT ALL SELECT * FROM cdc_inc) d) = 0
                THEN 'cdc: both targets are equal (' || (SELECT count(*) FROM cdc_inc) || ' rows)'
                ELSE 'cdc: TARGETS DIFFER' END")"
	note "$(q -c "SELECT 'cdc: the last incr_run read ' || rows_read || ' events, inserted ' || rows_inserted
       || ', deleted ' || rows_deleted FROM incr_runs WHERE pipeline = 'cdc' ORDER BY run_id DESC LIMIT 1")"
	q -c "SELECT incr_drop_pipeline('cdc')" -c "DROP TABLE cdc_events, cdc_inc, cdc_ref, cdc_watermark" >/dev/null
}

# 6. client: the hand-written client-side job with psql vs psql -c "SELECT incr_run(...)"
# client_job FILE: what a user's cron script does: read the checkpoint, copy the
# new rows out to a file, copy them into a staging table, MERGE, move the checkpoint
# (the times of its steps go to $work/client_steps: read, copy out, then psql's
# \timing of TRUNCATE, copy in, MERGE, UPDATE)
client_job() {
	local f=$1 cp t0 t1 t2
	t0=$(date +%s%N)
	cp=$(psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT last_value FROM cl_checkpoint WHERE pipeline = 'cl'")
	t1=$(date +%s%N)
	psql -Xq -v ON_ERROR_STOP=1 -c "\\copy (SELECT * FROM cl_src WHERE updated_at > '$cp') TO '$f'"
	t2=$(date +%s%N)
	echo "$(((t1 - t0) / 1000)) $(((t2 - t1) / 1000))" >"$work/client_times"
	psql -Xq -v ON_ERROR_STOP=1 -1 -f - >>"$work/client_times" <<SQL
\\timing on
TRUNCATE cl_staging;
\\copy cl_staging FROM '$f'
MERGE INTO cl_client t USING cl_staging s ON t.id = s.id
WHEN MATCHED AND (t.customer, t.status, t.amount, t.note, t.updated_at)
                 IS DISTINCT FROM (s.customer, s.status, s.amount, s.note, s.updated_at)
  THEN UPDATE SET customer = s.customer, status = s.status, amount = s.amount,
                  note = s.note, updated_at = s.updated_at
WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.customer, s.status, s.amount, s.note, s.updated_at);
UPDATE cl_checkpoint SET last_value = COALESCE((SELECT max(updated_at) FROM cl_staging), last_value)
WHERE pipeline = 'cl';
SQL
}

scenario_client() {
	run_file bench/source.sql -v src=cl_src -v rows=1000000
	run_file bench/target.sql -v src=cl_src -v tgt=cl_inc -v fill=true
	run_file bench/target.sql -v src=cl_src -v tgt=cl_client -v fill=true
	q >/dev/null <<'SQL'
CREATE TABLE cl_staging (LIKE cl_src);
CREATE TABLE cl_checkpoint (pipeline text PRIMARY KEY, last_value timestamptz NOT NULL);
INSERT INTO cl_checkpoint SELECT 'cl', max(updated_at) FROM cl_src;
SELECT name FROM incr_create_pipeline('cl', 'cl_src', 'cl_inc', 'updated_at',
    mode => 'merge', keys => ARRAY['id']);
SELECT incr_reset('cl', (SELECT max(updated_at) FROM cl_src)::text);
SQL
	local f=$work/client.copy side r
	for ((r = 1; r <= ROUNDS; r++)); do
		run_file bench/change.sql -v src=cl_src -v rows=1000000 -v step=10 -v round="$r"
		q -c "VACUUM ANALYZE cl_src" -c "CHECKPOINT"
		for side in $(rotate "$r" incremental psql_copy_merge); do
			case $side in
			incremental) time_shell client incremental "$r" psql -XAtq -o /dev/null -c "SELECT incr_run('cl')" ;;
			*) time_shell client "$side" "$r" client_job "$f" ;;
			esac
			if [ "$side" = psql_copy_merge ]; then
				awk -v r="$r" 'NR == 1 { read = $1 / 1000; out = $2 / 1000; next }
				     /^Time:/ { t[++n] = $2 }
				     END { printf "INSERT INTO bench_results VALUES (\x27client_steps\x27, \x271 read the checkpoint\x27, %d, %f), (\x27client_steps\x27, \x272 copy out\x27, %d, %f), (\x27client_steps\x27, \x273 truncate staging\x27, %d, %f), (\x27client_steps\x27, \x274 copy in\x27, %d, %f), (\x27client_steps\x27, \x275 MERGE\x27, %d, %f), (\x27client_steps\x27, \x276 update the checkpoint\x27, %d, %f)\n", r, read, r, out, r, t[1], r, t[2], r, t[3], r, t[4] }' \
					"$work/client_times" | q
			fi
		done
		q -c "VACUUM cl_inc, cl_client"
	done
	note "$(q <<'SQL'
SELECT CASE WHEN (SELECT count(*) FROM (SELECT * FROM cl_src EXCEPT ALL SELECT * FROM cl_inc) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM cl_src EXCEPT ALL SELECT * FROM cl_client) d) = 0
             AND (SELECT count(*) FROM cl_inc) = 1000000 AND (SELECT count(*) FROM cl_client) = 1000000
        THEN 'client: both targets equal the source'
        ELSE 'client: TARGETS DIFFER' END;
SQL
)"
	note "$(q -c "SELECT 'client: the hand-written job''s steps (medians, psql''s \\timing inside its sessions): '
       || string_agg(substr(side, 3) || ' ' || round(m::numeric, 1) || ' ms', ', ' ORDER BY side)
FROM (SELECT side, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS m
      FROM bench_results WHERE scenario = 'client_steps' GROUP BY side) s")"
	note "$(q -c "SELECT 'client: incr_run itself (finished_at - started_at in incr_runs) took '
       || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at) * 1000)::numeric, 1)
       || ' ms (median); the rest of the incremental side is starting psql and its session'
FROM incr_runs WHERE pipeline = 'cl' AND rows_read > 1")"
	note "client: the last round copied $(wc -l <"$f") rows through a file in COPY's text format ($(($(stat -c %s "$f") / 1024)) KiB)"
	q -c "DROP TABLE cl_src, cl_inc, cl_client, cl_staging, cl_checkpoint" -c "SELECT incr_drop_pipeline('cl')" >/dev/null
}

# 7. catch_up: CALL incr_catch_up over BIG_ROWS rows in batches of 100,000
# run_sampled SIDE SQL: run SQL in a new session, sample its backend's memory
# every 0.5 s into $work/rss_SIDE (kB: VmHWM VmRSS RssAnon RssShmem), record the time
run_sampled() {
	local side=$1 stmt=$2 cpid bpid='' m0 t0 t1 i
	wait_quiet
	m0=$(cpu_mark)
	t0=$(date +%s%N)
	PGAPPNAME=bench_$side psql -qX -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "$stmt" &
	cpid=$!
	for ((i = 0; i < 200; i++)); do
		bpid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_$side'")
		[ -z "$bpid" ] || break
		sleep 0.05
	done
	: >"$work/rss_$side"
	while kill -0 "$cpid" 2>/dev/null; do
		if [ -n "$bpid" ] && [ -r "/proc/$bpid/status" ]; then
			awk '/^(VmHWM|VmRSS|RssAnon|RssShmem):/ { v[$1] = $2 }
			     END { if (v["VmRSS:"] != "") print v["VmHWM:"], v["VmRSS:"], v["RssAnon:"], v["RssShmem:"] }' \
				"/proc/$bpid/status" >>"$work/rss_$side" 2>/dev/null || true
		fi
		sleep 0.5
	done
	wait "$cpid"
	t1=$(date +%s%N)
	record catch_up "$side" 1 "($t1 - $t0) / 1e6" "$(cpu_busy "$m0" "$(cpu_mark)")"
}

# rss_summary SIDE: one line on the memory samples of run_sampled
rss_summary() {
	awk 'function mb(k) { return sprintf("%.1f MB", k / 1024) }
	     { n++; hwm = ($1 > hwm ? $1 : hwm); a[n] = $3 }
	     END {
	       if (n == 0) { print "no memory samples"; exit }
	       for (i = 1; i <= n; i++) {
	         if (i <= n / 2) first = (a[i] > first ? a[i] : first); else second = (a[i] > second ? a[i] : second)
	       }
	       printf "%d samples; private memory (RssAnon) at most %s in the first half of the run, %s in the second, %s at the last sample; VmHWM %s (it counts the shared_buffers pages the backend touched)",
	         n, mb(first), mb(second), mb(a[n]), mb(hwm)
	     }' "$work/rss_$1"
}

scenario_catch_up() {
	ensure_big_source
	run_file bench/target.sql -v src=big_src -v tgt=cu_inc -v fill=false
	run_file bench/target.sql -v src=big_src -v tgt=cu_ref -v fill=false
	q >/dev/null <<'SQL'
CREATE TABLE cu_watermark (last_value timestamptz NOT NULL);
INSERT INTO cu_watermark VALUES ('-infinity');
SELECT name FROM incr_create_pipeline('cu', 'big_src', 'cu_inc', 'updated_at',
    mode => 'append', keys => ARRAY['id'], batch_size => 100000);
SELECT count(*) FROM big_src;
CHECKPOINT;
SQL
	run_sampled incremental "CALL incr_catch_up('cu')"
	q -c "CHECKPOINT"
	run_sampled insert_select "INSERT INTO cu_ref SELECT * FROM big_src WHERE updated_at > (SELECT last_value FROM cu_watermark); UPDATE cu_watermark SET last_value = (SELECT max(updated_at) FROM big_src)"
	note "$(q -c "SELECT 'catch_up: incr_catch_up loaded ' || to_char(sum(r.rows_inserted), 'FM999,999,999') || ' rows in '
       || count(*) FILTER (WHERE r.rows_read > 1) || ' batches, '
       || to_char(sum(r.rows_inserted) / (b.ms / 1000), 'FM999,999,999') || ' rows/s ('
       || to_char(sum(r.rows_inserted) / (i.ms / 1000), 'FM999,999,999') || ' rows/s for the one INSERT)'
FROM incr_runs r, bench_results b, bench_results i
WHERE r.pipeline = 'cu' AND b.scenario = 'catch_up' AND b.side = 'incremental'
  AND i.scenario = 'catch_up' AND i.side = 'insert_select'
GROUP BY b.ms, i.ms")"
	note "catch_up: the backend running CALL incr_catch_up: $(rss_summary incremental)"
	note "catch_up: the backend running the one INSERT: $(rss_summary insert_select)"
	q -c "DROP TABLE cu_inc, cu_ref, cu_watermark" -c "SELECT incr_drop_pipeline('cu')" >/dev/null
}

# 8. pg_incremental: 100,000 new rows of a 1,000,000-row events table (bigint
# identity key as cursor), incr_run of an append pipeline with keys and one
# without, against pg_incremental's sequence pipeline (CALL
# incremental.execute_pipeline) and the plain INSERT ... SELECT of the same
# range.  pg_incremental's extension creates a schema named incremental, so it
# lives in its own database of the same cluster (database pgi); 1.3 needs
# pg_cron only to schedule, and its pipeline here is created with schedule
# NULL.  Built from PG_INCREMENTAL_SRC; skipped, saying so, without it.
EVENT_ROWS=1000000
EVENT_NEW=100000
scenario_pg_incremental() {
	local src=${PG_INCREMENTAL_SRC:-}
	if [ -z "$src" ] || [ ! -f "$src/pg_incremental.control" ]; then
		note "pg_incremental: SKIPPED: PG_INCREMENTAL_SRC ${src:+($src) }does not name a checkout of pg_incremental (git clone https://github.com/crunchydata/pg_incremental; git -C pg_incremental checkout v1.3.0; then PG_INCREMENTAL_SRC=\$PWD/pg_incremental bash bench/run.sh)"
		return 0
	fi
	rm -rf "$work/pgi-build"
	cp -a "$src" "$work/pgi-build"
	rm -rf "$work/pgi-build/.git"
	(cd "$work/pgi-build" && make -s clean >/dev/null 2>&1 || true)
	pgxs_install "$work/pgi-build"
	local version
	version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$work/pgi-build/pg_incremental.control")
	rm -rf "$work/pgi-build"
	createdb pgi
	q -d pgi >/dev/null <<'SQL'
CREATE EXTENSION pg_incremental;
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
SQL
	run_file bench/events.sql -d pgi -v src=events -v tgt=ev_pgi -v rows=$EVENT_ROWS
	run_file bench/events.sql -v src=events -v tgt=ev_keys -v rows=$EVENT_ROWS
	q -c "CREATE TABLE ev_nokeys (LIKE events) WITH (autovacuum_enabled = off)" \
		-c "ALTER TABLE ev_nokeys ADD PRIMARY KEY (id)" \
		-c "CREATE TABLE ev_ref (LIKE events) WITH (autovacuum_enabled = off)" \
		-c "ALTER TABLE ev_ref ADD PRIMARY KEY (id)" >/dev/null
	# the first load of each, untimed: pg_incremental's at the pipeline's creation
	q -d pgi -c "SET client_min_messages = warning" -c "SELECT incremental.create_sequence_pipeline('ev', 'events',
  \$\$INSERT INTO ev_pgi SELECT * FROM events WHERE id BETWEEN \$1 AND \$2\$\$, schedule := NULL)" >/dev/null
	q >/dev/null <<'SQL'
CREATE TABLE ev_watermark (last_value bigint NOT NULL);
INSERT INTO ev_watermark VALUES (0);
SELECT name FROM incr_create_pipeline('ev_keys', 'events', 'ev_keys', 'id',
    mode => 'append', keys => ARRAY['id']);
SELECT name FROM incr_create_pipeline('ev_nokeys', 'events', 'ev_nokeys', 'id',
    mode => 'append');
SELECT rows_inserted FROM incr_run('ev_keys');
SELECT rows_inserted FROM incr_run('ev_nokeys');
INSERT INTO ev_ref SELECT * FROM events;
UPDATE ev_watermark SET last_value = (SELECT max(id) FROM events);
SQL
	declare -A sql
	sql[incremental:keys]="ARRAY[\$\$SELECT incr_run('ev_keys')\$\$]"
	sql[incremental:no keys]="ARRAY[\$\$SELECT incr_run('ev_nokeys')\$\$]"
	sql[pg_incremental]="ARRAY[\$\$SET client_min_messages = warning\$\$, \$\$CALL incremental.execute_pipeline('ev')\$\$]"
	sql[insert_select]="ARRAY[\$\$INSERT INTO ev_ref SELECT * FROM events WHERE id BETWEEN (SELECT last_value + 1 FROM ev_watermark) AND (SELECT max(id) FROM events)\$\$, \$\$UPDATE ev_watermark SET last_value = (SELECT max(id) FROM events)\$\$]"
	local order side r m0 ms
	for ((r = 1; r <= ROUNDS; r++)); do
		run_file bench/events_round.sql -d pgi -v src=events -v rows=$EVENT_NEW
		run_file bench/events_round.sql -v src=events -v rows=$EVENT_NEW
		q -c "CHECKPOINT"
		mapfile -t order < <(rotate "$r" "incremental:keys" "incremental:no keys" pg_incremental insert_select)
		for side in "${order[@]}"; do
			if [ "$side" = pg_incremental ]; then
				wait_quiet
				m0=$(cpu_mark)
				ms=$(q -d pgi -c "SELECT bench_time(${sql[$side]})")
				record pg_incremental "$side" "$r" "$ms" "$(cpu_busy "$m0" "$(cpu_mark)")"
			else
				time_side pg_incremental "$side" "$r" "${sql[$side]}"
			fi
		done
	done
	local total=$((EVENT_ROWS + ROUNDS * EVENT_NEW))
	note "$(q <<SQL
SELECT CASE WHEN (SELECT count(*) FROM (SELECT * FROM events EXCEPT ALL SELECT * FROM ev_keys) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM events EXCEPT ALL SELECT * FROM ev_nokeys) d) = 0
             AND (SELECT count(*) FROM (SELECT * FROM events EXCEPT ALL SELECT * FROM ev_ref) d) = 0
             AND (SELECT count(*) FROM ev_keys) = $total AND (SELECT count(*) FROM ev_nokeys) = $total
             AND (SELECT count(*) FROM ev_ref) = $total
        THEN 'pg_incremental: the three targets of incremental''s database equal their source ($total rows each)'
        ELSE 'pg_incremental: TARGETS DIFFER' END;
SQL
)"
	note "$(q -d pgi <<SQL
SELECT CASE WHEN (SELECT count(*) FROM (SELECT * FROM events EXCEPT ALL SELECT * FROM ev_pgi) d) = 0
             AND (SELECT count(*) FROM ev_pgi) = $total
        THEN 'pg_incremental: pg_incremental $version''s target equals its source ($total rows)'
        ELSE 'pg_incremental: PG_INCREMENTAL''S TARGET DIFFERS' END;
SQL
)"
	note "$(q -c "SELECT 'pg_incremental: the last runs inserted ' || string_agg(pipeline || ' ' || rows_inserted || ' of ' || rows_read || ' read', ', ' ORDER BY pipeline)
FROM (SELECT DISTINCT ON (pipeline) * FROM incr_runs WHERE pipeline LIKE 'ev%' ORDER BY pipeline, run_id DESC) r")"
	q -c "SELECT incr_drop_pipeline('ev_keys'), incr_drop_pipeline('ev_nokeys')" \
		-c "DROP TABLE events, ev_keys, ev_nokeys, ev_ref, ev_watermark" >/dev/null
	# (its drop_pipeline calls pg_cron, which this cluster does not have)
	dropdb pgi
}

for s in $SCENARIOS; do
	scenario_start=$SECONDS
	"scenario_$s"
	echo "$s: $((SECONDS - scenario_start)) s"
done

if [ -s "$work/quiet" ]; then
	note "$(awk '{ n++; if ($1 > 0) { w++; ws += $1 } if ($2) b++ }
	     END { printf "quiet machine: %d of %d timings first waited for the CPUs to be less than 20%% busy (%d s in all)", w, n, ws
	           if (b) printf "; %d started busy after waiting %d s", b, '"$QUIET_WAIT"'
	           else printf "; none had to start on a busy machine" }' "$work/quiet")"
fi

# Medians leave out timings during which the machine was BUSY_LIMIT percent
# busy or more (one backend at work is about 50% of 2 CPUs; more means other
# work ran alongside), as long as at least 3 timings of that side remain.
BUSY_LIMIT=${BUSY_LIMIT:-75}
q -c "CREATE VIEW bench_kept AS
SELECT * FROM bench_results r
WHERE busy IS NULL OR busy < $BUSY_LIMIT
   OR (SELECT count(*) FROM bench_results o
       WHERE o.scenario = r.scenario AND o.side = r.side AND (o.busy IS NULL OR o.busy < $BUSY_LIMIT)) < 3"
dropped=$(q -c "SELECT string_agg(scenario || ' ' || side || ' ' || n, ', ' ORDER BY scenario, side)
FROM (SELECT scenario, side, count(*) AS n FROM bench_results r
      WHERE NOT EXISTS (SELECT FROM bench_kept k WHERE k.scenario = r.scenario AND k.side = r.side AND k.round = r.round)
      GROUP BY scenario, side) d")
if [ -n "$dropped" ]; then
	note "disturbed timings (the machine $BUSY_LIMIT% busy or more meanwhile) left out of the medians: $dropped"
else
	note "no timing was left out of the medians (none ran with the machine $BUSY_LIMIT% busy or more)"
fi

# ms with 1 decimal, or 3 below 10 ms
table=$(q -F ' | ' <<SQL
WITH m AS (
    SELECT scenario, side, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median
    FROM bench_kept GROUP BY scenario, side),
f AS (
    SELECT *, CASE WHEN median < 10 THEN round(median::numeric, 3) ELSE round(median::numeric, 1) END || ' ms' AS fmt
    FROM m)
SELECT '| ' || i.scenario || COALESCE(' (' || substring(i.side FROM ':(.*)') || ')', ''),
       r.side, i.fmt, r.fmt, round((i.median / r.median)::numeric, 3) || ' |'
FROM f i JOIN f r ON r.scenario = i.scenario AND r.side NOT LIKE 'incremental%'
WHERE i.side LIKE 'incremental%'
ORDER BY array_position(string_to_array('$ALL_SCENARIOS', ' '), i.scenario), i.side, r.side;
SQL
)
header="| scenario | reference | incremental (median) | reference (median) | ratio |
|---|---|---|---|---|"
elapsed=$SECONDS
took="$((elapsed / 60)) min $((elapsed % 60)) s"
echo
echo "$ROUNDS rounds, median; ratio = incremental / reference; took $took"
echo "$header"
echo "$table"

if [ "${BENCH_RAW:-0}" = 1 ]; then
	echo
	echo "every timing: ms (percent of the machine's CPUs busy meanwhile)"
	q -F ' ' -c "SELECT scenario, side, string_agg(round(ms::numeric, 1) || COALESCE(' (' || busy || '%)', ''), ' ' ORDER BY round)
FROM bench_results GROUP BY scenario, side ORDER BY scenario, side"
fi

[ "$WRITE_DOC" = 1 ] || exit 0

# doc_replace NAME FILE: put FILE between <!-- NAME:begin --> and <!-- NAME:end --> in doc/benchmarks.md
doc_replace() {
	local doc=doc/benchmarks.md
	if ! grep -qx "<!-- $1:begin -->" "$doc" || ! grep -qx "<!-- $1:end -->" "$doc"; then
		echo "bench/run.sh: no $1 markers in $doc; not written" >&2
		return 0
	fi
	awk -v b="<!-- $1:begin -->" -v e="<!-- $1:end -->" -v f="$2" '
		$0 == b { print; while ((getline line < f) > 0) print line; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$doc" >"$work/doc"
	cat "$work/doc" >"$doc"
}

{
	echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)),"
	echo "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) of memory,"
	echo "$(pg_config --version)$([ -f /etc/debian_version ] && echo " on Debian $(cat /etc/debian_version)"),"
	echo "$tree, with \`$bench_cmd\` ($ROUNDS rounds; the bench took $took):"
	echo
	echo "$header"
	echo "$table"
	echo
	echo "Ratio = incremental / reference, medians. Targets: merge and append ≤ 1.05,"
	echo "scaling ≤ 1.3, empty ≤ 2, cdc ≤ 1.1, client ≤ 0.33 (incremental at least 3× faster)."
	echo
	echo "Checks and figures from the same run:"
	echo
	cat "$work/notes"
} >"$work/results"
doc_replace bench "$work/results"
for p in merge append scaling; do
	if [ -s "$work/plan_$p" ]; then
		{ echo '```'; cat "$work/plan_$p"; echo '```'; } >"$work/plan_$p.md"
		doc_replace "bench:plan-$p" "$work/plan_$p.md"
	fi
done
echo "results written to doc/benchmarks.md"
