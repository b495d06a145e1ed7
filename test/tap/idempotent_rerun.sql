-- idempotent_rerun: running a pipeline again over data it has already loaded
-- changes nothing, for every mode (merge, append with keys, append without
-- keys) and every cursor type (timestamptz, timestamp, date, smallint,
-- integer, bigint, numeric):
--   * a second run with nothing new inserts, updates and deletes nothing;
--   * a backfill over the loaded range changes nothing and leaves the
--     checkpoint where it was;
--   * a backfill reaching past the checkpoint, then a run, load the new
--     rows once between them;
--   * incr_reset(name, NULL) then a run re-reads everything and changes
--     nothing.
-- Each source holds ids 1..4 at cursor values v(1), v(2), v(3), v(3).
BEGIN;
SELECT plan(13);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- The n-th cursor value of a cursor type, as text.
CREATE FUNCTION pg_temp.idem_value(kind text, n int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE kind
        WHEN 'tz'  THEN (timestamptz '2024-01-01 00:00+00' + n * interval '1 hour')::text
        WHEN 'ts'  THEN (timestamp '2024-01-01 00:00' + n * interval '1 hour')::text
        WHEN 'day' THEN (date '2024-01-01' + n)::text
        WHEN 'i2'  THEN (n * 10)::text
        WHEN 'i4'  THEN (n * 1000)::text
        WHEN 'i8'  THEN (n * 10000000000)::text
        WHEN 'num' THEN (n + 0.25)::text
    END
$$;

-- For each cursor type: a source idem_<kind>_src and three pipelines into
-- idem_<kind>_merge, idem_<kind>_akey and idem_<kind>_anokey.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('tz', 'timestamptz'), ('ts', 'timestamp'), ('day', 'date'),
                                   ('i2', 'smallint'), ('i4', 'integer'), ('i8', 'bigint'),
                                   ('num', 'numeric')) AS v(kind, typ)
    LOOP
        EXECUTE format('CREATE TABLE idem_%s_src (id int PRIMARY KEY, c %s NOT NULL, v text)', t.kind, t.typ);
        EXECUTE format('CREATE INDEX ON idem_%s_src (c)', t.kind);
        EXECUTE format('CREATE TABLE idem_%s_merge (id int PRIMARY KEY, c %s, v text)', t.kind, t.typ);
        EXECUTE format('CREATE TABLE idem_%s_akey (id int PRIMARY KEY, c %s, v text)', t.kind, t.typ);
        EXECUTE format('CREATE TABLE idem_%s_anokey (id int, c %s, v text)', t.kind, t.typ);
        EXECUTE format($f$INSERT INTO idem_%s_src
                          SELECT id, pg_temp.idem_value(%L, n)::%s, 'v' || id
                          FROM (VALUES (1, 1), (2, 2), (3, 3), (4, 3)) AS r(id, n)$f$,
                       t.kind, t.kind, t.typ);
        PERFORM incr_create_pipeline('idem_' || t.kind || '_merge', ('idem_' || t.kind || '_src')::regclass,
                                     ('idem_' || t.kind || '_merge')::regclass, 'c',
                                     mode => 'merge', keys => ARRAY['id']);
        PERFORM incr_create_pipeline('idem_' || t.kind || '_akey', ('idem_' || t.kind || '_src')::regclass,
                                     ('idem_' || t.kind || '_akey')::regclass, 'c',
                                     mode => 'append', keys => ARRAY['id']);
        PERFORM incr_create_pipeline('idem_' || t.kind || '_anokey', ('idem_' || t.kind || '_src')::regclass,
                                     ('idem_' || t.kind || '_anokey')::regclass, 'c',
                                     mode => 'append');
    END LOOP;
END
$$;

-- The counts of every run and backfill, by step.
CREATE TEMP TABLE idem_runs (step text, pipeline text, rows_read int, rows_inserted int,
                             rows_updated int, rows_deleted int, rows_unchanged int);

