#!/usr/bin/env bash
# test/wal_stress.sh: WAL capture under concurrent writers applies every
# committed change exactly once.  pgbench writers upsert, update key ranges,
# delete, change keys, roll back whole transactions and savepoints on a table
# with a primary key, while a loop runs incr_run every ~100 ms on a merge
# pipeline and an append change-log pipeline (capture => 'wal'; the merge
# pipeline is created while the writers run), each in a loop of its own,
# with CALL incr_catch_up every 10th time.  Afterwards: the merge target equals the source exactly (EXCEPT ALL
# both ways, counts), and the change log holds exactly one row per committed
# change, counted independently by a trigger on the source that writes an
# audit row in the same transaction as the change.  No run may fail.
# WAL_STRESS_SECONDS (default 20) sets how long the writers run; WAL_APPEND=0
# leaves the change log out (to check the merge pipeline alone).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

seconds=${WAL_STRESS_SECONDS:-20}
say() { echo "wal_stress: $*"; }
fail() { say "FAILED: $*"; grep -a "ERROR\|FATAL\|PANIC" "$CLUSTER_LOG" | tail -n 20; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

cluster_trap
cluster_start "max_connections = 50" "logical_decoding_work_mem = '64kB'" >/dev/null
export PGDATABASE=wal_stress
createdb wal_stress
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION incremental"


q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE ws_src (id bigint PRIMARY KEY, v int NOT NULL, pad text);
CREATE SEQUENCE ws_moved START 1000000;
-- every committed change of ws_src, written in the changing transaction:
-- 'I' and 'U' with the new row, 'D' with the old key (v NULL: a delete
-- carries only the replica identity)
CREATE TABLE ws_audit (op "char" NOT NULL, id bigint NOT NULL, v int);
CREATE FUNCTION ws_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO ws_audit VALUES ('D', OLD.id, NULL);
    ELSE
        INSERT INTO ws_audit VALUES (left(TG_OP, 1), NEW.id, NEW.v);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ws_audit AFTER INSERT OR UPDATE OR DELETE ON ws_src
    FOR EACH ROW EXECUTE FUNCTION ws_audit();
INSERT INTO ws_src SELECT g, 0, repeat('x', g % 50) FROM generate_series(1, 2000) g;

CREATE TABLE ws_merge (id bigint PRIMARY KEY, v int, pad text);
CREATE TABLE ws_log (id bigint, v int, pad text);
SQL

# The change log: with wal-modes' options it also names the operation.
log_opts=""
if [ "$(q -c "SELECT count(*) FROM pg_proc WHERE proname = 'incr_create_pipeline'
               AND 'wal_op_column' = ANY (proargnames)")" != 0 ]; then
	q -c "ALTER TABLE ws_log ADD COLUMN op text"
	log_opts=", wal_op_column => 'op'"
fi
append=1
if [ "${WAL_APPEND:-1}" = 0 ]; then
	say "WAL_APPEND=0: the change log is left out, only the merge pipeline is checked"
	append=0
elif ! out=$(q -c "SELECT name FROM incr_create_pipeline('ws_log', source => 'ws_src', target => 'ws_log',
                  mode => 'append', capture => 'wal', batch_size => 700 $log_opts)" 2>&1); then
	if [[ $out == *"capture"* && $out == *"append"* ]]; then
		say "append with capture => 'wal' is refused here, so no change log is checked: $out"
		append=0
	else
		fail "could not create the change-log pipeline: $out"
	fi
fi
# its first run copies the 2000 rows before the writers start, one 'I' each,
# as the audit table has them
[ $append = 0 ] || q -c "CALL incr_catch_up('ws_log')"

# each writer transaction: an upsert, an update of a key range, sometimes a
# delete or a key change, a savepoint rolled back or released, and 15% of
# the transactions rolled back whole
cat >"$CLUSTER_DIR/writer.sql" <<'SQL'
\set id random(1, 3000)
\set id2 random(1, 3000)
\set lo random(1, 2990)
\set r random(1, 100)
BEGIN;
INSERT INTO ws_src (id, v, pad) VALUES (:id, 0, repeat('y', :r)) ON CONFLICT (id) DO UPDATE SET v = ws_src.v + 1;
UPDATE ws_src SET v = v + 1 WHERE id BETWEEN :lo AND :lo + 5;
\if :r <= 20
DELETE FROM ws_src WHERE id = :id2;
\elif :r >= 95
UPDATE ws_src SET id = nextval('ws_moved') WHERE id = :id2;
\endif
SAVEPOINT s;
UPDATE ws_src SET v = v + 1000, pad = 'savepoint' WHERE id = :id2;
DELETE FROM ws_src WHERE id = :id2 + 1;
\if :r % 2 = 0
ROLLBACK TO SAVEPOINT s;
\else
RELEASE SAVEPOINT s;
\endif
\if :r <= 15
ROLLBACK;
\else
COMMIT;
\endif
SQL
chmod a+r "$CLUSTER_DIR/writer.sql"

pgbench -n -c 4 -j 2 -T "$seconds" --max-tries=50 -f "$CLUSTER_DIR/writer.sql" \
	>"$CLUSTER_DIR/pgbench.out" 2>&1 &
writers=$!

# the merge pipeline is created while the writers run: its slot's creation
# waits for the open writer transactions, and its first run copies the table
sleep 1
q -c "SELECT name FROM incr_create_pipeline('ws_merge', source => 'ws_src', target => 'ws_merge',
        mode => 'merge', keys => ARRAY['id'], capture => 'wal')" >/dev/null ||
	fail "could not create the merge pipeline while the writers run"

