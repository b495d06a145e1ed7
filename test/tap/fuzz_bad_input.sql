-- fuzz_bad_input.sql: no argument value that type-checks makes a function
-- of the extension fail badly.  Every function named incr_* in the
-- extension's schema (procedures aside) is called from valid baselines
-- (a valid pipeline of each cursor type and mode, valid relations...) with
-- each argument in turn replaced by NULL and by wrong values of its type
-- (empty, unknown, huge, control characters, SQL fragments, out-of-range
-- numbers, negative intervals, dropped or unsuitable relations, odd
-- arrays).  Each call runs in its own subtransaction, rolled back after it
-- succeeds too, and must hold:
--   - no call raises an internal error (SQLSTATE class XX) or crashes the
--     server (which would end this connection);
--   - a call that fails leaves incr_pipelines and incr_checkpoints as they
--     were; after the whole matrix they are exactly as before it;
--   - a NULL pipeline name is refused with 22004, an unknown one with 42704;
--   - SQL fragments in arguments are never executed;
--   - a checkpoint set by incr_reset to a boundary value of its type (the
--     least and greatest smallint, bigint, date, timestamptz, xid8...) reads
--     back unchanged in incr_status and incr_plan, or is refused.
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL statement_timeout = '120s';
SET LOCAL lock_timeout = '5s';
SELECT plan(10);

\o /dev/null

-- Relations for the baselines, and unsuitable ones for the regclass values.
CREATE TABLE fz_src (
    id      integer PRIMARY KEY,
    ts      timestamptz NOT NULL,
    n       bigint NOT NULL,
    num     numeric NOT NULL,
    d       date NOT NULL,
    s       smallint NOT NULL,
    x       xid8 NOT NULL DEFAULT pg_current_xact_id(),
    v       text,
    del     boolean NOT NULL DEFAULT false,
    op      text NOT NULL DEFAULT 'c');
CREATE INDEX ON fz_src (ts);
CREATE INDEX ON fz_src (n);
INSERT INTO fz_src (id, ts, n, num, d, s, v)
SELECT i, timestamptz '2020-01-01 00:00+00' + i * interval '1 day', i, i * 1.5,
       date '2020-01-01' + i, i, 'v' || i
FROM generate_series(1, 5) AS i;
CREATE TABLE fz_tgt (id integer PRIMARY KEY, ts timestamptz, n bigint, v text);
CREATE TABLE fz_tgt2 (id integer PRIMARY KEY, ts timestamptz, n bigint, v text);
CREATE TABLE fz_keyless (n bigint, v text);
CREATE TABLE fz_num (id integer PRIMARY KEY, num numeric, v text);
CREATE TABLE fz_date (id integer PRIMARY KEY, d date, v text);
CREATE TABLE fz_small (id integer PRIMARY KEY, s smallint, v text);
CREATE TABLE fz_xid (id integer PRIMARY KEY, x xid8, v text);
CREATE TABLE fz_cdc (id integer PRIMARY KEY, v text);
CREATE TABLE fz_hist (id integer NOT NULL, v text, valid_from timestamptz NOT NULL,
                      valid_to timestamptz, is_current boolean NOT NULL,
                      UNIQUE (id, valid_from));
CREATE TABLE fz_agg (n bigint);
CREATE TABLE fz_victim (x integer);
CREATE SEQUENCE fz_seq;
CREATE VIEW fz_view AS SELECT * FROM fz_src;
CREATE MATERIALIZED VIEW fz_mv AS SELECT * FROM fz_src;
CREATE TYPE fz_comp AS (a integer);
CREATE TEMP TABLE fz_temp (id integer PRIMARY KEY, ts timestamptz, n bigint, v text);
CREATE TABLE fz_dropped (id integer);
CREATE TEMP TABLE fz_rel AS
SELECT 'dropped' AS what, 'fz_dropped'::regclass::oid AS relid
UNION ALL SELECT 'toast', reltoastrelid FROM pg_class WHERE oid = 'fz_src'::regclass;
DROP TABLE fz_dropped;

-- Pipelines of every cursor type and mode, each run once.
SELECT incr_create_pipeline('fz_merge', 'fz_src', 'fz_tgt', 'ts', 'merge', ARRAY['id'],
                            delete_column => 'del');
