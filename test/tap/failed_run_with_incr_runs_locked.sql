-- failed_run_with_incr_runs_locked: a run that fails in a transaction that
-- holds a lock on incr_runs blocking inserts (LOCK TABLE ... IN SHARE MODE,
-- TRUNCATE) returns its own error at once.  The failure's record is written
-- by a worker in another transaction, which would wait for that lock while
-- the run waits for the worker, a wait the deadlock detector cannot see:
-- before the fix the run hung until cancelled (here: statement_timeout, so
-- the old code fails these tests instead of hanging).  Such a run records
-- nothing and says so in a WARNING.
BEGIN;
SELECT plan(5);
SET LOCAL client_min_messages = error;

CREATE TABLE rlk_src (id int PRIMARY KEY, n bigint NOT NULL, qty int);
CREATE INDEX ON rlk_src (n);
CREATE TABLE rlk_tgt (id int PRIMARY KEY, n bigint,
                      qty int CONSTRAINT rlk_tgt_qty_check CHECK (qty >= 0));
SELECT FROM incr_create_pipeline('rlk', 'rlk_src', 'rlk_tgt', 'n',
                                 mode => 'merge', keys => ARRAY['id']);
INSERT INTO rlk_src VALUES (1, 1, 10), (2, 2, -20);

SET LOCAL statement_timeout = '10s';
LOCK TABLE incr_runs IN SHARE MODE;
CREATE TEMP TABLE rlk_clock AS SELECT clock_timestamp() AS t;
SELECT throws_ok($$SELECT * FROM incr_run('rlk')$$, '23514',
                 'new row for relation "rlk_tgt" violates check constraint "rlk_tgt_qty_check"',
                 'with incr_runs locked IN SHARE MODE, the failing run raises its own error');
SELECT cmp_ok(clock_timestamp() - (SELECT t FROM rlk_clock), '<', interval '5 seconds',
              'and returns within seconds, without waiting for the recorder');

TRUNCATE incr_runs;
UPDATE rlk_clock SET t = clock_timestamp();
SELECT throws_ok($$SELECT * FROM incr_run('rlk')$$, '23514',
                 'new row for relation "rlk_tgt" violates check constraint "rlk_tgt_qty_check"',
                 'after TRUNCATE incr_runs in the same transaction, the failing run raises its own error');
SELECT cmp_ok(clock_timestamp() - (SELECT t FROM rlk_clock), '<', interval '5 seconds',
              'and returns within seconds');

-- the run that can be recorded still is, in this transaction
UPDATE rlk_src SET qty = 20 WHERE id = 2;
SELECT results_eq($$SELECT status, rows_inserted FROM incr_run('rlk')$$,
                  $$VALUES ('ok', 2::bigint)$$,
                  'once the row is fixed, the run loads both rows');

SELECT * FROM finish();
ROLLBACK;
