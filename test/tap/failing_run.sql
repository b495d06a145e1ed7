-- failing_run: a run that fails, here on a CHECK constraint of the target,
-- raises the error (SQLSTATE 23514) and leaves the target rows and the
-- checkpoint exactly as they were, even though other rows of its batch were
-- valid: nothing of a run is ever half done.  The failure is recorded in
-- incr_runs with status 'error' and the error's text, by a worker in a
-- transaction of its own, so the record outlives the rollback of the run.
-- Once the bad source row is fixed the next run loads the whole batch, each
-- row once.  Checked for merge and for append without keys.
BEGIN;
SELECT plan(14);
SET LOCAL client_min_messages = warning;

-- Failed runs are committed by the recorder and survive the ROLLBACK below,
-- so runs of earlier executions of this file may exist: look past them.
CREATE TEMP TABLE fail_mark AS SELECT coalesce(max(run_id), 0) AS last_run_id FROM incr_runs;

CREATE TABLE fail_src (id int PRIMARY KEY, n bigint NOT NULL, qty int);
CREATE INDEX ON fail_src (n);
CREATE TABLE fail_merge (id int PRIMARY KEY, n bigint,
                         qty int CONSTRAINT fail_merge_qty_check CHECK (qty >= 0));
CREATE TABLE fail_anokey (id int, n bigint,
                          qty int CONSTRAINT fail_anokey_qty_check CHECK (qty >= 0));
SELECT FROM incr_create_pipeline('fail_merge', 'fail_src', 'fail_merge', 'n',
                                 mode => 'merge', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('fail_anokey', 'fail_src', 'fail_anokey', 'n',
                                 mode => 'append');

INSERT INTO fail_src VALUES (1, 1, 10), (2, 2, 20);
CREATE TEMP TABLE fail_first AS
    SELECT * FROM incr_run('fail_merge') UNION ALL SELECT * FROM incr_run('fail_anokey');
SELECT results_eq(
    'SELECT pipeline, status, rows_read, rows_inserted FROM fail_first ORDER BY pipeline',
    $$VALUES ('fail_anokey', 'ok', 2::bigint, 2::bigint), ('fail_merge', 'ok', 2, 2)$$,
    'the first runs load rows 1 and 2');

-- Rows 3 and 5 are valid, row 4 violates the target's CHECK.
INSERT INTO fail_src VALUES (3, 3, 30), (4, 4, -40), (5, 5, 50);

SELECT throws_ok($$SELECT * FROM incr_run('fail_merge')$$, '23514',
                 'new row for relation "fail_merge" violates check constraint "fail_merge_qty_check"',
                 'merge: the run raises the check violation');
SELECT throws_ok($$SELECT * FROM incr_run('fail_anokey')$$, '23514',
                 'new row for relation "fail_anokey" violates check constraint "fail_anokey_qty_check"',
                 'append without keys: the run raises the check violation');

SELECT results_eq('SELECT id, n, qty FROM fail_merge ORDER BY id',
                  $$VALUES (1, 1::bigint, 10), (2, 2, 20)$$,
                  'merge: the target holds rows 1 and 2 only; valid rows 3 and 5 were not written either');
SELECT results_eq('SELECT id, n, qty FROM fail_anokey ORDER BY id',
                  $$VALUES (1, 1::bigint, 10), (2, 2, 20)$$,
                  'append without keys: the target holds rows 1 and 2 only; valid rows 3 and 5 were not written either');
SELECT results_eq(
    $$SELECT c.pipeline, c.value_numeric, c.moved_by_run = f.run_id
      FROM incr_checkpoints AS c JOIN fail_first AS f USING (pipeline) ORDER BY c.pipeline$$,
    $$VALUES ('fail_anokey', 2::numeric, true), ('fail_merge', 2, true)$$,
    'the failed runs left both checkpoints at 2, as the first runs set them');

SELECT results_eq(
    $$SELECT pipeline, trigger, status, error
      FROM incr_runs
      WHERE pipeline IN ('fail_merge', 'fail_anokey') AND status = 'error'
        AND run_id > (SELECT last_run_id FROM fail_mark)
      ORDER BY pipeline$$,
    $$VALUES ('fail_anokey', 'manual', 'error',
              'new row for relation "fail_anokey" violates check constraint "fail_anokey_qty_check"'),
             ('fail_merge', 'manual', 'error',
              'new row for relation "fail_merge" violates check constraint "fail_merge_qty_check"')$$,
    'each failed run is recorded once in incr_runs with status error and the error text, despite the rollback');
SELECT results_eq(
    $$SELECT pipeline, last_status, last_error FROM incr_status
      WHERE pipeline IN ('fail_merge', 'fail_anokey') ORDER BY pipeline$$,
    $$VALUES ('fail_anokey', 'error',
              'new row for relation "fail_anokey" violates check constraint "fail_anokey_qty_check"'),
             ('fail_merge', 'error',
              'new row for relation "fail_merge" violates check constraint "fail_merge_qty_check"')$$,
    'incr_status shows the failure as the last run and the last error');

-- Fix the bad row; the next run reads rows 2 (the checkpoint's) to 5.
UPDATE fail_src SET qty = 40 WHERE id = 4;

SELECT results_eq(
    $$SELECT status, rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('fail_merge')$$,
    $$VALUES ('ok', 4::bigint, 3::bigint, 0::bigint, 1::bigint)$$,
    'merge: after the fix the run inserts rows 3, 4 and 5');
SELECT results_eq(
    $$SELECT status, rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('fail_anokey')$$,
    $$VALUES ('ok', 4::bigint, 3::bigint, 0::bigint, 1::bigint)$$,
    'append without keys: after the fix the run inserts rows 3, 4 and 5');
SELECT results_eq('SELECT id, n, qty FROM fail_merge ORDER BY id',
                  'SELECT id, n, qty FROM fail_src ORDER BY id',
                  'merge: the target holds every source row once');
SELECT bag_eq('SELECT id, n, qty FROM fail_anokey',
              'SELECT id, n, qty FROM fail_src',
              'append without keys: the target holds every source row once');
SELECT results_eq(
    $$SELECT pipeline, value_numeric FROM incr_checkpoints
      WHERE pipeline IN ('fail_merge', 'fail_anokey') ORDER BY pipeline$$,
    $$VALUES ('fail_anokey', 5::numeric), ('fail_merge', 5::numeric)$$,
    'both checkpoints moved to 5');
SELECT results_eq(
    $$SELECT r.pipeline, r.rows_read, r.rows_inserted, r.rows_updated
      FROM unnest(ARRAY['fail_anokey', 'fail_merge']) AS p, incr_run(p) AS r ORDER BY 1$$,
    $$VALUES ('fail_anokey', 1::bigint, 0::bigint, 0::bigint), ('fail_merge', 1, 0, 0)$$,
    'the runs after that re-read row 5 and write nothing');

SELECT * FROM finish();
ROLLBACK;