SELECT incr_create_pipeline('fz_append', 'fz_src', 'fz_tgt2', 'n', 'append', ARRAY['id']);
SELECT incr_create_pipeline('fz_num', 'fz_src', 'fz_num', 'num', 'append', ARRAY['id']);
SELECT incr_create_pipeline('fz_date', 'fz_src', 'fz_date', 'd', 'merge', ARRAY['id']);
SELECT incr_create_pipeline('fz_small', 'fz_src', 'fz_small', 's', 'append', ARRAY['id']);
SELECT incr_create_pipeline('fz_xid', 'fz_src', 'fz_xid', 'x', 'merge', ARRAY['id']);
SELECT incr_create_pipeline('fz_cdc', 'fz_src', 'fz_cdc', 'n', 'cdc', ARRAY['id'], op_column => 'op');
SELECT incr_create_pipeline('fz_scd2', 'fz_src', 'fz_hist', 'ts', 'scd2', ARRAY['id']);
SELECT incr_create_pipeline('fz_query', 'fz_src', 'fz_agg', 'n', 'query',
    command => 'INSERT INTO fz_agg SELECT count(*) FROM fz_src WHERE n > $1 AND n <= $2');
SELECT incr_run(name) FROM incr_pipelines WHERE name LIKE 'fz\_%' AND name <> 'fz_xid';

-- The catalog, as one value.
CREATE FUNCTION pg_temp.fz_catalog() RETURNS text
LANGUAGE sql AS $f$
    SELECT md5(coalesce((SELECT string_agg(p::text, '|' ORDER BY p.name) FROM incr_pipelines p), '')
               || '#' ||
               coalesce((SELECT string_agg(c::text, '|' ORDER BY c.pipeline) FROM incr_checkpoints c), ''))
$f$;
CREATE TEMP TABLE fz_catalog_before AS SELECT pg_temp.fz_catalog() AS snapshot;

-- Valid arguments: per function, baselines mapping parameter names to SQL
-- expressions.  Parameters a baseline leaves out take their default.
CREATE TEMP TABLE fz_base (fn text, base text, args jsonb);
INSERT INTO fz_base
SELECT 'incr_create_pipeline', b, a FROM (VALUES
    ('merge', jsonb_build_object('name', $$'fz_new'$$, 'source', $$'fz_src'$$, 'target', $$'fz_tgt'$$,
        'cursor_column', $$'ts'$$, 'mode', $$'merge'$$, 'keys', $$ARRAY['id']$$, 'lag', $$'1 hour'$$,
        'batch_size', '100', 'schedule', $$'1 minute'$$, 'delete_column', $$'del'$$)),
    ('append', jsonb_build_object('name', $$'fz_new'$$, 'source', $$'fz_src'$$, 'target', $$'fz_keyless'$$,
        'cursor_column', $$'n'$$, 'mode', $$'append'$$)),
    ('cdc', jsonb_build_object('name', $$'fz_new'$$, 'source', $$'fz_src'$$, 'target', $$'fz_cdc'$$,
        'cursor_column', $$'n'$$, 'mode', $$'cdc'$$, 'keys', $$ARRAY['id']$$, 'op_column', $$'op'$$)),
    ('scd2', jsonb_build_object('name', $$'fz_new'$$, 'source', $$'fz_src'$$, 'target', $$'fz_hist'$$,
        'cursor_column', $$'ts'$$, 'mode', $$'scd2'$$, 'keys', $$ARRAY['id']$$)),
    ('query', jsonb_build_object('name', $$'fz_new'$$, 'source', $$'fz_src'$$, 'target', $$'fz_agg'$$,
        'cursor_column', $$'n'$$, 'mode', $$'query'$$,
        'command', $$'INSERT INTO fz_agg SELECT count(*) FROM fz_src WHERE n > $1 AND n <= $2'$$))) AS v(b, a);
-- Functions of one pipeline: a baseline per pipeline, with cursor values of its type.
INSERT INTO fz_base
SELECT f, p, jsonb_build_object('name', quote_literal(p), 'wait', 'true',
                                'from_value', quote_literal(lo), 'to_value', quote_literal(hi),
                                'schedule', $$'1 minute'$$, 'cron_expression', $$'* * * * *'$$)
FROM (VALUES ('fz_merge', '2020-01-02 00:00+00', '2020-01-03 00:00+00'),
             ('fz_append', '2', '3'), ('fz_num', '1.5', '3'), ('fz_date', '2020-01-02', '2020-01-03'),
             ('fz_small', '2', '3'), ('fz_xid', '1', '2'), ('fz_cdc', '2', '3'),
             ('fz_scd2', '2020-01-02 00:00+00', '2020-01-03 00:00+00'), ('fz_query', '2', '3')) AS v(p, lo, hi),
     unnest(ARRAY['incr_run', 'incr_backfill', 'incr_reset']) AS f
