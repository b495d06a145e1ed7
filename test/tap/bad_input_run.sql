-- bad_input_run.sql: bad calls of incr_run, incr_plan, incr_reset,
-- incr_backfill, incr_pause, incr_resume, incr_drop_pipeline and
-- incr_pending_rows, runs of pipelines whose relations changed under them,
-- and calls by roles that may not act, are all refused with ereport(ERROR),
-- their own SQLSTATE (never XX000) and an exact message, and leave
-- incr_pipelines and incr_checkpoints (and the targets) as they were.
-- Failed runs are recorded in incr_runs, in a transaction of their own.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(87);

-- Fixtures (their rows are not TAP output).
\o /dev/null

-- For each case a source of three rows (2024-01-01 .. 2024-01-03),
-- a target keyed by id, and a merge pipeline bad_r_<case> that has run once,
-- so every checkpoint is 2024-01-03.
DO $$
DECLARE
    c text;
BEGIN
    FOREACH c IN ARRAY ARRAY['ts', 'dropcol', 'retype', 'untype', 'noidx',
                             'gonesrc', 'gonetgt', 'inf']
    LOOP
        EXECUTE format('CREATE TABLE %I (id integer NOT NULL, ts timestamptz NOT NULL, v text)',
                       'bad_r_' || c || '_src');
        EXECUTE format('CREATE INDEX ON %I (ts)', 'bad_r_' || c || '_src');
        EXECUTE format($q$INSERT INTO %I
                          SELECT i, timestamptz '2024-01-01 00:00+00' + (i - 1) * interval '1 day', 'v' || i
                          FROM generate_series(1, 3) i$q$,
                       'bad_r_' || c || '_src');
        EXECUTE format('CREATE TABLE %I (id integer PRIMARY KEY, ts timestamptz, v text)',
                       'bad_r_' || c || '_tgt');
        PERFORM incr_create_pipeline('bad_r_' || c, ('bad_r_' || c || '_src')::regclass,
                                     ('bad_r_' || c || '_tgt')::regclass, 'ts', 'merge',
                                     ARRAY['id']);
        PERFORM incr_run('bad_r_' || c);
    END LOOP;
END
$$;

-- A bigint cursor: an append pipeline over a sequence-filled id.
CREATE TABLE bad_r_seq_src (id bigint NOT NULL, v text);
CREATE INDEX ON bad_r_seq_src (id);
INSERT INTO bad_r_seq_src SELECT i, 'v' || i FROM generate_series(1, 3) i;
CREATE TABLE bad_r_seq_tgt (id bigint PRIMARY KEY, v text);
SELECT incr_create_pipeline('bad_r_seq', 'bad_r_seq_src', 'bad_r_seq_tgt', 'id', 'append', ARRAY['id']);
SELECT incr_run('bad_r_seq');

-- A numeric cursor.
CREATE TABLE bad_r_num_src (id integer NOT NULL, n numeric NOT NULL, v text);
CREATE INDEX ON bad_r_num_src (n);
INSERT INTO bad_r_num_src SELECT i, i * 1.5, 'v' || i FROM generate_series(1, 3) i;
CREATE TABLE bad_r_num_tgt (id integer PRIMARY KEY, n numeric, v text);
SELECT incr_create_pipeline('bad_r_num', 'bad_r_num_src', 'bad_r_num_tgt', 'n', 'append', ARRAY['id']);
SELECT incr_run('bad_r_num');

-- A bigserial cursor (its sequence caches nothing, as required).
CREATE TABLE bad_r_cache_src (id bigserial, v text);
CREATE INDEX ON bad_r_cache_src (id);
INSERT INTO bad_r_cache_src (v) VALUES ('a'), ('b');
CREATE TABLE bad_r_cache_tgt (id bigint PRIMARY KEY, v text);
SELECT incr_create_pipeline('bad_r_cache', 'bad_r_cache_src', 'bad_r_cache_tgt', 'id', 'append', ARRAY['id']);
SELECT incr_run('bad_r_cache');

