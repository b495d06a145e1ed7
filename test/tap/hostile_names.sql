-- hostile_names.sql: names and search paths cannot change what a pipeline
-- does.
--   - Pipeline, schema, table and column names with mixed case, spaces,
--     double and single quotes, semicolons, unicode and SQL keywords work
--     end to end in append (with and without keys), merge (with a
--     delete_column), scd2 and cdc (flat op_column), and incr_plan shows
--     them quoted; a name with a newline cannot turn incr_plan's comment
--     header into SQL.
--   - A hostile search_path (a schema "evil" ahead of pg_catalog whose
--     functions, aggregates, operators and types shadow the built-ins the
--     generated and catalog SQL use, each raising "hijacked") changes
--     nothing: incr_create_pipeline, incr_run, incr_plan, incr_status,
--     incr_reset, incr_backfill, incr_pause, incr_resume and
--     incr_drop_pipeline work, by a superuser and by an ordinary role, and
--     no shadow is ever called.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(24);

\o /dev/null

CREATE SCHEMA "Sch ""q"" 'x'; 日本";

-- append, with and without keys: one source, two targets.
CREATE TABLE "Sch ""q"" 'x'; 日本"."Src; select" (
    "Id ""k"" 'x'; 日本" integer PRIMARY KEY,
    "order" bigint NOT NULL,
    "select" text,
    "Größe" numeric,
    "a b;c" text);
CREATE INDEX ON "Sch ""q"" 'x'; 日本"."Src; select" ("order");
CREATE TABLE "Sch ""q"" 'x'; 日本"."MiXeD ""Append"" 'k'" (
    "Id ""k"" 'x'; 日本" integer PRIMARY KEY,
    "order" bigint,
    "select" text,
    "Größe" numeric,
    "a b;c" text);
CREATE TABLE "Sch ""q"" 'x'; 日本"."append; nokey" ("order" bigint, "select" text, "Größe" numeric);

-- merge with a delete column, from a change log (several rows per key).
CREATE TABLE "Sch ""q"" 'x'; 日本"."Merge src" (
    "Id ""k"" 'x'; 日本" integer NOT NULL,
    "from" timestamptz NOT NULL,
    "select" text,
    "Del ""d"";" boolean NOT NULL DEFAULT false);
CREATE INDEX ON "Sch ""q"" 'x'; 日本"."Merge src" ("from");
CREATE TABLE "Sch ""q"" 'x'; 日本"."Merge ""tgt""" (
    "Id ""k"" 'x'; 日本" integer PRIMARY KEY,
    "from" timestamptz,
    "select" text);

-- scd2 with validity columns named as badly as possible.
CREATE TABLE "Sch ""q"" 'x'; 日本"."Dim src" (
    "Id ""k"" 'x'; 日本" integer NOT NULL,
    "from" timestamptz NOT NULL,
    "select" text);
CREATE INDEX ON "Sch ""q"" 'x'; 日本"."Dim src" ("from");
CREATE TABLE "Sch ""q"" 'x'; 日本"."Dim ""hist""" (
    "Id ""k"" 'x'; 日本" integer NOT NULL,
    "select" text,
    "Valid From" timestamptz NOT NULL,
    "valid;to" timestamptz,
    "Is ""Current""" boolean NOT NULL,
    UNIQUE ("Id ""k"" 'x'; 日本", "Valid From"));

-- cdc from a flat change table with an op column.
CREATE TABLE "Sch ""q"" 'x'; 日本"."Events 日本" (
    "order" bigint NOT NULL,
    "Op ""x""; from" text NOT NULL,
    "Id ""k"" 'x'; 日本" integer,
    "select" text);
CREATE INDEX ON "Sch ""q"" 'x'; 日本"."Events 日本" ("order");
CREATE TABLE "Sch ""q"" 'x'; 日本"."Cdc; tgt" (
    "Id ""k"" 'x'; 日本" integer PRIMARY KEY,
    "select" text);

SELECT incr_create_pipeline(E'Append "keyed" \'x\'; DROP TABLE z; 日本',
    '"Sch ""q"" ''x''; 日本"."Src; select"', '"Sch ""q"" ''x''; 日本"."MiXeD ""Append"" ''k''"',
    'order', 'append', ARRAY['Id "k" ''x''; 日本']);
SELECT incr_create_pipeline('append; keyless -- select',
    '"Sch ""q"" ''x''; 日本"."Src; select"', '"Sch ""q"" ''x''; 日本"."append; nokey"',
    'order', 'append');
