/* incremental--0.2.sql: catalog, views and functions of the extension. */

\echo Use "CREATE EXTENSION incremental" to load this file. \quit

/*
 * Catalog.  The functions below are the only writers: they run their catalog
 * statements as the bootstrap superuser, so users get SELECT only.
 */
CREATE TABLE @extschema@.incr_pipelines (
    name            text PRIMARY KEY
                    CHECK (name OPERATOR(pg_catalog.<>) ''),
    source          pg_catalog.regclass,
    target          pg_catalog.regclass NOT NULL,
    cursor_column   pg_catalog.name,
    cursor_type     pg_catalog.regtype NOT NULL,
    mode            text NOT NULL
                    CHECK (mode OPERATOR(pg_catalog.=) ANY
                           (ARRAY['append', 'merge', 'cdc', 'scd2', 'query', 'files'])),
    keys            pg_catalog.name[],
    lag             interval,
    batch_size      bigint CHECK (batch_size OPERATOR(pg_catalog.>) 0),
    schedule        interval,
    enabled         boolean NOT NULL DEFAULT true,
    owner           pg_catalog.regrole NOT NULL,
    options         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- a files pipeline reads files (options.files), not a relation's cursor
    CONSTRAINT incr_pipelines_files_check
    CHECK ((mode OPERATOR(pg_catalog.=) 'files') OPERATOR(pg_catalog.=) (source IS NULL)
           AND (source IS NULL) OPERATOR(pg_catalog.=) (cursor_column IS NULL))
);

COMMENT ON TABLE @extschema@.incr_pipelines IS
'incremental: one row per pipeline, written by incr_create_pipeline and friends';

/*
 * The checkpoint is kept in a column of the cursor's own type family, so it
 * round-trips exactly: integer cursors are stored as numeric, the others as
 * themselves.  At most one value column is set.
 */
CREATE TABLE @extschema@.incr_checkpoints (
    pipeline            text PRIMARY KEY
                        REFERENCES @extschema@.incr_pipelines (name)
                        ON DELETE CASCADE,
    value_timestamptz   timestamptz,
    value_timestamp     timestamp,
    value_date          date,
    value_numeric       numeric,
    moved_at            timestamptz,
    moved_by_run        bigint,
    CHECK (pg_catalog.num_nonnulls(value_timestamptz, value_timestamp,
                                   value_date, value_numeric)
           OPERATOR(pg_catalog.<=) 1)
);

COMMENT ON TABLE @extschema@.incr_checkpoints IS
'incremental: the last fully processed cursor value of each pipeline';

CREATE SEQUENCE @extschema@.incr_runs_run_id_seq;

CREATE TABLE @extschema@.incr_runs (
    run_id          bigint PRIMARY KEY
                    DEFAULT pg_catalog.nextval('@extschema@.incr_runs_run_id_seq'),
    pipeline        text NOT NULL,
    trigger         text NOT NULL
                    CHECK (trigger OPERATOR(pg_catalog.=) ANY
                           (ARRAY['manual', 'scheduler', 'pg_cron', 'backfill', 'catch_up'])),
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    window_from     text,
    window_to       text,
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_inserted   bigint NOT NULL DEFAULT 0,
    rows_updated    bigint NOT NULL DEFAULT 0,
    rows_deleted    bigint NOT NULL DEFAULT 0,
    rows_unchanged  bigint NOT NULL DEFAULT 0,
    rows_late       bigint,
    owner           pg_catalog.regrole,
    status          text NOT NULL
                    CHECK (status OPERATOR(pg_catalog.=) ANY
                           (ARRAY['ok', 'error', 'skipped'])),
    error           text
);

ALTER SEQUENCE @extschema@.incr_runs_run_id_seq
    OWNED BY @extschema@.incr_runs.run_id;

CREATE INDEX incr_runs_pipeline_idx
    ON @extschema@.incr_runs (pipeline, run_id);

COMMENT ON TABLE @extschema@.incr_runs IS
'incremental: history of every run, failed runs included';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.incr_pipelines', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.incr_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.incr_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.incr_runs_run_id_seq', '');