-- An xid8 cursor, never run.
CREATE TABLE bad_r_xid_src (id integer NOT NULL, x xid8 NOT NULL DEFAULT pg_current_xact_id());
CREATE INDEX ON bad_r_xid_src (x);
CREATE TABLE bad_r_xid_tgt (id integer PRIMARY KEY, x xid8);
SELECT incr_create_pipeline('bad_r_xid', 'bad_r_xid_src', 'bad_r_xid_tgt', 'x', 'merge', ARRAY['id']);

-- A pipeline whose name needs quoting as a literal.
SELECT incr_create_pipeline('bad_r_it''s', 'bad_r_ts_src', 'bad_r_ts_tgt', 'ts', 'merge', ARRAY['id']);

-- The hint of the error a statement raises.
CREATE FUNCTION pg_temp.bad_hint(sql text) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
    hint text;
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN hint;
END
$f$;

-- "SQLSTATE: message" of the error a statement raises, NULL if none.
CREATE FUNCTION pg_temp.bad_error(sql text) RETURNS text
LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$f$;

-- Privileges: alice may read the source and write the target and owns a
-- pipeline; bob has no privilege at all (yet).
CREATE ROLE bad_alice NOLOGIN;
CREATE ROLE bad_bob NOLOGIN;
CREATE TABLE bad_r_priv_src (id integer NOT NULL, ts timestamptz NOT NULL, v text);
CREATE INDEX ON bad_r_priv_src (ts);
INSERT INTO bad_r_priv_src VALUES (1, '2024-01-01 00:00+00', 'v1');
CREATE TABLE bad_r_priv_tgt (id integer PRIMARY KEY, ts timestamptz, v text);
GRANT SELECT ON bad_r_priv_src TO bad_alice;
GRANT SELECT, INSERT, UPDATE ON bad_r_priv_tgt TO bad_alice;
SET ROLE bad_alice;
SELECT incr_create_pipeline('bad_r_alice', 'bad_r_priv_src', 'bad_r_priv_tgt', 'ts', 'merge', ARRAY['id']);
SELECT incr_run('bad_r_alice');
RESET ROLE;

-- erin owns a pipeline; her role is dropped later.
CREATE ROLE bad_erin NOLOGIN;
CREATE TABLE bad_r_erin_tgt (id integer PRIMARY KEY, ts timestamptz, v text);
GRANT SELECT ON bad_r_priv_src TO bad_erin;
GRANT SELECT, INSERT, UPDATE ON bad_r_erin_tgt TO bad_erin;
SET ROLE bad_erin;
SELECT incr_create_pipeline('bad_r_orphan', 'bad_r_priv_src', 'bad_r_erin_tgt', 'ts', 'merge', ARRAY['id']);
RESET ROLE;

-- A source in a schema bob may not use, though he may read the table.
CREATE SCHEMA bad_r_sch;
CREATE TABLE bad_r_sch.src (id integer NOT NULL, ts timestamptz NOT NULL, v text);
CREATE INDEX ON bad_r_sch.src (ts);
SELECT 'bad_r_sch.src'::regclass::oid AS bad_r_sch_src_oid \gset
\o

SELECT results_eq(
    $$SELECT pipeline, COALESCE(value_timestamptz::text, value_numeric::text)
      FROM incr_checkpoints WHERE pipeline LIKE 'bad\_r\_%' ORDER BY pipeline$$,
    $$VALUES ('bad_r_alice', '2024-01-01 00:00:00+00'),
             ('bad_r_cache', '2'),
             ('bad_r_dropcol', '2024-01-03 00:00:00+00'),
             ('bad_r_gonesrc', '2024-01-03 00:00:00+00'),
             ('bad_r_gonetgt', '2024-01-03 00:00:00+00'),
             ('bad_r_inf', '2024-01-03 00:00:00+00'),
             ('bad_r_it''s', NULL),
             ('bad_r_noidx', '2024-01-03 00:00:00+00'),
             ('bad_r_num', '4.5'),
             ('bad_r_orphan', NULL),
             ('bad_r_retype', '2024-01-03 00:00:00+00'),
             ('bad_r_seq', '3'),
             ('bad_r_ts', '2024-01-03 00:00:00+00'),
             ('bad_r_untype', '2024-01-03 00:00:00+00'),
             ('bad_r_xid', NULL)$$,
    'fixtures: every pipeline has run once');