SELECT incr_create_pipeline('MERGE "Größe" from',
    '"Sch ""q"" ''x''; 日本"."Merge src"', '"Sch ""q"" ''x''; 日本"."Merge ""tgt"""',
    'from', 'merge', ARRAY['Id "k" ''x''; 日本'], delete_column => 'Del "d";');
SELECT incr_create_pipeline(E'scd2 \'order\' "select"',
    '"Sch ""q"" ''x''; 日本"."Dim src"', '"Sch ""q"" ''x''; 日本"."Dim ""hist"""',
    'from', 'scd2', ARRAY['Id "k" ''x''; 日本'],
    valid_from_column => 'Valid From', valid_to_column => 'valid;to',
    current_column => 'Is "Current"');
SELECT incr_create_pipeline('cdc; "Op" 日本',
    '"Sch ""q"" ''x''; 日本"."Events 日本"', '"Sch ""q"" ''x''; 日本"."Cdc; tgt"',
    'order', 'cdc', ARRAY['Id "k" ''x''; 日本'], op_column => 'Op "x"; from');

-- The pipelines, and the names their plans must show quoted.
CREATE TEMP TABLE hn_pipes (pipeline text, names text[]);
INSERT INTO hn_pipes VALUES
    (E'Append "keyed" \'x\'; DROP TABLE z; 日本',
     ARRAY['Src; select', 'MiXeD "Append" ''k''', 'Id "k" ''x''; 日本', 'order', 'select', 'Größe', 'a b;c']),
    ('append; keyless -- select',
     ARRAY['Src; select', 'append; nokey', 'order', 'select', 'Größe']),
    ('MERGE "Größe" from',
     ARRAY['Merge src', 'Merge "tgt"', 'Id "k" ''x''; 日本', 'from', 'select', 'Del "d";']),
    (E'scd2 \'order\' "select"',
     ARRAY['Dim src', 'Dim "hist"', 'Id "k" ''x''; 日本', 'from', 'select', 'Valid From', 'valid;to', 'Is "Current"']),
    ('cdc; "Op" 日本',
     ARRAY['Events 日本', 'Cdc; tgt', 'Id "k" ''x''; 日本', 'order', 'select', 'Op "x"; from']);

-- A run of a pipeline: 'ok' and its writes, or the error.
CREATE FUNCTION pg_temp.hn_outcome(p text) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
    outcome text;
BEGIN
    SELECT format('%s ins %s upd %s del %s', r.status, r.rows_inserted, r.rows_updated,
                  r.rows_deleted)
      INTO outcome FROM incr_run(p) r;
    RETURN outcome;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$f$;

-- Every pipeline's run: 'ok' and its writes, or the error.  (Rows at the
-- checkpoint's own value are read again by each run, so reads are not shown.)
CREATE FUNCTION pg_temp.hn_run_all() RETURNS TABLE (pipeline text, outcome text)
LANGUAGE plpgsql AS $f$
DECLARE
    p text;
BEGIN
    FOR p IN SELECT h.pipeline FROM hn_pipes h ORDER BY h.pipeline LOOP
        pipeline := p;
        outcome := pg_temp.hn_outcome(p);
        RETURN NEXT;
    END LOOP;
END
$f$;

-- First batch.
INSERT INTO "Sch ""q"" 'x'; 日本"."Src; select" VALUES (1, 1, 'one', 1.5, 'x y'), (2, 2, 'two', 2.5, 'p;q');
INSERT INTO "Sch ""q"" 'x'; 日本"."Merge src" VALUES
    (1, '2020-01-01 00:00+00', 'one', false), (2, '2020-01-02 00:00+00', 'two', false);
INSERT INTO "Sch ""q"" 'x'; 日本"."Dim src" VALUES
    (1, '2020-01-01 00:00+00', 'a'), (2, '2020-01-01 00:00+00', 'b');
INSERT INTO "Sch ""q"" 'x'; 日本"."Events 日本" VALUES (1, 'c', 1, 'one'), (2, 'c', 2, 'two');
\o

SELECT bag_eq('SELECT * FROM pg_temp.hn_run_all()',
    $$VALUES ('MERGE "Größe" from', 'ok ins 2 upd 0 del 0'),
             (E'Append "keyed" \'x\'; DROP TABLE z; 日本', 'ok ins 2 upd 0 del 0'),
             ('append; keyless -- select', 'ok ins 2 upd 0 del 0'),
             ('cdc; "Op" 日本', 'ok ins 2 upd 0 del 0'),
             (E'scd2 \'order\' "select"', 'ok ins 2 upd 0 del 0')$$,
    'first runs of every mode load the first batch');
