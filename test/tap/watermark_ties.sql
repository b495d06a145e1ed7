-- watermark_ties: a row whose cursor value equals the checkpoint, committed
-- after the run that moved the checkpoint there, is loaded by the next run
-- and never lost: every run reads the checkpoint's own value again (the
-- window's lower bound is inclusive).  Rows read again that are already in
-- the target are not inserted twice.  This holds for merge with keys, append
-- with keys and append without keys (cursor column in the target), with
-- timestamptz, date and bigint cursors.  Without keys, rows are a multiset:
-- an identical copy committed later is a new row and is loaded once.
BEGIN;
SELECT plan(46);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- One run of a pipeline, as the four counts this file checks.
CREATE FUNCTION pg_temp.ties_run(pipeline text,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int, r.rows_unchanged::int
    FROM incr_run(pipeline) AS r
$$;

-- One source per cursor type; each feeds a merge target, an append target
-- with keys and an append target without keys.
CREATE TABLE ties_tz_src (id int PRIMARY KEY, c timestamptz NOT NULL, v text);
CREATE TABLE ties_day_src (id int PRIMARY KEY, c date NOT NULL, v text);
CREATE TABLE ties_seq_src (id int PRIMARY KEY, c bigint NOT NULL, v text);
CREATE TABLE ties_tz_merge (id int PRIMARY KEY, c timestamptz, v text);
CREATE TABLE ties_tz_akey (id int PRIMARY KEY, c timestamptz, v text);
CREATE TABLE ties_tz_anokey (id int, c timestamptz, v text);
CREATE TABLE ties_day_merge (id int PRIMARY KEY, c date, v text);
CREATE TABLE ties_day_akey (id int PRIMARY KEY, c date, v text);
CREATE TABLE ties_day_anokey (id int, c date, v text);
CREATE TABLE ties_seq_merge (id int PRIMARY KEY, c bigint, v text);
CREATE TABLE ties_seq_akey (id int PRIMARY KEY, c bigint, v text);
CREATE TABLE ties_seq_anokey (id int, c bigint, v text);

SELECT FROM incr_create_pipeline('ties_tz_merge', 'ties_tz_src', 'ties_tz_merge', 'c',
                                 mode => 'merge', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('ties_tz_akey', 'ties_tz_src', 'ties_tz_akey', 'c',
                                 mode => 'append', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('ties_tz_anokey', 'ties_tz_src', 'ties_tz_anokey', 'c',
                                 mode => 'append');
SELECT FROM incr_create_pipeline('ties_day_merge', 'ties_day_src', 'ties_day_merge', 'c',
                                 mode => 'merge', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('ties_day_akey', 'ties_day_src', 'ties_day_akey', 'c',
                                 mode => 'append', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('ties_day_anokey', 'ties_day_src', 'ties_day_anokey', 'c',
                                 mode => 'append');
SELECT FROM incr_create_pipeline('ties_seq_merge', 'ties_seq_src', 'ties_seq_merge', 'c',
                                 mode => 'merge', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('ties_seq_akey', 'ties_seq_src', 'ties_seq_akey', 'c',
                                 mode => 'append', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('ties_seq_anokey', 'ties_seq_src', 'ties_seq_anokey', 'c',
                                 mode => 'append');

-- Rows 2 and 3 share the greatest cursor value, which becomes the checkpoint.
INSERT INTO ties_tz_src VALUES
    (1, '2024-01-01 10:00+00', 'a'), (2, '2024-01-01 10:05+00', 'b'), (3, '2024-01-01 10:05+00', 'c');
INSERT INTO ties_day_src VALUES
    (1, '2024-01-01', 'a'), (2, '2024-01-02', 'b'), (3, '2024-01-02', 'c');
INSERT INTO ties_seq_src VALUES
    (1, 10, 'a'), (2, 20, 'b'), (3, 20, 'c');

-- first runs: everything is new
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_tz_merge')$$, $$VALUES (3, 3, 0, 0)$$,
                  'timestamptz merge: the first run loads the three rows');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_tz_akey')$$, $$VALUES (3, 3, 0, 0)$$,
                  'timestamptz append with keys: the first run loads the three rows');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_tz_anokey')$$, $$VALUES (3, 3, 0, 0)$$,
                  'timestamptz append without keys: the first run loads the three rows');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_day_merge')$$, $$VALUES (3, 3, 0, 0)$$,
                  'date merge: the first run loads the three rows');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_day_akey')$$, $$VALUES (3, 3, 0, 0)$$,
                  'date append with keys: the first run loads the three rows');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_day_anokey')$$, $$VALUES (3, 3, 0, 0)$$,
                  'date append without keys: the first run loads the three rows');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_seq_merge')$$, $$VALUES (3, 3, 0, 0)$$,
                  'bigint merge: the first run loads the three rows');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_seq_akey')$$, $$VALUES (3, 3, 0, 0)$$,
                  'bigint append with keys: the first run loads the three rows');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_seq_anokey')$$, $$VALUES (3, 3, 0, 0)$$,
                  'bigint append without keys: the first run loads the three rows');

