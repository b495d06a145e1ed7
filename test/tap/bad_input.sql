-- bad_input.sql: every bad definition given to incr_create_pipeline is
-- refused with ereport(ERROR), its own SQLSTATE (never XX000) and an exact
-- message, and leaves incr_pipelines and incr_checkpoints as they were.
-- (Errors of run, plan, reset, backfill, pause, resume and drop are in
-- bad_input_run.sql; the REPEATABLE READ refusal in bad_input_isolation.sql.)
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(67);

-- The catalog as it was before any bad input.
CREATE TEMP TABLE bad_pipelines_before AS SELECT * FROM incr_pipelines;
CREATE TEMP TABLE bad_checkpoints_before AS SELECT * FROM incr_checkpoints;

-- A source with a column of every kind the cases need, and targets.
CREATE TABLE bad_src (
    id      integer NOT NULL,
    ts      timestamptz NOT NULL,
    n       bigint,
    v       integer,
    j       jsonb,
    t       text,
    b       boolean,
    u       uuid,
    x       xid8 DEFAULT pg_current_xact_id()
);
CREATE INDEX ON bad_src (ts);
CREATE TABLE bad_tgt (id integer PRIMARY KEY, ts timestamptz, v integer);
CREATE TABLE bad_tgt_noindex (id integer, ts timestamptz, v integer);
CREATE TABLE bad_tgt_nonunique (id integer, ts timestamptz, v integer);
CREATE INDEX ON bad_tgt_nonunique (id);
CREATE TABLE bad_tgt_partial (id integer, ts timestamptz, v integer);
CREATE UNIQUE INDEX ON bad_tgt_partial (id) WHERE v > 0;
CREATE TABLE bad_tgt_wide (id integer, ts timestamptz, v integer);
CREATE UNIQUE INDEX ON bad_tgt_wide (id, v);
CREATE TABLE bad_tgt_deferrable (id integer UNIQUE DEFERRABLE, ts timestamptz, v integer);
CREATE TABLE bad_tgt_expr (id integer, ts timestamptz, v integer);
CREATE UNIQUE INDEX ON bad_tgt_expr ((id + 0));
CREATE TABLE bad_tgt_nokeycol (ts timestamptz, v integer);
CREATE TABLE bad_tgt_nocursor (id integer, v integer);
CREATE TABLE bad_tgt_textcursor (ts text, v integer);
CREATE TABLE bad_tgt_jsonb (ts timestamptz, j integer);
CREATE TABLE bad_tgt_notnull (ts timestamptz, v integer, extra integer NOT NULL);
CREATE TABLE bad_tgt_datecursor (ts date, v integer);
CREATE TABLE bad_tgt_gencursor (
    ts      timestamptz GENERATED ALWAYS AS ('2000-01-01 00:00+00'::timestamptz) STORED,
    v       integer
);
CREATE TABLE bad_tgt_genkey (
    id      integer GENERATED ALWAYS AS (other * 2) STORED NOT NULL,
    other   integer
);
CREATE UNIQUE INDEX ON bad_tgt_genkey (id);
CREATE TABLE bad_src_serial (id serial, ts timestamptz);
ALTER SEQUENCE bad_src_serial_id_seq CACHE 20;
CREATE TABLE bad_src_identity (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 10), ts timestamptz);
CREATE SEQUENCE bad_seq_cached CACHE 5;
CREATE TABLE bad_src_default (id bigint DEFAULT nextval('bad_seq_cached'), ts timestamptz);
CREATE VIEW bad_view AS SELECT * FROM bad_tgt;
CREATE MATERIALIZED VIEW bad_matview AS SELECT * FROM bad_tgt;
CREATE SEQUENCE bad_seq;

-- A relation that no longer exists: its OID as a regclass.
CREATE TABLE bad_gone (id integer, ts timestamptz, v integer);
SELECT 'bad_gone'::regclass::oid AS bad_gone_oid \gset
DROP TABLE bad_gone;