SELECT bag_eq('SELECT * FROM pg_temp.hn_run_all()',
    $$VALUES ('MERGE "Größe" from', 'ok ins 0 upd 0 del 0'),
             (E'Append "keyed" \'x\'; DROP TABLE z; 日本', 'ok ins 0 upd 0 del 0'),
             ('append; keyless -- select', 'ok ins 0 upd 0 del 0'),
             ('cdc; "Op" 日本', 'ok ins 0 upd 0 del 0'),
             (E'scd2 \'order\' "select"', 'ok ins 0 upd 0 del 0')$$,
    'a second run of each changes nothing');

\o /dev/null
-- Second batch: new rows, an update, a delete, a new version, cdc u and d.
INSERT INTO "Sch ""q"" 'x'; 日本"."Src; select" VALUES (3, 3, 'three', 3.5, 'z');
INSERT INTO "Sch ""q"" 'x'; 日本"."Merge src" VALUES
    (1, '2020-01-03 00:00+00', 'uno', false), (2, '2020-01-04 00:00+00', NULL, true);
INSERT INTO "Sch ""q"" 'x'; 日本"."Dim src" VALUES (1, '2020-01-02 00:00+00', 'a2');
INSERT INTO "Sch ""q"" 'x'; 日本"."Events 日本" VALUES (3, 'u', 1, 'uno'), (4, 'd', 2, NULL);
\o
SELECT bag_eq('SELECT * FROM pg_temp.hn_run_all()',
    $$VALUES ('MERGE "Größe" from', 'ok ins 0 upd 1 del 1'),
             (E'Append "keyed" \'x\'; DROP TABLE z; 日本', 'ok ins 1 upd 0 del 0'),
             ('append; keyless -- select', 'ok ins 1 upd 0 del 0'),
             ('cdc; "Op" 日本', 'ok ins 0 upd 1 del 1'),
             (E'scd2 \'order\' "select"', 'ok ins 0 upd 1 del 0')$$,
    'second runs apply the second batch');

SELECT results_eq($$SELECT "Id ""k"" 'x'; 日本", "order", "select", "Größe", "a b;c"
                    FROM "Sch ""q"" 'x'; 日本"."MiXeD ""Append"" 'k'" ORDER BY 1$$,
    $$VALUES (1, 1::bigint, 'one', 1.5, 'x y'), (2, 2, 'two', 2.5, 'p;q'), (3, 3, 'three', 3.5, 'z')$$,
    'append with keys: the target holds each row once');
SELECT results_eq($$SELECT "order", "select", "Größe" FROM "Sch ""q"" 'x'; 日本"."append; nokey" ORDER BY 1$$,
    $$VALUES (1::bigint, 'one', 1.5), (2, 'two', 2.5), (3, 'three', 3.5)$$,
    'append without keys: the target holds each row once');
SELECT results_eq($$SELECT "Id ""k"" 'x'; 日本", "from", "select" FROM "Sch ""q"" 'x'; 日本"."Merge ""tgt""" ORDER BY 1$$,
    $$VALUES (1, '2020-01-03 00:00+00'::timestamptz, 'uno')$$,
    'merge: key 1 updated, key 2 deleted by its delete column');
SELECT results_eq($$SELECT "Id ""k"" 'x'; 日本", "select", "Valid From", "valid;to", "Is ""Current"""
                    FROM "Sch ""q"" 'x'; 日本"."Dim ""hist""" ORDER BY 1, 3$$,
    $$VALUES (1, 'a', '2020-01-01 00:00+00'::timestamptz, '2020-01-02 00:00+00'::timestamptz, false),
             (1, 'a2', '2020-01-02 00:00+00', NULL, true),
             (2, 'b', '2020-01-01 00:00+00', NULL, true)$$,
    'scd2: key 1 has a closed and a current version');
SELECT results_eq($$SELECT "Id ""k"" 'x'; 日本", "select" FROM "Sch ""q"" 'x'; 日本"."Cdc; tgt" ORDER BY 1$$,
    $$VALUES (1, 'uno')$$,
    'cdc: key 1 updated, key 2 deleted');

SELECT results_eq(
    $$SELECT h.pipeline,
             array(SELECT n FROM unnest(h.names) AS n
                   WHERE position(quote_ident(n) IN incr_plan(h.pipeline)) = 0)
      FROM hn_pipes h ORDER BY h.pipeline$$,
    $$SELECT pipeline, '{}'::text[] FROM hn_pipes ORDER BY pipeline$$,
    'incr_plan shows every table and column name quoted');