-- The catalog and history as they were before any bad call.
CREATE TEMP TABLE bad_pipelines_before AS SELECT * FROM incr_pipelines;
CREATE TEMP TABLE bad_checkpoints_before AS SELECT * FROM incr_checkpoints;
SELECT COALESCE(max(run_id), 0) AS bad_last_run FROM incr_runs \gset

-- Unknown and NULL pipeline names.
SELECT throws_ok($$SELECT incr_run(NULL)$$,
    '22004', 'argument "name" must not be null', 'incr_run: NULL name');
SELECT throws_ok($$SELECT incr_run('bad_r_nope')$$,
    '42704', 'pipeline "bad_r_nope" does not exist', 'incr_run: unknown pipeline');
SELECT throws_ok($$SELECT incr_plan(NULL)$$,
    '22004', 'argument "name" must not be null', 'incr_plan: NULL name');
SELECT throws_ok($$SELECT incr_plan('bad_r_nope')$$,
    '42704', 'pipeline "bad_r_nope" does not exist', 'incr_plan: unknown pipeline');
SELECT throws_ok($$SELECT incr_reset(NULL, '2024-01-01')$$,
    '22004', 'argument "name" must not be null', 'incr_reset: NULL name');
SELECT throws_ok($$SELECT incr_reset('bad_r_nope')$$,
    '42704', 'pipeline "bad_r_nope" does not exist', 'incr_reset: unknown pipeline');
SELECT throws_ok($$SELECT incr_backfill(NULL, '2024-01-01', '2024-01-02')$$,
    '22004', 'argument "name" must not be null', 'incr_backfill: NULL name');
SELECT throws_ok($$SELECT incr_backfill('bad_r_nope', '2024-01-01', '2024-01-02')$$,
    '42704', 'pipeline "bad_r_nope" does not exist', 'incr_backfill: unknown pipeline');
SELECT throws_ok($$SELECT incr_pause(NULL)$$,
    '22004', 'argument "name" must not be null', 'incr_pause: NULL name');
SELECT throws_ok($$SELECT incr_pause('bad_r_nope')$$,
    '42704', 'pipeline "bad_r_nope" does not exist', 'incr_pause: unknown pipeline');
SELECT throws_ok($$SELECT incr_resume(NULL)$$,
    '22004', 'argument "name" must not be null', 'incr_resume: NULL name');
SELECT throws_ok($$SELECT incr_resume('bad_r_nope')$$,
    '42704', 'pipeline "bad_r_nope" does not exist', 'incr_resume: unknown pipeline');
SELECT throws_ok($$SELECT incr_drop_pipeline(NULL)$$,
    '22004', 'argument "name" must not be null', 'incr_drop_pipeline: NULL name');
SELECT throws_ok($$SELECT incr_drop_pipeline('bad_r_nope')$$,
    '42704', 'pipeline "bad_r_nope" does not exist', 'incr_drop_pipeline: unknown pipeline');
SELECT throws_ok($$SELECT incr_pending_rows(NULL)$$,
    '22004', 'argument "name" must not be null', 'incr_pending_rows: NULL name');
SELECT throws_ok($$SELECT incr_pending_rows('bad_r_nope')$$,
    '42704', 'pipeline "bad_r_nope" does not exist', 'incr_pending_rows: unknown pipeline');