-- A pipeline whose name the duplicate case reuses.
SELECT lives_ok(
    $$SELECT incr_create_pipeline('bad_taken', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id'])$$,
    'a valid pipeline is created (for the duplicate-name case)');
CREATE TEMP TABLE bad_pipelines_mid AS SELECT * FROM incr_pipelines;
CREATE TEMP TABLE bad_checkpoints_mid AS SELECT * FROM incr_checkpoints;

-- Required arguments.
SELECT throws_ok(
    $$SELECT incr_create_pipeline(NULL, 'bad_src', 'bad_tgt', 'ts', 'append', ARRAY['id'])$$,
    '22004', 'argument "name" must not be null', 'NULL name');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('', 'bad_src', 'bad_tgt', 'ts', 'append', ARRAY['id'])$$,
    '22023', 'pipeline name must not be empty', 'empty name');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', NULL, 'bad_tgt', 'ts', 'append', ARRAY['id'])$$,
    '22004', 'argument "source" must not be null', 'NULL source');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', NULL, 'ts', 'append', ARRAY['id'])$$,
    '22004', 'argument "target" must not be null', 'NULL target');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', NULL, 'append', ARRAY['id'])$$,
    '22004', 'argument "cursor_column" must not be null', 'NULL cursor_column');
-- mode NULL is mode left out: append (with a NOTICE on a timestamp cursor)
SELECT is((SELECT mode FROM incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', NULL, ARRAY['id'])),
          'append', 'NULL mode, as mode left out, is append');
SELECT incr_drop_pipeline('bad_p');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_taken', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id'])$$,
    '42710', 'pipeline "bad_taken" already exists', 'duplicate pipeline name');

-- Relations.
SELECT throws_ok(
    format($$SELECT incr_create_pipeline('bad_p', %s::regclass, 'bad_tgt', 'ts', 'append', ARRAY['id'])$$,
           :bad_gone_oid),
    '42P01', format('source relation with OID %s does not exist', :bad_gone_oid),
    'source relation that was dropped');
SELECT throws_ok(
    format($$SELECT incr_create_pipeline('bad_p', 'bad_src', %s::regclass, 'ts', 'append', ARRAY['id'])$$,
           :bad_gone_oid),
    '42P01', format('target relation with OID %s does not exist', :bad_gone_oid),
    'target relation that was dropped');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_tgt', 'bad_tgt', 'ts', 'merge', ARRAY['id'])$$,
    '22023', 'source and target of pipeline "bad_p" are the same relation',
    'source = target');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_view', 'ts', 'append', ARRAY['id'])$$,
    '42809', '"bad_view" cannot be the target of a pipeline', 'a view as target');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_matview', 'ts', 'append', ARRAY['id'])$$,
    '42809', '"bad_matview" cannot be the target of a pipeline',
    'a materialized view as target');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_seq', 'bad_tgt', 'last_value', 'append', ARRAY['id'])$$,
    '42809', '"bad_seq" cannot be the source of a pipeline',
    'a sequence as source (cursor column one of its columns)');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_seq', 'bad_tgt', 'ts', 'append', ARRAY['id'])$$,
    '42809', '"bad_seq" cannot be the source of a pipeline',
    'a sequence as source (any cursor column)');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src_ix', 'bad_tgt', 'ts', 'append', ARRAY['id'])$$,
    '42P01', 'relation "bad_src_ix" does not exist',
    'a source name that does not resolve (regclass input)');

-- Modes.
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'upsert', ARRAY['id'])$$,
    '22023', 'unknown mode "upsert"', 'unknown mode');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'cdc', ARRAY['id'])$$,
    '22023', 'cdc pipeline "bad_p" needs either payload_column or op_column', 'mode cdc without an event layout');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'scd2', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt"', 'mode scd2 without a unique index on the keys and valid_from');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'query', delete_column => 'v')$$,
    '22023', 'option "delete_column" does not apply to mode "query"', 'mode query with an option of another mode');

