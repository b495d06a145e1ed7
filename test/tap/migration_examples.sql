-- migration_examples: the incremental side of every example in
-- doc/migration.md does what the guide says.  The guide's SQL blocks appear
-- here verbatim, between "-- doc:" and "-- end doc" lines (change one,
-- change the other); the assertions after each check its claims:
--   * a hand-written "WHERE updated_at > last_run" merge job is replaced by a
--     merge pipeline started where the job stopped, less a margin: the rows
--     the job loaded are read again and left unchanged, the row it skipped
--     (committed after its run, stamped before it) and the new rows are
--     loaded; the target then equals the source;
--   * a dbt incremental model (merge, unique_key, append_new_columns) is a
--     view as the source of a merge pipeline with on_schema_change =>
--     'add_columns': a column added to the view is added to the target and
--     filled in the rows written since, the others stay NULL; a full refresh
--     (TRUNCATE, incr_reset to NULL, a run) fills every row;
--   * a dbt delete+insert model that aggregates per key is a query pipeline
--     that recomputes the keys its window touches: the totals equal a GROUP
--     BY over the whole source after every run, and a run rewrites only the
--     keys whose rows changed;
--   * a pg_incremental sequence pipeline that has already filled part of
--     its rollup (its catalog reproduced: last_processed_sequence_number
--     300) is taken over by a query pipeline over the identity column with
--     "> $1 AND <= $2", its checkpoint reset to pg_incremental's last
--     processed id: after the first run the rollup equals the truth (no event
--     counted twice), the daily counts equal a full recompute after every
--     run, and a run with nothing new writes nothing ($1 = $2);
--   * a pg_incremental time interval pipeline (exact distinct counts per
--     day) is a query pipeline that recomputes the days its window touches:
--     equal to a full recompute after every run, also when a run adds rows to
--     a day an earlier run wrote.
BEGIN;
SELECT plan(26);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- The counts of a pipeline's last run.
CREATE FUNCTION pg_temp.mig_last(pipeline text,
    OUT rows_read bigint, OUT rows_inserted bigint, OUT rows_updated bigint, OUT rows_unchanged bigint)
LANGUAGE sql AS $$
    SELECT r.rows_read, r.rows_inserted, r.rows_updated, r.rows_unchanged FROM incr_runs AS r
    WHERE r.pipeline = mig_last.pipeline ORDER BY r.run_id DESC LIMIT 1
$$;

