-- cursor_types: every supported cursor type goes through one life cycle:
-- a first run loads the rows, the checkpoint equals the source's greatest
-- cursor value exactly (microseconds, the type's extreme values, digits a
-- float would lose, a numeric's scale), a second run changes nothing, a
-- greater value is loaded by the next run and moves the checkpoint exactly.
-- Types: timestamptz, timestamp, date, smallint, integer, bigint, numeric
-- with fractional values, and a domain over bigint (stored as its base type).
-- Modes alternate between merge, append with keys and append without keys.
BEGIN;
SELECT plan(49);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- One run of a pipeline, as the four counts this file checks.
CREATE FUNCTION pg_temp.ct_run(pipeline text,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int, r.rows_unchanged::int
    FROM incr_run(pipeline) AS r
$$;

-- The checkpoint of a pipeline as text, whatever its type.
CREATE FUNCTION pg_temp.ct_checkpoint(pipeline text) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(value_timestamptz::text, value_timestamp::text, value_date::text,
                    value_numeric::text)
    FROM incr_checkpoints WHERE incr_checkpoints.pipeline = ct_checkpoint.pipeline
$$;

-- timestamptz, merge: microseconds survive.
CREATE TABLE ct_tz_src (id int PRIMARY KEY, c timestamptz NOT NULL, v text);
CREATE TABLE ct_tz_tgt (id int PRIMARY KEY, c timestamptz, v text);
SELECT FROM incr_create_pipeline('ct_tz', 'ct_tz_src', 'ct_tz_tgt', 'c',
                                 mode => 'merge', keys => ARRAY['id']);
INSERT INTO ct_tz_src VALUES (1, '2024-01-01 09:59:59.999999+00', 'a'),
                             (2, '2024-01-01 10:00:00.123456+00', 'b'),
                             (3, '2024-01-01 10:00:00.000001+00', 'c');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_tz')$$, $$VALUES (3, 3, 0, 0)$$,
                  'timestamptz: the first run loads three rows');
SELECT is(pg_temp.ct_checkpoint('ct_tz'), '2024-01-01 10:00:00.123456+00',
          'timestamptz: the checkpoint is the greatest value, to the microsecond');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_tz')$$, $$VALUES (1, 0, 0, 1)$$,
                  'timestamptz: a second run re-reads the checkpoint''s row and changes nothing');
INSERT INTO ct_tz_src VALUES (4, '2024-01-01 10:00:00.123457+00', 'd');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_tz')$$, $$VALUES (2, 1, 0, 1)$$,
                  'timestamptz: a value one microsecond greater is loaded');
SELECT is(pg_temp.ct_checkpoint('ct_tz'), (SELECT max(c)::text FROM ct_tz_src),
          'timestamptz: the checkpoint equals the source''s greatest value');
SELECT bag_eq('SELECT id, c, v FROM ct_tz_tgt', 'SELECT id, c, v FROM ct_tz_src',
              'timestamptz: the target holds every source row once');

-- timestamp, append with keys.
CREATE TABLE ct_ts_src (id int PRIMARY KEY, c timestamp NOT NULL, v text);
CREATE TABLE ct_ts_tgt (id int PRIMARY KEY, c timestamp, v text);
SELECT FROM incr_create_pipeline('ct_ts', 'ct_ts_src', 'ct_ts_tgt', 'c',
                                 mode => 'append', keys => ARRAY['id']);
INSERT INTO ct_ts_src VALUES (1, '2023-12-31 00:00', 'a'),
                             (2, '2024-03-01 12:34:56.789012', 'b'),
                             (3, '2024-03-01 12:34:56.789011', 'c');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_ts')$$, $$VALUES (3, 3, 0, 0)$$,
                  'timestamp: the first run loads three rows');
SELECT is(pg_temp.ct_checkpoint('ct_ts'), '2024-03-01 12:34:56.789012',
          'timestamp: the checkpoint is the greatest value, to the microsecond');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_ts')$$, $$VALUES (1, 0, 0, 1)$$,
                  'timestamp: a second run re-reads the checkpoint''s row and changes nothing');
INSERT INTO ct_ts_src VALUES (4, '2024-03-01 12:34:56.789013', 'd');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_ts')$$, $$VALUES (2, 1, 0, 1)$$,
                  'timestamp: a value one microsecond greater is loaded');
SELECT is(pg_temp.ct_checkpoint('ct_ts'), (SELECT max(c)::text FROM ct_ts_src),
          'timestamp: the checkpoint equals the source''s greatest value');
SELECT bag_eq('SELECT id, c, v FROM ct_ts_tgt', 'SELECT id, c, v FROM ct_ts_src',
              'timestamp: the target holds every source row once');

