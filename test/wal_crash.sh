#!/usr/bin/env bash
# test/wal_crash.sh: a wal pipeline (capture => 'wal') survives crashes at
# any point of a run without losing or doubling a change.  A merge pipeline
# and an append change log follow a table whose changes an audit trigger
# counts in the same transactions.  Crashes: kill -9 of a backend in the
# middle of a long incr_run; kill -9 of CALL incr_catch_up right after one of
# its batches committed (the slot is still behind the checkpoint); pg_ctl
# stop -m immediate right after an incr_run committed (again before the slot
# moved); kill -9 of a first run in the middle of its copy.  After each: the
# slots survive the restart, a killed run moved no checkpoint and left no
# row, the next run reads nothing that was applied, and once caught up the
# merge target equals the source and the change log holds one row per
# committed change.  Creations that fail (rolled back, killed, refused)
# leave no slot or publication behind; a rolled-back incr_drop_pipeline
# keeps them; incr_drop_pipeline and DROP EXTENSION remove them.  WAL_APPEND=0
# leaves the change log out (to check the merge pipeline alone).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

say() { echo "wal_crash: $*"; }
fail() { say "FAILED: $*"; grep -a "ERROR\|FATAL\|PANIC" "$CLUSTER_LOG" | tail -n 20; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

cluster_trap
cluster_start "logical_decoding_work_mem = '64kB'" >/dev/null
export PGDATABASE=wal_crash
createdb wal_crash
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION incremental"


q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE wc_src (id bigint PRIMARY KEY, v int NOT NULL, pad text NOT NULL);
-- every committed change, written by the changing transaction itself
CREATE TABLE wc_audit (op "char" NOT NULL, id bigint NOT NULL, v int);
CREATE FUNCTION wc_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO wc_audit VALUES ('D', OLD.id, NULL);
    ELSE
        INSERT INTO wc_audit VALUES (left(TG_OP, 1), NEW.id, NEW.v);
    END IF;
    RETURN NULL;
END $$;
-- changes in transactions of 1,000 inserts, 333 updates and 200 deletes each
CREATE PROCEDURE wc_changes(blocks int) LANGUAGE plpgsql AS $$
DECLARE
    base bigint;
BEGIN
    FOR b IN 1..blocks LOOP
        SELECT coalesce(max(id), 0) INTO base FROM wc_src;
        INSERT INTO wc_src SELECT base + g, 0, md5(g::text) FROM generate_series(1, 1000) g;
        UPDATE wc_src SET v = v + 1 WHERE id > base AND id % 3 = 0;
        DELETE FROM wc_src WHERE id > base AND id % 5 = 0;
        COMMIT;
    END LOOP;
END $$;
-- about 4 ms per 100 rows written, so that a kill lands inside a run (on ids
-- that wc_changes keeps: it deletes those divisible by 5, which a merge that
-- applies the last change per key never writes)
CREATE FUNCTION wc_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(NEW.id, OLD.id) % 100 = 1 THEN PERFORM pg_sleep(0.004); END IF;
    RETURN coalesce(NEW, OLD);
END $$;
CREATE TABLE wc_merge (id bigint PRIMARY KEY, v int, pad text);
CREATE TRIGGER wc_slow BEFORE INSERT OR UPDATE OR DELETE ON wc_merge
    FOR EACH ROW EXECUTE FUNCTION wc_slow();
CREATE TABLE wc_log (id bigint, v int, pad text);
CREATE TRIGGER wc_slow BEFORE INSERT ON wc_log FOR EACH ROW EXECUTE FUNCTION wc_slow();
SQL
# 2,000 rows before the pipelines exist: their first runs copy them, one
# insert each for the change log, as the audit counts them; from then on
# the trigger counts every committed change
q -c "CALL wc_changes(2)" -c "INSERT INTO wc_audit SELECT 'I', id, v FROM wc_src" \
	-c "CREATE TRIGGER wc_audit AFTER INSERT OR UPDATE OR DELETE ON wc_src
	    FOR EACH ROW EXECUTE FUNCTION wc_audit()"

q -c "SELECT name FROM incr_create_pipeline('wc_merge', source => 'wc_src', target => 'wc_merge',
        mode => 'merge', keys => ARRAY['id'], capture => 'wal')" >/dev/null