UNION ALL
SELECT f, p, jsonb_build_object('name', quote_literal(p), 'schedule', $$'1 minute'$$,
                                'cron_expression', $$'* * * * *'$$)
FROM unnest(ARRAY['fz_merge', 'fz_query']) AS p,
     unnest(ARRAY['incr_plan', 'incr_pause', 'incr_resume', 'incr_drop_pipeline', 'incr_pending_rows',
                  'incr_schedule', 'incr_unschedule', 'incr_cron_schedule', 'incr_cron_unschedule']) AS f;

-- Wrong values of each type (NULL is tried for every type).
CREATE TEMP TABLE fz_wrong (type text, expr text);
INSERT INTO fz_wrong VALUES
    ('text', $$''$$), ('text', $$'no such pipeline'$$), ('text', $$repeat('x', 10000)$$),
    ('text', $$E'\\x01'$$), ('text', $$E'\x01'$$), ('text', $$'x; DROP TABLE fz_victim'$$),
    ('text', $$'DROP TABLE fz_victim'$$), ('text', $$E'a\nb'$$), ('text', $$' '$$),
    ('text', $$'infinity'$$), ('text', $$'-infinity'$$), ('text', $$'NaN'$$), ('text', $$'-1'$$),
    ('text', $$'18446744073709551616'$$), ('text', $$'2020-13-45'$$), ('text', $$'ID'$$),
    ('text', $$'"id"'$$), ('text', $$'fz_merge'$$),
    ('regclass', '0'), ('regclass', $$(SELECT relid FROM fz_rel WHERE what = 'dropped')$$),
    ('regclass', $$(SELECT relid FROM fz_rel WHERE what = 'toast')$$),
    ('regclass', $$'fz_src'$$), ('regclass', $$'fz_tgt'$$), ('regclass', $$'pg_class'$$),
    ('regclass', $$'fz_src_pkey'$$), ('regclass', $$'fz_seq'$$), ('regclass', $$'fz_view'$$),
    ('regclass', $$'fz_mv'$$), ('regclass', $$'fz_comp'$$), ('regclass', $$'pg_temp.fz_temp'$$),
    ('regclass', $$'incr_pipelines'$$), ('regclass', $$'fz_victim'$$),
    ('interval', $$'-1 day'$$), ('interval', $$'0'$$), ('interval', $$'1 microsecond'$$),
    ('interval', $$'1 mon -30 days'$$), ('interval', $$'178000000 years'$$),
    ('interval', $$'-178000000 years'$$),
    ('bigint', '-1'), ('bigint', '0'), ('bigint', '9223372036854775807'),
    ('bigint', '(-9223372036854775807 - 1)'),
    ('integer', '-1'), ('integer', '0'), ('integer', '2147483647'), ('integer', '(-2147483647 - 1)'),
    ('text[]', $$'{}'$$), ('text[]', $$'{NULL}'$$), ('text[]', $$ARRAY['a', 'a']$$),
    ('text[]', $$ARRAY['id', 'id']$$), ('text[]', $$'{{id}}'$$), ('text[]', $$ARRAY['']$$),
    ('text[]', $$ARRAY[repeat('x', 10000)]$$), ('text[]', $$'[5:5]={id}'$$),
    ('text[]', $$ARRAY['id', NULL]$$), ('text[]', $$ARRAY['v']$$);

-- Run one call in a subtransaction that is always rolled back: its
-- SQLSTATE ('ok' if it succeeded), its message, and whether the catalog
-- differed after a failure or after the rollback.
CREATE FUNCTION pg_temp.fz_call(sql text, OUT state text, OUT message text,
                                OUT changed_by_failure boolean, OUT not_restored boolean)
LANGUAGE plpgsql AS $f$
DECLARE
    before text := pg_temp.fz_catalog();
BEGIN
    changed_by_failure := false;
    BEGIN
        EXECUTE sql;
        state := 'ok';
        RAISE EXCEPTION 'undo' USING ERRCODE = 'ZZ001';
    EXCEPTION
        WHEN SQLSTATE 'ZZ001' THEN
            NULL;
        WHEN OTHERS THEN
            state := SQLSTATE;
            message := SQLERRM;
            changed_by_failure := pg_temp.fz_catalog() IS DISTINCT FROM before;
    END;
    not_restored := pg_temp.fz_catalog() IS DISTINCT FROM before;
END
$f$;

