-- fuzz_internal.sql: the internal functions of the extension (named _incr_*)
-- can be called by any role, like the others, so they must be as robust
-- (the counting functions refuse any call outside their run's statement):
-- called with each argument in turn replaced by NULL or by wrong values of
-- its type, none raises an internal error (SQLSTATE class XX) or crashes the
-- server; a Debezium decimal with an absurd scale is refused, not expanded
-- to a gigabyte of zeros; and a NULL epoch_unit given to _incr_cdc_value is
-- handled.  (That last case crashed the server when this file was written,
-- so it runs last, after every other result is reported.)
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL statement_timeout = '60s';
SELECT plan(7);

\o /dev/null
CREATE TABLE fi_src (id integer PRIMARY KEY, n bigint NOT NULL, v text);
CREATE INDEX ON fi_src (n);
CREATE TABLE fi_tgt (id integer PRIMARY KEY, n bigint, v text);
SELECT incr_create_pipeline('fi_pipe', 'fi_src', 'fi_tgt', 'n', 'merge', ARRAY['id']);

-- Valid arguments of each internal function, by parameter name.
CREATE TEMP TABLE fi_base (fn text, args jsonb);
INSERT INTO fi_base VALUES
    ('_incr_is_member', jsonb_build_object('role', '(SELECT oid FROM pg_roles WHERE rolname = current_user)')),
    ('_incr_cdc_value', jsonb_build_object('value', $$'1'$$, 'field', 'NULL',
                                           'target', $$'timestamptz'::regtype$$, 'typmod', '-1',
                                           'epoch_unit', $$'ms'$$)),
    ('_incr_cdc_fail', jsonb_build_object('cursor', $$'5'$$, 'problem', $$'is bad'$$)),
    ('_incr_json_array', jsonb_build_object('value', $$'[1]'$$)),
    ('_incr_check_owner', jsonb_build_object('name', $$'fi_pipe'$$)),
    ('_incr_cron_unschedule', jsonb_build_object('name', $$'fi_pipe'$$)),
    ('_incr_source_subscribed', jsonb_build_object('source', $$'fi_src'::regclass$$)),
    ('_incr_count_update', jsonb_build_object('live', 'true', 'run_token', '0')),
    ('_incr_scheduler_state', jsonb_build_object('name', $$'fi_pipe'$$)),
    ('_incr_bound_name', jsonb_build_object('cursor_type', $$'bigint'::regtype$$)),
    ('_incr_wal_slot', jsonb_build_object('name', $$'fi_pipe'$$)),
    ('_incr_citus_open_transactions', jsonb_build_object('run_gpid', '0'));

-- Wrong values of each type (NULL is tried for every type).
CREATE TEMP TABLE fi_wrong (type text, expr text);
INSERT INTO fi_wrong VALUES
    ('jsonb', $$'null'$$), ('jsonb', $$'{}'$$), ('jsonb', $$'[]'$$), ('jsonb', $$'"x"'$$),
    ('jsonb', $$'true'$$), ('jsonb', $$'1e1000'$$), ('jsonb', $$'-1e1000'$$), ('jsonb', $$'"NaN"'$$),
    ('jsonb', $$'{"name": 1}'$$), ('jsonb', $$'{"name": "io.debezium.time.Date"}'$$),
    ('jsonb', $$'{"name": "io.debezium.time.NanoTime"}'$$),
    ('jsonb', $$'{"name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "x"}}'$$),
    ('jsonb', $$'{"name": "io.debezium.data.VariableScaleDecimal"}'$$),
    ('jsonb', $$'{"scale": {"a": 1}, "value": "AQ=="}'$$),
    ('regclass', '0::oid::regclass'), ('regclass', '4294967295::oid::regclass'),
    ('regclass', $$'pg_class'::regclass$$), ('regclass', $$'incr_status'::regclass$$),
    ('regclass', $$'fi_src_pkey'::regclass$$),
    ('regtype', '0::oid::regtype'), ('regtype', '4294967295::oid::regtype'), ('regtype', $$'text'::regtype$$),
    ('regtype', $$'record'::regtype$$),
    ('oid', '0'), ('oid', '4294967295'), ('oid', $$'fi_src'::regclass$$), ('oid', $$'record'::regtype$$),
    ('oid', $$'unknown'::regtype$$), ('oid', $$'bytea'::regtype$$), ('oid', $$'bool[]'::regtype$$),
    ('oid', $$'date'::regtype$$), ('oid', $$'time'::regtype$$), ('oid', $$'numeric'::regtype$$),
    ('bigint', '-1'), ('bigint', '1'), ('bigint', '9223372036854775807'),
    ('integer', '-1'), ('integer', '0'), ('integer', '4'), ('integer', '2147483647'),
    ('integer', '(-2147483647 - 1)'),
    ('text', $$''$$), ('text', $$'xx'$$), ('text', $$'ns'$$), ('text', $$repeat('x', 10000)$$),
    ('text', $$E'\x01'$$), ('text', $$'no such pipeline'$$);

-- A call's SQLSTATE ('ok' if it succeeded) and message; the call is undone.
CREATE FUNCTION pg_temp.fi_call(sql text, OUT state text, OUT message text)
LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN
        EXECUTE sql;
        state := 'ok';
        RAISE EXCEPTION 'undo' USING ERRCODE = 'ZZ001';
    EXCEPTION
        WHEN SQLSTATE 'ZZ001' THEN
            NULL;
        WHEN OTHERS OR query_canceled THEN
            state := SQLSTATE;
            message := SQLERRM;
    END;
END
$f$;

CREATE TEMP TABLE fi_results (fn text, argno integer, argname text, value text, state text, message text);
DO $do$
DECLARE
    f record;
    types text[];
    valid text[];
    call_args text[];
    v text;
    r record;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname::text AS fn, p.pronargs, p.proargtypes, p.proargnames, b.args, n.nspname
        FROM pg_proc p
        JOIN pg_extension e ON p.pronamespace = e.extnamespace
        JOIN pg_namespace n ON n.oid = e.extnamespace
        JOIN fi_base b ON b.fn = p.proname
        WHERE e.extname = 'incremental' AND p.prokind = 'f'
        ORDER BY p.proname
    LOOP
        types := ARRAY(SELECT format_type(f.proargtypes[i], NULL) FROM generate_series(0, f.pronargs - 1) AS i);
        valid := ARRAY(SELECT f.args ->> f.proargnames[i] FROM generate_series(1, f.pronargs) AS i);
        FOR i IN 0 .. f.pronargs LOOP
            FOR v IN
                SELECT NULL::text WHERE i = 0
                UNION ALL SELECT 'NULL' WHERE i > 0
                UNION ALL SELECT w.expr FROM fi_wrong w WHERE i > 0 AND w.type = types[i]
            LOOP
                -- tested on its own at the end: it crashed the server
                CONTINUE WHEN f.fn = '_incr_cdc_value' AND i = 5 AND v = 'NULL';
                call_args := valid;
                IF i > 0 THEN
                    call_args[i] := v;
                END IF;
                SELECT * INTO r FROM pg_temp.fi_call(format('SELECT %I.%I(%s)', f.nspname, f.fn,
                    array_to_string(ARRAY(SELECT format('(%s)::%s', call_args[k], types[k])
                                          FROM generate_series(1, f.pronargs) AS k), ', ')));
                INSERT INTO fi_results VALUES (f.fn, i, f.proargnames[i], v, r.state, r.message);
            END LOOP;
        END LOOP;
    END LOOP;
END
$do$;
\o

SELECT diag(format('internal fuzz matrix: %s calls of %s functions; %s succeeded, %s raised errors, %s internal errors (XX)',
                   count(*), count(DISTINCT fn), count(*) FILTER (WHERE state = 'ok'),
                   count(*) FILTER (WHERE state <> 'ok'), count(*) FILTER (WHERE state LIKE 'XX%')))
FROM fi_results;

SELECT is(
    (SELECT array_agg(DISTINCT p.proname::text)
     FROM pg_proc p JOIN pg_extension e ON p.pronamespace = e.extnamespace
     WHERE e.extname = 'incremental' AND p.proname LIKE '\_incr\_%' AND p.prokind = 'f'
       AND p.proname NOT IN (SELECT fn FROM fi_base)),
    ARRAY['_incr_drop_extension', '_incr_tally', '_incr_tombstone_key'],
    'the matrix covers every internal function but _incr_drop_extension (an event trigger, not callable), _incr_tally, one per cursor type, and _incr_tombstone_key, whose second argument is a record (both called below)');
-- _incr_tombstone_key(text[], record): odd arguments raise ordinary errors, never an internal one
SELECT is(
    ARRAY[(pg_temp.fi_call($$SELECT _incr_tombstone_key()$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tombstone_key(NULL::text[], ROW(1))$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tombstone_key(ARRAY['a', 'b'], ROW(1))$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tombstone_key(ARRAY['a'], NULL::record)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tombstone_key(ARRAY[NULL]::text[], ROW(1))$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tombstone_key(ARRAY['k', 'b', 'i'], ROW('NaN'::float8, '\x00'::bytea,
                                                         '-1 day 02:00'::interval))$$)).state]::text[],
    ARRAY['42883', '22004', 'ok', 'ok', '22023', 'ok'],
    '_incr_tombstone_key: odd arguments raise ordinary errors, never an internal one');
SELECT is(
    (SELECT array_agg(format('%s: %s %s', fn, state, message) ORDER BY fn)
     FROM fi_results
     WHERE argno = 0 AND state <> 'ok' AND NOT (fn = '_incr_cdc_fail' AND state = '22000')
       AND NOT (fn = '_incr_count_update' AND state = '42501')
       AND NOT (fn = '_incr_citus_open_transactions' AND state = '55000')),
    NULL,
    'every baseline call succeeds (_incr_cdc_fail raises 22000 by design, _incr_count_update 42501 outside a run, _incr_citus_open_transactions 55000 without Citus)');
SELECT is(
    (SELECT array_agg(format('%s %s := %s: %s %s', fn, argname, value, state, message) ORDER BY fn, argno)
     FROM fi_results WHERE state IS NULL OR state LIKE 'XX%'),
    NULL,
    'no call raised an internal error (SQLSTATE XX...)');
SELECT is(
    ARRAY[pg_temp.fi_call($$SELECT _incr_tally(NULL::bigint, 0::bigint)$$),
          pg_temp.fi_call($$SELECT _incr_tally(1::bigint, NULL::bigint)$$),
          (pg_temp.fi_call($$SELECT _incr_tally(1::smallint, 0::bigint)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tally(1::integer, -1::bigint)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tally(1::bigint, 9223372036854775807::bigint)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tally('NaN'::numeric, 0::bigint)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tally('1'::xid8, 0::bigint)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tally('infinity'::timestamptz, 0::bigint)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tally('-infinity'::timestamp, 0::bigint)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tally('2024-01-01'::date, 0::bigint)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tally('x'::text)$$)).state,
          (pg_temp.fi_call($$SELECT _incr_tally('{}'::jsonb, 0::bigint)$$)).state]::text[],
    ARRAY['(ok,)', '(ok,)', '42501', '42501', '42501', '42501', '42501', '42501', '42501', '42501',
          '42883', '42883'],
    '_incr_tally outside a run: NULLs do nothing (strict), every cursor type is refused (42501), other types do not exist');

-- A decimal whose scale no numeric can have (numeric keeps at most 16383
-- digits after the point) is refused as bad data, not expanded: with scale
-- 100000000 a string of 100 million zeros was built and returned; with
-- 2147483647 it took 7 s and 1 GB before failing with "out of memory".
SELECT is(
    left((pg_temp.fi_call($$SELECT _incr_cdc_value('"AQ=="',
        '{"name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "100000000"}}',
        'numeric'::regtype, -1, 'ms')$$)).state, 2),
    '22',
    'a Debezium decimal with scale 100000000 is refused with a data error (class 22)');

-- Last: this call crashed the server (NULL passed to text_to_cstring).
SELECT ok(
    (pg_temp.fi_call($$SELECT _incr_cdc_value('1', NULL, 'timestamptz'::regtype, -1, NULL)$$)).state
        NOT LIKE 'XX%',
    '_incr_cdc_value with a NULL epoch_unit returns or raises an error, without crashing the server');

SELECT * FROM finish();
ROLLBACK;
