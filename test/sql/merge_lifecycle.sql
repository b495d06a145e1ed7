-- merge: the latest row per key is upserted; unchanged rows are counted, not
-- rewritten; older rows never overwrite newer ones; pause, reset, drop.
\set VERBOSITY terse
SET timezone = 'UTC';

CREATE TABLE customers (id int PRIMARY KEY, name text, tier text,
                        updated_at timestamptz NOT NULL);
CREATE INDEX ON customers (updated_at);
CREATE TABLE dim_customers (id int PRIMARY KEY, name text, tier text,
                            updated_at timestamptz, loaded_at timestamptz DEFAULT now());

INSERT INTO customers
SELECT g, 'c' || g, 'bronze', timestamptz '2024-01-01' + g * interval '1 hour'
FROM generate_series(1, 6) g;

SELECT name, mode, keys FROM incr_create_pipeline('customers', 'customers',
    'dim_customers', 'updated_at', mode => 'merge', keys => ARRAY['id']);

SELECT rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('customers');
SELECT rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('customers');

-- two changed rows and a new one; the row at the checkpoint is read again, unchanged
UPDATE customers SET tier = 'gold', updated_at = timestamptz '2024-01-02' WHERE id = 2;
UPDATE customers SET updated_at = timestamptz '2024-01-02 01:00' WHERE id = 3;
INSERT INTO customers VALUES (7, 'c7', 'silver', timestamptz '2024-01-02 02:00');
SELECT rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('customers');
SELECT id, name, tier, updated_at FROM dim_customers ORDER BY id;

-- a source with one row per key (primary key) holds each key's current
-- state, which wins even when its cursor is older than the target's
UPDATE dim_customers SET tier = 'platinum', updated_at = timestamptz '2024-06-01' WHERE id = 4;
SELECT incr_reset('customers', NULL);
SELECT rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('customers');
SELECT id, tier, updated_at FROM dim_customers WHERE id = 4;

-- a change log holds several versions per key: the latest wins, and a
-- version older than the target's never overwrites it
CREATE TABLE customer_changes (id int, name text, tier text, updated_at timestamptz NOT NULL);
INSERT INTO customer_changes VALUES
  (1, 'c1', 'bronze', '2024-02-01'), (1, 'c1', 'silver', '2024-02-02'),
  (2, 'c2', 'gold',   '2024-02-01');
CREATE TABLE dim_from_log (id int PRIMARY KEY, name text, tier text, updated_at timestamptz);
SELECT name FROM incr_create_pipeline('from_log', 'customer_changes', 'dim_from_log',
    'updated_at', mode => 'merge', keys => ARRAY['id']);
SELECT rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('from_log');
-- a late event for key 2, older than what the target has, within a backfill
INSERT INTO customer_changes VALUES (2, 'c2', 'bronze', '2024-01-15');
SELECT rows_read, rows_inserted, rows_updated, rows_unchanged
FROM incr_backfill('from_log', '2024-01-01', '2024-03-01');
SELECT * FROM dim_from_log ORDER BY id;

-- pause and resume
SELECT incr_pause('customers');
SELECT incr_run('customers');
SELECT incr_resume('customers');
SELECT status FROM incr_run('customers');

-- reset to a value: the next run starts there
SELECT incr_reset('customers', '2024-01-02 01:00+00');
SELECT checkpoint FROM incr_status WHERE pipeline = 'customers';
SELECT rows_read, window_from FROM incr_run('customers');

-- drop: the pipeline and its checkpoint go, the history stays
SELECT incr_drop_pipeline('customers');
SELECT count(*) FROM incr_pipelines WHERE name = 'customers';
SELECT count(*) FROM incr_checkpoints WHERE pipeline = 'customers';
SELECT count(*) > 0 AS history_kept FROM incr_runs WHERE pipeline = 'customers';
