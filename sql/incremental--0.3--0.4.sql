/* incremental--0.3--0.4.sql: version 0.4, WAL capture, Citus, performance */

\echo Use "ALTER EXTENSION incremental UPDATE TO '0.4'" to load this file. \quit

/*
 * There is no full install script for 0.4: CREATE EXTENSION runs
 * incremental--0.2.sql, incremental--0.2--0.3.sql and then this script, so
 * a fresh install and an updated one are the same by construction.  Every
 * statement here must therefore work on a database created at 0.3 and on
 * one updated to it.
 */

/* == WAL capture: the wal source kind (issue 16) == */

/*
 * -- incr_create_pipeline gains capture (cursor or wal) and the columns of
 *    an append change log: wal_op_column, wal_lsn_column, wal_time_column --
 * The target columns of an append change log (capture => 'wal') take each
 * change's operation, commit LSN and commit time.  Four new last
 * arguments: dropped and created again, its privileges kept.
 */
SELECT pg_catalog.set_config('incr_upgrade.create_pipeline_acl', COALESCE(p.proacl::text, ''), true)
FROM pg_catalog.pg_proc p
WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.incr_create_pipeline(text, pg_catalog.regclass,
    pg_catalog.regclass, text, text, text[], interval, bigint, interval, boolean,
    text, boolean, text, text, text, text, text, text, text, text, text, text, text,
    text, jsonb)'::pg_catalog.regprocedure;

DROP FUNCTION @extschema@.incr_create_pipeline(text, pg_catalog.regclass,
    pg_catalog.regclass, text, text, text[], interval, bigint, interval, boolean,
    text, boolean, text, text, text, text, text, text, text, text, text, text, text,
    text, jsonb);

CREATE FUNCTION @extschema@.incr_create_pipeline(
    name            text,
    source          pg_catalog.regclass DEFAULT NULL,
    target          pg_catalog.regclass DEFAULT NULL,
    cursor_column   text DEFAULT NULL,
    mode            text DEFAULT NULL,
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
    copy_options    jsonb DEFAULT NULL,
    capture         text DEFAULT 'cursor',
    wal_op_column   text DEFAULT NULL,
    wal_lsn_column  text DEFAULT NULL,
    wal_time_column text DEFAULT NULL)
RETURNS @extschema@.incr_pipelines
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_create_pipeline';

COMMENT ON FUNCTION @extschema@.incr_create_pipeline(text, pg_catalog.regclass,
    pg_catalog.regclass, text, text, text[], interval, bigint, interval, boolean,
    text, boolean, text, text, text, text, text, text, text, text, text, text, text,
    text, jsonb, text, text, text, text) IS
'define a pipeline after validating its source (or files), target, cursor (or capture => ''wal''), mode and keys';

DO $$
DECLARE
    acl text := pg_catalog.current_setting('incr_upgrade.create_pipeline_acl', true);
    fn text := '@extschema@.incr_create_pipeline(text, pg_catalog.regclass,
        pg_catalog.regclass, text, text, text[], interval, bigint, interval, boolean,
        text, boolean, text, text, text, text, text, text, text, text, text, text, text,
        text, jsonb, text, text, text, text)';
    item record;
BEGIN
    IF acl IS NULL OR acl OPERATOR(pg_catalog.=) '' THEN
        RETURN;                 -- the default privileges: nothing was changed
    END IF;
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
    FOR item IN
        SELECT a.grantee, a.is_grantable
        FROM pg_catalog.aclexplode(acl::pg_catalog.aclitem[]) AS a
        WHERE a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', fn,
            CASE WHEN item.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(item.grantee)) END,
            CASE WHEN item.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    /* the DBA's grants, not initial privileges: pg_dump must keep them */
    DELETE FROM pg_catalog.pg_init_privs
    WHERE classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
      AND objoid OPERATOR(pg_catalog.=) fn::pg_catalog.regprocedure
      AND objsubid OPERATOR(pg_catalog.=) 0;
END
$$;

/*
 * -- a wal pipeline reads a source without a cursor column --
 * options.capture = 'wal' (options.wal_slot names its slot and publication);
 * pipelines without capture are cursor pipelines, as before.
 */
ALTER TABLE @extschema@.incr_pipelines DROP CONSTRAINT incr_pipelines_files_check;
ALTER TABLE @extschema@.incr_pipelines ADD CONSTRAINT incr_pipelines_files_check
    CHECK ((mode OPERATOR(pg_catalog.=) 'files') OPERATOR(pg_catalog.=) (source IS NULL)
           AND (source IS NULL OR COALESCE(options OPERATOR(pg_catalog.->>) 'capture', 'cursor') OPERATOR(pg_catalog.=) 'wal')
               OPERATOR(pg_catalog.=) (cursor_column IS NULL));

/*
 * -- the consistent start of a wal pipeline --
 * Its first run copies the source's rows; the snapshot that copy read with
 * and the WAL position after it decide which decoded transactions the copy
 * already holds (source_wal.c); the snapshot as pg_snapshot's text, since
 * pg_snapshot has no equality and the catalog's rows are compared whole.
 * The checkpoint itself is an LSN kept in value_numeric (its byte position).
 */
ALTER TABLE @extschema@.incr_checkpoints
    ADD COLUMN wal_copy_snapshot text,
    ADD COLUMN wal_copy_lsn pg_catalog.pg_lsn;

/*
 * -- DROP EXTENSION drops the wal pipelines' slots --
 * Slots are not catalog objects: a trigger at the start of DROP EXTENSION
 * has them dropped when that transaction commits.  (The publications depend
 * on the extension and go with it.)
 */
CREATE FUNCTION @extschema@._incr_drop_extension()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'incremental_drop_extension';

