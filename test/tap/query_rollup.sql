-- query_rollup: a query pipeline runs the user's command with $1 the
-- checkpoint (exclusive; -infinity before the first run) and $2 the window's
-- end (inclusive), and moves the checkpoint to $2:
--   * an hourly rollup written with INSERT ... ON CONFLICT DO UPDATE adding
--     counts and sums stays equal to a GROUP BY over the whole source after
--     every run, over four runs of random rows whose batches share hours;
--   * $2 is the source's greatest cursor value, so the checkpoint is the
--     greatest cursor value loaded; a run with nothing new passes $1 = $2 and
--     the checkpoint stays; a run over an empty source sets no checkpoint;
--   * rows_inserted is the number of rows the command affected (here: hour
--     buckets written); nothing is counted as updated or deleted;
--   * incr_plan shows the command as it will run, with $1 marked exclusive;
--   * several statements, utility statements, transaction control and
--     SELECT INTO are refused when the pipeline is created (22023, 0A000),
--     as are keys and a lag;
--   * while another transaction is open, $2 stays strictly below its start
--     (a row it could still commit at that time is left for a later run);
--   * incr_backfill(name, from, to) runs the command with $1 = from
--     (exclusive) and $2 = the lesser of to and the checkpoint, records the
--     run with trigger backfill and its window, and leaves the checkpoint;
--     after deleting the buckets of a day, a backfill of that day restores
--     the rollup.
BEGIN;
SELECT plan(35);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

CREATE TABLE qr_events (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz NOT NULL, amount numeric(10,2));
CREATE INDEX ON qr_events (at);
CREATE TABLE qr_hourly (hour timestamptz PRIMARY KEY, n bigint NOT NULL, total numeric NOT NULL);

-- The rollup computed from scratch.
CREATE VIEW qr_recompute AS
    SELECT date_trunc('hour', at) AS hour, count(*) AS n, sum(amount) AS total
    FROM qr_events GROUP BY 1;

-- Insert n random events at times in [start, start + 10.5 hours): batches
-- end and start in the middle of an hour.
CREATE FUNCTION pg_temp.qr_batch(start timestamptz, n int) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO qr_events (at, amount)
    SELECT start + random() * interval '10 hours 30 minutes', round((random() * 200 - 100)::numeric, 2)
    FROM generate_series(1, n)
$$;

-- The hour buckets a run past the checkpoint will write.
CREATE TABLE qr_expect (run int PRIMARY KEY, buckets bigint, greatest timestamptz);
CREATE FUNCTION pg_temp.qr_expect(run int) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO qr_expect
    SELECT run, count(DISTINCT date_trunc('hour', at)), max(at) FROM qr_events
    WHERE at > coalesce((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'qr'), '-infinity')
$$;

SELECT FROM incr_create_pipeline('qr', 'qr_events', 'qr_hourly', 'at', mode => 'query', command => $cmd$
    INSERT INTO qr_hourly AS h (hour, n, total)
    SELECT date_trunc('hour', at), count(*), sum(amount)
    FROM qr_events
    WHERE at > $1 AND at <= $2
    GROUP BY 1
    ON CONFLICT (hour) DO UPDATE SET n = h.n + EXCLUDED.n, total = h.total + EXCLUDED.total
$cmd$);

SELECT results_eq($$SELECT status, rows_inserted FROM incr_run('qr')$$,
                  $$VALUES ('ok', 0::bigint)$$,
                  'a run over the empty source writes nothing');
SELECT is((SELECT count(*) FROM incr_checkpoints WHERE pipeline = 'qr' AND
                  num_nonnulls(value_timestamptz, value_timestamp, value_date, value_numeric) > 0),
          0::bigint, 'a run over the empty source sets no checkpoint');

