-- batch_size: a run processes at most batch_size rows past the checkpoint
-- and ends its window on a whole cursor value, so a value is never split
-- between runs.  When one cursor value alone holds more than batch_size rows,
-- the run that meets it processes that value whole.  Each run also re-reads
-- the rows at the checkpoint's value (not counted against batch_size).
-- Every row is loaded exactly once.  Checked for merge and for append
-- without keys, with a bigint cursor:
--   * 250 distinct values, then 10,000 rows sharing one value, then 250
--     distinct values: eight runs, the fourth loads the 10,000 at once, the
--     fifth re-reads them as the checkpoint's ties, the eighth only re-reads;
--   * 1,000 distinct values: exactly ten runs of 100 new rows, then a run
--     that only re-reads the checkpoint's row.
BEGIN;
SELECT plan(9);
SET LOCAL client_min_messages = warning;

-- Run a pipeline n times; one row per run with its window, counts and the
-- checkpoint it left.
CREATE FUNCTION pg_temp.bs_runs(pipeline text, n int)
RETURNS TABLE (run int, window_from text, window_to text, rows_read int,
               rows_inserted int, rows_unchanged int, checkpoint text)
LANGUAGE plpgsql AS $$
DECLARE
    r incr_runs;
BEGIN
    FOR i IN 1 .. n LOOP
        r := incr_run(pipeline);
        run := i;
        window_from := r.window_from;
        window_to := r.window_to;
        rows_read := r.rows_read;
        rows_inserted := r.rows_inserted;
        rows_unchanged := r.rows_unchanged;
        SELECT c.value_numeric::text INTO checkpoint
        FROM incr_checkpoints AS c WHERE c.pipeline = bs_runs.pipeline;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE TABLE bs_src (id int PRIMARY KEY, n bigint NOT NULL);
CREATE INDEX ON bs_src (n);
INSERT INTO bs_src SELECT g, g FROM generate_series(1, 250) AS g;                 -- n 1..250
INSERT INTO bs_src SELECT 250 + g, 251 FROM generate_series(1, 10000) AS g;       -- n 251 x 10,000
INSERT INTO bs_src SELECT 10250 + g, 251 + g FROM generate_series(1, 250) AS g;   -- n 252..501
ANALYZE bs_src;

CREATE TABLE bs_merge (id int PRIMARY KEY, n bigint);
CREATE TABLE bs_anokey (id int, n bigint);
SELECT FROM incr_create_pipeline('bs_merge', 'bs_src', 'bs_merge', 'n',
                                 mode => 'merge', keys => ARRAY['id'], batch_size => 100);
SELECT FROM incr_create_pipeline('bs_anokey', 'bs_src', 'bs_anokey', 'n',
                                 mode => 'append', batch_size => 100);

SELECT results_eq($$SELECT * FROM pg_temp.bs_runs('bs_merge', 8)$$,
    $$VALUES (1, NULL,  '100', 100,   100,   0,     '100'),
             (2, '100', '200', 101,   100,   1,     '200'),
             (3, '200', '250', 51,    50,    1,     '250'),
             (4, '250', '251', 10001, 10000, 1,     '251'),
             (5, '251', '351', 10100, 100,   10000, '351'),
             (6, '351', '451', 101,   100,   1,     '451'),
             (7, '451', '501', 51,    50,    1,     '501'),
             (8, '501', '501', 1,     0,     1,     '501')$$,
    'merge: runs 1-3 take 100, 100, 50 values; run 4 takes the 10,000 ties whole; run 5 re-reads them; run 8 only re-reads');
SELECT bag_eq('SELECT id, n FROM bs_merge', 'SELECT id, n FROM bs_src',
              'merge: all 10,500 rows are loaded, each once');

SELECT results_eq($$SELECT * FROM pg_temp.bs_runs('bs_anokey', 8)$$,
    $$VALUES (1, NULL,  '100', 100,   100,   0,     '100'),
             (2, '100', '200', 101,   100,   1,     '200'),
             (3, '200', '250', 51,    50,    1,     '250'),
             (4, '250', '251', 10001, 10000, 1,     '251'),
             (5, '251', '351', 10100, 100,   10000, '351'),
             (6, '351', '451', 101,   100,   1,     '451'),
             (7, '451', '501', 51,    50,    1,     '501'),
             (8, '501', '501', 1,     0,     1,     '501')$$,
    'append without keys: the same eight windows and counts');
SELECT bag_eq('SELECT id, n FROM bs_anokey', 'SELECT id, n FROM bs_src',
              'append without keys: all 10,500 rows are loaded, each once');

-- 1,000 distinct values in batches of 100.
CREATE TABLE bs_plain_src (id int PRIMARY KEY, n bigint NOT NULL);
CREATE INDEX ON bs_plain_src (n);
INSERT INTO bs_plain_src SELECT g, g FROM generate_series(1, 1000) AS g;
ANALYZE bs_plain_src;
CREATE TABLE bs_plain_tgt (id int PRIMARY KEY, n bigint);
SELECT FROM incr_create_pipeline('bs_plain', 'bs_plain_src', 'bs_plain_tgt', 'n',
                                 mode => 'merge', keys => ARRAY['id'], batch_size => 100);

CREATE TEMP TABLE bs_plain_runs AS SELECT * FROM pg_temp.bs_runs('bs_plain', 11);

SELECT results_eq(
    $$SELECT run, rows_read, rows_inserted, rows_unchanged, checkpoint
      FROM bs_plain_runs ORDER BY run$$,
    $$VALUES (1,  100, 100, 0, '100'),
             (2,  101, 100, 1, '200'),
             (3,  101, 100, 1, '300'),
             (4,  101, 100, 1, '400'),
             (5,  101, 100, 1, '500'),
             (6,  101, 100, 1, '600'),
             (7,  101, 100, 1, '700'),
             (8,  101, 100, 1, '800'),
             (9,  101, 100, 1, '900'),
             (10, 101, 100, 1, '1000'),
             (11, 1,   0,   1, '1000')$$,
    '1,000 values: ten runs of 100 new rows (each after the first also re-reads the checkpoint''s row), then one that only re-reads');
SELECT is((SELECT count(*)::int FROM bs_plain_runs WHERE rows_inserted > 0), 10,
          '1,000 values: exactly ten runs load rows');
SELECT results_eq(
    $$SELECT window_from, window_to FROM bs_plain_runs WHERE run IN (1, 2, 10) ORDER BY run$$,
    $$VALUES (NULL, '100'), ('100', '200'), ('900', '1000')$$,
    '1,000 values: each window ends on the batch''s last value');
SELECT bag_eq('SELECT id, n FROM bs_plain_tgt', 'SELECT id, n FROM bs_plain_src',
              '1,000 values: every row is loaded once');
SELECT is((SELECT count(*)::int FROM bs_plain_tgt), 1000,
          '1,000 values: the target holds 1,000 rows');

SELECT * FROM finish();
ROLLBACK;