-- The matrix.
CREATE TEMP TABLE fz_results (fn text, base text, argno integer, argname text, argtype text,
                              value text, sql text, state text, message text,
                              changed_by_failure boolean, not_restored boolean);
DO $do$
DECLARE
    f record;
    b record;
    types text[];
    names text[];
    valid text[];
    call_args text[];
    v text;
    r record;
    sql text;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname::text AS fn, p.pronargs, p.proargtypes, p.proargnames
        FROM pg_proc p JOIN pg_extension e ON p.pronamespace = e.extnamespace
        WHERE e.extname = 'incremental' AND p.proname LIKE 'incr\_%' AND p.prokind = 'f'
        ORDER BY p.proname
    LOOP
        types := ARRAY(SELECT format_type(f.proargtypes[i], NULL) FROM generate_series(0, f.pronargs - 1) AS i);
        names := f.proargnames;
        FOR b IN SELECT * FROM fz_base WHERE fz_base.fn = f.fn ORDER BY base LOOP
            valid := ARRAY(SELECT coalesce(b.args ->> names[i], pg_get_function_arg_default(f.oid, i),
                                           'NULL')
                           FROM generate_series(1, f.pronargs) AS i);
            -- argno 0: the baseline itself
            FOR i IN 0 .. f.pronargs LOOP
                FOR v IN
                    SELECT NULL::text WHERE i = 0
                    UNION ALL SELECT 'NULL' WHERE i > 0
                    UNION ALL SELECT w.expr FROM fz_wrong w WHERE i > 0 AND w.type = types[i]
                LOOP
                    call_args := valid;
                    IF i > 0 THEN
                        call_args[i] := v;
                    END IF;
                    sql := format('SELECT %I.%I(%s)',
                                  (SELECT n.nspname FROM pg_extension e
                                   JOIN pg_namespace n ON n.oid = e.extnamespace
                                   WHERE e.extname = 'incremental'),
                                  f.fn,
                                  array_to_string(ARRAY(SELECT format('(%s)::%s', call_args[k], types[k])
                                                        FROM generate_series(1, f.pronargs) AS k), ', '));
                    SELECT * INTO r FROM pg_temp.fz_call(sql);
                    INSERT INTO fz_results VALUES (f.fn, b.base, i, names[i], types[i], v, sql,
                                                   r.state, r.message, r.changed_by_failure, r.not_restored);
                END LOOP;
            END LOOP;
        END LOOP;
    END LOOP;
END
$do$;
\o

SELECT diag(format('fuzz matrix: %s calls of %s functions (%s baselines); %s succeeded, %s raised errors, %s internal errors (XX)',
                   count(*), count(DISTINCT fn), count(DISTINCT (fn, base)),
                   count(*) FILTER (WHERE state = 'ok'), count(*) FILTER (WHERE state <> 'ok'),
                   count(*) FILTER (WHERE state LIKE 'XX%')))
FROM fz_results;
SELECT diag('SQLSTATEs: ' || string_agg(format('%s x%s', state, n), ', ' ORDER BY n DESC, state))
FROM (SELECT state, count(*) AS n FROM fz_results GROUP BY state) AS s;

SELECT is(
    (SELECT array_agg(DISTINCT fn ORDER BY fn) FROM fz_results),
    ARRAY['incr_backfill', 'incr_create_pipeline', 'incr_cron_schedule', 'incr_cron_unschedule',
          'incr_drop_pipeline', 'incr_pause', 'incr_pending_rows', 'incr_plan', 'incr_reset',
          'incr_resume', 'incr_run', 'incr_schedule', 'incr_unschedule'],
    'the matrix covers every function named incr_* of the extension');
SELECT is(
    (SELECT array_agg(format('%s(%s): %s %s', fn, base, state, message) ORDER BY fn, base)
     FROM fz_results
     WHERE argno = 0 AND state <> 'ok' AND NOT (fn = 'incr_cron_schedule' AND state = '42883')),
    NULL,
    'every baseline call succeeds (incr_cron_schedule aside, without pg_cron)');
SELECT is(
    (SELECT array_agg(format('%s(%s) %s := %s: %s %s', fn, base, argname, value, state, message)
                      ORDER BY fn, base, argno)
     FROM fz_results WHERE state IS NULL OR state LIKE 'XX%'),
    NULL,
    'no call raised an internal error (SQLSTATE XX...): each succeeded or raised its own SQLSTATE');
SELECT is(
    (SELECT array_agg(format('%s(%s) %s := %s: %s', fn, base, argname, value, state) ORDER BY fn, base, argno)
     FROM fz_results WHERE changed_by_failure OR not_restored),
    NULL,
    'no failed call changed incr_pipelines or incr_checkpoints');