SELECT throws_ok($$SELECT incr_run('BAD_R_TS')$$,
    '42704', 'pipeline "BAD_R_TS" does not exist', 'incr_run: names are case-sensitive');

-- A paused pipeline does not run.
SELECT lives_ok($$SELECT incr_pause('bad_r_ts')$$, 'pause bad_r_ts');
SELECT throws_ok($$SELECT incr_run('bad_r_ts')$$,
    '55000', 'pipeline "bad_r_ts" is paused', 'incr_run: paused pipeline');
SELECT throws_ok($$SELECT incr_run('bad_r_ts', wait => false)$$,
    '55000', 'pipeline "bad_r_ts" is paused', 'incr_run without waiting: paused pipeline');
SELECT is(pg_temp.bad_hint($$SELECT incr_run('bad_r_ts')$$),
    $$Resume it with: SELECT incr_resume('bad_r_ts');$$,
    'incr_run: the hint for a paused pipeline is the statement that resumes it');
SELECT lives_ok($$SELECT incr_resume('bad_r_ts')$$, 'resume bad_r_ts');
SELECT lives_ok($$SELECT incr_pause('bad_r_it''s')$$, $$pause bad_r_it's$$);
SELECT is(pg_temp.bad_hint($$SELECT incr_run('bad_r_it''s')$$),
    $$Resume it with: SELECT incr_resume('bad_r_it''s');$$,
    'incr_run: the hint for a paused pipeline quotes its name as a literal');
SELECT lives_ok($$SELECT incr_resume('bad_r_it''s')$$, $$resume bad_r_it's$$);

-- incr_reset with a value the cursor type cannot read.
SELECT throws_ok($$SELECT incr_reset('bad_r_ts', 'not a date')$$,
    '22007', 'invalid input syntax for type timestamp with time zone: "not a date"',
    'incr_reset: not a timestamptz');
SELECT throws_ok($$SELECT incr_reset('bad_r_ts', '')$$,
    '22007', 'invalid input syntax for type timestamp with time zone: ""',
    'incr_reset: empty string for a timestamptz');
SELECT throws_ok($$SELECT incr_reset('bad_r_seq', 'abc')$$,
    '22P02', 'invalid input syntax for type bigint: "abc"',
    'incr_reset: not a bigint');
SELECT throws_ok($$SELECT incr_reset('bad_r_seq', '1.5')$$,
    '22P02', 'invalid input syntax for type bigint: "1.5"',
    'incr_reset: a fraction for a bigint');
SELECT throws_ok($$SELECT incr_reset('bad_r_seq', '9223372036854775808')$$,
    '22003', 'value "9223372036854775808" is out of range for type bigint',
    'incr_reset: out of range for a bigint');

SELECT throws_ok($$SELECT incr_reset('bad_r_xid', 'abc')$$,
    '22P02', 'invalid input syntax for type xid8: "abc"',
    'incr_reset: not an xid8');
SELECT throws_ok($$SELECT incr_reset('bad_r_xid', '12abc')$$,
    '22P02', 'invalid input syntax for type xid8: "12abc"',
    'incr_reset: an xid8 with trailing junk');

-- incr_reset to a value no cursor value can pass: the pipeline would never
-- load again while every run reports ok.  (Only the SQLSTATE is asserted:
-- the message is the implementer's choice.)
SELECT throws_ok($$SELECT incr_reset('bad_r_num', 'NaN')$$,
    '22023', NULL, 'incr_reset: NaN for a numeric cursor');
SELECT throws_ok($$SELECT incr_reset('bad_r_num', 'Infinity')$$,
    '22023', NULL, 'incr_reset: Infinity for a numeric cursor');
SELECT throws_ok($$SELECT incr_reset('bad_r_inf', 'infinity')$$,
    '22023', NULL, 'incr_reset: infinity for a timestamptz cursor');

-- incr_backfill with bad bounds.
SELECT throws_ok($$SELECT incr_backfill('bad_r_ts', '2024-01-03', '2024-01-01')$$,
    '22023', 'backfill range of pipeline "bad_r_ts" is empty', 'incr_backfill: from > to');
SELECT throws_ok($$SELECT incr_backfill('bad_r_seq', '3', '1')$$,
    '22023', 'backfill range of pipeline "bad_r_seq" is empty',
    'incr_backfill: from > to, bigint cursor');
SELECT throws_ok($$SELECT incr_backfill('bad_r_xid', '10', '5')$$,
    '22023', 'backfill range of pipeline "bad_r_xid" is empty',
    'incr_backfill: from > to, xid8 cursor');
SELECT throws_ok($$SELECT incr_backfill('bad_r_ts', NULL, '2024-01-01')$$,
    '22004', 'argument "from_value" must not be null', 'incr_backfill: NULL from_value');
SELECT throws_ok($$SELECT incr_backfill('bad_r_ts', '2024-01-01', NULL)$$,
    '22004', 'argument "to_value" must not be null', 'incr_backfill: NULL to_value');
SELECT throws_ok($$SELECT incr_backfill('bad_r_ts', 'yesterday-ish', '2024-01-01')$$,
    '22007', 'invalid input syntax for type timestamp with time zone: "yesterday-ish"',
    'incr_backfill: from_value not a timestamptz');
SELECT throws_ok($$SELECT incr_backfill('bad_r_seq', '1', 'x')$$,
    '22P02', 'invalid input syntax for type bigint: "x"',
    'incr_backfill: to_value not a bigint');

-- incr_catch_up commits after each batch, so it refuses a transaction block.
SELECT throws_ok($$CALL incr_catch_up('bad_r_ts')$$,
    '25001', 'incr_catch_up cannot run inside a transaction block',
    'incr_catch_up inside a transaction block');
SELECT throws_ok($$CALL incr_catch_up('bad_r_nope')$$,
    '25001', 'incr_catch_up cannot run inside a transaction block',
    'incr_catch_up of an unknown pipeline inside a transaction block');

-- Relations that changed after the pipeline was created.
ALTER TABLE bad_r_dropcol_src DROP COLUMN ts;
ALTER TABLE bad_r_retype_src ALTER COLUMN ts TYPE timestamp;
ALTER TABLE bad_r_untype_src ALTER COLUMN ts TYPE text;
ALTER TABLE bad_r_noidx_tgt DROP CONSTRAINT bad_r_noidx_tgt_pkey;
DROP TABLE bad_r_gonesrc_src;
DROP TABLE bad_r_gonetgt_tgt;
ALTER SEQUENCE bad_r_cache_src_id_seq CACHE 50;

SELECT throws_ok($$SELECT incr_run('bad_r_dropcol')$$,
    '42703', 'cursor column "ts" does not exist in source "bad_r_dropcol_src"',
    'incr_run: cursor column dropped from the source');
SELECT throws_ok($$SELECT incr_plan('bad_r_dropcol')$$,
    '42703', 'cursor column "ts" does not exist in source "bad_r_dropcol_src"',
    'incr_plan: cursor column dropped from the source');
SELECT throws_ok($$SELECT incr_backfill('bad_r_dropcol', '2024-01-01', '2024-01-02')$$,
    '42703', 'cursor column "ts" does not exist in source "bad_r_dropcol_src"',
    'incr_backfill: cursor column dropped from the source');
SELECT throws_ok($$SELECT incr_run('bad_r_retype')$$,
    '42804', 'cursor column "ts" of source "bad_r_retype_src" has type timestamp without time zone, expected timestamp with time zone',
    'incr_run: cursor column changed to another cursor type');
SELECT throws_ok($$SELECT incr_run('bad_r_untype')$$,
    '42804', 'cursor column "ts" of source "bad_r_untype_src" has type text, expected timestamp with time zone',
    'incr_run: cursor column changed to a type that cannot be a cursor');
SELECT throws_ok($$SELECT incr_run('bad_r_noidx')$$,
    '42P10', 'keys of pipeline "bad_r_noidx" are not backed by a unique index on target "bad_r_noidx_tgt"',
    'incr_run: the target''s unique index on the keys was dropped');
SELECT throws_ok($$SELECT incr_run('bad_r_gonesrc')$$,
    '42P01', 'source relation of pipeline "bad_r_gonesrc" does not exist',
    'incr_run: source dropped');
SELECT throws_ok($$SELECT incr_plan('bad_r_gonesrc')$$,
    '42P01', 'source relation of pipeline "bad_r_gonesrc" does not exist',
    'incr_plan: source dropped');
SELECT throws_ok($$SELECT incr_run('bad_r_gonetgt')$$,
    '42P01', 'target relation of pipeline "bad_r_gonetgt" does not exist',
    'incr_run: target dropped');
SELECT throws_ok($$SELECT incr_run('bad_r_cache')$$,
    '55000', format('cursor column "id" of "bad_r_cache_src" is filled by sequence %s.bad_r_cache_src_id_seq with CACHE 50',
                    quote_ident(current_schema())),
    'incr_run: the cursor''s sequence was given CACHE 50');
SELECT lives_ok($$SELECT * FROM incr_status$$,
    'incr_status still answers with pipelines whose relations are gone');
SELECT is((SELECT rows_pending FROM incr_status WHERE pipeline = 'bad_r_gonesrc'), NULL,
    'incr_status: no pending count for a dropped source');
SELECT is((SELECT rows_pending FROM incr_status WHERE pipeline = 'bad_r_dropcol'), NULL,
    'incr_status: no pending count for a source without its cursor column');

-- Privileges: bob may not define a pipeline over relations he cannot use ...
SET ROLE bad_bob;
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_r_bob', 'bad_r_priv_src', 'bad_r_priv_tgt', 'ts', 'merge', ARRAY['id'])$$,
    '42501', 'permission denied for column "ts" of relation "bad_r_priv_src"',
    'incr_create_pipeline: no SELECT on the source');
RESET ROLE;
GRANT SELECT ON bad_r_priv_src TO bad_bob;
SET ROLE bad_bob;
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_r_bob', 'bad_r_priv_src', 'bad_r_priv_tgt', 'ts', 'merge', ARRAY['id'])$$,
    '42501', 'permission denied for target relation "bad_r_priv_tgt"',
    'incr_create_pipeline: no SELECT and INSERT on the target');
RESET ROLE;
GRANT SELECT, INSERT ON bad_r_priv_tgt TO bad_bob;
SET ROLE bad_bob;
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_r_bob', 'bad_r_priv_src', 'bad_r_priv_tgt', 'ts', 'merge', ARRAY['id'])$$,
    '42501', 'permission denied for column "ts" of relation "bad_r_priv_tgt"',
    'incr_create_pipeline: merge without UPDATE on the target');
