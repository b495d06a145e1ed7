-- tombstone_keys: a tombstone (incr_tombstones) keeps a deleted key from
-- coming back whatever the session that replays the older events, and for
-- every key the key index holds equal to it:
--   * its key is printed the same in every session: a timestamptz key
--     deleted under one TimeZone stays deleted by a backfill run under
--     another; so do a bytea key (bytea_output) and a float key
--     (extra_float_digits);
--   * keys are matched with the key index's own equality: under a
--     case-insensitive collation, a delete of 'ABC' keeps 'abc' out, and a
--     newer write of 'abc' removes the tombstone of 'ABC';
--   * an interval key, where '1 mon' = '30 days', is matched the same way.
BEGIN;
SELECT plan(12);
SET LOCAL client_min_messages = warning;

-------------------------------------------------------------------------------
-- timestamptz key: deleted under UTC, replayed under Asia/Tokyo.
CREATE TABLE tk_tz_events (seq bigint PRIMARY KEY, op text NOT NULL, k timestamptz, v text);
CREATE TABLE tk_tz (k timestamptz PRIMARY KEY, v text, ver bigint);
INSERT INTO tk_tz_events VALUES (1, 'c', '2024-01-01 00:00+00', 'a'), (2, 'd', '2024-01-01 00:00+00', NULL);
SELECT FROM incr_create_pipeline('tk_tz', 'tk_tz_events', 'tk_tz', 'seq', 'cdc', keys => ARRAY['k'],
                                 op_column => 'op', version_column => 'ver');
SET LOCAL TimeZone = 'UTC';
SELECT FROM incr_run('tk_tz');
SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT results_eq($$SELECT rows_inserted FROM incr_backfill('tk_tz', '1', '1')$$, $$VALUES (0::bigint)$$,
                  'timestamptz key: a backfill under another TimeZone inserts nothing');
SELECT is((SELECT count(*) FROM tk_tz), 0::bigint,
          'timestamptz key: the key deleted under UTC stays deleted');
SELECT results_eq($$SELECT key FROM incr_tombstones WHERE pipeline = 'tk_tz'$$,
                  $$VALUES ('{"k": "2024-01-01T00:00:00+00:00"}'::jsonb)$$,
                  'timestamptz key: the tombstone''s key is printed in UTC, whatever the session''s TimeZone');
RESET TimeZone;

-------------------------------------------------------------------------------
-- bytea key: deleted with bytea_output hex, replayed with escape.
CREATE TABLE tk_b_events (seq bigint PRIMARY KEY, op text NOT NULL, k bytea, v text);
CREATE TABLE tk_b (k bytea PRIMARY KEY, v text, ver bigint);
INSERT INTO tk_b_events VALUES (1, 'c', '\x41ff', 'a'), (2, 'd', '\x41ff', NULL);
SELECT FROM incr_create_pipeline('tk_b', 'tk_b_events', 'tk_b', 'seq', 'cdc', keys => ARRAY['k'],
                                 op_column => 'op', version_column => 'ver');
SELECT FROM incr_run('tk_b');
SET LOCAL bytea_output = 'escape';
SELECT FROM incr_backfill('tk_b', '1', '1');
SELECT is((SELECT count(*) FROM tk_b), 0::bigint,
          'bytea key: a backfill under bytea_output escape leaves it deleted');
RESET bytea_output;

-------------------------------------------------------------------------------
-- float8 key: deleted with extra_float_digits 1, replayed with 0 (rounded output).
CREATE TABLE tk_f_events (seq bigint PRIMARY KEY, op text NOT NULL, k float8, v text);
CREATE TABLE tk_f (k float8 PRIMARY KEY, v text, ver bigint);
INSERT INTO tk_f_events VALUES (1, 'c', 0.1::float8 + 0.2::float8, 'a'), (2, 'd', 0.1::float8 + 0.2::float8, NULL);
SELECT FROM incr_create_pipeline('tk_f', 'tk_f_events', 'tk_f', 'seq', 'cdc', keys => ARRAY['k'],
                                 op_column => 'op', version_column => 'ver');
SELECT FROM incr_run('tk_f');
SET LOCAL extra_float_digits = 0;
SELECT FROM incr_backfill('tk_f', '1', '1');
SELECT is((SELECT count(*) FROM tk_f), 0::bigint,
          'float8 key: a backfill under extra_float_digits 0 leaves it deleted');
RESET extra_float_digits;

-------------------------------------------------------------------------------
-- Case-insensitive collation: 'ABC' deleted, the older insert of 'abc' replayed.
CREATE COLLATION tk_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE tk_ci_events (seq bigint PRIMARY KEY, op text NOT NULL, k text COLLATE tk_ci, v text);
CREATE TABLE tk_ci (k text COLLATE tk_ci PRIMARY KEY, v text, ver bigint);
INSERT INTO tk_ci_events VALUES (1, 'c', 'abc', 'a'), (2, 'd', 'ABC', NULL);
SELECT FROM incr_create_pipeline('tk_ci', 'tk_ci_events', 'tk_ci', 'seq', 'cdc', keys => ARRAY['k'],
                                 op_column => 'op', version_column => 'ver');
SELECT FROM incr_run('tk_ci');
SELECT results_eq($$SELECT rows_inserted FROM incr_backfill('tk_ci', '1', '1')$$, $$VALUES (0::bigint)$$,
                  'case-insensitive key: a backfill of the insert of abc inserts nothing');
SELECT is((SELECT count(*) FROM tk_ci), 0::bigint,
          'case-insensitive key: abc stays deleted after the delete of ABC');
SELECT alike(incr_plan('tk_ci'), '%jsonb_populate_record%',
             'case-insensitive key: the statement compares tombstones with the key''s operator');
SELECT unalike(incr_plan('tk_tz'), '%jsonb_populate_record%',
               'timestamptz key: the statement finds tombstones by the primary key');
-- A newer write of abc comes back and removes the tombstone of ABC.
INSERT INTO tk_ci_events VALUES (3, 'c', 'abc', 'b');
SELECT FROM incr_run('tk_ci');
SELECT results_eq('SELECT k COLLATE "C", v, ver FROM tk_ci', $$VALUES ('abc'::text COLLATE "C", 'b'::text, 3::bigint)$$,
                  'case-insensitive key: a newer insert of abc is applied');
SELECT is((SELECT count(*) FROM incr_tombstones WHERE pipeline = 'tk_ci'), 0::bigint,
          'case-insensitive key: the newer insert of abc removes the tombstone of ABC');

-------------------------------------------------------------------------------
-- interval key: '30 days' deleted, the older insert of '1 mon' (equal) replayed.
CREATE TABLE tk_i_events (seq bigint PRIMARY KEY, op text NOT NULL, k interval, v text);
CREATE TABLE tk_i (k interval PRIMARY KEY, v text, ver bigint);
INSERT INTO tk_i_events VALUES (1, 'c', '1 mon', 'a'), (2, 'd', '30 days', NULL);
SELECT FROM incr_create_pipeline('tk_i', 'tk_i_events', 'tk_i', 'seq', 'cdc', keys => ARRAY['k'],
                                 op_column => 'op', version_column => 'ver');
SELECT FROM incr_run('tk_i');
SET LOCAL IntervalStyle = 'sql_standard';
SELECT FROM incr_backfill('tk_i', '1', '1');
SELECT is((SELECT count(*) FROM tk_i), 0::bigint,
          'interval key: 1 mon stays deleted after the delete of 30 days');

SELECT * FROM finish();
ROLLBACK;
