-- wal_bad_input: incr_create_pipeline refuses a capture => 'wal' definition
-- that cannot work, each with its SQLSTATE and message, and creates nothing:
--   * an unknown capture; capture for a files pipeline;
--   * a cursor_column or a lag (changes come from the WAL, in commit order);
--   * a delete_column without soft_delete (deletes come from the WAL);
--   * modes cdc and query (they take no decoded changes);
--   * a view, a materialized view, a temporary or an unlogged table as the
--     source (no changes in the WAL to decode);
--   * keys outside the source's replica identity, or a source without one
--     (a delete carries only the identity);
--   * a source under row-level security for the creating role (decoded
--     changes pass no policy);
-- incr_verify refuses a wal pipeline, incr_reset to an LSN needs its slot;
-- and the first run of a wal pipeline refuses to create its slot in a
-- transaction that has already written (PostgreSQL cannot).
BEGIN;
SELECT plan(19);
SET LOCAL client_min_messages = warning;

CREATE TABLE wb_src (id int PRIMARY KEY, code text NOT NULL UNIQUE, v text);
CREATE TABLE wb_noid (id int, v text);
CREATE TABLE wb_dst (id int PRIMARY KEY, code text NOT NULL UNIQUE, v text);
CREATE VIEW wb_view AS SELECT * FROM wb_src;
CREATE MATERIALIZED VIEW wb_mv AS SELECT * FROM wb_src;
CREATE TEMPORARY TABLE wb_temp (id int PRIMARY KEY, code text, v text);
CREATE UNLOGGED TABLE wb_unlogged (id int PRIMARY KEY, code text, v text);

SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_src', 'wb_dst', mode => 'merge', keys => ARRAY['id'], capture => 'logical')$$,
    '22023', 'capture must be cursor or wal, not "logical"', 'an unknown capture is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', target => 'wb_dst', mode => 'files', files => '/nonexistent/*.csv', capture => 'wal')$$,
    '22023', 'option "capture" does not apply to mode "files"', 'a files pipeline takes no capture');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_src', 'wb_dst', 'id', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '22023', 'wal pipeline "wb" takes no cursor_column', 'cursor_column is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_src', 'wb_dst', mode => 'merge', keys => ARRAY['id'], lag => '1 minute', capture => 'wal')$$,
    '22023', 'wal pipeline "wb" cannot have a lag', 'lag is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_src', 'wb_dst', mode => 'merge', keys => ARRAY['id'], delete_column => 'v', capture => 'wal')$$,
    '22023', 'wal pipeline "wb" takes delete_column only with soft_delete', 'delete_column without soft_delete is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_src', 'wb_dst', mode => 'cdc', keys => ARRAY['id'], payload_column => 'v', capture => 'wal')$$,
    '0A000', 'cdc pipeline "wb" cannot capture changes from the WAL', 'mode cdc is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_src', 'wb_dst', mode => 'query', command => 'SELECT 1', capture => 'wal')$$,
    '0A000', 'query pipeline "wb" cannot capture changes from the WAL', 'mode query is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_view', 'wb_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '42809', '"wb_view" cannot be the source of wal pipeline "wb"', 'a view is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_mv', 'wb_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '42809', '"wb_mv" cannot be the source of wal pipeline "wb"', 'a materialized view is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_temp', 'wb_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '42809', '"wb_temp" cannot be the source of wal pipeline "wb"', 'a temporary table is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_unlogged', 'wb_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '42809', '"wb_unlogged" cannot be the source of wal pipeline "wb"', 'an unlogged table is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_src', 'wb_dst', mode => 'merge', keys => ARRAY['code'], capture => 'wal')$$,
    '22023', 'key "code" of wal pipeline "wb" is not in the replica identity of source "wb_src"',
    'keys outside the replica identity are refused');
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_noid', 'wb_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '22023', 'source "wb_noid" of wal pipeline "wb" has no replica identity',
    'a source without replica identity is refused');
CREATE ROLE wb_reader;
CREATE TABLE wb_rls (id int PRIMARY KEY, code text, v text);
ALTER TABLE wb_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY wb_rls_some ON wb_rls FOR SELECT USING (id < 10);
GRANT SELECT ON wb_rls TO wb_reader;
GRANT ALL ON wb_dst TO wb_reader;
SET LOCAL ROLE wb_reader;
SELECT throws_ok($$SELECT incr_create_pipeline('wb', 'wb_rls', 'wb_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '42501', 'wal pipeline "wb" cannot read source "wb_rls" under row-level security',
    'a source under row-level security is refused');
RESET ROLE;
SELECT is((SELECT count(*) FROM pg_publication WHERE pubname LIKE 'incr\_%')::int, 0,
    'no refused definition left a publication behind');

-- a replica identity on another unique index makes its columns the keys to use
ALTER TABLE wb_src REPLICA IDENTITY USING INDEX wb_src_code_key;
SELECT lives_ok($$SELECT incr_create_pipeline('wb', 'wb_src', 'wb_dst', mode => 'merge', keys => ARRAY['code'], capture => 'wal')$$,
    'keys of REPLICA IDENTITY USING INDEX are taken');
SELECT throws_ok($$SELECT incr_verify('wb')$$,
    '0A000', 'wal pipeline "wb" cannot be verified', 'incr_verify refuses a wal pipeline');
SELECT throws_ok($$SELECT incr_reset('wb', '0/10')$$,
    '22023', 'cannot move the checkpoint of wal pipeline "wb" before its slot''s position',
    'incr_reset to an LSN needs the slot');
-- this transaction has written: the first run cannot create the slot
SELECT throws_ok($$SELECT incr_run('wb')$$,
    '25001', 'first run of wal pipeline "wb" cannot run in a transaction that has written',
    'the first run refuses a transaction that has written');

SELECT * FROM finish();
ROLLBACK;
