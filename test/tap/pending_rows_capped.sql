-- pending_rows_capped: incr_status says when rows_pending is a cap, not a
-- count: with more than 1,000,000 rows past the checkpoint rows_pending is
-- 1000000 and rows_pending_capped is true; below the cap the count is exact
-- and rows_pending_capped false.
BEGIN;
SELECT plan(2);
SET LOCAL client_min_messages = warning;

CREATE TABLE prc_big (id int PRIMARY KEY);
CREATE TABLE prc_big_copy (id int PRIMARY KEY);
INSERT INTO prc_big SELECT generate_series(1, 1000001);
SELECT FROM incr_create_pipeline('prc_big', 'prc_big', 'prc_big_copy', 'id', mode => 'append');
CREATE TABLE prc_small (id int PRIMARY KEY);
CREATE TABLE prc_small_copy (id int PRIMARY KEY);
INSERT INTO prc_small SELECT generate_series(1, 10);
SELECT FROM incr_create_pipeline('prc_small', 'prc_small', 'prc_small_copy', 'id', mode => 'append');

SELECT results_eq($$SELECT rows_pending, rows_pending_capped FROM incr_status WHERE pipeline = 'prc_big'$$,
                  $$VALUES (1000000::bigint, true)$$,
                  'over the cap: 1000000, and capped says so');
SELECT results_eq($$SELECT rows_pending, rows_pending_capped FROM incr_status WHERE pipeline = 'prc_small'$$,
                  $$VALUES (10::bigint, false)$$,
                  'below the cap: the exact count, not capped');

SELECT * FROM finish();
ROLLBACK;
