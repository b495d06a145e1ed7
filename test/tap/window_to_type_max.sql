-- window_to_type_max: a window whose upper bound is the greatest value of
-- the cursor's type (32767 for smallint, 2147483647 for integer) is a bound
-- like any other: incr_runs.window_to shows it, in merge, append and query
-- mode, and the checkpoint is that value.
BEGIN;
SELECT plan(5);
SET LOCAL client_min_messages = warning;

CREATE TABLE wm_src (id int PRIMARY KEY, c smallint NOT NULL);
INSERT INTO wm_src VALUES (1, 5), (2, 32767);
CREATE TABLE wm_tgt (id int PRIMARY KEY, c smallint);
CREATE TABLE wm_q (id int PRIMARY KEY, c smallint);
CREATE TABLE wm4_src (id int PRIMARY KEY, c integer NOT NULL);
INSERT INTO wm4_src VALUES (1, 2147483647);
CREATE TABLE wm4_tgt (id int PRIMARY KEY, c integer);
SELECT incr_create_pipeline('wm_merge', 'wm_src', 'wm_tgt', 'c', mode => 'merge', keys => '{id}');
SELECT incr_create_pipeline('wm_query', 'wm_src', 'wm_q', 'c', mode => 'query',
    command => 'INSERT INTO wm_q SELECT id, c FROM wm_src WHERE c > $1 AND c <= $2');
SELECT incr_create_pipeline('wm_append4', 'wm4_src', 'wm4_tgt', 'c', keys => '{id}');

SELECT results_eq($$SELECT window_from, window_to, rows_inserted FROM incr_run('wm_merge')$$,
                  $$VALUES (NULL::text, '32767'::text, 2::bigint)$$, 'merge smallint: window_to is 32767');
SELECT results_eq($$SELECT window_from, window_to, rows_inserted FROM incr_run('wm_query')$$,
                  $$VALUES (NULL::text, '32767'::text, 2::bigint)$$, 'query smallint: window_to is 32767');
SELECT results_eq($$SELECT window_from, window_to, rows_inserted FROM incr_run('wm_append4')$$,
                  $$VALUES (NULL::text, '2147483647'::text, 1::bigint)$$, 'append integer: window_to is 2147483647');
SELECT results_eq($$SELECT window_to FROM incr_runs WHERE pipeline IN ('wm_merge', 'wm_query', 'wm_append4') ORDER BY run_id$$,
                  $$VALUES ('32767'::text), ('32767'), ('2147483647')$$, 'the history keeps them');
SELECT results_eq($$SELECT pipeline, value_numeric::text FROM incr_checkpoints WHERE pipeline LIKE 'wm\_%' ORDER BY pipeline$$,
                  $$VALUES ('wm_append4'::text, '2147483647'::text), ('wm_merge', '32767'), ('wm_query', '32767')$$,
                  'the checkpoints are the greatest values');

SELECT * FROM finish();
ROLLBACK;