SELECT results_eq(
    $$SELECT pipeline, value_timestamptz FROM incr_checkpoints
      WHERE pipeline LIKE 'ties\_tz\_%' ORDER BY pipeline$$,
    $$VALUES ('ties_tz_akey', timestamptz '2024-01-01 10:05+00'),
             ('ties_tz_anokey', timestamptz '2024-01-01 10:05+00'),
             ('ties_tz_merge', timestamptz '2024-01-01 10:05+00')$$,
    'timestamptz: the checkpoint is the greatest cursor value read');
SELECT results_eq(
    $$SELECT pipeline, value_date FROM incr_checkpoints
      WHERE pipeline LIKE 'ties\_day\_%' ORDER BY pipeline$$,
    $$VALUES ('ties_day_akey', date '2024-01-02'),
             ('ties_day_anokey', date '2024-01-02'),
             ('ties_day_merge', date '2024-01-02')$$,
    'date: the checkpoint is the greatest cursor value read');
SELECT results_eq(
    $$SELECT pipeline, value_numeric FROM incr_checkpoints
      WHERE pipeline LIKE 'ties\_seq\_%' ORDER BY pipeline$$,
    $$VALUES ('ties_seq_akey', 20::numeric),
             ('ties_seq_anokey', 20::numeric),
             ('ties_seq_merge', 20::numeric)$$,
    'bigint: the checkpoint is the greatest cursor value read');

-- A row at the checkpoint's value is committed after the runs.
INSERT INTO ties_tz_src VALUES (4, '2024-01-01 10:05+00', 'late tie');
INSERT INTO ties_day_src VALUES (4, '2024-01-02', 'late tie');
INSERT INTO ties_seq_src VALUES (4, 20, 'late tie');

-- second runs: rows 2, 3 and 4 are read; only row 4 is new
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_tz_merge')$$, $$VALUES (3, 1, 0, 2)$$,
                  'timestamptz merge: the late tie row is inserted, the re-read rows are unchanged');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_tz_akey')$$, $$VALUES (3, 1, 0, 2)$$,
                  'timestamptz append with keys: the late tie row is inserted, the re-read rows are not');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_tz_anokey')$$, $$VALUES (3, 1, 0, 2)$$,
                  'timestamptz append without keys: the late tie row is inserted, the re-read rows are not');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_day_merge')$$, $$VALUES (3, 1, 0, 2)$$,
                  'date merge: the late tie row is inserted, the re-read rows are unchanged');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_day_akey')$$, $$VALUES (3, 1, 0, 2)$$,
                  'date append with keys: the late tie row is inserted, the re-read rows are not');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_day_anokey')$$, $$VALUES (3, 1, 0, 2)$$,
                  'date append without keys: the late tie row is inserted, the re-read rows are not');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_seq_merge')$$, $$VALUES (3, 1, 0, 2)$$,
                  'bigint merge: the late tie row is inserted, the re-read rows are unchanged');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_seq_akey')$$, $$VALUES (3, 1, 0, 2)$$,
                  'bigint append with keys: the late tie row is inserted, the re-read rows are not');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_seq_anokey')$$, $$VALUES (3, 1, 0, 2)$$,
                  'bigint append without keys: the late tie row is inserted, the re-read rows are not');

-- every target holds exactly the source's rows, each once
SELECT bag_eq('SELECT id, c, v FROM ties_tz_merge', 'SELECT id, c, v FROM ties_tz_src',
              'timestamptz merge: the target holds each source row once');
SELECT bag_eq('SELECT id, c, v FROM ties_tz_akey', 'SELECT id, c, v FROM ties_tz_src',
              'timestamptz append with keys: the target holds each source row once');
SELECT bag_eq('SELECT id, c, v FROM ties_tz_anokey', 'SELECT id, c, v FROM ties_tz_src',
              'timestamptz append without keys: the target holds each source row once');
SELECT bag_eq('SELECT id, c, v FROM ties_day_merge', 'SELECT id, c, v FROM ties_day_src',
              'date merge: the target holds each source row once');
SELECT bag_eq('SELECT id, c, v FROM ties_day_akey', 'SELECT id, c, v FROM ties_day_src',
              'date append with keys: the target holds each source row once');
SELECT bag_eq('SELECT id, c, v FROM ties_day_anokey', 'SELECT id, c, v FROM ties_day_src',
              'date append without keys: the target holds each source row once');
