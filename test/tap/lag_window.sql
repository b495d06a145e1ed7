-- lag_window: with lag => '1 hour' every run reads again the last hour
-- before the checkpoint.  A late row (cursor 30 minutes below the checkpoint)
-- committed after a run is loaded by the next run; rows read again are not
-- duplicated and count as rows_unchanged; the checkpoint does not move back.
-- That is all lag means: a row later than the lag (2 hours below the
-- checkpoint) is NOT loaded by any run; only incr_backfill picks it up.
-- Checked for merge, append with keys and append without keys.
BEGIN;
SELECT plan(31);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- One run of a pipeline: where its window started, and its counts.
CREATE FUNCTION pg_temp.lag_run(pipeline text,
    OUT window_from text, OUT rows_read int, OUT rows_inserted int,
    OUT rows_updated int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.window_from, r.rows_read::int, r.rows_inserted::int,
           r.rows_updated::int, r.rows_unchanged::int
    FROM incr_run(pipeline) AS r
$$;

-- The same, for a backfill of [from_value, to_value].
CREATE FUNCTION pg_temp.lag_backfill(pipeline text, from_value text, to_value text,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int, r.rows_unchanged::int
    FROM incr_backfill(pipeline, from_value, to_value) AS r
$$;

CREATE TABLE lag_src (id int PRIMARY KEY, at timestamptz NOT NULL, v text);
CREATE INDEX ON lag_src (at);
CREATE TABLE lag_merge (id int PRIMARY KEY, at timestamptz, v text);
CREATE TABLE lag_akey (id int PRIMARY KEY, at timestamptz, v text);
CREATE TABLE lag_anokey (id int, at timestamptz, v text);
SELECT FROM incr_create_pipeline('lag_merge', 'lag_src', 'lag_merge', 'at',
                                 mode => 'merge', keys => ARRAY['id'], lag => '1 hour');
SELECT FROM incr_create_pipeline('lag_akey', 'lag_src', 'lag_akey', 'at',
                                 mode => 'append', keys => ARRAY['id'], lag => '1 hour');
SELECT FROM incr_create_pipeline('lag_anokey', 'lag_src', 'lag_anokey', 'at',
                                 mode => 'append', lag => '1 hour');

INSERT INTO lag_src VALUES
    (1, '2024-01-01 10:00+00', 'a'), (2, '2024-01-01 11:00+00', 'b'), (3, '2024-01-01 12:00+00', 'c');

SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_merge')$$,
                  $$VALUES (NULL::text, 3, 3, 0, 0)$$,
                  'merge: the first run reads from the beginning and loads three rows');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_akey')$$,
                  $$VALUES (NULL::text, 3, 3, 0, 0)$$,
                  'append with keys: the first run reads from the beginning and loads three rows');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_anokey')$$,
                  $$VALUES (NULL::text, 3, 3, 0, 0)$$,
                  'append without keys: the first run reads from the beginning and loads three rows');
SELECT results_eq(
    $$SELECT pipeline, value_timestamptz FROM incr_checkpoints
      WHERE pipeline LIKE 'lag\_%' ORDER BY pipeline$$,
    $$VALUES ('lag_akey', timestamptz '2024-01-01 12:00+00'),
             ('lag_anokey', timestamptz '2024-01-01 12:00+00'),
             ('lag_merge', timestamptz '2024-01-01 12:00+00')$$,
    'the checkpoint is the greatest cursor value read, 12:00');

-- A late row, 30 minutes below the checkpoint, committed after the run.
INSERT INTO lag_src VALUES (4, '2024-01-01 11:30+00', 'late');

SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_merge')$$,
                  $$VALUES ('2024-01-01 11:00:00+00', 3, 1, 0, 2)$$,
                  'merge: the window starts an hour before the checkpoint; the late row is inserted, rows 2 and 3 are unchanged');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_akey')$$,
                  $$VALUES ('2024-01-01 11:00:00+00', 3, 1, 0, 2)$$,
                  'append with keys: the late row is inserted, rows 2 and 3 are not inserted again');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_anokey')$$,
                  $$VALUES ('2024-01-01 11:00:00+00', 3, 1, 0, 2)$$,
                  'append without keys: the late row is inserted, rows 2 and 3 are not inserted again');
SELECT results_eq(
    $$SELECT pipeline, value_timestamptz FROM incr_checkpoints
      WHERE pipeline LIKE 'lag\_%' ORDER BY pipeline$$,
    $$VALUES ('lag_akey', timestamptz '2024-01-01 12:00+00'),
             ('lag_anokey', timestamptz '2024-01-01 12:00+00'),
             ('lag_merge', timestamptz '2024-01-01 12:00+00')$$,
    'the late row does not move the checkpoint back');
SELECT bag_eq('SELECT id, at, v FROM lag_merge', 'SELECT id, at, v FROM lag_src',
              'merge: the target holds rows 1 to 4, each once');
SELECT bag_eq('SELECT id, at, v FROM lag_akey', 'SELECT id, at, v FROM lag_src',
              'append with keys: the target holds rows 1 to 4, each once');
SELECT bag_eq('SELECT id, at, v FROM lag_anokey', 'SELECT id, at, v FROM lag_src',
              'append without keys: the target holds rows 1 to 4, each once');