# one loop per pipeline, so that a slow run of one does not hold up the
# other: incr_run every ~100 ms, CALL incr_catch_up every 10th time
: >"$CLUSTER_DIR/run_errors"
pipelines=(ws_merge)
[ $append = 0 ] || pipelines+=(ws_log)
runner() { # runner PIPELINE: loop until the writers stop; prints "rounds catch-ups errors"
	local p=$1 rounds=0 catch_ups=0 errors=0
	while kill -0 $writers 2>/dev/null; do
		if [ $((rounds % 10)) -eq 9 ]; then
			q -c "CALL incr_catch_up('$p')" >/dev/null 2>>"$CLUSTER_DIR/run_errors" || errors=$((errors + 1))
			catch_ups=$((catch_ups + 1))
		else
			q -c "SELECT status FROM incr_run('$p')" >/dev/null 2>>"$CLUSTER_DIR/run_errors" || errors=$((errors + 1))
		fi
		rounds=$((rounds + 1))
		sleep 0.1
	done
	echo "$rounds $catch_ups $errors" >"$CLUSTER_DIR/runner_$p"
}
runners=()
for p in "${pipelines[@]}"; do
	runner "$p" &
	runners+=($!)
done
wait $writers || { cat "$CLUSTER_DIR/pgbench.out"; fail "pgbench failed"; }
wait "${runners[@]}"
loops=""
errors=0
for p in "${pipelines[@]}"; do
	read -r r c e <"$CLUSTER_DIR/runner_$p"
	loops="$loops, $p $r runs ($c catch-ups)"
	errors=$((errors + e))
done
[ $errors = 0 ] || { head -n 5 "$CLUSTER_DIR/run_errors"; fail "$errors runs failed during the writes"; }

# the writers have stopped: a catch-up, then a final run that finds nothing
for p in "${pipelines[@]}"; do
	q -c "CALL incr_catch_up('$p')" >/dev/null || fail "the final catch-up of $p failed"
	last=$(q -c "SELECT status || ' ' || rows_read FROM incr_run('$p')") || fail "the final run of $p failed"
	[ "$last" = "ok 0" ] || fail "the run after the final catch-up of $p read something: $last"
done

committed=$(q -c "SELECT count(*) FROM ws_audit")
xacts=$(awk '/number of transactions actually processed/ { print $NF }' "$CLUSTER_DIR/pgbench.out" | cut -d/ -f1)
say "${seconds}s of 4 pgbench writers ($xacts transactions), $committed committed changes; during the writes$loops"
say "$(q -F ', ' -c "SELECT 'changes by operation: ' || string_agg(op::text || ' ' || n, ', ' ORDER BY op) FROM (SELECT op, count(*) n FROM ws_audit GROUP BY op) s")"
for p in "${pipelines[@]}"; do
	say "$p: $(q -c "SELECT count(*) || ' runs, ' || sum(rows_read) || ' changes read; a run took '
	        || round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) * 1000)::numeric)
	        || ' ms (median), ' || round((max(extract(epoch FROM finished_at - started_at)) * 1000)::numeric) || ' ms (max, '
	        || (SELECT rows_read FROM incr_runs r2 WHERE r2.pipeline = '$p' ORDER BY finished_at - started_at DESC LIMIT 1) || ' changes)'
	        FROM incr_runs WHERE pipeline = '$p' AND status = 'ok'")"
done
status=0
read -r src tgt missing extra <<<"$(q -F ' ' -c "
SELECT (SELECT count(*) FROM ws_src), (SELECT count(*) FROM ws_merge),
       (SELECT count(*) FROM (SELECT * FROM ws_src EXCEPT ALL SELECT * FROM ws_merge) d),
       (SELECT count(*) FROM (SELECT * FROM ws_merge EXCEPT ALL SELECT * FROM ws_src) d)")"
say "merge: source rows $src, target rows $tgt, missing or different $missing, extra $extra"
if [ "$src" != "$tgt" ] || [ "$missing" != 0 ] || [ "$extra" != 0 ]; then status=1; fi

if [ $append = 1 ]; then
	# a delete's row carries the key only: compare (id, v) with v NULL for deletes
	read -r logged missing extra <<<"$(q -F ' ' -c "
	SELECT (SELECT count(*) FROM ws_log),
	       (SELECT count(*) FROM (SELECT id, v FROM ws_audit EXCEPT ALL SELECT id, CASE WHEN pad IS NULL THEN NULL ELSE v END FROM ws_log) d),
	       (SELECT count(*) FROM (SELECT id, CASE WHEN pad IS NULL THEN NULL ELSE v END FROM ws_log EXCEPT ALL SELECT id, v FROM ws_audit) d)")"
	say "change log: committed changes $committed, rows $logged, missing $missing, extra or doubled $extra"
	if [ "$logged" != "$committed" ] || [ "$missing" != 0 ] || [ "$extra" != 0 ]; then status=1; fi
	if [ -n "$log_opts" ]; then
		read -r differ <<<"$(q -c "
		SELECT count(*) FROM (SELECT op::text, id FROM ws_audit EXCEPT ALL SELECT upper(left(op, 1)), id FROM ws_log) d")"
		say "change log: changes whose operation differs from the audit's: $differ"
		[ "$differ" = 0 ] || status=1
	fi
else
	say "change log: NOT CHECKED"
fi
[ "$committed" -gt 2000 ] || { say "too few changes were committed to mean anything"; status=1; }
[ $status = 0 ] || fail "targets differ from what was committed"
say "ok"
