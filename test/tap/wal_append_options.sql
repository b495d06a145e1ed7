-- wal_append_options: the options that name an append change log's columns
-- (wal_op_column, wal_lsn_column, wal_time_column) are checked when the
-- pipeline is created, before anything is written:
--   * only for capture => 'wal', and only for mode append;
--   * each names a target column that exists, of a fitting type
--     (operation: text, varchar, char or "char"; LSN: pg_lsn; commit time:
--     timestamptz; so no two name one column), that the source does not
--     have (a key, say), and that the owner may insert into;
--   * each error has its SQLSTATE and message.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;

CREATE TABLE wo_src (id int PRIMARY KEY, name text);
CREATE TABLE wo_log (id int, name text, op text, lsn pg_lsn, at timestamptz,
                     bad_lsn bigint, bad_at timestamp, bad_op int);

SELECT throws_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_log', 'id', mode => 'append',
                       wal_op_column => 'op')$$,
    '22023', 'option "wal_op_column" needs capture => ''wal''',
    'a change log column without capture wal is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_log', mode => 'merge',
                       keys => ARRAY['id'], capture => 'wal', wal_lsn_column => 'lsn')$$,
    '22023', 'option "wal_lsn_column" does not apply to mode "merge"',
    'merge refuses the change log options');
SELECT throws_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_log', mode => 'append',
                       capture => 'wal', wal_op_column => 'nope')$$,
    '42703', 'wal_op_column "nope" does not exist in target "wo_log"',
    'a column that does not exist is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_log', mode => 'append',
                       capture => 'wal', wal_lsn_column => 'bad_lsn')$$,
    '42804', 'wal_lsn_column "bad_lsn" of target "wo_log" has type bigint, expected pg_lsn',
    'an LSN column of another type is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_log', mode => 'append',
                       capture => 'wal', wal_time_column => 'bad_at')$$,
    '42804', 'wal_time_column "bad_at" of target "wo_log" has type timestamp without time zone, expected timestamp with time zone',
    'a commit time column of another type is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_log', mode => 'append',
                       capture => 'wal', wal_op_column => 'bad_op')$$,
    '42804', 'wal_op_column "bad_op" of target "wo_log" has type integer, expected text, varchar, char or "char"',
    'an operation column of another type is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_log', mode => 'append',
                       capture => 'wal', wal_op_column => 'name')$$,
    '22023', 'wal_op_column "name" is also a column of source "wo_src"',
    'a column the source also has is refused');

-- the column privilege is checked too: INSERT on the named column
CREATE ROLE wo_owner;
GRANT SELECT ON wo_src TO wo_owner;
GRANT SELECT, INSERT (id, name) ON wo_log TO wo_owner;
SET LOCAL ROLE wo_owner;
SELECT throws_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_log', mode => 'append',
                       capture => 'wal', wal_lsn_column => 'lsn')$$,
    '42501', NULL, 'INSERT on the named column is required');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
