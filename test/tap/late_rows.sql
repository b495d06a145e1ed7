-- Late rows: a row that arrives after the run that moved the checkpoint past
-- its cursor value, but within the lag, is loaded and counted in rows_late,
-- so the lag can be sized from data (incr_status.last_rows_late,
-- late_rows_1d).  incr_status names the safe bound each pipeline uses.
BEGIN;
SELECT plan(8);

CREATE TABLE late_src (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX ON late_src (at);
CREATE TABLE late_tgt (id int PRIMARY KEY, at timestamptz);
CREATE TABLE late_tgt_nocursor (id int PRIMARY KEY);
INSERT INTO late_src VALUES (1, '2024-01-01 10:00'), (2, '2024-01-01 11:00');
SELECT incr_create_pipeline('late', 'late_src', 'late_tgt', 'at',
                            mode => 'merge', keys => ARRAY['id'], lag => '1 hour');
SELECT incr_create_pipeline('late_nocursor', 'late_src', 'late_tgt_nocursor', 'at',
                            keys => ARRAY['id'], lag => '1 hour');

SELECT results_eq($$SELECT rows_inserted, rows_late FROM incr_run('late')$$,
                  $$VALUES (2::bigint, 0::bigint)$$,
                  'the first run loads two rows, none late');

-- 30 and 50 minutes behind the checkpoint (11:00), and one new row
INSERT INTO late_src VALUES (3, '2024-01-01 10:30'), (4, '2024-01-01 10:10'),
                            (5, '2024-01-01 12:00');
SELECT results_eq($$SELECT rows_read, rows_inserted, rows_unchanged, rows_late FROM incr_run('late')$$,
                  $$VALUES (5::bigint, 3::bigint, 2::bigint, 2::bigint)$$,
                  'two late rows within the lag are loaded and counted late; the new row is not late');
SELECT results_eq($$SELECT last_rows_late, late_rows_1d FROM incr_status WHERE pipeline = 'late'$$,
                  $$VALUES (2::bigint, 2::numeric)$$,
                  'incr_status shows the late rows of the last run and of the last day');

-- a row later than the lag is not loaded: that is what the lag bounds
INSERT INTO late_src VALUES (6, '2024-01-01 10:00');
SELECT results_eq($$SELECT rows_inserted, rows_late FROM incr_run('late')$$,
                  $$VALUES (0::bigint, 0::bigint)$$,
                  'a row two hours behind the checkpoint is outside the lag');
SELECT is((SELECT count(*) FROM late_tgt WHERE id = 6), 0::bigint,
          'and is not in the target');

SELECT results_eq($$SELECT rows_inserted, rows_late FROM incr_run('late_nocursor')$$,
                  $$VALUES (6::bigint, NULL::bigint)$$,
                  'without the cursor in the target, late rows cannot be told: rows_late is NULL');

SELECT results_eq($$SELECT pipeline, safe_bound FROM incr_status
                    WHERE pipeline LIKE 'late%' ORDER BY pipeline$$,
                  $$VALUES ('late'::text, 'start of the oldest open transaction'::text),
                           ('late_nocursor', 'start of the oldest open transaction')$$,
                  'incr_status names the safe bound');
SET LOCAL incremental.safe_upper_bound = off;
SELECT is((SELECT safe_bound FROM incr_status WHERE pipeline = 'late'),
          'none: incremental.safe_upper_bound is off',
          'and says when it is off');

SELECT * FROM finish();
ROLLBACK;