-- A row later than the lag: 2 hours below the checkpoint.  No run reads it.
INSERT INTO lag_src VALUES (5, '2024-01-01 10:00+00', 'too late');

SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_merge')$$,
                  $$VALUES ('2024-01-01 11:00:00+00', 3, 0, 0, 3)$$,
                  'merge: a row two hours below the checkpoint is outside the window');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_akey')$$,
                  $$VALUES ('2024-01-01 11:00:00+00', 3, 0, 0, 3)$$,
                  'append with keys: a row two hours below the checkpoint is outside the window');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_anokey')$$,
                  $$VALUES ('2024-01-01 11:00:00+00', 3, 0, 0, 3)$$,
                  'append without keys: a row two hours below the checkpoint is outside the window');
SELECT results_eq('SELECT id, v FROM lag_merge ORDER BY id',
                  $$VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'late')$$,
                  'merge: the row later than the lag is not loaded');
SELECT results_eq('SELECT id, v FROM lag_akey ORDER BY id',
                  $$VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'late')$$,
                  'append with keys: the row later than the lag is not loaded');
SELECT results_eq('SELECT id, v FROM lag_anokey ORDER BY id',
                  $$VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'late')$$,
                  'append without keys: the row later than the lag is not loaded');

-- Such a row is what incr_backfill is for: [10:00, 10:00] reads rows 1 and 5.
SELECT results_eq($$SELECT * FROM pg_temp.lag_backfill('lag_merge', '2024-01-01 10:00+00', '2024-01-01 10:00+00')$$,
                  $$VALUES (2, 1, 0, 1)$$,
                  'merge: a backfill of its hour loads the row later than the lag');
SELECT results_eq($$SELECT * FROM pg_temp.lag_backfill('lag_akey', '2024-01-01 10:00+00', '2024-01-01 10:00+00')$$,
                  $$VALUES (2, 1, 0, 1)$$,
                  'append with keys: a backfill of its hour loads the row later than the lag');
SELECT results_eq($$SELECT * FROM pg_temp.lag_backfill('lag_anokey', '2024-01-01 10:00+00', '2024-01-01 10:00+00')$$,
                  $$VALUES (2, 1, 0, 1)$$,
                  'append without keys: a backfill of its hour loads the row later than the lag');
SELECT results_eq(
    $$SELECT pipeline, value_timestamptz FROM incr_checkpoints
      WHERE pipeline LIKE 'lag\_%' ORDER BY pipeline$$,
    $$VALUES ('lag_akey', timestamptz '2024-01-01 12:00+00'),
             ('lag_anokey', timestamptz '2024-01-01 12:00+00'),
             ('lag_merge', timestamptz '2024-01-01 12:00+00')$$,
    'the backfill leaves the checkpoint at 12:00');
SELECT bag_eq('SELECT id, at, v FROM lag_merge', 'SELECT id, at, v FROM lag_src',
              'merge: after the backfill the target holds rows 1 to 5, each once');
SELECT bag_eq('SELECT id, at, v FROM lag_akey', 'SELECT id, at, v FROM lag_src',
              'append with keys: after the backfill the target holds rows 1 to 5, each once');
SELECT bag_eq('SELECT id, at, v FROM lag_anokey', 'SELECT id, at, v FROM lag_src',
              'append without keys: after the backfill the target holds rows 1 to 5, each once');

-- A new row past the checkpoint moves it; the window follows it.
INSERT INTO lag_src VALUES (6, '2024-01-01 12:30+00', 'new');

SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_merge')$$,
                  $$VALUES ('2024-01-01 11:00:00+00', 4, 1, 0, 3)$$,
                  'merge: the new row is inserted, the three rows of the lag stretch are unchanged');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_akey')$$,
                  $$VALUES ('2024-01-01 11:00:00+00', 4, 1, 0, 3)$$,
                  'append with keys: the new row is inserted, the lag stretch is not inserted again');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_anokey')$$,
                  $$VALUES ('2024-01-01 11:00:00+00', 4, 1, 0, 3)$$,
                  'append without keys: the new row is inserted, the lag stretch is not inserted again');
SELECT results_eq(
    $$SELECT pipeline, value_timestamptz FROM incr_checkpoints
      WHERE pipeline LIKE 'lag\_%' ORDER BY pipeline$$,
    $$VALUES ('lag_akey', timestamptz '2024-01-01 12:30+00'),
             ('lag_anokey', timestamptz '2024-01-01 12:30+00'),
             ('lag_merge', timestamptz '2024-01-01 12:30+00')$$,
    'the checkpoint moves to the new row, 12:30');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_merge')$$,
                  $$VALUES ('2024-01-01 11:30:00+00', 3, 0, 0, 3)$$,
                  'merge: the next window starts at 11:30 and rereads rows 4, 3 and 6 unchanged');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_akey')$$,
                  $$VALUES ('2024-01-01 11:30:00+00', 3, 0, 0, 3)$$,
                  'append with keys: the next window starts at 11:30 and inserts nothing');
SELECT results_eq($$SELECT * FROM pg_temp.lag_run('lag_anokey')$$,
                  $$VALUES ('2024-01-01 11:30:00+00', 3, 0, 0, 3)$$,
                  'append without keys: the next window starts at 11:30 and inserts nothing');

SELECT * FROM finish();
ROLLBACK;
