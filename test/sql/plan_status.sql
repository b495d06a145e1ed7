-- incr_plan shows the statement and window of the next run; incr_status
-- shows each pipeline's checkpoint, last run and last error.
\set VERBOSITY terse
SET timezone = 'UTC';

CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(12,2), seq bigint NOT NULL);
CREATE INDEX ON orders (seq);
CREATE TABLE orders_copy (id bigint PRIMARY KEY, amount numeric(12,2), seq bigint);
CREATE TABLE "Odd Target" ("id" bigint PRIMARY KEY, "amount" numeric(10,1), seq bigint);

INSERT INTO orders SELECT g, g * 1.5, g FROM generate_series(1, 1000) g;

SELECT name FROM incr_create_pipeline('orders', 'orders', 'orders_copy', 'seq',
    mode => 'merge', keys => ARRAY['id'], batch_size => 300);
-- a quoted target name, and a column cast to the target's typmod
SELECT name FROM incr_create_pipeline('odd', 'orders', '"Odd Target"', 'seq',
    mode => 'append', keys => ARRAY['id']);

-- integer cursors: the upper bound is the greatest value, cut by batch_size
SELECT incr_plan('orders');
SELECT incr_plan('odd');

SELECT rows_read, rows_inserted, window_from, window_to FROM incr_run('orders');
SELECT incr_plan('orders');
SELECT rows_read, rows_inserted, window_from, window_to FROM incr_run('orders');
SELECT rows_read, rows_inserted, window_from, window_to FROM incr_run('orders');
SELECT rows_read, rows_inserted, window_from, window_to FROM incr_run('orders');
SELECT rows_read, rows_inserted, window_from, window_to FROM incr_run('orders');

SELECT pipeline, mode, checkpoint, last_status, last_rows_read, last_rows_inserted,
       last_error, rows_pending
FROM incr_status ORDER BY pipeline;

-- a failed run shows up as the last error; its record survives the rollback
ALTER TABLE orders_copy ADD CONSTRAINT small CHECK (amount < 2000);
INSERT INTO orders VALUES (1001, 5000, 1001);
SELECT incr_run('orders');
SELECT pipeline, checkpoint, last_status, last_error, rows_pending
FROM incr_status WHERE pipeline = 'orders';
SELECT status, error FROM incr_runs WHERE pipeline = 'orders' ORDER BY run_id DESC LIMIT 1;