SELECT results_eq(
    $$SELECT h.pipeline,
             position(format('-- pipeline %s: ', quote_ident(h.pipeline)) IN incr_plan(h.pipeline)) = 1,
             position(format('%I.%I', 'Sch "q" ''x''; 日本', h.names[1]) IN incr_plan(h.pipeline)) > 0,
             position(format('%I.%I', 'Sch "q" ''x''; 日本', h.names[2]) IN incr_plan(h.pipeline)) > 0
      FROM hn_pipes h ORDER BY h.pipeline$$,
    $$SELECT pipeline, true, true, true FROM hn_pipes ORDER BY pipeline$$,
    'incr_plan names the pipeline quoted, and source and target schema-qualified and quoted');
SELECT results_eq(
    $$SELECT pipeline, last_status, last_error FROM incr_status
      WHERE pipeline IN (SELECT pipeline FROM hn_pipes) ORDER BY pipeline$$,
    $$SELECT pipeline, 'ok', NULL::text FROM hn_pipes ORDER BY pipeline$$,
    'incr_status lists each pipeline under its exact name');

-- A newline in a name cannot end incr_plan's comment header.
\o /dev/null
CREATE TABLE hn_victim (x integer);
CREATE TABLE U&"hn nl\000Asrc" (id integer PRIMARY KEY, U&"cur\000Asor" bigint NOT NULL);
CREATE INDEX ON U&"hn nl\000Asrc" (U&"cur\000Asor");
CREATE TABLE U&"hn nl\000Atgt" (id integer PRIMARY KEY, U&"cur\000Asor" bigint);
SELECT incr_create_pipeline(E'nl\nDROP TABLE hn_victim; --', E'"hn nl\nsrc"', E'"hn nl\ntgt"',
                            E'cur\nsor', 'append', ARRAY['id']);
INSERT INTO U&"hn nl\000Asrc" VALUES (1, 10);
\o
SELECT is((SELECT rows_inserted FROM incr_run(E'nl\nDROP TABLE hn_victim; --')), 1::bigint,
    'names with newlines load');
SELECT is(
    (SELECT l FROM unnest(string_to_array(incr_plan(E'nl\nDROP TABLE hn_victim; --'), E'\n'))
                   WITH ORDINALITY AS x(l, i)
     WHERE l NOT LIKE '--%' ORDER BY i LIMIT 1),
    'INSERT INTO public."hn nl',
    'every line of incr_plan before the statement is a comment, though the names hold newlines');

-- The search_path of the session that created a pipeline is not the one
-- its runs have (pg_cron, the scheduler, another client): a type that is
-- visible to one and not to the other is no change of the source's schema.
\o /dev/null
CREATE SCHEMA hn_types;
CREATE TYPE hn_types.mood AS ENUM ('ok', 'sad');
CREATE TABLE hn_path_src (id integer PRIMARY KEY, n bigint NOT NULL, m hn_types.mood);
CREATE INDEX ON hn_path_src (n);
CREATE TABLE hn_path_tgt (id integer PRIMARY KEY, n bigint, m hn_types.mood);
INSERT INTO hn_path_src VALUES (1, 1, 'sad');
SET LOCAL search_path = hn_types, public;
SELECT incr_create_pipeline('hn_path', 'hn_path_src', 'hn_path_tgt', 'n', 'merge', ARRAY['id']);
RESET search_path;
\o
SELECT is(pg_temp.hn_outcome('hn_path'), 'ok ins 1 upd 0 del 0',
    'a pipeline created with another search_path runs: the type of column m did not change');

-- A hostile search_path.  Each shadow raises "hijacked: <what>".
\o /dev/null
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.hijacked(what text) RETURNS boolean
LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'hijacked: %', what; END$f$;

-- Operators over the types the pipelines use.
DO $do$
DECLARE
    o record;
    i integer := 0;
