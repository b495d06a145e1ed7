/* incremental--0.2--0.3.sql: version 0.3, security and correctness fixes */

\echo Use "ALTER EXTENSION incremental UPDATE TO '0.3'" to load this file. \quit

/*
 * There is no full install script for 0.3: CREATE EXTENSION runs
 * incremental--0.2.sql and then this script, so a fresh install and an
 * updated one are the same by construction.  Every statement here must
 * therefore work on a database created at 0.2 and on one updated to it.
 */

/* == Security: internal functions that cannot be shadowed (issue 13) == */

/* == Security: pg_cron found through pg_extension (issue 13) == */

/* == Security: pending rows counted as the owner (issue 13) == */

/* == Correctness at the edges (issue 14) == */

/*
 * A source replicated by a subscription has no safe upper bound here: its
 * rows arrive in the publisher's commit order, and the bound sees only this
 * server's transactions.  incr_status says so (same columns, one more case).
 */
CREATE FUNCTION @extschema@._incr_source_subscribed(source pg_catalog.regclass)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'incremental_source_subscribed';

COMMENT ON FUNCTION @extschema@._incr_source_subscribed(pg_catalog.regclass) IS
'internal: is a table the source reads replicated into by a subscription? (incr_status)';

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