RESET ROLE;
GRANT SELECT ON bad_r_sch.src TO bad_bob;
SET ROLE bad_bob;
SELECT throws_ok(
    format($$SELECT incr_create_pipeline('bad_r_bob', %s::regclass, 'bad_r_priv_tgt', 'ts', 'append', ARRAY['id'])$$,
           :bad_r_sch_src_oid),
    '42501', 'permission denied for schema bad_r_sch',
    'incr_create_pipeline: no USAGE on the source''s schema');

-- ... nor act on alice's pipeline, even with privileges on its relations.
SELECT throws_ok($$SELECT incr_run('bad_r_alice')$$,
    '42501', 'must be owner of pipeline "bad_r_alice"', 'incr_run by another role');
SELECT throws_ok($$SELECT incr_run('bad_r_alice', wait => false)$$,
    '42501', 'must be owner of pipeline "bad_r_alice"', 'incr_run without waiting by another role');
SELECT throws_ok($$SELECT incr_plan('bad_r_alice')$$,
    '42501', 'must be owner of pipeline "bad_r_alice"', 'incr_plan by another role');
SELECT throws_ok($$SELECT incr_reset('bad_r_alice')$$,
    '42501', 'must be owner of pipeline "bad_r_alice"', 'incr_reset to NULL by another role');