SELECT is(pg_temp.fz_catalog(), (SELECT snapshot FROM fz_catalog_before),
    'after the matrix, incr_pipelines and incr_checkpoints are exactly as before it');
SELECT is(
    (SELECT array_agg(DISTINCT m ORDER BY m)
     FROM (SELECT format('%s: %s %s', fn, state, message) AS m
           FROM fz_results WHERE argname = 'name' AND value = 'NULL'
             AND NOT (state = '22004' AND message = 'argument "name" must not be null')) AS x),
    NULL,
    'a NULL pipeline name is refused by every function with 22004');
SELECT is(
    (SELECT array_agg(DISTINCT m ORDER BY m)
     FROM (SELECT format('%s: %s %s', fn, state, message) AS m
           FROM fz_results WHERE argname = 'name' AND value = $$'no such pipeline'$$
             AND fn <> 'incr_create_pipeline'
             AND NOT (state = '42704' AND message = 'pipeline "no such pipeline" does not exist')) AS x),
    NULL,
    'an unknown pipeline name is refused by every function but incr_create_pipeline with 42704');
SELECT is(to_regclass('fz_victim'), 'fz_victim'::regclass,
    'no SQL fragment passed as an argument was executed: fz_victim is still there');
SELECT cmp_ok((SELECT count(*) FROM fz_results), '>=', 1000::bigint,
    'the matrix is not trivially small');

-- Boundary cursor values: a checkpoint set by incr_reset reads back as the
-- same value in incr_status and in incr_plan, or incr_reset refuses it.
CREATE FUNCTION pg_temp.fz_roundtrip(p text, t text, v text) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
    reset_done boolean := false;
    status_cp text;
    plan_cp text;
    canonical text;
    same boolean;
    outcome text;
BEGIN
    BEGIN
        PERFORM incr_reset(p, v);
        reset_done := true;
        status_cp := (SELECT checkpoint FROM incr_status WHERE pipeline = p);
        plan_cp := substring(incr_plan(p) FROM '-- \$3 checkpoint: ([^\n]*)');
        -- compared as text, the type's own output of the value (input
        -- functions can be lenient: xid8 reads '-1' as 18446744073709551615)
        EXECUTE format('SELECT %L::%s::text', v, t) INTO canonical;
        same := (status_cp = canonical AND plan_cp = canonical);
        outcome := CASE WHEN same THEN 'ok'
                        ELSE format('reads back as %s in incr_status, %s in incr_plan', status_cp, plan_cp) END;
        RAISE EXCEPTION 'undo' USING ERRCODE = 'ZZ001';
    EXCEPTION
        WHEN SQLSTATE 'ZZ001' THEN
            NULL;
        WHEN OTHERS THEN
            outcome := CASE WHEN reset_done
                            THEN format('reads back badly (incr_status %s): %s %s', status_cp, SQLSTATE, SQLERRM)
                            ELSE 'refused' END;
    END;
    RETURN outcome;
END
$f$;
SELECT is(
    (SELECT array_agg(format('%s := %s: %s', p, v, o) ORDER BY p, v)
     FROM (SELECT p, v, pg_temp.fz_roundtrip(p, t, v) AS o
           FROM (VALUES ('fz_small', 'smallint', '-32768'), ('fz_small', 'smallint', '32767'),
                        ('fz_append', 'bigint', '-9223372036854775808'),
                        ('fz_append', 'bigint', '9223372036854775807'),
                        ('fz_num', 'numeric', '-123456789012345678901234567890.000000000000000000001'),
                        ('fz_num', 'numeric', '1e300'),
                        ('fz_date', 'date', '4713-01-01 BC'), ('fz_date', 'date', '5874897-12-31'),
                        ('fz_merge', 'timestamptz', '4713-01-01 00:00:00+00 BC'),
                        ('fz_merge', 'timestamptz', '294276-12-31 23:59:59.999999+00'),
                        ('fz_xid', 'xid8', '0'), ('fz_xid', 'xid8', '9223372036854775807'),
                        ('fz_xid', 'xid8', '9223372036854775808'),
                        ('fz_xid', 'xid8', '18446744073709551615')) AS c(p, t, v)) AS r
     WHERE o NOT IN ('ok', 'refused')),
    NULL,
    'a checkpoint set by incr_reset to a boundary value of its type reads back unchanged in incr_status and incr_plan (or is refused)');

SELECT * FROM finish();
ROLLBACK;