SELECT setseed(0.7);
SELECT pg_temp.qr_batch('2024-01-01 00:00+00', 300);
SELECT pg_temp.qr_expect(1);
SELECT results_eq($$SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('qr')$$,
                  $$SELECT buckets, 0::bigint, 0::bigint FROM qr_expect WHERE run = 1$$,
                  'run 1: rows_inserted is the number of hour buckets written');
SELECT results_eq('SELECT * FROM qr_hourly ORDER BY hour', 'SELECT * FROM qr_recompute ORDER BY hour',
                  'run 1: the rollup equals a full recompute');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'qr'),
          (SELECT max(at) FROM qr_events), 'run 1: the checkpoint is the greatest cursor value');

-- Three more batches, each starting in the hour the previous one ended in.
SELECT pg_temp.qr_batch('2024-01-01 10:30+00', 250);
SELECT pg_temp.qr_expect(2);
SELECT results_eq($$SELECT rows_inserted FROM incr_run('qr')$$,
                  $$SELECT buckets FROM qr_expect WHERE run = 2$$,
                  'run 2: one write per hour bucket of the new rows');
SELECT results_eq('SELECT * FROM qr_hourly ORDER BY hour', 'SELECT * FROM qr_recompute ORDER BY hour',
                  'run 2: the rollup equals a full recompute; the shared hour was added to');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'qr'),
          (SELECT max(at) FROM qr_events), 'run 2: the checkpoint is the greatest cursor value');

SELECT pg_temp.qr_batch('2024-01-01 21:00+00', 400);
SELECT pg_temp.qr_expect(3);
SELECT results_eq($$SELECT rows_inserted FROM incr_run('qr')$$,
                  $$SELECT buckets FROM qr_expect WHERE run = 3$$,
                  'run 3: one write per hour bucket of the new rows');
SELECT results_eq('SELECT * FROM qr_hourly ORDER BY hour', 'SELECT * FROM qr_recompute ORDER BY hour',
                  'run 3: the rollup equals a full recompute');

SELECT pg_temp.qr_batch('2024-01-02 07:30+00', 350);
SELECT pg_temp.qr_expect(4);
SELECT results_eq($$SELECT rows_inserted, window_to::timestamptz FROM incr_run('qr')$$,
                  $$SELECT buckets, greatest FROM qr_expect WHERE run = 4$$,
                  'run 4: one write per hour bucket; the window ends at the greatest cursor value');
SELECT results_eq('SELECT * FROM qr_hourly ORDER BY hour', 'SELECT * FROM qr_recompute ORDER BY hour',
                  'run 4: the rollup equals a full recompute');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'qr'),
          (SELECT max(at) FROM qr_events), 'run 4: the checkpoint is the greatest cursor value');

SELECT results_eq($$SELECT rows_inserted, window_from = window_to FROM incr_run('qr')$$,
                  $$VALUES (0::bigint, true)$$,
                  'a run with nothing new: the window is empty ($1 = $2), nothing is written');
SELECT results_eq('SELECT * FROM qr_hourly ORDER BY hour', 'SELECT * FROM qr_recompute ORDER BY hour',
                  'a run with nothing new: the rollup is unchanged');

-- incr_plan
SELECT ok(incr_plan('qr') LIKE E'%\n' || (SELECT rtrim(options->>'command', E'\n ') FROM incr_pipelines WHERE name = 'qr') || ';',
          'incr_plan ends with the command as it will run, and one semicolon');
SELECT is(split_part(incr_plan('qr'), E'\n', 3),
          '-- $2 upper bound, inclusive: ' || (SELECT max(at) FROM qr_events)::text || ' (greatest cursor value)',
          'incr_plan shows $2, the greatest cursor value');
SELECT ok(split_part(incr_plan('qr'), E'\n', 2) LIKE '-- $1 %exclusive%',
          'incr_plan marks $1 of a query pipeline exclusive, as the command uses it');