SELECT throws_ok($$SELECT incr_reset('bad_r_alice', '2030-01-01')$$,
    '42501', 'must be owner of pipeline "bad_r_alice"', 'incr_reset to a value by another role');
SELECT throws_ok($$SELECT incr_backfill('bad_r_alice', '2024-01-01', '2024-01-02')$$,
    '42501', 'must be owner of pipeline "bad_r_alice"', 'incr_backfill by another role');
SELECT throws_ok($$SELECT incr_pause('bad_r_alice')$$,
    '42501', 'must be owner of pipeline "bad_r_alice"', 'incr_pause by another role');
SELECT throws_ok($$SELECT incr_resume('bad_r_alice')$$,
    '42501', 'must be owner of pipeline "bad_r_alice"', 'incr_resume by another role');
SELECT throws_ok($$SELECT incr_drop_pipeline('bad_r_alice')$$,
    '42501', 'must be owner of pipeline "bad_r_alice"', 'incr_drop_pipeline by another role');
SELECT throws_ok($$SELECT incr_create_pipeline('bad_r_alice', 'bad_r_priv_src', 'bad_r_priv_tgt', 'ts', 'merge', ARRAY['id'])$$,
    '42710', 'pipeline "bad_r_alice" already exists', 'incr_create_pipeline over another role''s pipeline');