-- date, merge.
CREATE TABLE ct_day_src (id int PRIMARY KEY, c date NOT NULL, v text);
CREATE TABLE ct_day_tgt (id int PRIMARY KEY, c date, v text);
SELECT FROM incr_create_pipeline('ct_day', 'ct_day_src', 'ct_day_tgt', 'c',
                                 mode => 'merge', keys => ARRAY['id']);
INSERT INTO ct_day_src VALUES (1, '2023-01-01', 'a'), (2, '2024-02-29', 'b'), (3, '2024-02-28', 'c');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_day')$$, $$VALUES (3, 3, 0, 0)$$,
                  'date: the first run loads three rows');
SELECT is(pg_temp.ct_checkpoint('ct_day'), '2024-02-29',
          'date: the checkpoint is the greatest value');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_day')$$, $$VALUES (1, 0, 0, 1)$$,
                  'date: a second run re-reads the checkpoint''s row and changes nothing');
INSERT INTO ct_day_src VALUES (4, '2024-03-01', 'd');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_day')$$, $$VALUES (2, 1, 0, 1)$$,
                  'date: the next day is loaded');
SELECT is(pg_temp.ct_checkpoint('ct_day'), (SELECT max(c)::text FROM ct_day_src),
          'date: the checkpoint equals the source''s greatest value');
SELECT bag_eq('SELECT id, c, v FROM ct_day_tgt', 'SELECT id, c, v FROM ct_day_src',
              'date: the target holds every source row once');

-- smallint, append with keys: the type's least and greatest values.
CREATE TABLE ct_i2_src (id int PRIMARY KEY, c smallint NOT NULL, v text);
CREATE TABLE ct_i2_tgt (id int PRIMARY KEY, c smallint, v text);
SELECT FROM incr_create_pipeline('ct_i2', 'ct_i2_src', 'ct_i2_tgt', 'c',
                                 mode => 'append', keys => ARRAY['id']);
INSERT INTO ct_i2_src VALUES (1, -32768, 'a'), (2, 32766, 'b'), (3, 7, 'c');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_i2')$$, $$VALUES (3, 3, 0, 0)$$,
                  'smallint: the first run loads three rows, -32768 included');
SELECT is(pg_temp.ct_checkpoint('ct_i2'), '32766',
          'smallint: the checkpoint is the greatest value');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_i2')$$, $$VALUES (1, 0, 0, 1)$$,
                  'smallint: a second run re-reads the checkpoint''s row and changes nothing');
INSERT INTO ct_i2_src VALUES (4, 32767, 'd');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_i2')$$, $$VALUES (2, 1, 0, 1)$$,
                  'smallint: the type''s greatest value 32767 is loaded');
SELECT is(pg_temp.ct_checkpoint('ct_i2'), (SELECT max(c)::text FROM ct_i2_src),
          'smallint: the checkpoint equals the source''s greatest value');
SELECT bag_eq('SELECT id, c, v FROM ct_i2_tgt', 'SELECT id, c, v FROM ct_i2_src',
              'smallint: the target holds every source row once');

-- integer, merge: the type's least and greatest values.
CREATE TABLE ct_i4_src (id int PRIMARY KEY, c integer NOT NULL, v text);
CREATE TABLE ct_i4_tgt (id int PRIMARY KEY, c integer, v text);
SELECT FROM incr_create_pipeline('ct_i4', 'ct_i4_src', 'ct_i4_tgt', 'c',
                                 mode => 'merge', keys => ARRAY['id']);
INSERT INTO ct_i4_src VALUES (1, -2147483648, 'a'), (2, 2147483646, 'b'), (3, 0, 'c');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_i4')$$, $$VALUES (3, 3, 0, 0)$$,
                  'integer: the first run loads three rows, -2147483648 included');
SELECT is(pg_temp.ct_checkpoint('ct_i4'), '2147483646',
          'integer: the checkpoint is the greatest value');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_i4')$$, $$VALUES (1, 0, 0, 1)$$,
                  'integer: a second run re-reads the checkpoint''s row and changes nothing');
INSERT INTO ct_i4_src VALUES (4, 2147483647, 'd');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_i4')$$, $$VALUES (2, 1, 0, 1)$$,
                  'integer: the type''s greatest value 2147483647 is loaded');
SELECT is(pg_temp.ct_checkpoint('ct_i4'), (SELECT max(c)::text FROM ct_i4_src),
          'integer: the checkpoint equals the source''s greatest value');
SELECT bag_eq('SELECT id, c, v FROM ct_i4_tgt', 'SELECT id, c, v FROM ct_i4_src',
              'integer: the target holds every source row once');