-- Run every pipeline of this file once (or backfill [v(from_n), v(to_n)]),
-- recording the counts under step.
CREATE FUNCTION pg_temp.idem_step(step text, from_n int DEFAULT NULL, to_n int DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p text;
    r incr_runs;
BEGIN
    FOR p IN SELECT name FROM incr_pipelines WHERE name LIKE 'idem\_%' ORDER BY name LOOP
        IF from_n IS NULL THEN
            r := incr_run(p);
        ELSE
            r := incr_backfill(p, pg_temp.idem_value(split_part(p, '_', 2), from_n),
                               pg_temp.idem_value(split_part(p, '_', 2), to_n));
        END IF;
        INSERT INTO idem_runs VALUES (step, p, r.rows_read, r.rows_inserted, r.rows_updated,
                                      r.rows_deleted, r.rows_unchanged);
    END LOOP;
END
$$;

-- Every pipeline with the counts all its runs of a step should have.
CREATE FUNCTION pg_temp.idem_expect(rows_read int, rows_inserted int, rows_updated int,
                                    rows_deleted int, rows_unchanged int)
RETURNS TABLE (pipeline text, rows_read int, rows_inserted int, rows_updated int,
               rows_deleted int, rows_unchanged int)
LANGUAGE sql AS $$
    SELECT name, $1, $2, $3, $4, $5 FROM incr_pipelines WHERE name LIKE 'idem\_%'
$$;

-- The rows of every target, and of its source, tagged with the pipeline.
CREATE FUNCTION pg_temp.idem_rows(side text)
RETURNS TABLE (pipeline text, id int, c text, v text)
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT name, source, target FROM incr_pipelines WHERE name LIKE 'idem\_%' LOOP
        RETURN QUERY EXECUTE format('SELECT %L::text, id, c::text, v FROM %s', p.name,
                                    CASE side WHEN 'target' THEN p.target ELSE p.source END);
    END LOOP;
END
$$;

-- Every pipeline with the checkpoint v(n) of its cursor type.
CREATE FUNCTION pg_temp.idem_checkpoints(n int) RETURNS TABLE (pipeline text, checkpoint text)
LANGUAGE sql AS $$
    SELECT name, pg_temp.idem_value(split_part(name, '_', 2), n)
    FROM incr_pipelines WHERE name LIKE 'idem\_%'
$$;

SELECT pg_temp.idem_step('first');
SELECT set_eq($$SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_deleted, rows_unchanged
                FROM idem_runs WHERE step = 'first'$$,
              'SELECT * FROM pg_temp.idem_expect(4, 4, 0, 0, 0)',
              'the first run of each of the 21 pipelines loads the four rows');

-- A second run: only the two rows at the checkpoint are read, nothing is written.
SELECT pg_temp.idem_step('rerun');
SELECT set_eq($$SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_deleted, rows_unchanged
                FROM idem_runs WHERE step = 'rerun'$$,
              'SELECT * FROM pg_temp.idem_expect(2, 0, 0, 0, 2)',
              'a second run with nothing new inserts, updates and deletes nothing, for every mode and cursor type');
SELECT bag_eq($$SELECT * FROM pg_temp.idem_rows('target')$$,
              $$SELECT * FROM pg_temp.idem_rows('source')$$,
              'after two runs every target holds each source row once');

-- A backfill over the whole loaded range [v(1), v(3)].
CREATE TEMP TABLE idem_checkpoints_before AS
    SELECT pipeline, value_timestamptz, value_timestamp, value_date, value_numeric, moved_by_run
    FROM incr_checkpoints WHERE pipeline LIKE 'idem\_%';
SELECT pg_temp.idem_step('backfill', 1, 3);
SELECT set_eq($$SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_deleted, rows_unchanged
                FROM idem_runs WHERE step = 'backfill'$$,
              'SELECT * FROM pg_temp.idem_expect(4, 0, 0, 0, 4)',
              'a backfill over the loaded range reads the four rows and writes nothing');
SELECT set_eq($$SELECT pipeline, value_timestamptz, value_timestamp, value_date, value_numeric, moved_by_run
                FROM incr_checkpoints WHERE pipeline LIKE 'idem\_%'$$,
              'SELECT * FROM idem_checkpoints_before',
              'the backfill leaves every checkpoint where it was');
SELECT bag_eq($$SELECT * FROM pg_temp.idem_rows('target')$$,
              $$SELECT * FROM pg_temp.idem_rows('source')$$,
              'after the backfill every target still holds each source row once');

-- A new row at v(4), past the checkpoint, then a backfill of [v(1), v(4)]
-- and a run: between them they load the new row exactly once (whichever
-- loads it), and the backfill does not move the checkpoint.
DO $$
DECLARE
    kind text;
BEGIN
    FOREACH kind IN ARRAY ARRAY['tz', 'ts', 'day', 'i2', 'i4', 'i8', 'num'] LOOP
        EXECUTE format($f$INSERT INTO idem_%s_src
                          SELECT 5, %L, 'v5'$f$, kind, pg_temp.idem_value(kind, 4));
    END LOOP;
END
$$;
SELECT pg_temp.idem_step('backfill past', 1, 4);
SELECT set_eq($$SELECT pipeline, checkpoint FROM incr_status WHERE pipeline LIKE 'idem\_%'$$,
              'SELECT * FROM pg_temp.idem_checkpoints(3)',
              'a backfill reaching past the checkpoint does not move it');
SELECT pg_temp.idem_step('run after backfill');
SELECT set_eq($$SELECT pipeline, sum(rows_inserted)::int AS inserted, sum(rows_updated)::int AS updated,
                       sum(rows_deleted)::int AS deleted
                FROM idem_runs WHERE step IN ('backfill past', 'run after backfill')
                GROUP BY pipeline$$,
              $$SELECT pipeline, rows_inserted, rows_updated, rows_deleted
                FROM pg_temp.idem_expect(0, 1, 0, 0, 0)$$,
              'the backfill and the run after it insert the new row once between them, and update nothing');
SELECT set_eq($$SELECT pipeline, checkpoint FROM incr_status WHERE pipeline LIKE 'idem\_%'$$,
              'SELECT * FROM pg_temp.idem_checkpoints(4)',
              'the run moves the checkpoint to the new row''s value');
SELECT bag_eq($$SELECT * FROM pg_temp.idem_rows('target')$$,
              $$SELECT * FROM pg_temp.idem_rows('source')$$,
              'after the backfill and the run every target holds each source row once');

-- incr_reset(name, NULL): the next run starts from the beginning.
CREATE TEMP TABLE idem_targets_before AS SELECT * FROM pg_temp.idem_rows('target');
SELECT incr_reset(name, NULL) FROM incr_pipelines WHERE name LIKE 'idem\_%';
SELECT pg_temp.idem_step('after reset');
SELECT set_eq($$SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_deleted, rows_unchanged
                FROM idem_runs WHERE step = 'after reset'$$,
              'SELECT * FROM pg_temp.idem_expect(5, 0, 0, 0, 5)',
              'after incr_reset(name, NULL) a run re-reads all five rows and writes nothing');
SELECT bag_eq($$SELECT * FROM pg_temp.idem_rows('target')$$,
              'SELECT * FROM idem_targets_before',
              'the run after the reset leaves every target as it was');
SELECT set_eq($$SELECT pipeline, checkpoint FROM incr_status WHERE pipeline LIKE 'idem\_%'$$,
              'SELECT * FROM pg_temp.idem_checkpoints(4)',
              'the run after the reset puts the checkpoint back on the greatest value');

SELECT * FROM finish();
ROLLBACK;