BEGIN
    FOR o IN SELECT * FROM (VALUES
        ('=', 'integer', 'integer', 'boolean'), ('=', 'bigint', 'bigint', 'boolean'),
        ('=', 'text', 'text', 'boolean'), ('=', 'timestamptz', 'timestamptz', 'boolean'),
        ('=', 'numeric', 'numeric', 'boolean'), ('=', 'oid', 'oid', 'boolean'),
        ('=', 'regclass', 'regclass', 'boolean'),
        ('<>', 'text', 'text', 'boolean'),
        ('<', 'integer', 'integer', 'boolean'), ('<=', 'integer', 'integer', 'boolean'),
        ('>', 'integer', 'integer', 'boolean'), ('>=', 'integer', 'integer', 'boolean'),
        ('<', 'bigint', 'bigint', 'boolean'), ('<=', 'bigint', 'bigint', 'boolean'),
        ('>', 'bigint', 'bigint', 'boolean'), ('>=', 'bigint', 'bigint', 'boolean'),
        ('<', 'timestamptz', 'timestamptz', 'boolean'), ('<=', 'timestamptz', 'timestamptz', 'boolean'),
        ('>', 'timestamptz', 'timestamptz', 'boolean'), ('>=', 'timestamptz', 'timestamptz', 'boolean'),
        ('->>', 'jsonb', 'text', 'text'), ('->', 'jsonb', 'text', 'jsonb'),
        ('->>', 'jsonb', 'integer', 'text'), ('->', 'jsonb', 'integer', 'jsonb'),
        ('||', 'jsonb', 'jsonb', 'jsonb'), ('+', 'bigint', 'bigint', 'bigint'),
        ('-', 'timestamptz', 'interval', 'timestamptz'), ('*>', 'record', 'record', 'boolean'))
        AS v(op, l, r, res)
    LOOP
        i := i + 1;
        EXECUTE format('CREATE FUNCTION evil.op_%s(a %s, b %s) RETURNS %s LANGUAGE plpgsql AS %L',
                       i, o.l, o.r, o.res,
                       format('BEGIN PERFORM evil.hijacked(%L); RETURN NULL; END', 'operator ' || o.op));
        EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.op_%s)',
                       o.op, o.l, o.r, i);
    END LOOP;
END
$do$;