SELECT bag_eq('SELECT id, c, v FROM ties_seq_merge', 'SELECT id, c, v FROM ties_seq_src',
              'bigint merge: the target holds each source row once');
SELECT bag_eq('SELECT id, c, v FROM ties_seq_akey', 'SELECT id, c, v FROM ties_seq_src',
              'bigint append with keys: the target holds each source row once');
SELECT bag_eq('SELECT id, c, v FROM ties_seq_anokey', 'SELECT id, c, v FROM ties_seq_src',
              'bigint append without keys: the target holds each source row once');

-- third runs: the same three rows are read again and nothing is written
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_tz_merge')$$, $$VALUES (3, 0, 0, 3)$$,
                  'timestamptz merge: re-reading the ties writes nothing');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_tz_akey')$$, $$VALUES (3, 0, 0, 3)$$,
                  'timestamptz append with keys: re-reading the ties writes nothing');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_tz_anokey')$$, $$VALUES (3, 0, 0, 3)$$,
                  'timestamptz append without keys: re-reading the ties writes nothing');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_day_merge')$$, $$VALUES (3, 0, 0, 3)$$,
                  'date merge: re-reading the ties writes nothing');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_day_akey')$$, $$VALUES (3, 0, 0, 3)$$,
                  'date append with keys: re-reading the ties writes nothing');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_day_anokey')$$, $$VALUES (3, 0, 0, 3)$$,
                  'date append without keys: re-reading the ties writes nothing');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_seq_merge')$$, $$VALUES (3, 0, 0, 3)$$,
                  'bigint merge: re-reading the ties writes nothing');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_seq_akey')$$, $$VALUES (3, 0, 0, 3)$$,
                  'bigint append with keys: re-reading the ties writes nothing');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_seq_anokey')$$, $$VALUES (3, 0, 0, 3)$$,
                  'bigint append without keys: re-reading the ties writes nothing');

-- the checkpoint stayed on the tie value throughout
SELECT results_eq(
    $$SELECT pipeline, value_timestamptz FROM incr_checkpoints
      WHERE pipeline LIKE 'ties\_tz\_%' ORDER BY pipeline$$,
    $$VALUES ('ties_tz_akey', timestamptz '2024-01-01 10:05+00'),
             ('ties_tz_anokey', timestamptz '2024-01-01 10:05+00'),
             ('ties_tz_merge', timestamptz '2024-01-01 10:05+00')$$,
    'timestamptz: runs that read only the tie value leave the checkpoint on it');
SELECT results_eq(
    $$SELECT pipeline, value_date FROM incr_checkpoints
      WHERE pipeline LIKE 'ties\_day\_%' ORDER BY pipeline$$,
    $$VALUES ('ties_day_akey', date '2024-01-02'),
             ('ties_day_anokey', date '2024-01-02'),
             ('ties_day_merge', date '2024-01-02')$$,
    'date: runs that read only the tie value leave the checkpoint on it');
SELECT results_eq(
    $$SELECT pipeline, value_numeric FROM incr_checkpoints
      WHERE pipeline LIKE 'ties\_seq\_%' ORDER BY pipeline$$,
    $$VALUES ('ties_seq_akey', 20::numeric),
             ('ties_seq_anokey', 20::numeric),
             ('ties_seq_merge', 20::numeric)$$,
    'bigint: runs that read only the tie value leave the checkpoint on it');

-- Append without keys compares rows as a multiset: an identical copy of a
-- loaded row, committed later at the checkpoint's value, is a row of its own.
CREATE TABLE ties_bag_src (c bigint NOT NULL, v text);
CREATE TABLE ties_bag_tgt (c bigint, v text);
SELECT FROM incr_create_pipeline('ties_bag', 'ties_bag_src', 'ties_bag_tgt', 'c');
INSERT INTO ties_bag_src VALUES (1, 'a'), (2, 'b');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_bag')$$, $$VALUES (2, 2, 0, 0)$$,
                  'multiset: the first run loads both rows');
INSERT INTO ties_bag_src VALUES (2, 'b'), (2, 'c');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_bag')$$, $$VALUES (3, 2, 0, 1)$$,
                  'multiset: the identical copy and the other tie row are inserted, the loaded row is not');
SELECT bag_eq('SELECT c, v FROM ties_bag_tgt', $$VALUES (1::bigint, 'a'), (2, 'b'), (2, 'b'), (2, 'c')$$,
              'multiset: the target holds the source''s rows with their multiplicity');
SELECT results_eq($$SELECT * FROM pg_temp.ties_run('ties_bag')$$, $$VALUES (3, 0, 0, 3)$$,
                  'multiset: re-reading the three tie rows inserts nothing');

SELECT * FROM finish();
ROLLBACK;