REVOKE ALL ON @extschema@.incr_pipelines, @extschema@.incr_checkpoints,
              @extschema@.incr_runs FROM PUBLIC;
GRANT SELECT ON @extschema@.incr_pipelines, @extschema@.incr_checkpoints,
                @extschema@.incr_runs TO PUBLIC;

/*
 * Row-level security, as pg_cron does for cron.job: a role sees the
 * pipelines it may act as the owner of, and their checkpoints and runs
 * (superusers see everything).  Runs carry their pipeline's owner, so a new
 * pipeline that reuses a dropped one's name does not inherit its history.
 */
CREATE FUNCTION @extschema@._incr_is_member(role oid)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'incremental_is_member';

COMMENT ON FUNCTION @extschema@._incr_is_member(oid) IS
'internal: row-level security of the catalog; false for a dropped role';

ALTER TABLE @extschema@.incr_pipelines ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.incr_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.incr_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY incr_pipelines_owner ON @extschema@.incr_pipelines FOR SELECT
    USING (@extschema@._incr_is_member(owner));
CREATE POLICY incr_checkpoints_owner ON @extschema@.incr_checkpoints FOR SELECT
    USING (EXISTS (SELECT FROM @extschema@.incr_pipelines p
                   WHERE p.name OPERATOR(pg_catalog.=) pipeline));
CREATE POLICY incr_runs_owner ON @extschema@.incr_runs FOR SELECT
    USING (@extschema@._incr_is_member(owner));

/*
 * Functions.  All are written in C (src/); see doc/reference.md.
 */
CREATE FUNCTION @extschema@.incr_create_pipeline(
    name            text,
    source          pg_catalog.regclass DEFAULT NULL,
    target          pg_catalog.regclass DEFAULT NULL,
    cursor_column   text DEFAULT NULL,
    mode            text DEFAULT 'append',
    keys            text[] DEFAULT NULL,
    lag             interval DEFAULT NULL,
    batch_size      bigint DEFAULT NULL,
    schedule        interval DEFAULT NULL,
    enabled         boolean DEFAULT true,
    delete_column   text DEFAULT NULL,
    soft_delete     boolean DEFAULT false,
    payload_column  text DEFAULT NULL,
    op_column       text DEFAULT NULL,
    after_column    text DEFAULT NULL,
    before_column   text DEFAULT NULL,
    version_column  text DEFAULT NULL,
    command         text DEFAULT NULL,
    valid_from_column text DEFAULT 'valid_from',
    valid_to_column text DEFAULT 'valid_to',
    current_column  text DEFAULT 'is_current',
    epoch_unit      text DEFAULT 'ms',
    on_schema_change text DEFAULT 'fail',
    files           text DEFAULT NULL,
    copy_options    jsonb DEFAULT NULL)
RETURNS @extschema@.incr_pipelines
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_create_pipeline';

COMMENT ON FUNCTION @extschema@.incr_create_pipeline(text, pg_catalog.regclass,
    pg_catalog.regclass, text, text, text[], interval, bigint, interval, boolean,
    text, boolean, text, text, text, text, text, text, text, text, text, text, text,
    text, jsonb) IS
'define a pipeline after validating its source (or files), target, cursor, mode and keys';

CREATE FUNCTION @extschema@.incr_run(name text, wait boolean DEFAULT true)
RETURNS @extschema@.incr_runs
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_run';

COMMENT ON FUNCTION @extschema@.incr_run(text, boolean) IS
'run a pipeline once in the current transaction; returns its incr_runs row';

CREATE PROCEDURE @extschema@.incr_catch_up(name text, max_batches integer DEFAULT NULL)
LANGUAGE C
AS 'MODULE_PATHNAME', 'incremental_incr_catch_up';

COMMENT ON PROCEDURE @extschema@.incr_catch_up(text, integer) IS
'run batches of batch_size, committing after each, until nothing is left or max_batches ran';

CREATE FUNCTION @extschema@.incr_backfill(name text, from_value text, to_value text)
RETURNS @extschema@.incr_runs
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_backfill';

COMMENT ON FUNCTION @extschema@.incr_backfill(text, text, text) IS
're-process the closed cursor range [from_value, to_value] without moving the checkpoint';