-- Backfill: the command's parameters, recorded by a probe pipeline.
CREATE TABLE qr_calls (lo timestamptz, hi timestamptz, n bigint);
SELECT FROM incr_create_pipeline('qr_probe', 'qr_events', 'qr_calls', 'at', mode => 'query', command =>
    'INSERT INTO qr_calls SELECT $1, $2, count(*) FROM qr_events WHERE at > $1 AND at <= $2');
SELECT FROM incr_run('qr_probe');
SELECT results_eq($$SELECT c.* FROM incr_backfill('qr_probe', '2024-01-01 05:00+00', '2024-01-01 06:00+00') AS r,
                                    LATERAL (SELECT r.trigger, r.window_from, r.window_to, r.rows_inserted) AS c$$,
                  $$VALUES ('backfill', '2024-01-01 05:00:00+00', '2024-01-01 06:00:00+00', 1::bigint)$$,
                  'backfill: recorded with trigger backfill and its window');
SELECT results_eq($$SELECT c.* FROM incr_backfill('qr_probe', '2024-01-02 12:00+00', '2030-01-01 00:00+00') AS r,
                                    LATERAL (SELECT r.window_from, r.window_to::timestamptz) AS c$$,
                  $$SELECT '2024-01-02 12:00:00+00', max(at) FROM qr_events$$,
                  'backfill past the checkpoint: the window ends at the checkpoint');
SELECT results_eq('SELECT lo, hi, n FROM qr_calls ORDER BY lo',
    $$VALUES ('-infinity'::timestamptz, (SELECT max(at) FROM qr_events),
              (SELECT count(*) FROM qr_events)),
             ('2024-01-01 05:00+00', '2024-01-01 06:00+00',
              (SELECT count(*) FROM qr_events WHERE at > '2024-01-01 05:00+00' AND at <= '2024-01-01 06:00+00')),
             ('2024-01-02 12:00+00', (SELECT max(at) FROM qr_events),
              (SELECT count(*) FROM qr_events WHERE at > '2024-01-02 12:00+00'))$$,
    'the command saw $1 = -infinity, $2 = the greatest value on its first run, and $1 = from, $2 = the end on backfills');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'qr_probe'),
          (SELECT max(at) FROM qr_events), 'backfill: the checkpoint stays at the greatest cursor value');

-- Backfill to repair the rollup: drop the buckets of 2024-01-01 12:00 to
-- 17:59 and re-run the command over exactly those rows.
DELETE FROM qr_hourly WHERE hour >= '2024-01-01 12:00+00' AND hour < '2024-01-01 18:00+00';
SELECT results_eq($$SELECT rows_inserted FROM incr_backfill('qr', '2024-01-01 11:59:59.999999+00',
                                                            '2024-01-01 17:59:59.999999+00')$$,
                  $$VALUES (6::bigint)$$,
                  'repair: the backfill writes the six buckets again');
SELECT results_eq('SELECT * FROM qr_hourly ORDER BY hour', 'SELECT * FROM qr_recompute ORDER BY hour',
                  'repair: the rollup equals a full recompute again');
SELECT results_eq($$SELECT status, rows_inserted FROM incr_run('qr')$$, $$VALUES ('ok', 0::bigint)$$,
                  'repair: the next run has nothing to do; the backfill did not move the checkpoint');

-- In flight: while another session has a transaction open since T, rows at
-- T or later could still commit, so the window ends just below T.
CREATE EXTENSION dblink;
SELECT dblink_connect('qr_writer', format('host=%s port=%s dbname=%s',
                      split_part(current_setting('unix_socket_directories'), ',', 1),
                      current_setting('port'), current_database()));
SELECT dblink_exec('qr_writer', 'BEGIN');
CREATE TEMP TABLE qr_open AS SELECT * FROM dblink('qr_writer', 'SELECT now()') AS t(started timestamptz);
CREATE TABLE qr_live (at timestamptz NOT NULL);
CREATE INDEX ON qr_live (at);
CREATE TABLE qr_live_calls (lo timestamptz, hi timestamptz, n bigint);
SELECT FROM incr_create_pipeline('qr_live', 'qr_live', 'qr_live_calls', 'at', mode => 'query', command =>
    'INSERT INTO qr_live_calls SELECT $1, $2, count(*) FROM qr_live WHERE at > $1 AND at <= $2');