append=1
if [ "${WAL_APPEND:-1}" = 0 ]; then
	say "WAL_APPEND=0: the change log is left out, only the merge pipeline is checked"
	append=0
elif ! out=$(q -c "SELECT name FROM incr_create_pipeline('wc_log', source => 'wc_src', target => 'wc_log',
                  mode => 'append', capture => 'wal', batch_size => 5000)" 2>&1); then
	if [[ $out == *"capture"* && $out == *"append"* ]]; then
		say "append with capture => 'wal' is refused here, so no change log is checked: $out"
		append=0
	else
		fail "could not create the change-log pipeline: $out"
	fi
fi
pipelines=(wc_merge)
[ $append = 0 ] || pipelines+=(wc_log)
for p in "${pipelines[@]}"; do q -c "CALL incr_catch_up('$p')"; done

# our slots and publications in this database, one line each
slots() {
	q -c "SELECT string_agg(slot_name || ':' || plugin, ' ' ORDER BY slot_name) FROM pg_replication_slots
	      WHERE database = current_database() AND slot_type = 'logical'"
}
publications() { q -c "SELECT string_agg(pubname, ' ' ORDER BY pubname) FROM pg_publication"; }
checkpoint() { q -c "SELECT checkpoint FROM incr_status WHERE pipeline = '$1'"; }
ok_runs() { q -c "SELECT count(*) FROM incr_runs WHERE pipeline = '$1' AND status = 'ok'"; }
wait_ready() {
	for _ in $(seq 150); do
		pg_isready -q && q -c "SELECT 1" >/dev/null 2>&1 && return
		sleep 0.1
	done
	fail "the server did not come back"
}
backend_of() { # backend_of APPNAME: the pid of the session, waiting for it
	local pid
	for _ in $(seq 100); do
		pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND state = 'active'")
		[ -n "$pid" ] && { echo "$pid"; return; }
		sleep 0.05
	done
	fail "session $1 did not start"
}
restart_immediate() {
	_cluster_as_owner pg_ctl -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null
	_cluster_as_owner pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w start >/dev/null
	wait_ready
}
# where the slots stand against a pipeline's checkpoint (informational:
# which slot is whose is wal-core's naming)
slot_vs_checkpoint() {
	q -c "SELECT 'checkpoint ' || (SELECT checkpoint FROM incr_status WHERE pipeline = '$1')
	             || ', slots confirmed at ' || string_agg(confirmed_flush_lsn::text, ' ' ORDER BY slot_name)
	      FROM pg_replication_slots WHERE database = current_database() AND slot_type = 'logical'" ||
		true
}
# caught up: merge target = source, change log = audit
check_exact() {
	local src tgt missing extra logged committed lmissing lextra
	for p in "${pipelines[@]}"; do
		q -c "CALL incr_catch_up('$p')" >/dev/null || fail "the catch-up of $p failed after $1"
	done
	read -r src tgt missing extra <<<"$(q -F ' ' -c "
	SELECT (SELECT count(*) FROM wc_src), (SELECT count(*) FROM wc_merge),
	       (SELECT count(*) FROM (SELECT * FROM wc_src EXCEPT ALL SELECT * FROM wc_merge) d),
	       (SELECT count(*) FROM (SELECT * FROM wc_merge EXCEPT ALL SELECT * FROM wc_src) d)")"
	say "after $1: merge: source rows $src, target rows $tgt, missing or different $missing, extra $extra"
	if [ "$src" != "$tgt" ] || [ "$missing" != 0 ] || [ "$extra" != 0 ]; then
		fail "the merge target differs from the source after $1"
	fi
	[ $append = 1 ] || return 0
	read -r committed logged lmissing lextra <<<"$(q -F ' ' -c "
	SELECT (SELECT count(*) FROM wc_audit), (SELECT count(*) FROM wc_log),
	       (SELECT count(*) FROM (SELECT id, v FROM wc_audit EXCEPT ALL
	                              SELECT id, CASE WHEN pad IS NULL THEN NULL ELSE v END FROM wc_log) d),
	       (SELECT count(*) FROM (SELECT id, CASE WHEN pad IS NULL THEN NULL ELSE v END FROM wc_log
	                              EXCEPT ALL SELECT id, v FROM wc_audit) d)")"
	say "after $1: change log: committed changes $committed, rows $logged, missing $lmissing, doubled $lextra"
	if [ "$committed" != "$logged" ] || [ "$lmissing" != 0 ] || [ "$lextra" != 0 ]; then
		fail "the change log is not one row per committed change after $1"
	fi
}
check_exact "the first runs"
slots0=$(slots)
pubs0=$(publications)
say "slots: $slots0; publications: $pubs0"
nslots=$(wc -w <<<"$slots0")
[ "$nslots" = ${#pipelines[@]} ] || fail "expected ${#pipelines[@]} slots, found: $slots0"

# 1. kill -9 in the middle of one incr_run over a backlog of 40 transactions
q -c "CALL wc_changes(40)"
before_cp=$(checkpoint wc_merge)
before_rows=$(q -c "SELECT count(*) FROM wc_merge")
PGAPPNAME=wc_run psql -X -q -c "SELECT incr_run('wc_merge')" >/dev/null 2>&1 &
run=$!
pid=$(backend_of wc_run)
sleep 1
kill -0 $run 2>/dev/null || fail "the run over the backlog ended before the kill; make it slower"
kill -9 "$pid"
wait $run 2>/dev/null || true
wait_ready
[ "$(slots)" = "$slots0" ] || fail "the slots changed over the crash: $(slots), were $slots0"
[ "$(checkpoint wc_merge)" = "$before_cp" ] || fail "a killed run moved the checkpoint"
[ "$(q -c "SELECT count(*) FROM wc_merge")" = "$before_rows" ] || fail "a killed run left rows"
say "kill -9 inside incr_run: checkpoint and target unchanged ($before_cp), slots kept"
check_exact "kill -9 inside incr_run"

# 2. kill -9 of a catch-up right after a batch committed: the slot has not
# moved to that batch's checkpoint yet
if [ $append = 1 ]; then
	q -c "CALL wc_changes(40)"
	before=$(ok_runs wc_log)
	PGAPPNAME=wc_catch_up psql -X -q -c "CALL incr_catch_up('wc_log')" >/dev/null 2>&1 &
	run=$!
	pid=$(backend_of wc_catch_up)
	while [ "$(ok_runs wc_log)" -le "$before" ]; do
		kill -0 $run 2>/dev/null || fail "the catch-up ended before a batch was seen"
		sleep 0.01
	done
	kill -9 "$pid"
	wait $run 2>/dev/null || true
	wait_ready
	[ "$(slots)" = "$slots0" ] || fail "the slots changed over the crash: $(slots), were $slots0"
	say "kill -9 right after a catch-up batch: $(slot_vs_checkpoint wc_log)"
	check_exact "kill -9 right after a catch-up batch"
fi

# 3. pg_ctl stop -m immediate right after incr_run committed, before any
# later run could move the slot: the next run must read nothing
q -c "CALL wc_changes(3)"
for p in "${pipelines[@]}"; do
	q -c "SELECT incr_run('$p')" >/dev/null
done
restart_immediate
[ "$(slots)" = "$slots0" ] || fail "the slots changed over the restart: $(slots), were $slots0"
for p in "${pipelines[@]}"; do
	say "immediate stop after a committed run of $p: $(slot_vs_checkpoint "$p")"
	# the state this case is about: the pipeline's slot is behind its checkpoint
	[ "$(q -c "SELECT s.confirmed_flush_lsn OPERATOR(pg_catalog.-) '0/0' < c.value_numeric
	           FROM incr_pipelines p JOIN incr_checkpoints c ON c.pipeline = p.name
	           JOIN pg_replication_slots s ON s.slot_name = p.options->>'wal_slot'
	           WHERE p.name = '$p'")" = t ] ||
		fail "the slot of $p is not behind its checkpoint after the restart: the case is not tested"
	got=$(q -c "SELECT status || ' ' || rows_read || ' ' || rows_inserted || ' ' || rows_updated || ' ' || rows_deleted
	            FROM incr_run('$p')")
	[ "$got" = "ok 0 0 0 0" ] || fail "the run after the restart of $p applied something again (status, read, inserted, updated, deleted: $got)"
done
check_exact "pg_ctl stop -m immediate after a committed run"

# 4. failed creations leave no slot and no publication behind
q -c "CREATE TABLE wc_other (id int PRIMARY KEY, v int)" -c "CREATE TABLE wc_other_copy (id int PRIMARY KEY, v int)"
psql -X -q -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<'SQL' && fail "a transaction meant to fail committed"
BEGIN;
SELECT incr_create_pipeline('wc_rolled_back', source => 'wc_other', target => 'wc_other_copy',
                            mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SELECT 1 / 0;
COMMIT;
SQL
[ "$(slots)" = "$slots0" ] || fail "a creation in a failed transaction left a slot: $(slots)"
[ "$(publications)" = "$pubs0" ] || fail "a creation in a failed transaction left a publication: $(publications)"
q -c "BEGIN" -c "SELECT incr_create_pipeline('wc_rolled_back', source => 'wc_other', target => 'wc_other_copy',
        mode => 'merge', keys => ARRAY['id'], capture => 'wal')" -c "ROLLBACK" >/dev/null
[ "$(slots)" = "$slots0" ] || fail "a rolled back creation left a slot: $(slots)"
[ "$(publications)" = "$pubs0" ] || fail "a rolled back creation left a publication: $(publications)"
q -c "SELECT incr_create_pipeline('wc_bad', source => 'wc_other', target => 'wc_other_copy',
        mode => 'merge', keys => ARRAY['no_such_column'], capture => 'wal')" >/dev/null 2>&1 &&
	fail "a creation with a bad key succeeded"
[ "$(slots)" = "$slots0" ] || fail "a refused creation left a slot: $(slots)"
say "rolled back, failed and refused creations: no slot or publication left"
# a backend killed while its creating transaction is open leaves nothing
PGAPPNAME=wc_killed_create psql -X -q >/dev/null 2>&1 <<'SQL' &
BEGIN;
SELECT incr_create_pipeline('wc_killed', source => 'wc_other', target => 'wc_other_copy',
                            mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SELECT pg_sleep(60);
SQL
run=$!
for _ in $(seq 200); do
	pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'wc_killed_create' AND query LIKE '%pg_sleep%'")
	[ -n "$pid" ] && break
	sleep 0.05
done
[ -n "$pid" ] || fail "the creation to be killed did not get to its sleep"
kill -9 "$pid"
wait $run 2>/dev/null || true
wait_ready
[ "$(slots)" = "$slots0" ] || fail "a creation killed before its commit left a slot: $(slots)"
[ "$(publications)" = "$pubs0" ] || fail "a creation killed before its commit left a publication: $(publications)"
say "rolled back, failed, refused and killed creations: no slot or publication left"

# 5. a first run killed in the middle of its copy: the slot it made stays
# with its pipeline, and the next first run copies exactly once
q -c "INSERT INTO wc_other SELECT g, g FROM generate_series(1, 30000) g" \
	-c "CREATE TRIGGER wc_slow BEFORE INSERT ON wc_other_copy FOR EACH ROW EXECUTE FUNCTION wc_slow()"
q -c "SELECT name FROM incr_create_pipeline('wc_other', source => 'wc_other', target => 'wc_other_copy',
        mode => 'merge', keys => ARRAY['id'], capture => 'wal')" >/dev/null
PGAPPNAME=wc_first_run psql -X -q -c "SELECT incr_run('wc_other')" >/dev/null 2>&1 &
run=$!
pid=$(backend_of wc_first_run)
sleep 1
kill -0 $run 2>/dev/null || fail "the first run ended before the kill; make it slower"
kill -9 "$pid"
wait $run 2>/dev/null || true
wait_ready
[ "$(q -c "SELECT count(*) FROM wc_other_copy")" = 0 ] || fail "a killed first run left rows"
[ -z "$(checkpoint wc_other)" ] || fail "a killed first run left a checkpoint: $(checkpoint wc_other)"
say "slots after a first run was killed: $(slots)"
q -c "UPDATE wc_other SET v = -v WHERE id % 10 = 0" -c "DELETE FROM wc_other WHERE id % 7 = 0"
q -c "SELECT incr_run('wc_other')" >/dev/null
q -c "INSERT INTO wc_other VALUES (100000, 1)" -c "UPDATE wc_other SET v = 0 WHERE id % 3 = 0"
got=$(q -c "SELECT rows_read || ' ' || rows_inserted FROM incr_run('wc_other')")
[ "$got" = "$(q -c "SELECT 1 + count(*) FROM wc_other WHERE id % 3 = 0 AND id <> 100000") 1" ] ||
	fail "the run after the killed first run and its retry read or inserted $got"
read -r missing extra <<<"$(q -F ' ' -c "
SELECT (SELECT count(*) FROM (SELECT * FROM wc_other EXCEPT ALL SELECT * FROM wc_other_copy) d),
       (SELECT count(*) FROM (SELECT * FROM wc_other_copy EXCEPT ALL SELECT * FROM wc_other) d)")"
[ "$missing $extra" = "0 0" ] || fail "after a killed first run: target differs (missing $missing, extra $extra)"
n=$(wc -w <<<"$(slots)")
[ "$n" = $((${#pipelines[@]} + 1)) ] ||
	fail "after a killed first run and its retry: slots $(slots) for $((${#pipelines[@]} + 1)) wal pipelines"
[ "$(wc -w <<<"$(publications)")" = $((${#pipelines[@]} + 1)) ] ||
	fail "after a killed first run and its retry: publications $(publications)"
say "a first run killed inside its copy: the retry copied exactly once, one slot for the pipeline"

# 6. a rolled-back drop keeps slot and publication; incr_drop_pipeline
# removes them; DROP EXTENSION removes every one
q -c "BEGIN" -c "SELECT incr_drop_pipeline('wc_other')" -c "ROLLBACK" >/dev/null
[ "$(wc -w <<<"$(slots)")" = $((${#pipelines[@]} + 1)) ] || fail "a rolled-back drop removed a slot: $(slots)"
q -c "INSERT INTO wc_other VALUES (100001, 1)"
got=$(q -c "SELECT rows_read || ' ' || rows_inserted FROM incr_run('wc_other')")
[ "$got" = "1 1" ] || fail "the run after a rolled-back drop read or inserted $got"
q -c "SELECT incr_drop_pipeline('wc_other')" >/dev/null
[ "$(slots)" = "$slots0" ] || fail "incr_drop_pipeline left a slot: $(slots)"
[ "$(publications)" = "$pubs0" ] || fail "incr_drop_pipeline left a publication: $(publications)"
q -c "SET client_min_messages = warning" -c "DROP EXTENSION incremental"
[ -z "$(slots)" ] || fail "slots left after DROP EXTENSION: $(slots)"
[ -z "$(publications)" ] || fail "publications left after DROP EXTENSION: $(publications)"
say "incr_drop_pipeline and DROP EXTENSION removed the slots and publications"
say "ok"