CREATE FUNCTION @extschema@.incr_plan(name text)
RETURNS text
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_plan';

COMMENT ON FUNCTION @extschema@.incr_plan(text) IS
'the SQL and window bounds the next run of a pipeline would use, without running it';

CREATE FUNCTION @extschema@.incr_reset(name text, to_value text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_reset';

COMMENT ON FUNCTION @extschema@.incr_reset(text, text) IS
'move the checkpoint of a pipeline to a value (NULL: load from the beginning)';

CREATE FUNCTION @extschema@.incr_drop_pipeline(name text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_drop_pipeline';

COMMENT ON FUNCTION @extschema@.incr_drop_pipeline(text) IS
'remove a pipeline and its checkpoint; its run history is kept';

CREATE FUNCTION @extschema@.incr_pause(name text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_pause';

COMMENT ON FUNCTION @extschema@.incr_pause(text) IS
'disable a pipeline: incr_run refuses it and the scheduler skips it';

CREATE FUNCTION @extschema@.incr_resume(name text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_resume';

COMMENT ON FUNCTION @extschema@.incr_resume(text) IS
'enable a paused pipeline again';

CREATE FUNCTION @extschema@.incr_pending_rows(name text)
RETURNS bigint
LANGUAGE C STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_pending_rows';

COMMENT ON FUNCTION @extschema@.incr_pending_rows(text) IS
'rows of the source beyond the checkpoint, counted up to 1000000 (NULL without SELECT on the source)';

/*
 * Internal: counts the rows a run statement reads and tracks their greatest
 * cursor value, so counts and the next checkpoint come from the statement's
 * own snapshot without a second scan.  Not for direct use.  COST 1000 puts
 * it after every other condition on a scan (a view's own filter too), so it
 * counts only rows the source really yields; runs turn JIT off, which that
 * cost would otherwise switch on for every big run.
 */
CREATE FUNCTION @extschema@._incr_tally(value anyelement)
RETURNS boolean
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_tally';

COMMENT ON FUNCTION @extschema@._incr_tally(anyelement) IS
'internal to incr_run: counts rows read by a run statement';

/*
 * Internal: counts the rows a run's upsert updates, where RETURNING cannot
 * tell an update from an insert (a partitioned target cannot return xmax on
 * PostgreSQL 15).  Last in the upsert's WHERE; COST 1000 keeps it there.
 */
CREATE FUNCTION @extschema@._incr_count_update(live boolean)
RETURNS boolean
LANGUAGE C VOLATILE PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_count_update';

COMMENT ON FUNCTION @extschema@._incr_count_update(boolean) IS
'internal to incr_run: counts rows updated by a run statement';

/*
 * incr_status: one row per pipeline with its checkpoint, its last run and
 * its last error.
 */
CREATE VIEW @extschema@.incr_status WITH (security_invoker = true) AS
SELECT p.name AS pipeline,
       p.mode,
       p.source,
       p.target,
       p.cursor_column,
       p.enabled,
       CASE
         WHEN p.mode OPERATOR(pg_catalog.=) 'files' THEN
           CASE WHEN p.lag IS NULL THEN 'none: files are read as they are; move complete files in, or set lag'
                ELSE 'files unmodified for lag' END
         WHEN pg_catalog.current_setting('incremental.safe_upper_bound', true)
              OPERATOR(pg_catalog.=) 'off' THEN 'none: incremental.safe_upper_bound is off'
         WHEN s.relkind OPERATOR(pg_catalog.=) 'f' THEN 'none: foreign source, late rows need lag'
         WHEN p.cursor_type OPERATOR(pg_catalog.=) ANY
              (ARRAY['timestamptz', 'timestamp', 'date']::pg_catalog.regtype[])
           THEN 'start of the oldest open transaction'
         WHEN p.cursor_type OPERATOR(pg_catalog.=) 'xid8'::pg_catalog.regtype
           THEN 'oldest running transaction id'
         ELSE 'greatest value, after waiting for open writers'
       END AS safe_bound,
       COALESCE(c.value_timestamptz::text, c.value_timestamp::text,
                c.value_date::text, c.value_numeric::text) AS checkpoint,
       c.moved_at AS checkpoint_moved_at,
       r.run_id AS last_run_id,
       r.started_at AS last_run_at,
       r.status AS last_status,
       r.rows_read AS last_rows_read,
       r.rows_inserted AS last_rows_inserted,
       r.rows_updated AS last_rows_updated,
       r.rows_deleted AS last_rows_deleted,
       r.rows_unchanged AS last_rows_unchanged,
       r.rows_late AS last_rows_late,
       (SELECT pg_catalog.sum(l.rows_late)
        FROM @extschema@.incr_runs l
        WHERE l.pipeline OPERATOR(pg_catalog.=) p.name
          AND l.started_at OPERATOR(pg_catalog.>)
              (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 day')) AS late_rows_1d,
       e.started_at AS last_error_at,
       e.error AS last_error,
       @extschema@.incr_pending_rows(p.name) AS rows_pending
FROM @extschema@.incr_pipelines p
LEFT JOIN pg_catalog.pg_class s
       ON s.oid OPERATOR(pg_catalog.=) p.source
LEFT JOIN @extschema@.incr_checkpoints c
       ON c.pipeline OPERATOR(pg_catalog.=) p.name
LEFT JOIN LATERAL (
    SELECT *
    FROM @extschema@.incr_runs r
    WHERE r.pipeline OPERATOR(pg_catalog.=) p.name
    ORDER BY r.run_id DESC
    LIMIT 1) r ON true
LEFT JOIN LATERAL (
    SELECT *
    FROM @extschema@.incr_runs r
    WHERE r.pipeline OPERATOR(pg_catalog.=) p.name
      AND r.status OPERATOR(pg_catalog.=) 'error'
    ORDER BY r.run_id DESC
    LIMIT 1) e ON true;

COMMENT ON VIEW @extschema@.incr_status IS
'incremental: per pipeline, checkpoint, last run, late rows, last error and rows pending';

GRANT SELECT ON @extschema@.incr_status TO PUBLIC;

/*
 * Internal to cdc runs: decode one value of a change event (Debezium's
 * encodings) into the text input of its target column's type; stop a run on
 * a bad event; keep a jsonb value only if it is an array.
 */
CREATE FUNCTION @extschema@._incr_cdc_value(value jsonb, field jsonb, target oid,
                                            typmod integer, epoch_unit text)
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'incremental_cdc_value';

COMMENT ON FUNCTION @extschema@._incr_cdc_value(jsonb, jsonb, oid, integer, text) IS
'internal to cdc runs: the text input of one change event value for its target type';

CREATE FUNCTION @extschema@._incr_cdc_fail(cursor text, problem text)
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'incremental_cdc_fail';

COMMENT ON FUNCTION @extschema@._incr_cdc_fail(text, text) IS
'internal to cdc runs: stop the run on a bad change event, naming it';

CREATE FUNCTION @extschema@._incr_json_array(value jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.jsonb_typeof(value) OPERATOR(pg_catalog.=) 'array' THEN value END;

COMMENT ON FUNCTION @extschema@._incr_json_array(jsonb) IS
'internal to cdc runs: the value if it is a JSON array, else NULL';

/*
 * Schedules: the background worker (shared_preload_libraries = 'incremental')
 * runs enabled pipelines whose schedule is due; pg_cron can call incr_run
 * instead.  Nothing here depends on pg_cron being installed.
 */
CREATE FUNCTION @extschema@.incr_schedule(name text, schedule interval)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_schedule';

COMMENT ON FUNCTION @extschema@.incr_schedule(text, interval) IS
'run the pipeline every schedule from the background worker';

CREATE FUNCTION @extschema@.incr_unschedule(name text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_unschedule';

COMMENT ON FUNCTION @extschema@.incr_unschedule(text) IS
'stop running the pipeline from the background worker';

CREATE FUNCTION @extschema@._incr_check_owner(name text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_check_owner';

COMMENT ON FUNCTION @extschema@._incr_check_owner(text) IS
'internal: raise an error unless the caller owns the pipeline';

CREATE FUNCTION @extschema@.incr_cron_schedule(name text, cron_expression text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job bigint;
BEGIN
    PERFORM @extschema@._incr_check_owner(name);
    IF to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'undefined_function',
                  HINT = 'Install pg_cron (shared_preload_libraries = ''pg_cron'', CREATE EXTENSION pg_cron in cron.database_name), or schedule with incr_schedule and the background worker.';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
        USING 'incremental:' || name, cron_expression,
              format('SELECT %s.incr_run(%L)', '@extschema@', name);
    RETURN job;
END
$$;

COMMENT ON FUNCTION @extschema@.incr_cron_schedule(text, text) IS
'create or replace the pg_cron job "incremental:<name>" that calls incr_run';

CREATE FUNCTION @extschema@._incr_cron_unschedule(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
BEGIN
    -- a role without USAGE on schema cron has no jobs there to remove
    IF to_regnamespace('cron') IS NULL OR NOT has_schema_privilege('cron', 'USAGE')
       OR to_regclass('cron.job') IS NULL OR to_regprocedure('cron.unschedule(name)') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM cron.job WHERE jobname = $1)' INTO found
        USING 'incremental:' || name;
    IF found THEN
        EXECUTE 'SELECT cron.unschedule($1::name)' USING 'incremental:' || name;
    END IF;
    RETURN found;
END
$$;

COMMENT ON FUNCTION @extschema@._incr_cron_unschedule(text) IS
'internal: remove the pg_cron job of a pipeline if pg_cron and the job exist';

CREATE FUNCTION @extschema@.incr_cron_unschedule(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@._incr_check_owner(name);
    RETURN @extschema@._incr_cron_unschedule(name);
END
$$;

COMMENT ON FUNCTION @extschema@.incr_cron_unschedule(text) IS
'remove the pg_cron job of a pipeline; false if there was none';

/*
 * Long backfills, and the ledger of backfills.
 */
CREATE PROCEDURE @extschema@.incr_backfill_batches(name text, from_value text, to_value text)
LANGUAGE C
AS 'MODULE_PATHNAME', 'incremental_incr_backfill_batches';

COMMENT ON PROCEDURE @extschema@.incr_backfill_batches(text, text, text) IS
'backfill [from_value, to_value] in batches of batch_size rows, committing after each';

CREATE VIEW @extschema@.incr_backfills WITH (security_invoker = true) AS
SELECT r.pipeline, r.run_id, r.started_at, r.finished_at, r.window_from, r.window_to,
       r.rows_read, r.rows_inserted, r.rows_updated, r.rows_deleted, r.rows_unchanged,
       r.status, r.error
FROM @extschema@.incr_runs r
WHERE r.trigger OPERATOR(pg_catalog.=) 'backfill';

COMMENT ON VIEW @extschema@.incr_backfills IS
'incremental: which cursor ranges were backfilled, when, and with what result';

GRANT SELECT ON @extschema@.incr_backfills TO PUBLIC;

/*
 * Files pipelines: every file a run loaded, with the size, modification time
 * and SHA-256 checksum it had then.  A path is loaded again only when its
 * content changed; the newest row of a path is what the next run compares.
 */
CREATE TABLE @extschema@.incr_files (
    pipeline        text NOT NULL
                    REFERENCES @extschema@.incr_pipelines (name)
                    ON DELETE CASCADE,
    path            text NOT NULL,
    size            bigint NOT NULL,
    modified_at     timestamptz NOT NULL,
    checksum        text NOT NULL,
    loaded_at       timestamptz NOT NULL,
    run_id          bigint NOT NULL,
    rows            bigint NOT NULL,
    PRIMARY KEY (pipeline, path, run_id)
);

COMMENT ON TABLE @extschema@.incr_files IS
'incremental: the files each files pipeline loaded, with their size, modification time and SHA-256';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.incr_files', '');

REVOKE ALL ON @extschema@.incr_files FROM PUBLIC;
GRANT SELECT ON @extschema@.incr_files TO PUBLIC;

ALTER TABLE @extschema@.incr_files ENABLE ROW LEVEL SECURITY;

CREATE POLICY incr_files_owner ON @extschema@.incr_files FOR SELECT
    USING (EXISTS (SELECT FROM @extschema@.incr_pipelines p
                   WHERE p.name OPERATOR(pg_catalog.=) pipeline));
