-- silent_misconfiguration: what a new user gets wrong without an error is
-- said aloud, in messages that name what to do:
--   * a query command comparing the cursor with $1 inclusively (BETWEEN $1,
--     >= $1, as pg_incremental's commands do) draws a WARNING at creation
--     and from incr_plan; "> $1" does not;
--   * leaving out mode on a timestamp cursor draws a NOTICE that append was
--     chosen and never applies updates; mode => 'append' or an integer
--     cursor does not;
--   * a schedule for the background worker on a server that did not preload
--     the library draws a WARNING (this cluster does not preload it);
--   * the missing-key hint names the keys; incr_plan ends a command that has
--     its own semicolon without adding a second one;
--   * incr_catch_up says how far it got: unchanged rows, running totals,
--     one final line, no line for a batch that moved nothing.
\set VERBOSITY default
SET timezone = 'UTC';

CREATE TABLE sm_events (id bigint GENERATED ALWAYS AS IDENTITY, n int);
CREATE INDEX ON sm_events (id);
CREATE TABLE sm_rollup (k int PRIMARY KEY, c bigint);
INSERT INTO sm_events (n) SELECT g FROM generate_series(1, 10) g;

-- inclusive lower bounds: warned
SELECT name FROM incr_create_pipeline('sm_between', 'sm_events', 'sm_rollup', 'id', mode => 'query',
    command => $$insert into public.sm_rollup select 1, count(*) from public.sm_events
                 where id BETWEEN $1 AND $2 on conflict (k) do update set c = sm_rollup.c + excluded.c;$$);
SELECT name FROM incr_create_pipeline('sm_ge', 'sm_events', 'sm_rollup', 'id', mode => 'query',
    command => $$insert into public.sm_rollup select 1, count(*) from public.sm_events
                 where id >= $1::bigint and id <= $2 on conflict (k) do nothing$$);
-- the exclusive form: no warning
SELECT name FROM incr_create_pipeline('sm_gt', 'sm_events', 'sm_rollup', 'id', mode => 'query',
    command => $$insert into public.sm_rollup select 1, count(*) from public.sm_events
                 where id > $1 and id <= $2 on conflict (k) do nothing$$);
-- incr_plan warns too, and ends the command with one semicolon
SELECT regexp_replace(incr_plan('sm_between'), '^.*\n', '') AS last_line;

-- mode left out on a timestamp cursor: a NOTICE
CREATE TABLE sm_orders (id int PRIMARY KEY, status text, updated_at timestamptz NOT NULL);
CREATE INDEX ON sm_orders (updated_at);
CREATE TABLE sm_orders_copy (id int, status text, updated_at timestamptz);
SELECT name, mode FROM incr_create_pipeline('sm_orders', 'sm_orders', 'sm_orders_copy', 'updated_at');
-- said, or an integer cursor: none
SELECT name, mode FROM incr_create_pipeline('sm_orders_append', 'sm_orders', 'sm_orders_copy', 'updated_at',
                                            mode => 'append');
SELECT name, mode FROM incr_create_pipeline('sm_orders_id', 'sm_orders', 'sm_orders_copy', 'id');

-- the hint names the key
SELECT name FROM incr_create_pipeline('sm_nokey', 'sm_orders', 'sm_orders_copy', 'updated_at',
                                      mode => 'merge', keys => ARRAY['id']);

-- a schedule no scheduler will run
SELECT incr_schedule('sm_gt', '1 minute');
SELECT name FROM incr_create_pipeline('sm_sched', 'sm_orders', 'sm_orders_copy', 'id',
                                      mode => 'append', schedule => '5 minutes');
SELECT pipeline, schedule, health FROM incr_status WHERE pipeline IN ('sm_gt', 'sm_sched') ORDER BY 1;

-- catch-up: 25 rows in batches of 10, then one final line
CREATE TABLE sm_big (id int PRIMARY KEY, v int);
CREATE INDEX ON sm_big (v);
CREATE TABLE sm_big_copy (id int PRIMARY KEY, v int);
INSERT INTO sm_big SELECT g, g FROM generate_series(1, 25) g;
INSERT INTO sm_big_copy SELECT g, g FROM generate_series(1, 5) g;
SELECT name FROM incr_create_pipeline('sm_big', 'sm_big', 'sm_big_copy', 'v', mode => 'merge',
                                      keys => ARRAY['id'], batch_size => 10);
\set VERBOSITY terse
CALL incr_catch_up('sm_big');
CALL incr_catch_up('sm_big');
CALL incr_catch_up('sm_big', 1);
\set VERBOSITY default
SELECT trigger, rows_read, rows_inserted, rows_unchanged FROM incr_runs WHERE pipeline = 'sm_big' ORDER BY run_id;