RESET ROLE;

-- A run is done with the owner's privileges, whoever calls it.
REVOKE SELECT ON bad_r_priv_src FROM bad_alice;
SELECT throws_ok($$SELECT incr_run('bad_r_alice')$$,
    '42501', 'permission denied for column "ts" of relation "bad_r_priv_src"',
    'incr_run by a superuser of a pipeline whose owner lost SELECT on the source');
SELECT throws_ok($$SELECT incr_plan('bad_r_alice')$$,
    '42501', 'permission denied for column "ts" of relation "bad_r_priv_src"',
    'incr_plan by a superuser of a pipeline whose owner lost SELECT on the source');
GRANT SELECT ON bad_r_priv_src TO bad_alice;
REVOKE INSERT ON bad_r_priv_tgt FROM bad_alice;
SELECT throws_ok($$SELECT incr_run('bad_r_alice')$$,
    '42501', 'permission denied for column "id" of relation "bad_r_priv_tgt"',
    'incr_run by a superuser of a pipeline whose owner lost INSERT on the target');
SELECT is(current_user, session_user, 'the caller''s identity is restored after the failed runs');

-- The owner of a pipeline is dropped: either DROP ROLE is refused, or every
-- call on the orphaned pipeline says clearly that its owner is gone.
REVOKE ALL ON bad_r_priv_src, bad_r_erin_tgt FROM bad_erin;
SELECT COALESCE(pg_temp.bad_error('DROP ROLE bad_erin'), 'dropped') AS bad_drop_erin \gset
SELECT matches(
    CASE WHEN :'bad_drop_erin' LIKE '2BP01:%' THEN 'refused'
         ELSE pg_temp.bad_error($$SELECT incr_run('bad_r_orphan')$$) END,
    '^(refused|42704: .*"bad_r_orphan".*)$',
    'incr_run by a superuser of a pipeline whose owner was dropped');
SET ROLE bad_bob;
SELECT matches(
    CASE WHEN :'bad_drop_erin' LIKE '2BP01:%' THEN 'refused'
         ELSE pg_temp.bad_error($$SELECT incr_run('bad_r_orphan')$$) END,
    '^(refused|42(704|501): .*"bad_r_orphan".*)$',
    'incr_run by another role of a pipeline whose owner was dropped');
RESET ROLE;

