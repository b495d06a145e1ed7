/* incremental--0.1--0.2.sql: files pipelines (mode 'files' and incr_files); counting updates into partitioned targets. */

\echo Use "ALTER EXTENSION incremental UPDATE TO '0.2'" to load this file. \quit

/* a files pipeline has no source relation and no cursor column */
ALTER TABLE @extschema@.incr_pipelines
    ALTER COLUMN source DROP NOT NULL,
    ALTER COLUMN cursor_column DROP NOT NULL,
    DROP CONSTRAINT incr_pipelines_mode_check,
    ADD CONSTRAINT incr_pipelines_mode_check
    CHECK (mode OPERATOR(pg_catalog.=) ANY
           (ARRAY['append', 'merge', 'cdc', 'scd2', 'query', 'files'])),
    ADD CONSTRAINT incr_pipelines_files_check
    CHECK ((mode OPERATOR(pg_catalog.=) 'files') OPERATOR(pg_catalog.=) (source IS NULL)
           AND (source IS NULL) OPERATOR(pg_catalog.=) (cursor_column IS NULL));

/*
 * Two more parameters, files and copy_options; source and target get
 * defaults.  The function is dropped and created again, so the privileges a
 * DBA set on it (say, EXECUTE revoked from PUBLIC) are kept aside and set
 * again on the new one.
 */
SELECT pg_catalog.set_config('incr_upgrade.create_pipeline_acl', COALESCE(p.proacl::text, ''), true)
FROM pg_catalog.pg_proc p
WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.incr_create_pipeline(text, pg_catalog.regclass,
    pg_catalog.regclass, text, text, text[], interval, bigint, interval, boolean,
    text, boolean, text, text, text, text, text, text, text, text, text, text, text)'::pg_catalog.regprocedure;

DROP FUNCTION @extschema@.incr_create_pipeline(text, pg_catalog.regclass,
    pg_catalog.regclass, text, text, text[], interval, bigint, interval, boolean,
    text, boolean, text, text, text, text, text, text, text, text, text, text, text);

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

DO $$
DECLARE
    acl text := pg_catalog.current_setting('incr_upgrade.create_pipeline_acl', true);
    fn text := '@extschema@.incr_create_pipeline(text, pg_catalog.regclass,
        pg_catalog.regclass, text, text, text[], interval, bigint, interval, boolean,
        text, boolean, text, text, text, text, text, text, text, text, text, text, text,
        text, jsonb)';
    item record;
BEGIN
    IF acl IS NULL OR acl OPERATOR(pg_catalog.=) '' THEN
        RETURN;                 -- the default privileges: nothing was changed
    END IF;
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
    FOR item IN
        SELECT a.grantee, a.is_grantable
        FROM pg_catalog.aclexplode(acl::pg_catalog.aclitem[]) a
        WHERE a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', fn,
            CASE WHEN item.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(item.grantee)) END,
            CASE WHEN item.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    /*
     * A GRANT in an extension script is recorded as the object's initial
     * privileges, which pg_dump leaves out; these are the DBA's, so the
     * function gets a fresh install's initial privileges (none) back.
     */
    DELETE FROM pg_catalog.pg_init_privs
    WHERE classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
      AND objoid OPERATOR(pg_catalog.=) fn::pg_catalog.regprocedure
      AND objsubid OPERATOR(pg_catalog.=) 0;
END
$$;

/* merge and cdc runs into partitioned targets count their updates with it */
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

/* incr_status: what bounds a files pipeline's run */
CREATE OR REPLACE VIEW @extschema@.incr_status WITH (security_invoker = true) AS
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
