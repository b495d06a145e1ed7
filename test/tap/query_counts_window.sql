-- query_counts_window: a query pipeline's run reports what a user can rely
-- on: rows_read and rows_in_window are the source rows in the run's window
-- (not 0), rows_affected (and rows_inserted, as before) the rows its command
-- wrote (one rollup row for 100 events); a run with nothing new reads 0.
-- Other modes fill the new columns too: rows_in_window = rows_read,
-- rows_affected = inserted + updated + deleted.
BEGIN;
SELECT plan(4);
SET LOCAL client_min_messages = warning;

CREATE TABLE qcw_events (id bigint GENERATED ALWAYS AS IDENTITY, n int);
CREATE INDEX ON qcw_events (id);
CREATE TABLE qcw_total (k int PRIMARY KEY, c bigint NOT NULL);
INSERT INTO qcw_events (n) SELECT g FROM generate_series(1, 100) g;
SELECT incr_create_pipeline('qcw', 'qcw_events', 'qcw_total', 'id', mode => 'query', command => $$
    insert into public.qcw_total select 1, count(*) from public.qcw_events where id > $1 and id <= $2
    on conflict (k) do update set c = qcw_total.c + excluded.c$$);
SELECT results_eq($$SELECT rows_read, rows_in_window, rows_affected, rows_inserted FROM incr_run('qcw')$$,
                  $$VALUES (100::bigint, 100::bigint, 1::bigint, 1::bigint)$$,
                  'a run over 100 new rows: 100 in the window, 1 row written');
SELECT results_eq($$SELECT rows_read, rows_in_window FROM incr_run('qcw')$$,
                  $$VALUES (0::bigint, 0::bigint)$$,
                  'a run with nothing new: none in the window');

CREATE TABLE qcw_copy (id bigint PRIMARY KEY, n int);
SELECT incr_create_pipeline('qcw_merge', 'qcw_events', 'qcw_copy', 'id', mode => 'merge', keys => ARRAY['id']);
SELECT results_eq($$SELECT rows_read, rows_in_window, rows_affected FROM incr_run('qcw_merge')$$,
                  $$VALUES (100::bigint, 100::bigint, 100::bigint)$$,
                  'merge: rows_in_window is rows_read, rows_affected the rows written');
SELECT results_eq($$SELECT rows_in_window, rows_affected FROM incr_runs WHERE pipeline = 'qcw' ORDER BY run_id LIMIT 1$$,
                  $$VALUES (100::bigint, 1::bigint)$$,
                  'incr_runs keeps both');

SELECT * FROM finish();
ROLLBACK;