-- bigint, append without keys: 2^53 + 1 (not exact as a float) and the
-- type's greatest value.
CREATE TABLE ct_i8_src (id int PRIMARY KEY, c bigint NOT NULL, v text);
CREATE TABLE ct_i8_tgt (id int, c bigint, v text);
SELECT FROM incr_create_pipeline('ct_i8', 'ct_i8_src', 'ct_i8_tgt', 'c', mode => 'append');
INSERT INTO ct_i8_src VALUES (1, -1, 'a'), (2, 9007199254740993, 'b'), (3, 9007199254740992, 'c');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_i8')$$, $$VALUES (3, 3, 0, 0)$$,
                  'bigint: the first run loads three rows');
SELECT is(pg_temp.ct_checkpoint('ct_i8'), '9007199254740993',
          'bigint: the checkpoint is 2^53 + 1 exactly');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_i8')$$, $$VALUES (1, 0, 0, 1)$$,
                  'bigint: a second run re-reads the checkpoint''s row and changes nothing');
INSERT INTO ct_i8_src VALUES (4, 9223372036854775807, 'd');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_i8')$$, $$VALUES (2, 1, 0, 1)$$,
                  'bigint: the type''s greatest value is loaded');
SELECT is(pg_temp.ct_checkpoint('ct_i8'), (SELECT max(c)::text FROM ct_i8_src),
          'bigint: the checkpoint equals the source''s greatest value');
SELECT bag_eq('SELECT id, c, v FROM ct_i8_tgt', 'SELECT id, c, v FROM ct_i8_src',
              'bigint: the target holds every source row once');

-- numeric, merge: fractional values, more digits than bigint or float hold.
CREATE TABLE ct_num_src (id int PRIMARY KEY, c numeric NOT NULL, v text);
CREATE TABLE ct_num_tgt (id int PRIMARY KEY, c numeric, v text);
SELECT FROM incr_create_pipeline('ct_num', 'ct_num_src', 'ct_num_tgt', 'c',
                                 mode => 'merge', keys => ARRAY['id']);
INSERT INTO ct_num_src VALUES (1, 1.5, 'a'), (2, 2.25, 'b'), (3, 0.125, 'c');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_num')$$, $$VALUES (3, 3, 0, 0)$$,
                  'numeric: the first run loads three rows');
SELECT is(pg_temp.ct_checkpoint('ct_num'), '2.25',
          'numeric: the checkpoint is 2.25 exactly');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_num')$$, $$VALUES (1, 0, 0, 1)$$,
                  'numeric: a second run re-reads the checkpoint''s row and changes nothing');
INSERT INTO ct_num_src VALUES (4, 12345678901234567890.123456789, 'd');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_num')$$, $$VALUES (2, 1, 0, 1)$$,
                  'numeric: a greater value is loaded');
SELECT is(pg_temp.ct_checkpoint('ct_num'), '12345678901234567890.123456789',
          'numeric: the checkpoint keeps all 29 digits');
SELECT bag_eq('SELECT id, c, v FROM ct_num_tgt', 'SELECT id, c, v FROM ct_num_src',
              'numeric: the target holds every source row once');

-- A domain over bigint, append with keys: the pipeline's cursor type is the
-- base type.
CREATE DOMAIN ct_version AS bigint CHECK (VALUE > 0);
CREATE TABLE ct_dom_src (id int PRIMARY KEY, c ct_version NOT NULL, v text);
CREATE TABLE ct_dom_tgt (id int PRIMARY KEY, c ct_version, v text);
SELECT is((SELECT cursor_type FROM incr_create_pipeline('ct_dom', 'ct_dom_src', 'ct_dom_tgt', 'c',
                                                         mode => 'append', keys => ARRAY['id'])),
          'bigint'::regtype,
          'domain: the pipeline records the domain''s base type as its cursor type');
INSERT INTO ct_dom_src VALUES (1, 1, 'a'), (2, 3000000000, 'b'), (3, 2, 'c');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_dom')$$, $$VALUES (3, 3, 0, 0)$$,
                  'domain: the first run loads three rows');
SELECT is(pg_temp.ct_checkpoint('ct_dom'), '3000000000',
          'domain: the checkpoint is the greatest value');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_dom')$$, $$VALUES (1, 0, 0, 1)$$,
                  'domain: a second run re-reads the checkpoint''s row and changes nothing');
INSERT INTO ct_dom_src VALUES (4, 3000000001, 'd');
SELECT results_eq($$SELECT * FROM pg_temp.ct_run('ct_dom')$$, $$VALUES (2, 1, 0, 1)$$,
                  'domain: a greater value is loaded');
SELECT is(pg_temp.ct_checkpoint('ct_dom'), (SELECT max(c)::text FROM ct_dom_src),
          'domain: the checkpoint equals the source''s greatest value');
SELECT bag_eq('SELECT id, c, v FROM ct_dom_tgt', 'SELECT id, c, v FROM ct_dom_src',
              'domain: the target holds every source row once');

SELECT * FROM finish();
ROLLBACK;