-- The cursor column.
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'updated_at', 'append', ARRAY['id'])$$,
    '42703', 'cursor column "updated_at" does not exist in source "bad_src"',
    'cursor column missing in the source');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'xmin', 'append', ARRAY['id'])$$,
    '42703', 'cursor column "xmin" does not exist in source "bad_src"',
    'a system column as cursor');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 't', 'append', ARRAY['id'])$$,
    '42804', 'cursor column "t" has type text, which cannot be a cursor',
    'text cursor');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'b', 'append', ARRAY['id'])$$,
    '42804', 'cursor column "b" has type boolean, which cannot be a cursor',
    'boolean cursor');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'u', 'append', ARRAY['id'])$$,
    '42804', 'cursor column "u" has type uuid, which cannot be a cursor',
    'uuid cursor');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'j', 'append', ARRAY['id'])$$,
    '42804', 'cursor column "j" has type jsonb, which cannot be a cursor',
    'jsonb cursor');

-- An integer cursor filled by a sequence that caches values: sessions hand
-- them out of commit order, so no safe upper bound exists.
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src_serial', 'bad_tgt', 'id', 'append', ARRAY['id'])$$,
    '55000', format('cursor column "id" of "bad_src_serial" is filled by sequence %s.bad_src_serial_id_seq with CACHE 20',
                    quote_ident(current_schema())),
    'serial cursor whose sequence has CACHE 20');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src_identity', 'bad_tgt', 'id', 'append', ARRAY['id'])$$,
    '55000', format('cursor column "id" of "bad_src_identity" is filled by sequence %s.bad_src_identity_id_seq with CACHE 10',
                    quote_ident(current_schema())),
    'identity cursor with CACHE 10');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src_default', 'bad_tgt', 'id', 'append', ARRAY['id'])$$,
    '55000', format('cursor column "id" of "bad_src_default" is filled by sequence %s.bad_seq_cached with CACHE 5',
                    quote_ident(current_schema())),
    'cursor with a DEFAULT nextval() of a sequence with CACHE 5');

-- Keys.
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['nope'])$$,
    '42703', 'key column "nope" does not exist in source "bad_src"',
    'key missing in the source');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_nokeycol', 'ts', 'merge', ARRAY['id'])$$,
    '42703', 'key column "id" does not exist in target "bad_tgt_nokeycol"',
    'key missing in the target');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY[]::text[])$$,
    '22023', 'keys must not be an empty array', 'empty keys array');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id', NULL])$$,
    '22004', 'keys must not contain NULL', 'keys with a NULL element');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id', 'id'])$$,
    '42701', 'key column "id" is named twice', 'duplicate key names');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY[['id'], ['v']])$$,
    '2202E', 'keys must be a one-dimensional array', 'two-dimensional keys');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge')$$,
    '22023', 'merge pipeline "bad_p" needs keys', 'merge without keys');

-- Keys not backed by a unique index on exactly them.
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_noindex', 'ts', 'merge', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_noindex"',
    'merge, target without index');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_nonunique', 'ts', 'merge', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_nonunique"',
    'merge, target with a non-unique index');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_partial', 'ts', 'merge', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_partial"',
    'merge, target with a partial unique index');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_wide', 'ts', 'merge', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_wide"',
    'merge, target unique index on more columns than the keys');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id', 'v'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt"',
    'merge, target unique index on fewer columns than the keys');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_deferrable', 'ts', 'merge', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_deferrable"',
    'merge, target with a deferrable unique constraint');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_expr', 'ts', 'merge', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_expr"',
    'merge, target with a unique expression index');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_noindex', 'ts', 'append', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_noindex"',
    'append with keys, target without index');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_nonunique', 'ts', 'append', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_nonunique"',
    'append with keys, target with a non-unique index');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_partial', 'ts', 'append', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_partial"',
    'append with keys, target with a partial unique index');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_wide', 'ts', 'append', ARRAY['id'])$$,
    '42P10', 'keys of pipeline "bad_p" are not backed by a unique index on target "bad_tgt_wide"',
    'append with keys, target unique index on more columns than the keys');

