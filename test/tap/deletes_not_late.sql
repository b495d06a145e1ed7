-- deletes_not_late: rows_late counts the rows a run wrote at or below the
-- checkpoint it started from (reference.md), never the rows it deleted: a
-- merge run that hard-deletes three rows, each with a new cursor value,
-- reports rows_deleted 3 and rows_late 0, and late_rows_1d stays 0; a row
-- written late in the same run is still counted.  So does an scd2 run: a
-- delete within the lag closes a version (deleted, not late), a change
-- within the lag opens one (late).
BEGIN;
SELECT plan(6);
SET LOCAL client_min_messages = warning;

CREATE TABLE dnl_src (id int PRIMARY KEY, v text, gone boolean NOT NULL DEFAULT false,
                      updated_at timestamptz NOT NULL);
CREATE INDEX ON dnl_src (updated_at);
CREATE TABLE dnl_tgt (id int PRIMARY KEY, v text, updated_at timestamptz);
INSERT INTO dnl_src (id, v, updated_at)
SELECT g, 'v' || g, timestamptz '2024-01-01 00:00+00' + g * interval '1 minute'
FROM generate_series(1, 5) g;
SELECT incr_create_pipeline('dnl', 'dnl_src', 'dnl_tgt', 'updated_at', mode => 'merge',
                            keys => ARRAY['id'], delete_column => 'gone');
SELECT results_eq($$SELECT rows_inserted, rows_late FROM incr_run('dnl')$$,
                  $$VALUES (5::bigint, 0::bigint)$$, 'the first run loads five rows');

-- three deletes, each stamped after the checkpoint
UPDATE dnl_src SET gone = true, updated_at = timestamptz '2024-01-02 00:00+00' + id * interval '1 second'
WHERE id <= 3;
SELECT results_eq($$SELECT rows_deleted, rows_late FROM incr_run('dnl')$$,
                  $$VALUES (3::bigint, 0::bigint)$$,
                  'three hard deletes are deleted rows, not late rows');
SELECT is((SELECT late_rows_1d FROM incr_status WHERE pipeline = 'dnl'), 0::numeric,
          'late_rows_1d is not inflated by deletes');

-- a row written at the checkpoint's value (a tie read again) is still late
INSERT INTO dnl_src VALUES (6, 'v6', false, (SELECT checkpoint::timestamptz FROM incr_status WHERE pipeline = 'dnl'));
SELECT results_eq($$SELECT rows_inserted, rows_late FROM incr_run('dnl')$$,
                  $$VALUES (1::bigint, 1::bigint)$$,
                  'a row written at the checkpoint is counted late');

-- scd2 with a lag: key 4 deleted and key 5 changed, both below the checkpoint
CREATE TABLE dnl_hist (id int NOT NULL, v text, valid_from timestamptz NOT NULL, valid_to timestamptz,
                       is_current boolean NOT NULL, PRIMARY KEY (id, valid_from));
SELECT incr_create_pipeline('dnl_scd2', 'dnl_src', 'dnl_hist', 'updated_at', mode => 'scd2',
                            keys => ARRAY['id'], delete_column => 'gone', lag => '1 day');
SELECT results_eq($$SELECT rows_inserted, rows_late FROM incr_run('dnl_scd2')$$,
                  $$VALUES (3::bigint, 0::bigint)$$, 'scd2: the first run opens three versions');
UPDATE dnl_src SET gone = true, updated_at = timestamptz '2024-01-02 00:00+00' WHERE id = 4;
UPDATE dnl_src SET v = 'changed', updated_at = timestamptz '2024-01-02 00:00+00' WHERE id = 5;
UPDATE dnl_src SET updated_at = timestamptz '2024-01-03 00:00+00' WHERE id = 6;
SELECT results_eq($$SELECT rows_updated, rows_deleted, rows_late FROM incr_run('dnl_scd2')$$,
                  $$VALUES (1::bigint, 1::bigint, 1::bigint)$$,
                  'scd2: a delete below the checkpoint is a deleted row, a change there a late row');

SELECT * FROM finish();
ROLLBACK;
