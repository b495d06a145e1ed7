-- security_internal_calls.sql: the internal functions a run statement calls
-- cannot be shadowed, forged or misused, and nested runs keep their counts.
--   - A role with CREATE on the extension's schema creates overloads of
--     _incr_tally with the exact cursor types of pipelines; a superuser's
--     runs never call them (nothing recorded, the role stays ordinary), and
--     the exact signature the runs use cannot be created again.
--   - A source view whose WHERE calls _incr_tally itself with a constant
--     cannot forge the count or the checkpoint: without the run's token the
--     call is refused (42501), and the checkpoint is the greatest row read.
--   - Such a call with a value of another type than the run's cursor (it
--     crashed the server) is a clear error that fails the run, target and
--     checkpoint unchanged; outside a run every call is refused the same way.
--   - A run started by a trigger on another run's target that fails, its
--     error caught by the trigger, leaves the outer run its own counts: the
--     outer run records every row and moves its checkpoint.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(17);

\o /dev/null

-- what the hostile functions did, and as whom
CREATE TABLE si_log (who text, su boolean, what text);
GRANT INSERT, SELECT ON si_log TO PUBLIC;

-- mallory may create in the extension's schema (the database owner can, on 15)
CREATE ROLE si_mallory NOLOGIN;
GRANT CREATE ON SCHEMA public TO si_mallory;

-- a superuser's pipelines over bigint, timestamptz and numeric cursors
CREATE TABLE si_src (id bigint PRIMARY KEY, seq bigint NOT NULL, ts timestamptz NOT NULL,
                     n numeric NOT NULL);
CREATE INDEX ON si_src (seq);
CREATE INDEX ON si_src (ts);
CREATE INDEX ON si_src (n);
CREATE TABLE si_tgt_seq (id bigint PRIMARY KEY, seq bigint);
CREATE TABLE si_tgt_ts (id bigint PRIMARY KEY, ts timestamptz);
CREATE TABLE si_tgt_n (id bigint PRIMARY KEY, n numeric);
INSERT INTO si_src SELECT g, g, '2024-01-01'::timestamptz + g * interval '1 hour', g * 1.5
FROM generate_series(1, 3) g;
SELECT incr_create_pipeline('si_seq', 'si_src', 'si_tgt_seq', 'seq', 'merge', ARRAY['id']);
SELECT incr_create_pipeline('si_ts', 'si_src', 'si_tgt_ts', 'ts', 'merge', ARRAY['id']);
SELECT incr_create_pipeline('si_n', 'si_src', 'si_tgt_n', 'n', 'append', ARRAY['id']);

