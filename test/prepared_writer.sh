#!/usr/bin/env bash
# test/prepared_writer.sh: a prepared transaction has no backend, and the
# time it began is not kept, so the safe upper bound of a timestamp cursor
# cannot be the start of the oldest open transaction while one writes the
# source: its rows (now() of a transaction begun before it was prepared)
# become visible at COMMIT PREPARED, below any bound computed meanwhile.
# What must hold: no row of a prepared writer is lost, for
#   * a timestamptz cursor: while a prepared transaction holds a write lock
#     on the source, a run loads nothing new (window held at the checkpoint,
#     a NOTICE names the transaction); after COMMIT PREPARED every row loads;
#   * a timestamptz cursor on a first run (no checkpoint yet): the same;
#   * an integer cursor: the run waits for the prepared writer like any
#     other (lock_timeout ends the wait), and loads its row after it commits;
#   * an xid8 cursor: the snapshot's xmin counts the prepared transaction.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start 'max_prepared_transactions = 5' >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "prepared_writer: FAILED: $*"; exit 1; }

createdb pw
q -d pw <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE pw_ts (id int PRIMARY KEY, ts timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE pw_ts_t (id int PRIMARY KEY, ts timestamptz);
CREATE TABLE pw_first (id int PRIMARY KEY, ts timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE pw_first_t (id int PRIMARY KEY, ts timestamptz);
CREATE TABLE pw_int (id bigint PRIMARY KEY);
CREATE TABLE pw_int_t (id bigint PRIMARY KEY);
CREATE TABLE pw_x (id int PRIMARY KEY, x xid8 NOT NULL DEFAULT pg_current_xact_id());
CREATE TABLE pw_x_t (id int PRIMARY KEY, x xid8);
SELECT FROM incr_create_pipeline('pw_ts', 'pw_ts', 'pw_ts_t', 'ts', 'merge', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('pw_first', 'pw_first', 'pw_first_t', 'ts', 'merge', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('pw_int', 'pw_int', 'pw_int_t', 'id', 'append');
SELECT FROM incr_create_pipeline('pw_x', 'pw_x', 'pw_x_t', 'x', 'merge', keys => ARRAY['id']);
SQL

# timestamptz: a checkpoint first, then a prepared writer, then a later row.
q -d pw -c "INSERT INTO pw_ts (id) VALUES (1)" -c "SELECT FROM incr_run('pw_ts')"
q -d pw -c "BEGIN" -c "INSERT INTO pw_ts (id) VALUES (2)" -c "PREPARE TRANSACTION 'pw_writer'"
q -d pw -c "SELECT pg_sleep(0.1)" -c "INSERT INTO pw_ts (id) VALUES (3)" -c "SELECT pg_sleep(0.1)" >/dev/null
out=$(psql -X -At -v ON_ERROR_STOP=1 -d pw -c "SELECT rows_read FROM incr_run('pw_ts')" 2>&1)
[ "$(q -d pw -c "SELECT string_agg(id::text, ',') FROM pw_ts_t")" = 1 ] ||
	fail "timestamptz: a run with a prepared writer loaded rows past its checkpoint"
q -d pw -c "COMMIT PREPARED 'pw_writer'"
q -d pw -c "SELECT FROM incr_run('pw_ts')" >/dev/null
missing=$(q -d pw -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM pw_ts EXCEPT SELECT id FROM pw_ts_t) m")
[ -z "$missing" ] || fail "timestamptz: rows never loaded after COMMIT PREPARED: $missing"
echo "$out" | grep -q 'NOTICE:  pipeline "pw_ts" loads nothing new while prepared transaction "pw_writer" (xid [0-9]*) writes its source' ||
	fail "no NOTICE naming the prepared writer: $out"

# timestamptz, first run: the prepared writer is there before any checkpoint.
q -d pw -c "BEGIN" -c "INSERT INTO pw_first (id) VALUES (1)" -c "PREPARE TRANSACTION 'pw_first_writer'"
q -d pw -c "SELECT pg_sleep(0.1)" -c "INSERT INTO pw_first (id) VALUES (2)" -c "SELECT pg_sleep(0.1)" >/dev/null
q -d pw -c "SET client_min_messages = warning" -c "SELECT FROM incr_run('pw_first')" >/dev/null
[ "$(q -d pw -c "SELECT count(*) FROM pw_first_t")" = 0 ] ||
	fail "timestamptz first run: a run with a prepared writer loaded rows"
q -d pw -c "COMMIT PREPARED 'pw_first_writer'"
q -d pw -c "SELECT FROM incr_run('pw_first')" >/dev/null
missing=$(q -d pw -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM pw_first EXCEPT SELECT id FROM pw_first_t) m")
[ -z "$missing" ] || fail "timestamptz first run: rows never loaded after COMMIT PREPARED: $missing"

# integer cursor: the prepared writer of id 1 is waited for, and id 2 is not read past it.
q -d pw -c "BEGIN" -c "INSERT INTO pw_int VALUES (1)" -c "PREPARE TRANSACTION 'pw_int_writer'"
q -d pw -c "INSERT INTO pw_int VALUES (2)"
out=$(psql -X -At -d pw -c "SET lock_timeout = '1s'" -c "SELECT rows_read FROM incr_run('pw_int')" 2>&1 || true)
echo "$out" | grep -q 'ERROR:  canceling statement due to lock timeout' ||
	fail "integer: the run did not wait for the prepared writer: $out"
q -d pw -c "COMMIT PREPARED 'pw_int_writer'"
q -d pw -c "SELECT FROM incr_run('pw_int')" >/dev/null
[ "$(q -d pw -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM pw_int_t")" = "1,2" ] ||
	fail "integer: not every row loaded after COMMIT PREPARED"

# xid8 cursor: a row of a later transaction does not move the checkpoint past the prepared one.
q -d pw -c "BEGIN" -c "INSERT INTO pw_x (id) VALUES (1)" -c "PREPARE TRANSACTION 'pw_x_writer'"
q -d pw -c "INSERT INTO pw_x (id) VALUES (2)"
q -d pw -c "SELECT FROM incr_run('pw_x')" >/dev/null
q -d pw -c "COMMIT PREPARED 'pw_x_writer'"
q -d pw -c "SELECT FROM incr_run('pw_x')" >/dev/null
[ "$(q -d pw -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM pw_x_t")" = "1,2" ] ||
	fail "xid8: not every row loaded after COMMIT PREPARED"

echo "prepared_writer: ok"
