-- Rows whose cursor is NaN or infinite are never loaded, and never move the
-- checkpoint: a window ends at the greatest finite value, so later rows keep
-- loading.  incr_reset and incr_backfill refuse such values.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(6);

CREATE TABLE nf_num (id int PRIMARY KEY, c numeric NOT NULL);
CREATE TABLE nf_num_t (id int PRIMARY KEY, c numeric);
CREATE TABLE nf_ts (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE nf_ts_t (id int PRIMARY KEY, at timestamptz);
INSERT INTO nf_num VALUES (1, 1), (2, 'NaN'), (3, 'Infinity');
INSERT INTO nf_ts VALUES (1, '2024-01-01'), (2, 'infinity');
SELECT incr_create_pipeline('nf_num', 'nf_num', 'nf_num_t', 'c', keys => ARRAY['id']);
SELECT incr_create_pipeline('nf_ts', 'nf_ts', 'nf_ts_t', 'at', keys => ARRAY['id']);

SELECT results_eq($$SELECT rows_inserted, window_to FROM incr_run('nf_num')$$,
                  $$VALUES (1::bigint, '1'::text)$$,
                  'numeric: NaN and Infinity are not loaded; the window ends at 1');
INSERT INTO nf_num VALUES (4, 2);
SELECT results_eq($$SELECT rows_inserted, window_to FROM incr_run('nf_num')$$,
                  $$VALUES (1::bigint, '2'::text)$$,
                  'numeric: a later finite row still loads');
SELECT is((SELECT rows_inserted FROM incr_run('nf_ts')), 1::bigint,
          'timestamptz: infinity is not loaded');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'nf_ts'),
          '2024-01-01'::timestamptz, 'timestamptz: the checkpoint stays finite');
SELECT throws_ok($$SELECT incr_reset('nf_num', 'NaN')$$, '22023', 'cursor value "NaN" is not finite',
                 'incr_reset refuses NaN');
SELECT throws_ok($$SELECT incr_backfill('nf_ts', '2024-01-01', 'infinity')$$, '22023',
                 'cursor value "infinity" is not finite', 'incr_backfill refuses infinity');

SELECT * FROM finish();
ROLLBACK;