COMMENT ON FUNCTION @extschema@._incr_drop_extension() IS
'internal: when extension incremental is dropped, drop the replication slots of its wal pipelines at commit';

CREATE EVENT TRIGGER incr_drop_extension ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION @extschema@._incr_drop_extension();

/*
 * -- incr_status of a wal pipeline: the checkpoint as an LSN, and its slot --
 * wal_retained_bytes: WAL the slot keeps from being removed; wal_status: the
 * slot's (reserved, extended, unreserved, lost), or 'missing'.  Same columns
 * as before, new ones at the end.
 */
CREATE FUNCTION @extschema@._incr_wal_slot(name text,
    OUT slot_name text, OUT retained_bytes numeric, OUT wal_status text)
RETURNS record
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'incremental_wal_slot';

COMMENT ON FUNCTION @extschema@._incr_wal_slot(text) IS
'internal: the replication slot of a wal pipeline, the WAL it retains and its state (incr_status)';

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
         WHEN p.lag IS NULL AND @extschema@._incr_source_subscribed(p.source)
           THEN 'none: replicated by a subscription, late rows need lag'
         ELSE @extschema@._incr_bound_name(p.cursor_type)
       END AS safe_bound,
       CASE WHEN p.cursor_type OPERATOR(pg_catalog.=) 'pg_catalog.pg_lsn'::pg_catalog.regtype
            THEN (CAST('0/0' AS pg_catalog.pg_lsn) OPERATOR(pg_catalog.+) c.value_numeric)::text
            ELSE COALESCE(c.value_timestamptz::text, c.value_timestamp::text,
                          c.value_date::text, c.value_numeric::text) END AS checkpoint,
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
       pend.n AS rows_pending,
       p.schedule,
       ss.checked_at AS scheduler_checked_at,
       ss.next_run_at,
       GREATEST(ss.failures,
                (SELECT pg_catalog.count(*)
                 FROM @extschema@.incr_runs f
                 WHERE f.pipeline OPERATOR(pg_catalog.=) p.name
                   AND f.status OPERATOR(pg_catalog.=) 'error'
                   AND f.run_id OPERATOR(pg_catalog.>) COALESCE(ok.run_id, 0))) AS consecutive_failures,
       GREATEST(ok.started_at, ss.last_success_at) AS last_success_at,
       e.sqlstate AS last_error_sqlstate,
       pend.n OPERATOR(pg_catalog.>=) 1000000 AS rows_pending_capped,
       CASE
         WHEN NOT p.enabled THEN 'paused'
         WHEN COALESCE(ss.failures, 0) OPERATOR(pg_catalog.>) 0
              OR r.status OPERATOR(pg_catalog.=) 'error' THEN 'failing'
         WHEN p.schedule IS NOT NULL AND ss.checked_at IS NULL
           THEN 'scheduled, but no scheduler checks it'
         WHEN p.schedule IS NOT NULL
              AND ss.checked_at OPERATOR(pg_catalog.<)
                  (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 minute'
                   OPERATOR(pg_catalog.-) COALESCE(pg_catalog.current_setting('incremental.naptime', true),
                                                   '1s')::interval)
           THEN 'scheduler stalled'
         ELSE 'ok'
       END AS health,
       COALESCE(p.options OPERATOR(pg_catalog.->>) 'capture', 'cursor') AS capture,
       ws.slot_name AS wal_slot,
       ws.retained_bytes AS wal_retained_bytes,
       ws.wal_status
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
    LIMIT 1) e ON true
LEFT JOIN LATERAL (
    SELECT r.run_id, r.started_at
    FROM @extschema@.incr_runs r
    WHERE r.pipeline OPERATOR(pg_catalog.=) p.name
      AND r.status OPERATOR(pg_catalog.=) 'ok'
      AND r.trigger OPERATOR(pg_catalog.<>) 'verify'
    ORDER BY r.run_id DESC
    LIMIT 1) ok ON true
LEFT JOIN LATERAL @extschema@._incr_scheduler_state(p.name) ss ON true
LEFT JOIN LATERAL (
    SELECT @extschema@.incr_pending_rows(p.name) AS n) pend ON true
LEFT JOIN LATERAL @extschema@._incr_wal_slot(p.name) ws ON true;

/*
 * -- who may own a wal pipeline: the role incremental_wal --
 * A wal pipeline holds a replication slot, which keeps WAL and dead catalog
 * rows for the whole cluster.  Its owner must be a superuser, have
 * REPLICATION, or be a member of incremental_wal (NOLOGIN, made here if
 * missing; roles are the cluster's, so DROP EXTENSION leaves it).  A DBA
 * grants it: GRANT incremental_wal TO etl_role;
 */
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                   WHERE rolname OPERATOR(pg_catalog.=) 'incremental_wal') THEN
        CREATE ROLE incremental_wal NOLOGIN;
    END IF;
END
$$;

/* == Citus (issue 17) == */

/*
 * The safe bound over Citus, through the connections Citus keeps: a run asks
 * the nodes holding its source's shards for their open transactions with
 * one query over the shards, which calls this on every node (so CREATE
 * EXTENSION on the coordinator, which Citus propagates, must create it
 * there too).  It shows the caller what pg_stat_activity shows it.
 */
CREATE FUNCTION @extschema@._incr_citus_open_transactions(run_gpid pg_catalog.int8)
RETURNS pg_catalog.text
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'incremental_citus_open_transactions';

COMMENT ON FUNCTION @extschema@._incr_citus_open_transactions(pg_catalog.int8) IS
'internal to runs over Citus: this node''s Citus group, how many backends hide their transaction from the caller, and the start and pid of the oldest open transaction other than those of the run with global pid run_gpid';

/* == Performance (issue 18) == */
