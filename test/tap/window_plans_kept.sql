-- window_plans_kept: the window queries (the batch's end, the value before
-- it, the greatest value before waiting for writers) are planned once per
-- session and kept; what must hold:
--   * run after run on the kept plans, every batch ends on a whole cursor
--     value (ties are never split across batches) and each row is loaded
--     exactly once;
--   * a kept plan follows its source: after the cursor's index is dropped
--     (the plan that used it is invalid) and rows are added, the batches go
--     on exactly as before;
--   * two pipelines over the same source, whose window queries have the
--     same text, each keep their own checkpoint and windows.
BEGIN;
SELECT plan(6);
SET LOCAL client_min_messages = warning;

CREATE TABLE wp_src (id int PRIMARY KEY, seq bigint NOT NULL);
CREATE INDEX wp_src_seq ON wp_src (seq);
CREATE TABLE wp_a (id int PRIMARY KEY, seq bigint);
CREATE TABLE wp_b (id int PRIMARY KEY, seq bigint);
-- 40 rows over 16 values: each value held by 1 to 4 rows
INSERT INTO wp_src SELECT g, (g * 2) / 5 FROM generate_series(1, 40) g;
SELECT incr_create_pipeline('wp_a', 'wp_src', 'wp_a', 'seq', keys => ARRAY['id'], batch_size => 3);
SELECT incr_create_pipeline('wp_b', 'wp_src', 'wp_b', 'seq', keys => ARRAY['id'], batch_size => 7);

CREATE FUNCTION wp_runs(p text, n int) RETURNS TABLE (window_to text, rows_inserted bigint)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        RETURN QUERY SELECT r.window_to, r.rows_inserted FROM incr_run(p) r;
    END LOOP;
END $$;

-- run after run, on the kept plans: each value whole in one batch, each row once
CREATE TEMP TABLE wp_windows AS SELECT 'a' AS p, * FROM wp_runs('wp_a', 25);
INSERT INTO wp_windows SELECT 'b', * FROM wp_runs('wp_b', 10);
SELECT is((SELECT count(*) FROM wp_windows w
           WHERE w.window_to IS NOT NULL
             AND (SELECT count(*) FROM wp_src s WHERE s.seq = w.window_to::bigint) >
                 (SELECT count(*) FROM (SELECT id FROM wp_a WHERE w.p = 'a'
                                        UNION ALL SELECT id FROM wp_b WHERE w.p = 'b') t
                  JOIN wp_src s USING (id) WHERE s.seq = w.window_to::bigint)),
          0::bigint, 'every batch ended on a whole cursor value: all its rows are loaded');
SELECT is((SELECT count(*) FROM wp_a), 40::bigint, 'wp_a: every row once, in batches of 3 on kept plans');
SELECT is((SELECT count(*) FROM wp_b), 40::bigint, 'wp_b: every row once, in batches of 7, same queries');

-- the index goes: plans that used it are made again
DROP INDEX wp_src_seq;
INSERT INTO wp_src SELECT g, (g * 2) / 5 + 100 FROM generate_series(41, 80) g;
SELECT is((SELECT sum(rows_inserted)::bigint FROM wp_runs('wp_a', 25)), 40::bigint,
    'after the index was dropped, the new rows in batches');
SELECT is((SELECT count(*) FROM wp_a a JOIN wp_src s USING (id) WHERE a.seq = s.seq), 80::bigint,
    'wp_a equals the source');
SELECT is((SELECT max(rows_inserted) FROM incr_runs WHERE pipeline = 'wp_a'), 3::bigint,
    'no batch of wp_a inserted more than batch_size rows');

SELECT * FROM finish();
ROLLBACK;
