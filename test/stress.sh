#!/usr/bin/env bash
# test/stress.sh: concurrent writers never make a run lose or duplicate a row.
# pgbench writers insert and update rows (now() and a sequence, with pauses
# inside their transactions) while a loop runs incr_run every ~100 ms and
# incr_catch_up now and then.  After the writers stop and a final catch-up,
# every target must equal its source exactly: 0 missing, 0 duplicated.
# STRESS_SECONDS (default 20) sets how long the writers run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

seconds=${STRESS_SECONDS:-20}
cluster_trap
cluster_start "max_connections = 50" >/dev/null
export PGDATABASE=stress
createdb stress

q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
-- rows are inserted and updated; updated_at follows every change
CREATE TABLE st_src (
    id          bigserial PRIMARY KEY,
    k           int NOT NULL,
    v           int NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON st_src (updated_at);
-- an append-only log with a timestamp and no key
CREATE TABLE st_log (k int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX ON st_log (at);

CREATE TABLE st_merge (id bigint PRIMARY KEY, k int, v int, updated_at timestamptz);
CREATE TABLE st_append (id bigint PRIMARY KEY, k int, v int, updated_at timestamptz);
CREATE TABLE st_log_copy (k int, at timestamptz);
CREATE INDEX ON st_log_copy (at);

SELECT incr_create_pipeline('st_merge', 'st_src', 'st_merge', 'updated_at',
    mode => 'merge', keys => ARRAY['id']);
SELECT incr_create_pipeline('st_append', 'st_src', 'st_append', 'id',
    keys => ARRAY['id'], batch_size => 500);
SELECT incr_create_pipeline('st_log', 'st_log', 'st_log_copy', 'at');
SQL

# each writer transaction: a new row, a change of an existing one, a log line,
# with pauses in between so that runs happen while it is open
cat >"$CLUSTER_DIR/writer.sql" <<'SQL'
\set k random(1, 100000)
\set pause random(0, 20)
BEGIN;
INSERT INTO st_src (k, v) VALUES (:k, 0);
\sleep :pause ms
UPDATE st_src SET v = v + 1, updated_at = now() WHERE id = (SELECT max(id) FROM st_src) - (:k % 50);
INSERT INTO st_log (k) VALUES (:k);
\sleep :pause ms
COMMIT;
SQL
chmod a+r "$CLUSTER_DIR/writer.sql"

pgbench -n -c 4 -j 2 -T "$seconds" -f "$CLUSTER_DIR/writer.sql" >"$CLUSTER_DIR/pgbench.out" 2>&1 &
writers=$!

runs=0
catch_ups=0
end=$((SECONDS + seconds))
while [ $SECONDS -lt $end ]; do
	q -c "SELECT incr_run('st_merge')" -c "SELECT incr_run('st_append')" \
		-c "SELECT incr_run('st_log')" >/dev/null
	runs=$((runs + 1))
	if [ $((runs % 25)) -eq 0 ]; then
		q -c "CALL incr_catch_up('st_append', 3)" 2>/dev/null
		catch_ups=$((catch_ups + 1))
	fi
	sleep 0.1
done
wait $writers || { cat "$CLUSTER_DIR/pgbench.out"; exit 1; }

# the writers have stopped: bring everything up to date
q -c "CALL incr_catch_up('st_merge')" -c "CALL incr_catch_up('st_append')" \
	-c "CALL incr_catch_up('st_log')" 2>/dev/null

result=$(psql -X -At -F ' ' <<'SQL'
SELECT 'merge', (SELECT count(*) FROM st_src),
       (SELECT count(*) FROM st_merge),
       (SELECT count(*) FROM (SELECT * FROM st_src EXCEPT ALL SELECT * FROM st_merge) d),
       (SELECT count(*) FROM (SELECT * FROM st_merge EXCEPT ALL SELECT * FROM st_src) d);
SELECT 'append', (SELECT count(*) FROM st_src),
       (SELECT count(*) FROM st_append),
       (SELECT count(*) FROM st_src s WHERE NOT EXISTS (SELECT 1 FROM st_append a WHERE a.id = s.id)),
       (SELECT count(*) - count(DISTINCT id) FROM st_append);
SELECT 'log', (SELECT count(*) FROM st_log),
       (SELECT count(*) FROM st_log_copy),
       (SELECT count(*) FROM (SELECT * FROM st_log EXCEPT ALL SELECT * FROM st_log_copy) d),
       (SELECT count(*) FROM (SELECT * FROM st_log_copy EXCEPT ALL SELECT * FROM st_log) d);
SQL
)
updates=$(psql -X -At -c "SELECT sum(v) FROM st_src")
echo "stress: ${seconds}s of 4 pgbench writers, $runs rounds of runs, $catch_ups catch-ups, $updates updates"
status=0
while read -r name written loaded missing extra; do
	echo "stress: $name: rows written $written, rows loaded $loaded, missing $missing, duplicated or extra $extra"
	if [ "$missing" != 0 ] || [ "$extra" != 0 ] || [ "$written" = 0 ]; then status=1; fi
done <<<"$result"
if [ $status -ne 0 ]; then echo "stress: FAILED"; fi
exit $status