SET ROLE si_mallory;
CREATE FUNCTION public.si_evil(what text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO public.si_log
    SELECT current_user, rolsuper, what FROM pg_catalog.pg_roles WHERE rolname = current_user;
    BEGIN
        EXECUTE 'ALTER ROLE si_mallory SUPERUSER';
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN true;
END
$f$;
CREATE FUNCTION public._incr_tally(bigint) RETURNS boolean LANGUAGE sql
    RETURN public.si_evil('_incr_tally(bigint)');
CREATE FUNCTION public._incr_tally(timestamptz) RETURNS boolean LANGUAGE sql
    RETURN public.si_evil('_incr_tally(timestamptz)');
CREATE FUNCTION public._incr_tally(numeric) RETURNS boolean LANGUAGE sql
    RETURN public.si_evil('_incr_tally(numeric)');
CREATE FUNCTION public._incr_tally(bigint, integer) RETURNS boolean LANGUAGE sql
    RETURN public.si_evil('_incr_tally(bigint, integer)');
CREATE FUNCTION public._incr_tally(numeric, numeric) RETURNS boolean LANGUAGE sql
    RETURN public.si_evil('_incr_tally(numeric, numeric)');
CREATE FUNCTION public._incr_tally(text, text) RETURNS boolean LANGUAGE sql
    RETURN public.si_evil('_incr_tally(text, text)');
RESET ROLE;
\o

SELECT is(
    (SELECT array_agg(rows_read ORDER BY pipeline)
     FROM (SELECT 'si_n' AS pipeline, (incr_run('si_n')).rows_read
           UNION ALL SELECT 'si_seq', (incr_run('si_seq')).rows_read
           UNION ALL SELECT 'si_ts', (incr_run('si_ts')).rows_read) r),
    ARRAY[3, 3, 3]::bigint[],
    'a superuser runs pipelines over numeric, bigint and timestamptz cursors with overloads of _incr_tally in the extension''s schema');
SELECT is(
    (SELECT array_agg(format('%s as %s (superuser %s)', what, who, su)) FROM si_log),
    NULL,
    'no overload of _incr_tally that mallory created was called');
SELECT is(
    (SELECT rolsuper FROM pg_roles WHERE rolname = 'si_mallory'),
    false,
    'mallory is still not a superuser');
SELECT is(
    ARRAY[(SELECT checkpoint FROM incr_status WHERE pipeline = 'si_seq'),
          (SELECT checkpoint FROM incr_status WHERE pipeline = 'si_n')],
    ARRAY['3', '4.5'],
    'the runs moved their checkpoints to the greatest values read');
SET ROLE si_mallory;
SELECT throws_ok(
    $$CREATE FUNCTION public._incr_tally(bigint, bigint) RETURNS boolean LANGUAGE sql
      RETURN public.si_evil('exact')$$,
    '42723', NULL,
    'the exact signature a run calls cannot be created by anyone else');
RESET ROLE;

-- the key of a tombstone is built by _incr_tombstone_key(text[], record):
-- overloads with concrete types (which a VARIADIC "any" function would lose
-- to) are never called by a superuser's cdc runs that delete and backfill
\o /dev/null
CREATE TABLE si_ev (seq bigint PRIMARY KEY, op text NOT NULL, id bigint, v text);
CREATE TABLE si_tgt_cdc (id bigint PRIMARY KEY, v text, ver bigint);
INSERT INTO si_ev VALUES (1, 'c', 1, 'a'), (2, 'd', 1, NULL), (3, 'c', 2, 'b');
SELECT incr_create_pipeline('si_cdc', 'si_ev', 'si_tgt_cdc', 'seq', 'cdc', ARRAY['id'],
                            op_column => 'op', version_column => 'ver');
SET ROLE si_mallory;
CREATE FUNCTION public._incr_tombstone_key(text, bigint) RETURNS jsonb LANGUAGE sql
    RETURN pg_catalog.to_jsonb(public.si_evil('_incr_tombstone_key(text, bigint)'));
CREATE FUNCTION public._incr_tombstone_key(text[], bigint) RETURNS jsonb LANGUAGE sql
    RETURN pg_catalog.to_jsonb(public.si_evil('_incr_tombstone_key(text[], bigint)'));
RESET ROLE;
SELECT incr_run('si_cdc');
SELECT incr_backfill('si_cdc', '1', '1');
\o
SELECT is(
    COALESCE((SELECT array_agg(format('%s as %s (superuser %s)', what, who, su)) FROM si_log)::text, 'none')
    || ' / ' || (SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM si_tgt_cdc),
    'none / 2:b',
    'a superuser''s cdc runs build tombstone keys without calling mallory''s overloads of _incr_tombstone_key; key 1 stays deleted');

\o /dev/null
-- mallory's functions go (also the exact one, where creating it succeeded)
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT oid FROM pg_proc WHERE proowner = 'si_mallory'::regrole AND proname IN ('_incr_tally', '_incr_tombstone_key')
    LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END
$$;

-- Forgery: a source view whose WHERE calls _incr_tally with a constant, in
-- the form of 0.3 (with a guessed token) and of 0.2 (no token); errors are
-- caught, so that only the counting could change.
CREATE FUNCTION si_forge() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN
        EXECUTE 'SELECT public._incr_tally(1000000::bigint, 0::bigint)';
        INSERT INTO si_log VALUES (current_user, NULL, 'forged with a token');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO si_log VALUES (current_user, NULL, 'refused: ' || SQLSTATE);
    END;
    BEGIN
        EXECUTE 'SELECT public._incr_tally(1000000::bigint)';
        INSERT INTO si_log VALUES (current_user, NULL, 'forged without a token');
    EXCEPTION WHEN undefined_function THEN
        NULL;
    END;
    RETURN true;
END
$f$;
CREATE TABLE si_fsrc (id bigint PRIMARY KEY, seq bigint NOT NULL);
CREATE INDEX ON si_fsrc (seq);
INSERT INTO si_fsrc VALUES (1, 1), (2, 2);
CREATE VIEW si_forged_v AS SELECT * FROM si_fsrc WHERE si_forge();
CREATE TABLE si_ftgt (id bigint PRIMARY KEY, seq bigint);
SELECT incr_create_pipeline('si_forged', 'si_forged_v', 'si_ftgt', 'seq', 'merge', ARRAY['id']);
\o

SELECT results_eq(
    $$SELECT rows_read, rows_inserted, status FROM incr_run('si_forged')$$,
    $$VALUES (2::bigint, 2::bigint, 'ok'::text)$$,
    'a run over a view that calls _incr_tally itself counts only the rows it read');
SELECT is(
    (SELECT checkpoint FROM incr_status WHERE pipeline = 'si_forged'),
    '2',
    'the checkpoint is the greatest row read, not the forged 1000000');
SELECT is(
    (SELECT array_agg(DISTINCT what) FROM si_log),
    ARRAY['refused: 42501'],
    'the view''s calls were refused with 42501 (no token), and none counted');

-- The crash: a value of another type than the run's cursor (numeric), not
-- caught, so the run fails; 0.2's form if 0.3's does not exist.
\o /dev/null
CREATE FUNCTION si_poke() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN
        EXECUTE 'SELECT public._incr_tally(12345::bigint, 0::bigint)';
    EXCEPTION WHEN undefined_function THEN
        EXECUTE 'SELECT public._incr_tally(12345::bigint)';
    END;
    RETURN true;
END
$f$;
CREATE TABLE si_csrc (id bigint PRIMARY KEY, n numeric NOT NULL);
CREATE INDEX ON si_csrc (n);
INSERT INTO si_csrc VALUES (1, 1.5), (2, 2.5);
CREATE VIEW si_crash_v AS SELECT * FROM si_csrc WHERE si_poke();
CREATE TABLE si_ctgt (id bigint PRIMARY KEY, n numeric);
SELECT incr_create_pipeline('si_crash', 'si_crash_v', 'si_ctgt', 'n', 'merge', ARRAY['id']);
\o

SELECT throws_ok(
    $$SELECT incr_run('si_crash')$$,
    '42501', '_incr_tally is internal to incremental runs',
    'a view calling _incr_tally with a bigint on a numeric pipeline fails the run with a clear error');
SELECT is(
    ARRAY[(SELECT count(*) FROM si_ctgt)::text,
          coalesce((SELECT checkpoint FROM incr_status WHERE pipeline = 'si_crash'), 'none')],
    ARRAY['0', 'none'],
    'target and checkpoint are unchanged after that failed run');
SELECT throws_ok(
    $$SELECT public._incr_tally(1::bigint, 0::bigint)$$,
    '42501', '_incr_tally is internal to incremental runs',
    '_incr_tally outside a run is refused');
SELECT throws_ok(
    $$SELECT public._incr_count_update(true, 0::bigint)$$,
    '42501', '_incr_count_update is internal to incremental runs',
    '_incr_count_update outside a run is refused');
SELECT is(
    public._incr_tally(NULL::timestamptz, 0::bigint),
    NULL,
    '_incr_tally of a NULL cursor value does nothing (strict)');

-- Nested runs: a trigger on si_otgt runs si_inner, which fails (a check
-- constraint on its target); the trigger catches the error.
\o /dev/null
CREATE TABLE si_osrc (id bigint PRIMARY KEY, seq bigint NOT NULL);
CREATE INDEX ON si_osrc (seq);
CREATE TABLE si_otgt (id bigint PRIMARY KEY, seq bigint);
CREATE TABLE si_isrc (id bigint PRIMARY KEY, seq bigint NOT NULL);
CREATE INDEX ON si_isrc (seq);
CREATE TABLE si_itgt (id bigint PRIMARY KEY CHECK (id < 0), seq bigint);
INSERT INTO si_osrc SELECT g, g FROM generate_series(1, 3) g;
INSERT INTO si_isrc VALUES (7, 7);
SELECT incr_create_pipeline('si_outer', 'si_osrc', 'si_otgt', 'seq', 'append', ARRAY['id']);
SELECT incr_create_pipeline('si_inner', 'si_isrc', 'si_itgt', 'seq', 'append', ARRAY['id']);
CREATE FUNCTION si_run_inner() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN
        PERFORM incr_run('si_inner');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO si_log VALUES (current_user, NULL, 'inner failed: ' || SQLSTATE);
    END;
    RETURN NEW;
END
$f$;
CREATE TRIGGER si_run_inner BEFORE INSERT ON si_otgt
    FOR EACH ROW EXECUTE FUNCTION si_run_inner();
DELETE FROM si_log;
\o

SELECT results_eq(
    $$SELECT rows_read, rows_inserted, rows_unchanged, status FROM incr_run('si_outer')$$,
    $$VALUES (3::bigint, 3::bigint, 0::bigint, 'ok'::text)$$,
    'the outer run counts its rows although a nested run failed in its trigger');
SELECT is(
    (SELECT checkpoint FROM incr_status WHERE pipeline = 'si_outer'),
    '3',
    'the outer run moved its checkpoint');
SELECT is(
    (SELECT array_agg(what) FROM si_log),
    ARRAY['inner failed: 23514', 'inner failed: 23514', 'inner failed: 23514'],
    'the nested run failed for each row, its error caught by the trigger');

SELECT * FROM finish();
ROLLBACK;