-- Nothing of the bad calls reached the catalog or the targets.
SELECT results_eq(
    'SELECT * FROM incr_pipelines ORDER BY name',
    'SELECT * FROM bad_pipelines_before ORDER BY name',
    'incr_pipelines is unchanged by the bad calls');
SELECT results_eq(
    'SELECT * FROM incr_checkpoints ORDER BY pipeline',
    'SELECT * FROM bad_checkpoints_before ORDER BY pipeline',
    'incr_checkpoints is unchanged by the bad calls');
SELECT results_eq(
    $$SELECT pipeline, value_timestamptz FROM incr_checkpoints
      WHERE pipeline IN ('bad_r_ts', 'bad_r_dropcol', 'bad_r_retype', 'bad_r_noidx') ORDER BY pipeline$$,
    $$VALUES ('bad_r_dropcol', timestamptz '2024-01-03 00:00+00'),
             ('bad_r_noidx', timestamptz '2024-01-03 00:00+00'),
             ('bad_r_retype', timestamptz '2024-01-03 00:00+00'),
             ('bad_r_ts', timestamptz '2024-01-03 00:00+00')$$,
    'the checkpoints are where the last good run left them');
SELECT is((SELECT value_numeric FROM incr_checkpoints WHERE pipeline = 'bad_r_seq'), 3::numeric,
    'the bigint checkpoint is where the last good run left it');
SELECT is((SELECT value_numeric FROM incr_checkpoints WHERE pipeline = 'bad_r_num'), 4.5,
    'the numeric checkpoint is where the last good run left it');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'bad_r_inf'),
    timestamptz '2024-01-03 00:00+00',
    'the timestamptz checkpoint not reset to infinity is where the last good run left it');
SELECT results_eq(
    'SELECT id, v FROM bad_r_ts_tgt ORDER BY id',
    $$VALUES (1, 'v1'), (2, 'v2'), (3, 'v3')$$,
    'the target holds what the good run loaded');
SELECT is((SELECT count(*) FROM bad_r_priv_tgt), 1::bigint,
    'alice''s target holds what her good run loaded');

-- Each run that failed after it started is in incr_runs, and nothing else is.
SELECT set_eq(
    format($$SELECT pipeline, trigger, status, error FROM incr_runs
             WHERE run_id > %s AND pipeline <> 'bad_r_orphan'$$,
           :bad_last_run),
    $$VALUES
        ('bad_r_dropcol', 'manual', 'error', 'cursor column "ts" does not exist in source "bad_r_dropcol_src"'),
        ('bad_r_dropcol', 'backfill', 'error', 'cursor column "ts" does not exist in source "bad_r_dropcol_src"'),
        ('bad_r_retype', 'manual', 'error', 'cursor column "ts" of source "bad_r_retype_src" has type timestamp without time zone, expected timestamp with time zone'),
        ('bad_r_untype', 'manual', 'error', 'cursor column "ts" of source "bad_r_untype_src" has type text, expected timestamp with time zone'),
        ('bad_r_noidx', 'manual', 'error', 'keys of pipeline "bad_r_noidx" are not backed by a unique index on target "bad_r_noidx_tgt"'),
        ('bad_r_gonesrc', 'manual', 'error', 'source relation of pipeline "bad_r_gonesrc" does not exist'),
        ('bad_r_gonetgt', 'manual', 'error', 'target relation of pipeline "bad_r_gonetgt" does not exist'),
        ('bad_r_cache', 'manual', 'error', format('cursor column "id" of "bad_r_cache_src" is filled by sequence %s.bad_r_cache_src_id_seq with CACHE 50', quote_ident(current_schema()))),
        ('bad_r_alice', 'manual', 'error', 'permission denied for column "ts" of relation "bad_r_priv_src"'),
        ('bad_r_alice', 'manual', 'error', 'permission denied for column "id" of relation "bad_r_priv_tgt"')$$,
    'the failed runs, and only they, are recorded with their errors');

SELECT * FROM finish();
ROLLBACK;