-- Columns of source and target.
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_nocursor', 'ts', 'append')$$,
    '22023', 'append pipeline "bad_p" needs keys or the cursor column in the target',
    'append without keys, target without the cursor column');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_textcursor', 'ts', 'append')$$,
    '22023', 'append pipeline "bad_p" needs keys or the cursor column in the target',
    'append without keys, target cursor column of a non-cursor type');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_jsonb', 'ts', 'append')$$,
    '42804', 'column "j" has type jsonb in source "bad_src" but type integer in target "bad_tgt_jsonb"',
    'column type mismatch without an assignment cast (jsonb to integer)');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_notnull', 'ts', 'append')$$,
    '23502', 'target column "extra" is NOT NULL without a default and the source has no such column',
    'target NOT NULL column without default that the source lacks');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt_genkey', 'ts', 'merge', ARRAY['id'])$$,
    '22023', 'source "bad_src" and target "bad_tgt_genkey" have no column in common',
    'no column in common (the target''s only shared column is generated)');
-- Without keys, an append tells loaded rows apart by the target's cursor
-- column: it must hold the source's cursor values as they are, so a column
-- of another type or a generated column does not count as the cursor column.
-- (Names of their own, so that accepting one does not hide later cases.)
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p_datecursor', 'bad_src', 'bad_tgt_datecursor', 'ts', 'append')$$,
    '22023', 'append pipeline "bad_p_datecursor" needs keys or the cursor column in the target',
    'append without keys, target cursor column of another type (date for timestamptz)');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p_gencursor', 'bad_src', 'bad_tgt_gencursor', 'ts', 'append')$$,
    '22023', 'append pipeline "bad_p_gencursor" needs keys or the cursor column in the target',
    'append without keys, target cursor column is generated');

-- Numeric options.
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id'], batch_size => -1)$$,
    '22023', 'batch_size must be positive, not -1', 'negative batch_size');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id'], batch_size => 0)$$,
    '22023', 'batch_size must be positive, not 0', 'zero batch_size');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id'], lag => '-1 hour')$$,
    '22023', 'lag must not be negative', 'negative lag');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id'], lag => '1 month -40 days')$$,
    '22023', 'lag must not be negative', 'lag of mixed sign that is negative overall');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'n', 'merge', ARRAY['id'], lag => '1 hour')$$,
    '22023', 'lag needs a timestamp or date cursor', 'lag on a bigint cursor');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'id', 'merge', ARRAY['id'], lag => '0')$$,
    '22023', 'lag needs a timestamp or date cursor', 'zero lag on an integer cursor');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'x', 'merge', ARRAY['id'], lag => '1 minute')$$,
    '22023', 'lag needs a timestamp or date cursor', 'lag on an xid8 cursor');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id'], schedule => '0')$$,
    '22023', 'schedule must be a positive interval', 'zero schedule');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('bad_p', 'bad_src', 'bad_tgt', 'ts', 'merge', ARRAY['id'], schedule => '-5 minutes')$$,
    '22023', 'schedule must be a positive interval', 'negative schedule');

-- Nothing of the bad definitions reached the catalog.
SELECT results_eq(
    'SELECT * FROM incr_pipelines ORDER BY name',
    'SELECT * FROM bad_pipelines_mid ORDER BY name',
    'incr_pipelines is unchanged by the bad definitions');
SELECT results_eq(
    'SELECT * FROM incr_checkpoints ORDER BY pipeline',
    'SELECT * FROM bad_checkpoints_mid ORDER BY pipeline',
    'incr_checkpoints is unchanged by the bad definitions');
SELECT is(
    (SELECT count(*) FROM incr_pipelines WHERE name LIKE 'bad\_p%'), 0::bigint,
    'no pipeline of a bad definition exists');
SELECT results_eq(
    $$SELECT name FROM incr_pipelines EXCEPT SELECT name FROM bad_pipelines_before$$,
    $$VALUES ('bad_taken'::text)$$,
    'the only new pipeline is the valid one');

SELECT * FROM finish();
ROLLBACK;