-------------------------------------------------------------------------------
-- doc: the source of the first two sections
CREATE TABLE mig_orders (
    id          bigint PRIMARY KEY,
    customer_id int NOT NULL,
    status      text NOT NULL,
    amount      numeric(10,2) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON mig_orders (updated_at);
-- end doc

-------------------------------------------------------------------------------
-- 1. A hand-written job.  Its state and its target, as the job left them:
-- it last ran at 09:30 and loaded rows 1-3.  Row 4 was stamped 09:25 by a
-- transaction that committed after 09:30: the job's next "> 09:30" skips it.
CREATE TABLE mig_etl_state (job text PRIMARY KEY, last_run timestamptz NOT NULL);
CREATE TABLE mig_dw_orders (LIKE mig_orders INCLUDING DEFAULTS, PRIMARY KEY (id));
INSERT INTO mig_orders VALUES
    (1, 10, 'new', 10.00, '2024-05-01 09:00+00'),
    (2, 10, 'new', 20.00, '2024-05-01 09:10+00'),
    (3, 20, 'new', 30.00, '2024-05-01 09:20+00'),
    (4, 30, 'new', 40.00, '2024-05-01 09:25+00');
INSERT INTO mig_dw_orders SELECT * FROM mig_orders WHERE id <= 3;
INSERT INTO mig_etl_state VALUES ('orders', '2024-05-01 09:30+00');

\o /dev/null
-- doc: the replacement
SELECT incr_create_pipeline('mig_orders', 'mig_orders', 'mig_dw_orders', 'updated_at',
                            mode => 'merge', keys => ARRAY['id']);
-- go on from where the job stopped, less a margin: re-reading is harmless
SELECT incr_reset('mig_orders',
                  (SELECT (last_run - interval '1 hour')::text FROM mig_etl_state WHERE job = 'orders'));
SELECT incr_schedule('mig_orders', '5 minutes');
-- end doc
\o

-- New work arrives: row 2 changes, row 5 is new.
UPDATE mig_orders SET status = 'shipped', updated_at = '2024-05-01 10:00+00' WHERE id = 2;
INSERT INTO mig_orders VALUES (5, 20, 'new', 50.00, '2024-05-01 10:05+00');

SELECT results_eq(
    $$SELECT rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('mig_orders')$$,
    $$VALUES (5::bigint, 2::bigint, 1::bigint, 2::bigint)$$,
    'hand-written job: the first run reads from 08:30, loads the skipped row 4 and the new row 5, updates row 2, leaves rows 1 and 3');
SELECT results_eq('SELECT * FROM mig_dw_orders ORDER BY id', 'SELECT * FROM mig_orders ORDER BY id',
                  'hand-written job: the target equals the source');
SELECT is((SELECT checkpoint FROM incr_status WHERE pipeline = 'mig_orders'), '2024-05-01 10:05:00+00',
          'hand-written job: the checkpoint is the greatest updated_at loaded');
SELECT is((SELECT schedule FROM incr_pipelines WHERE name = 'mig_orders'), interval '5 minutes',
          'hand-written job: the pipeline is scheduled every 5 minutes');
SELECT results_eq(
    $$SELECT rows_read, rows_inserted, rows_updated FROM incr_run('mig_orders')$$,
    $$VALUES (1::bigint, 0::bigint, 0::bigint)$$,
    'hand-written job: a run with nothing new reads the checkpoint''s row again and writes nothing');

-------------------------------------------------------------------------------
-- 2. dbt.  A merge model with unique_key and on_schema_change =
-- 'append_new_columns': the model's SELECT is a view.
\o /dev/null
-- doc: the merge model
CREATE VIEW mig_orders_model AS
    SELECT id, customer_id, upper(status) AS status, amount, updated_at FROM mig_orders;
CREATE TABLE mig_fct_orders (
    id          bigint PRIMARY KEY,
    customer_id int,
    status      text,
    amount      numeric(10,2),
    updated_at  timestamptz
);
SELECT incr_create_pipeline('mig_fct_orders', 'mig_orders_model', 'mig_fct_orders', 'updated_at',
                            mode => 'merge', keys => ARRAY['id'],
                            on_schema_change => 'add_columns');
SELECT incr_run('mig_fct_orders');        -- the first run loads the whole model
-- end doc
\o
SELECT is((SELECT rows_inserted FROM pg_temp.mig_last('mig_fct_orders')), 5::bigint,
          'dbt merge: the first run loads the whole model');
SELECT results_eq('SELECT * FROM mig_fct_orders ORDER BY id', 'SELECT * FROM mig_orders_model ORDER BY id',
                  'dbt merge: the target equals the model');

UPDATE mig_orders SET status = 'paid', updated_at = '2024-05-01 11:00+00' WHERE id = 3;
SELECT results_eq($$SELECT rows_inserted, rows_updated FROM incr_run('mig_fct_orders')$$,
                  $$VALUES (0::bigint, 1::bigint)$$,
                  'dbt merge: a changed order is updated');

\o /dev/null
-- doc: the model gets a column
CREATE OR REPLACE VIEW mig_orders_model AS
    SELECT id, customer_id, upper(status) AS status, amount, updated_at, 'EUR'::text AS currency
    FROM mig_orders;
-- end doc
\o
UPDATE mig_orders SET amount = 35.00, updated_at = '2024-05-01 11:30+00' WHERE id = 3;
SELECT results_eq($$SELECT rows_inserted, rows_updated FROM incr_run('mig_fct_orders')$$,
                  $$VALUES (0::bigint, 1::bigint)$$,
                  'dbt on_schema_change: the run after the view gained a column updates the changed order');
SELECT results_eq('SELECT id, currency FROM mig_fct_orders ORDER BY id',
                  $$VALUES (1::bigint, NULL::text), (2, NULL), (3, 'EUR'), (4, NULL), (5, NULL)$$,
                  'dbt on_schema_change: the column was added; rows written since carry it, the others are NULL');

\o /dev/null
-- doc: a full refresh
TRUNCATE mig_fct_orders;
SELECT incr_reset('mig_fct_orders', NULL);
SELECT incr_run('mig_fct_orders');
-- end doc
\o
SELECT is((SELECT rows_inserted FROM pg_temp.mig_last('mig_fct_orders')), 5::bigint,
          'dbt full refresh: the run after TRUNCATE and incr_reset(NULL) loads every row');
SELECT results_eq('SELECT * FROM mig_fct_orders ORDER BY id', 'SELECT * FROM mig_orders_model ORDER BY id',
                  'dbt full refresh: the target equals the model, the new column filled');

-- A delete+insert model that aggregates per customer.
\o /dev/null
-- doc: the delete+insert model
CREATE TABLE mig_customer_totals (
    customer_id int PRIMARY KEY,
    orders      bigint NOT NULL,
    amount      numeric NOT NULL
);
SELECT incr_create_pipeline('mig_customer_totals', 'mig_orders', 'mig_customer_totals', 'updated_at',
                            mode => 'query', command => $$
    INSERT INTO public.mig_customer_totals AS t (customer_id, orders, amount)
    SELECT o.customer_id, count(*), sum(o.amount)
    FROM public.mig_orders AS o
    WHERE o.customer_id IN (SELECT customer_id FROM public.mig_orders
                            WHERE updated_at > $1 AND updated_at <= $2)
    GROUP BY o.customer_id
    ON CONFLICT (customer_id) DO UPDATE SET orders = EXCLUDED.orders, amount = EXCLUDED.amount
$$);
-- end doc
\o
CREATE VIEW mig_customer_totals_expected AS
    SELECT customer_id, count(*) AS orders, sum(amount) AS amount FROM mig_orders GROUP BY customer_id;
SELECT is((SELECT rows_inserted FROM incr_run('mig_customer_totals')), 3::bigint,
          'dbt delete+insert: the first run writes the three customers');
SELECT results_eq('SELECT * FROM mig_customer_totals ORDER BY 1',
                  'SELECT * FROM mig_customer_totals_expected ORDER BY 1',
                  'dbt delete+insert: the totals equal a GROUP BY over the source');
UPDATE mig_orders SET amount = 12.50, updated_at = '2024-05-01 12:00+00' WHERE id = 1;
INSERT INTO mig_orders VALUES (6, 30, 'new', 60.00, '2024-05-01 12:05+00');
SELECT is((SELECT rows_inserted FROM incr_run('mig_customer_totals')), 2::bigint,
          'dbt delete+insert: the next run rewrites only the two customers whose orders changed');
SELECT results_eq('SELECT * FROM mig_customer_totals ORDER BY 1',
                  'SELECT * FROM mig_customer_totals_expected ORDER BY 1',
                  'dbt delete+insert: the totals still equal a GROUP BY over the source');

-------------------------------------------------------------------------------
-- 3. pg_incremental.
-- doc: the source of both examples
CREATE TABLE mig_events (
    event_id   bigint GENERATED ALWAYS AS IDENTITY,
    event_time timestamptz NOT NULL DEFAULT now(),
    client_id  bigint,
    path       text
);
CREATE INDEX ON mig_events (event_id);
CREATE INDEX ON mig_events (event_time);
-- end doc
INSERT INTO mig_events (event_time, client_id, path)
SELECT timestamptz '2024-05-01 00:00+00' + g * interval '7 minutes', g % 5, '/page-' || (g % 3)
FROM generate_series(1, 500) AS g;

-- A sequence pipeline taken over from pg_incremental, which has already
-- aggregated ids 1 to 300.  Its catalog is reproduced: the columns of
-- pg_incremental's incremental.pipelines and incremental.sequence_pipelines
-- that the switch reads, as plain tables in a schema named as its own
-- (pg_incremental is not installed here), and drop_pipeline as far as the
-- switch needs it (its state goes).
CREATE SCHEMA incremental;
CREATE TABLE incremental.pipelines (
    pipeline_name   text PRIMARY KEY,
    pipeline_type   "char" NOT NULL,
    owner_id        oid NOT NULL,
    source_relation regclass,
    command         text
);
CREATE TABLE incremental.sequence_pipelines (
    pipeline_name   text PRIMARY KEY REFERENCES incremental.pipelines ON DELETE CASCADE,
    sequence_name   regclass NOT NULL,
    last_processed_sequence_number bigint
);
CREATE FUNCTION incremental.drop_pipeline(name text) RETURNS void LANGUAGE sql
    AS $$ DELETE FROM incremental.pipelines WHERE pipeline_name = name $$;
CREATE TABLE mig_events_agg (day timestamptz PRIMARY KEY, event_count bigint);
-- pg_incremental's executions so far: its command over ids 1..300, both included
PREPARE mig_pgi_command(bigint, bigint) AS
    insert into mig_events_agg
    select date_trunc('day', event_time), count(*)
    from mig_events
    where event_id between $1 and $2
    group by 1
    on conflict (day) do update set event_count = mig_events_agg.event_count + excluded.event_count;
EXECUTE mig_pgi_command(1, 120);
EXECUTE mig_pgi_command(121, 300);
INSERT INTO incremental.pipelines
VALUES ('event-aggregation', 's', 10, 'mig_events', 'insert into mig_events_agg ...');
INSERT INTO incremental.sequence_pipelines
VALUES ('event-aggregation', pg_get_serial_sequence('mig_events', 'event_id')::regclass, 300);
CREATE VIEW mig_events_agg_expected AS
    SELECT date_trunc('day', event_time, 'UTC') AS day, count(*) AS event_count FROM mig_events GROUP BY 1;
SELECT isnt((SELECT count(*) FROM mig_events_agg), 0::bigint,
            'pg_incremental sequence: pg_incremental has filled part of the rollup');

\o /dev/null
-- doc: take over, lock
SELECT last_processed_sequence_number
FROM incremental.sequence_pipelines
WHERE pipeline_name = 'event-aggregation'
FOR UPDATE;
-- end doc
\o
\o /dev/null
-- doc: take over, create and reset
SELECT name FROM incr_create_pipeline('mig_event_aggregation', 'mig_events', 'mig_events_agg', 'event_id',
                                      mode => 'query', command => $$
    insert into public.mig_events_agg
    select date_trunc('day', event_time, 'UTC'), count(*)
    from public.mig_events
    where event_id > $1 and event_id <= $2
    group by 1
    on conflict (day) do update set event_count = mig_events_agg.event_count + excluded.event_count;
$$);
SELECT * FROM incr_reset('mig_event_aggregation',
                         (SELECT last_processed_sequence_number::text
                          FROM incremental.sequence_pipelines
                          WHERE pipeline_name = 'event-aggregation'));
-- end doc
\o
SELECT results_eq($$SELECT checkpoint FROM incr_status WHERE pipeline = 'mig_event_aggregation'$$,
                  $$VALUES ('300'::text)$$,
                  'pg_incremental sequence: the checkpoint is pg_incremental''s last processed id');
\o /dev/null
-- doc: take over, drop pg_incremental's pipeline
SELECT incremental.drop_pipeline('event-aggregation');
-- end doc
-- doc: the sequence pipeline
SELECT incr_run('mig_event_aggregation');                    -- the events since the switch
SELECT incr_schedule('mig_event_aggregation', '1 minute');   -- schedule '* * * * *'
-- end doc
\o
SELECT results_eq('SELECT * FROM mig_events_agg ORDER BY day', 'SELECT * FROM mig_events_agg_expected ORDER BY day',
                  'pg_incremental sequence: after the switch the rollup equals the truth (no event counted twice)');
SELECT is((SELECT schedule FROM incr_pipelines WHERE name = 'mig_event_aggregation'), interval '1 minute',
          'pg_incremental sequence: the pipeline is scheduled every minute');
INSERT INTO mig_events (event_time, client_id, path)
SELECT timestamptz '2024-05-03 10:00+00' + g * interval '11 minutes', g % 7, '/page-' || (g % 3)
FROM generate_series(1, 300) AS g;
SELECT is((SELECT rows_inserted FROM incr_run('mig_event_aggregation')), 3::bigint,
          'pg_incremental sequence: the next run adds to the three days of the new events');
SELECT results_eq('SELECT * FROM mig_events_agg ORDER BY day', 'SELECT * FROM mig_events_agg_expected ORDER BY day',
                  'pg_incremental sequence: the counts equal a full recompute');
SELECT results_eq($$SELECT rows_inserted, window_from = window_to FROM incr_run('mig_event_aggregation')$$,
                  $$VALUES (0::bigint, true)$$,
                  'pg_incremental sequence: a run with nothing new writes nothing ($1 = $2)');

-- A time interval pipeline with exact distinct counts.
\o /dev/null
-- doc: the time interval pipeline
CREATE TABLE mig_daily_clients (day timestamptz PRIMARY KEY, clients bigint NOT NULL);
SELECT incr_create_pipeline('mig_daily_clients', 'mig_events', 'mig_daily_clients', 'event_time',
                            mode => 'query', command => $$
    insert into public.mig_daily_clients as d (day, clients)
    select date_trunc('day', e.event_time, 'UTC'), count(distinct e.client_id)
    from public.mig_events as e
    where e.event_time >= date_trunc('day', $1, 'UTC')
      and e.event_time < date_trunc('day', $2, 'UTC') + interval '1 day'
    group by 1
    on conflict (day) do update set clients = excluded.clients
$$);
SELECT incr_run('mig_daily_clients');
-- end doc
\o
CREATE VIEW mig_daily_clients_expected AS
    SELECT date_trunc('day', event_time, 'UTC') AS day, count(DISTINCT client_id) AS clients
    FROM mig_events GROUP BY 1;
SELECT results_eq('SELECT * FROM mig_daily_clients ORDER BY day',
                  'SELECT * FROM mig_daily_clients_expected ORDER BY day',
                  'pg_incremental time interval: the first run counts every day');
-- clients 7 and 8 appear later on 2024-05-05, the day of the checkpoint,
-- which the first run wrote; client 1 on the next day
INSERT INTO mig_events (event_time, client_id, path)
VALUES ('2024-05-05 20:00+00', 7, '/'), ('2024-05-05 21:00+00', 8, '/'), ('2024-05-06 09:00+00', 1, '/');
SELECT is((SELECT rows_inserted FROM incr_run('mig_daily_clients')), 2::bigint,
          'pg_incremental time interval: the next run recomputes the two days its window touches');
SELECT results_eq('SELECT * FROM mig_daily_clients ORDER BY day',
                  'SELECT * FROM mig_daily_clients_expected ORDER BY day',
                  'pg_incremental time interval: the distinct counts equal a full recompute');

SELECT * FROM finish();
ROLLBACK;