-- Functions the generated and catalog statements call.
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('now'); RETURN NULL; END$f$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('lower'); RETURN NULL; END$f$;
CREATE FUNCTION evil.translate(text, text, text) RETURNS text LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('translate'); RETURN NULL; END$f$;
CREATE FUNCTION evil.record_image_eq(record, record) RETURNS boolean LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('record_image_eq'); RETURN NULL; END$f$;
CREATE FUNCTION evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('jsonb_typeof'); RETURN NULL; END$f$;
CREATE FUNCTION evil.jsonb_array_elements(jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('jsonb_array_elements'); END$f$;
CREATE FUNCTION evil.jsonb_strip_nulls(jsonb) RETURNS jsonb LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('jsonb_strip_nulls'); RETURN NULL; END$f$;
CREATE FUNCTION evil.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('current_setting'); RETURN NULL; END$f$;
CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('nextval'); RETURN NULL; END$f$;
CREATE FUNCTION evil.pg_current_snapshot() RETURNS pg_snapshot LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('pg_current_snapshot'); RETURN NULL; END$f$;
CREATE FUNCTION evil._incr_tally(bigint) RETURNS boolean LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('_incr_tally'); RETURN NULL; END$f$;
CREATE FUNCTION evil._incr_tally(timestamptz) RETURNS boolean LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('_incr_tally'); RETURN NULL; END$f$;
CREATE FUNCTION evil._incr_tally(bigint, bigint) RETURNS boolean LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('_incr_tally'); RETURN NULL; END$f$;
CREATE FUNCTION evil._incr_tally(timestamptz, bigint) RETURNS boolean LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('_incr_tally'); RETURN NULL; END$f$;
CREATE FUNCTION evil._incr_count_update(boolean, bigint) RETURNS boolean LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('_incr_count_update'); RETURN NULL; END$f$;
CREATE FUNCTION evil._incr_cdc_fail(text, text) RETURNS text LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('_incr_cdc_fail'); RETURN NULL; END$f$;

-- Aggregates: each raises in its final function, so even over no rows.
-- They take the exact argument types the statements use: a polymorphic
-- evil.max(anyelement) would lose to pg_catalog.max(bigint), an exact
-- match, and so would test nothing.
CREATE FUNCTION evil.agg_final(anyelement) RETURNS anyelement LANGUAGE plpgsql
    AS $f$BEGIN PERFORM evil.hijacked('aggregate'); RETURN $1; END$f$;
CREATE FUNCTION evil.agg_step(anyelement, anyelement) RETURNS anyelement LANGUAGE plpgsql
    AS $f$BEGIN RETURN $2; END$f$;
CREATE FUNCTION evil.agg_count(bigint) RETURNS bigint LANGUAGE plpgsql
    AS $f$BEGIN RETURN $1; END$f$;
CREATE FUNCTION evil.agg_object(jsonb, text, jsonb) RETURNS jsonb LANGUAGE plpgsql
    AS $f$BEGIN RETURN $1; END$f$;
CREATE AGGREGATE evil.max(integer) (SFUNC = evil.agg_step, STYPE = integer, FINALFUNC = evil.agg_final);
CREATE AGGREGATE evil.max(bigint) (SFUNC = evil.agg_step, STYPE = bigint, FINALFUNC = evil.agg_final);
CREATE AGGREGATE evil.max(numeric) (SFUNC = evil.agg_step, STYPE = numeric, FINALFUNC = evil.agg_final);
CREATE AGGREGATE evil.max(timestamptz) (SFUNC = evil.agg_step, STYPE = timestamptz, FINALFUNC = evil.agg_final);
CREATE AGGREGATE evil.min(bigint) (SFUNC = evil.agg_step, STYPE = bigint, FINALFUNC = evil.agg_final);
CREATE AGGREGATE evil.sum(bigint) (SFUNC = evil.agg_step, STYPE = bigint, FINALFUNC = evil.agg_final);
CREATE AGGREGATE evil.count(*) (SFUNC = evil.agg_count, STYPE = bigint, INITCOND = '0', FINALFUNC = evil.agg_final);
CREATE AGGREGATE evil.jsonb_object_agg(text, jsonb) (SFUNC = evil.agg_object, STYPE = jsonb, FINALFUNC = evil.agg_final);

-- Types: any cast to one of these domains runs its check, which raises.
CREATE DOMAIN evil.text AS pg_catalog.text CHECK (evil.hijacked('type text'));
CREATE DOMAIN evil.jsonb AS pg_catalog.jsonb CHECK (evil.hijacked('type jsonb'));
CREATE DOMAIN evil.int8 AS pg_catalog.int8 CHECK (evil.hijacked('type int8'));
CREATE DOMAIN evil.bool AS pg_catalog.bool CHECK (evil.hijacked('type bool'));
CREATE DOMAIN evil.oid AS pg_catalog.oid CHECK (evil.hijacked('type oid'));
CREATE DOMAIN evil.timestamptz AS pg_catalog.timestamptz CHECK (evil.hijacked('type timestamptz'));
CREATE DOMAIN evil.regclass AS pg_catalog.regclass CHECK (evil.hijacked('type regclass'));

-- Run a statement with the hostile search_path: 'ok', or the error.
CREATE FUNCTION pg_temp.hn_hostile(sql text) RETURNS text
LANGUAGE plpgsql SET search_path = evil, public, pg_catalog AS $f$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$f$;
GRANT EXECUTE ON FUNCTION pg_temp.hn_hostile(text) TO PUBLIC;

-- Third batch, and a Debezium-style cdc pipeline and an ordinary role's
-- pipeline created under the hostile path.
INSERT INTO "Sch ""q"" 'x'; 日本"."Src; select" VALUES (4, 4, 'four', 4.5, 'w');
INSERT INTO "Sch ""q"" 'x'; 日本"."Merge src" VALUES (3, '2020-01-05 00:00+00', 'tres', false);
INSERT INTO "Sch ""q"" 'x'; 日本"."Dim src" VALUES (2, '2020-01-03 00:00+00', 'b2');
INSERT INTO "Sch ""q"" 'x'; 日本"."Events 日本" VALUES (5, 'c', 3, 'tres');
CREATE TABLE "Sch ""q"" 'x'; 日本"."Dbz src" ("order" bigint NOT NULL, "payload; select" jsonb);
CREATE INDEX ON "Sch ""q"" 'x'; 日本"."Dbz src" ("order");
CREATE TABLE "Sch ""q"" 'x'; 日本"."Dbz tgt" ("Id ""k"" 'x'; 日本" integer PRIMARY KEY, "select" text);
INSERT INTO "Sch ""q"" 'x'; 日本"."Dbz src" VALUES
    (1, jsonb_build_object('op', 'c', 'after', jsonb_build_object('Id "k" ''x''; 日本', 1, 'select', 'one'))),
    (2, jsonb_build_object('op', 'c', 'after', jsonb_build_object('Id "k" ''x''; 日本', 2, 'select', 'two'))),
    (3, jsonb_build_object('payload', jsonb_build_object('op', 'u',
            'after', jsonb_build_object('Id "k" ''x''; 日本', 1, 'select', 'uno')))),
    (4, jsonb_build_object('op', 'd', 'before', jsonb_build_object('Id "k" ''x''; 日本', 2))),
    (5, NULL);

CREATE ROLE hn_mallory NOLOGIN;
CREATE TABLE hn_m_src (id integer PRIMARY KEY, at timestamptz NOT NULL, v text);
CREATE INDEX ON hn_m_src (at);
CREATE TABLE hn_m_tgt (id integer PRIMARY KEY, at timestamptz, v text);
INSERT INTO hn_m_src VALUES (1, '2020-01-01 00:00+00', 'a'), (2, '2020-01-02 00:00+00', 'b');
GRANT SELECT ON hn_m_src TO hn_mallory;
GRANT SELECT, INSERT, UPDATE ON hn_m_tgt TO hn_mallory;
\o

-- The shadows do bite: unqualified, each one is what the name resolves to.
SELECT results_eq(
    $$SELECT pg_temp.hn_hostile(s) FROM unnest(ARRAY[
        'SELECT now()', 'SELECT lower(''A'')', 'SELECT 1 = 1', 'SELECT 1::bigint <= 2::bigint',
        'SELECT max(x) FROM (VALUES (1::bigint)) v(x)', 'SELECT count(*)',
        'SELECT record_image_eq(ROW(1), ROW(1))', 'SELECT ''x''::text',
        'SELECT translate(''i'', ''i'', ''c'')']) AS s$$,
    $$VALUES ('P0001: hijacked: now'), ('P0001: hijacked: lower'), ('P0001: hijacked: operator ='),
             ('P0001: hijacked: operator <='), ('P0001: hijacked: aggregate'),
             ('P0001: hijacked: aggregate'), ('P0001: hijacked: record_image_eq'),
             ('P0001: hijacked: type text'), ('P0001: hijacked: translate')$$,
    'control: with search_path = evil, public, pg_catalog the shadows win over the built-ins');

-- The catalog path: definitions, pause, resume, schedules, resets.
SELECT results_eq(
    $$SELECT pg_temp.hn_hostile(s) FROM unnest(ARRAY[
        $s$SELECT public.incr_create_pipeline('dbz "payload"', '"Sch ""q"" ''x''; 日本"."Dbz src"',
              '"Sch ""q"" ''x''; 日本"."Dbz tgt"', 'order', 'cdc', ARRAY['Id "k" ''x''; 日本'],
              payload_column => 'payload; select')$s$,
        $s$SELECT public.incr_pause('MERGE "Größe" from')$s$,
        $s$SELECT public.incr_resume('MERGE "Größe" from')$s$,
        $s$SELECT public.incr_schedule('MERGE "Größe" from', '1 hour')$s$,
        $s$SELECT public.incr_unschedule('MERGE "Größe" from')$s$,
        $s$SELECT public.incr_reset('append; keyless -- select', '1')$s$]) AS s$$,
    $$VALUES ('ok'), ('ok'), ('ok'), ('ok'), ('ok'), ('ok')$$,
    'hostile path: incr_create_pipeline, incr_pause, incr_resume, incr_schedule, incr_unschedule and incr_reset work');
INSERT INTO hn_pipes VALUES ('dbz "payload"', ARRAY['Dbz src', 'Dbz tgt', 'Id "k" ''x''; 日本', 'payload; select']);

SELECT results_eq(
    $$SELECT pipeline, pg_temp.hn_hostile(format('SELECT public.incr_plan(%L)', pipeline))
      FROM hn_pipes ORDER BY pipeline$$,
    $$SELECT pipeline, 'ok' FROM hn_pipes ORDER BY pipeline$$,
    'hostile path: incr_plan of every pipeline works');
SELECT results_eq(
    $$SELECT pipeline, pg_temp.hn_hostile(format('SELECT public.incr_run(%L)', pipeline))
      FROM hn_pipes ORDER BY pipeline$$,
    $$SELECT pipeline, 'ok' FROM hn_pipes ORDER BY pipeline$$,
    'hostile path: a run of every pipeline works');
SELECT results_eq(
    $$SELECT s, pg_temp.hn_hostile(s) FROM unnest(ARRAY[
        'SELECT * FROM public.incr_status',
        'SELECT * FROM public.incr_backfills',
        $s$SELECT public.incr_backfill('MERGE "Größe" from', '2020-01-01 00:00+00', '2020-01-05 00:00+00')$s$,
        $s$SELECT public.incr_backfill(E'scd2 \'order\' "select"', '2020-01-01 00:00+00', '2020-01-03 00:00+00')$s$,
        $s$SELECT public.incr_reset('dbz "payload"', NULL)$s$,
        $s$SELECT public.incr_run('dbz "payload"')$s$,
        $s$SELECT public.incr_drop_pipeline('dbz "payload"')$s$]) AS s$$,
    $$SELECT s, 'ok' FROM unnest(ARRAY[
        'SELECT * FROM public.incr_status',
        'SELECT * FROM public.incr_backfills',
        $s$SELECT public.incr_backfill('MERGE "Größe" from', '2020-01-01 00:00+00', '2020-01-05 00:00+00')$s$,
        $s$SELECT public.incr_backfill(E'scd2 \'order\' "select"', '2020-01-01 00:00+00', '2020-01-03 00:00+00')$s$,
        $s$SELECT public.incr_reset('dbz "payload"', NULL)$s$,
        $s$SELECT public.incr_run('dbz "payload"')$s$,
        $s$SELECT public.incr_drop_pipeline('dbz "payload"')$s$]) AS s$$,
    'hostile path: incr_status, incr_backfills, incr_backfill, incr_reset, a re-run and incr_drop_pipeline work');

-- An ordinary role with the hostile path: nothing of hers runs in the
-- catalog statements, which run as the bootstrap superuser.
SET ROLE hn_mallory;
SELECT results_eq(
    $$SELECT pg_temp.hn_hostile(s) FROM unnest(ARRAY[
        $s$SELECT public.incr_create_pipeline('hn mallory''s', 'hn_m_src', 'hn_m_tgt', 'at', 'merge', ARRAY['id'])$s$,
        $s$SELECT public.incr_run('hn mallory''s')$s$,
        $s$SELECT public.incr_plan('hn mallory''s')$s$,
        $s$SELECT public.incr_pause('hn mallory''s')$s$,
        $s$SELECT public.incr_resume('hn mallory''s')$s$,
        $s$SELECT public.incr_reset('hn mallory''s', '2020-01-01 00:00+00')$s$,
        $s$SELECT public.incr_backfill('hn mallory''s', '2020-01-01 00:00+00', '2020-01-02 00:00+00')$s$,
        'SELECT * FROM public.incr_status',
        $s$SELECT public.incr_drop_pipeline('hn mallory''s')$s$]) AS s$$,
    $$VALUES ('ok'), ('ok'), ('ok'), ('ok'), ('ok'), ('ok'), ('ok'), ('ok'), ('ok')$$,
    'hostile path of an ordinary role: create, run, plan, pause, resume, reset, backfill, status and drop work');
RESET ROLE;
SELECT results_eq('SELECT id, v FROM hn_m_tgt ORDER BY id', $$VALUES (1, 'a'), (2, 'b')$$,
    'and her pipeline loaded her rows');

-- What the runs under the hostile path loaded.
SELECT results_eq($$SELECT "Id ""k"" 'x'; 日本", "select" FROM "Sch ""q"" 'x'; 日本"."MiXeD ""Append"" 'k'" ORDER BY 1$$,
    $$VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four')$$,
    'hostile path: append with keys loaded row 4');
SELECT results_eq($$SELECT "order", "select" FROM "Sch ""q"" 'x'; 日本"."append; nokey" ORDER BY 1$$,
    $$VALUES (1::bigint, 'one'), (2, 'two'), (3, 'three'), (4, 'four')$$,
    'hostile path: append without keys, reset to 1, loaded row 4 and nothing twice');
SELECT results_eq(
    $$SELECT (SELECT array_agg("Id ""k"" 'x'; 日本" || ':' || "select" ORDER BY 1) FROM "Sch ""q"" 'x'; 日本"."Merge ""tgt"""),
             (SELECT array_agg("Id ""k"" 'x'; 日本" || ':' || "select" || ':' || "Is ""Current"""
                               ORDER BY "Id ""k"" 'x'; 日本", "Valid From")
              FROM "Sch ""q"" 'x'; 日本"."Dim ""hist"""),
             (SELECT array_agg("Id ""k"" 'x'; 日本" || ':' || "select" ORDER BY 1) FROM "Sch ""q"" 'x'; 日本"."Cdc; tgt"),
             (SELECT array_agg("Id ""k"" 'x'; 日本" || ':' || "select" ORDER BY 1) FROM "Sch ""q"" 'x'; 日本"."Dbz tgt")$$,
    $$VALUES ('{1:uno,3:tres}'::text[], '{1:a:false,1:a2:true,2:b:false,2:b2:true}'::text[],
              '{1:uno,3:tres}'::text[], '{1:uno}'::text[])$$,
    'hostile path: merge, scd2, flat cdc and Debezium cdc applied their events');

SELECT * FROM finish();
ROLLBACK;