INSERT INTO qr_live SELECT started + d FROM qr_open, unnest(ARRAY[interval '-1 second', interval '-1 microsecond',
                                                                 interval '0']) AS d;
SELECT results_eq($$SELECT window_to::timestamptz FROM incr_run('qr_live')$$,
                  $$SELECT started - interval '1 microsecond' FROM qr_open$$,
                  'in flight: the window ends 1 microsecond before the open transaction started');
SELECT dblink_exec('qr_writer', 'COMMIT');
SELECT FROM incr_run('qr_live');
SELECT results_eq('SELECT lo, hi, n FROM qr_live_calls ORDER BY lo',
                  $$SELECT '-infinity'::timestamptz, started - interval '1 microsecond', 2::bigint FROM qr_open
                    UNION ALL
                    SELECT started - interval '1 microsecond', (SELECT max(at) FROM qr_live), 1 FROM qr_open$$,
                  'in flight: the row at the transaction''s start is left for the run after it ended');
SELECT dblink_disconnect('qr_writer');

-- Commands that cannot run inside a run are refused at creation.
SELECT throws_ok($$SELECT incr_create_pipeline('qr_two', 'qr_events', 'qr_hourly', 'at', mode => 'query',
                      command => 'DELETE FROM qr_hourly WHERE hour > $1; INSERT INTO qr_hourly SELECT $2, 0, 0')$$,
                 '22023', 'command of query pipeline "qr_two" must be exactly one statement, not 2',
                 'two statements are refused');
SELECT throws_ok($$SELECT incr_create_pipeline('qr_none', 'qr_events', 'qr_hourly', 'at', mode => 'query',
                      command => '  ')$$,
                 '22023', 'command of query pipeline "qr_none" must be exactly one statement, not 0',
                 'an empty command is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('qr_vacuum', 'qr_events', 'qr_hourly', 'at', mode => 'query',
                      command => 'VACUUM qr_events')$$,
                 '0A000', 'command of query pipeline "qr_vacuum" must be INSERT, UPDATE, DELETE, MERGE or SELECT',
                 'a utility statement is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('qr_commit', 'qr_events', 'qr_hourly', 'at', mode => 'query',
                      command => 'COMMIT')$$,
                 '0A000', 'command of query pipeline "qr_commit" must be INSERT, UPDATE, DELETE, MERGE or SELECT',
                 'transaction control is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('qr_into', 'qr_events', 'qr_hourly', 'at', mode => 'query',
                      command => 'SELECT * INTO qr_copy FROM qr_events WHERE at > $1 AND at <= $2')$$,
                 '0A000', 'command of query pipeline "qr_into" must be INSERT, UPDATE, DELETE, MERGE or SELECT',
                 'SELECT INTO is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('qr_keys', 'qr_events', 'qr_hourly', 'at', mode => 'query',
                      keys => ARRAY['hour'], command => 'SELECT $1, $2')$$,
                 '22023', 'query pipeline "qr_keys" takes no keys',
                 'keys are refused');
SELECT throws_ok($$SELECT incr_create_pipeline('qr_lag', 'qr_events', 'qr_hourly', 'at', mode => 'query',
                      lag => '1 hour', command => 'SELECT $1, $2')$$,
                 '22023', 'query pipeline "qr_lag" cannot have a lag',
                 'a lag is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('qr_nocmd', 'qr_events', 'qr_hourly', 'at', mode => 'query')$$,
                 '22023', 'query pipeline "qr_nocmd" needs a command',
                 'a query pipeline without a command is refused');

SELECT * FROM finish();
ROLLBACK;
