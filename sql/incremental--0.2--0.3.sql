/* incremental--0.2--0.3.sql: version 0.3, security and correctness fixes */

\echo Use "ALTER EXTENSION incremental UPDATE TO '0.3'" to load this file. \quit

/*
 * There is no full install script for 0.3: CREATE EXTENSION runs
 * incremental--0.2.sql and then this script, so a fresh install and an
 * updated one are the same by construction.  Every statement here must
 * therefore work on a database created at 0.2 and on one updated to it.
 */

/* == Security: internal functions that cannot be shadowed (issue 13) == */

/*
 * Run statements count rows with _incr_tally and _incr_count_update.  In
 * 0.2 _incr_tally(anyelement) could be overloaded by a more exact function
 * in a schema a role can create in, and anyone could call it with any type
 * (a crash) or any value (a forged checkpoint).  Now there is one exact
 * function per cursor type, each called schema-qualified with every
 * argument cast to exactly its declared type, so no other function can be
 * chosen, and each takes the run's token, a random number a run draws and
 * passes as a parameter: a call without the active run's token is an
 * error, so only the run's own statement counts.  PUBLIC keeps EXECUTE:
 * runs execute as the pipeline's owner, and the token is what protects
 * them.
 */
DROP FUNCTION @extschema@._incr_tally(anyelement);

CREATE FUNCTION @extschema@._incr_tally(value pg_catalog.int2, run_token pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_tally_int2';

COMMENT ON FUNCTION @extschema@._incr_tally(pg_catalog.int2, pg_catalog.int8) IS
'internal to incr_run: counts rows read by a run statement (smallint cursors)';

CREATE FUNCTION @extschema@._incr_tally(value pg_catalog.int4, run_token pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_tally_int4';

COMMENT ON FUNCTION @extschema@._incr_tally(pg_catalog.int4, pg_catalog.int8) IS
'internal to incr_run: counts rows read by a run statement (integer cursors)';

CREATE FUNCTION @extschema@._incr_tally(value pg_catalog.int8, run_token pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_tally_int8';

COMMENT ON FUNCTION @extschema@._incr_tally(pg_catalog.int8, pg_catalog.int8) IS
'internal to incr_run: counts rows read by a run statement (bigint cursors)';

CREATE FUNCTION @extschema@._incr_tally(value pg_catalog.numeric, run_token pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_tally_numeric';

COMMENT ON FUNCTION @extschema@._incr_tally(pg_catalog.numeric, pg_catalog.int8) IS
'internal to incr_run: counts rows read by a run statement (numeric cursors)';

CREATE FUNCTION @extschema@._incr_tally(value pg_catalog.xid8, run_token pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_tally_xid8';

COMMENT ON FUNCTION @extschema@._incr_tally(pg_catalog.xid8, pg_catalog.int8) IS
'internal to incr_run: counts rows read by a run statement (xid8 cursors)';

CREATE FUNCTION @extschema@._incr_tally(value pg_catalog.timestamptz, run_token pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_tally_timestamptz';

COMMENT ON FUNCTION @extschema@._incr_tally(pg_catalog.timestamptz, pg_catalog.int8) IS
'internal to incr_run: counts rows read by a run statement (timestamp with time zone cursors)';

CREATE FUNCTION @extschema@._incr_tally(value pg_catalog.timestamp, run_token pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_tally_timestamp';

COMMENT ON FUNCTION @extschema@._incr_tally(pg_catalog.timestamp, pg_catalog.int8) IS
'internal to incr_run: counts rows read by a run statement (timestamp without time zone cursors)';

CREATE FUNCTION @extschema@._incr_tally(value pg_catalog.date, run_token pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_tally_date';

COMMENT ON FUNCTION @extschema@._incr_tally(pg_catalog.date, pg_catalog.int8) IS
'internal to incr_run: counts rows read by a run statement (date cursors)';

DROP FUNCTION @extschema@._incr_count_update(boolean);

CREATE FUNCTION @extschema@._incr_count_update(live pg_catalog.bool, run_token pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE C VOLATILE PARALLEL UNSAFE COST 1000
AS 'MODULE_PATHNAME', 'incremental_count_update';

COMMENT ON FUNCTION @extschema@._incr_count_update(pg_catalog.bool, pg_catalog.int8) IS
'internal to incr_run: counts rows updated by a run statement';

/* == Security: pg_cron found through pg_extension (issue 13) == */

/*
 * pg_cron's functions in C (src/cron.c): pg_cron is found as the extension
 * that owns its schema (pg_extension and pg_depend), not as any schema named
 * cron, which a role with CREATE on a database without pg_cron can make; its
 * functions are called qualified and with exact argument types.  Dropping a
 * pipeline, or unscheduling it, removes its jobs by id, so that a superuser
 * or a member of the owning role can remove the owner's job.  Signatures,
 * comments and grants stay as they were.
 */
CREATE OR REPLACE FUNCTION @extschema@.incr_cron_schedule(name text, cron_expression text)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_cron_schedule';

CREATE OR REPLACE FUNCTION @extschema@._incr_cron_unschedule(name text)
RETURNS boolean
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_cron_unschedule';

CREATE OR REPLACE FUNCTION @extschema@.incr_cron_unschedule(name text)
RETURNS boolean
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_cron_unschedule';

/* == Security: pending rows counted as the owner (issue 13) == */

/* incr_pending_rows reads the source as the pipeline's owner, within 5 s */
COMMENT ON FUNCTION @extschema@.incr_pending_rows(text) IS
'rows of the source beyond the checkpoint, counted up to 1000000 as the pipeline''s owner (NULL if the owner cannot read the source or the count takes over 5 s)';

/* == Correctness at the edges (issue 14) == */

/* -- tombstones -- */

/*
 * The deletes a cdc pipeline with version_column, or a merge pipeline with
 * delete_column over a change log, has applied: per key the greatest version
 * (cursor value) that deleted it, stored like checkpoints (integer cursors as
 * numeric).  A run skips an upsert of a key with a tombstone of the same or
 * a newer version, so no backfill or replay of older events brings a deleted
 * key back.  The key is a jsonb object of the key columns; 'null' stands for
 * every key (a cdc truncate).  A key written again with a newer version loses
 * its tombstone; incr_reset forgets those past its value (all, for NULL), and
 * dropping the pipeline forgets them all.  Written by the runs, in their
 * transaction, as the catalog's other tables are.
 */
CREATE TABLE @extschema@.incr_tombstones (
    pipeline            text NOT NULL
                        REFERENCES @extschema@.incr_pipelines (name)
                        ON DELETE CASCADE,
    key                 jsonb NOT NULL,
    value_timestamptz   timestamptz,
    value_timestamp     timestamp,
    value_date          date,
    value_numeric       numeric,
    deleted_at          timestamptz NOT NULL,
    run_id              bigint NOT NULL,
    PRIMARY KEY (pipeline, key),
    CHECK (pg_catalog.num_nonnulls(value_timestamptz, value_timestamp,
                                   value_date, value_numeric)
           OPERATOR(pg_catalog.=) 1)
);

COMMENT ON TABLE @extschema@.incr_tombstones IS
'incremental: per pipeline and key, the version of the last delete applied, so that older events never bring the key back';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.incr_tombstones', '');

REVOKE ALL ON @extschema@.incr_tombstones FROM PUBLIC;
GRANT SELECT ON @extschema@.incr_tombstones TO PUBLIC;

ALTER TABLE @extschema@.incr_tombstones ENABLE ROW LEVEL SECURITY;

CREATE POLICY incr_tombstones_owner ON @extschema@.incr_tombstones FOR SELECT
    USING (EXISTS (SELECT FROM @extschema@.incr_pipelines p
                   WHERE p.name OPERATOR(pg_catalog.=) pipeline));

/* -- tombstone keys: one text whatever the session's settings (audit) -- */

/*
 * A tombstone's key as the runs build and compare it: the key columns,
 * passed as ROW(k1, k2, ...) with their names, as a jsonb object, with the
 * settings that change how values print pinned for the call (a timestamptz
 * prints in TimeZone, bytea in bytea_output, floats with
 * extra_float_digits, intervals in IntervalStyle, nested dates in
 * DateStyle), so that a delete run in one session and a backfill in another
 * build the same key.  Its arguments are of exact, non-polymorphic types
 * (text[] and record, which a ROW is): a function someone creates under the
 * same name is never a better match, as a VARIADIC "any" one would lose to
 * any overload with concrete types.  PUBLIC keeps EXECUTE: runs call it as
 * the pipeline's owner.
 */
CREATE FUNCTION @extschema@._incr_tombstone_key(names pg_catalog.text[], vals pg_catalog.record)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'iso_8601'
SET extra_float_digits = 1 SET bytea_output = 'hex'
AS $$
DECLARE
    fields pg_catalog.jsonb := pg_catalog.to_jsonb(vals);
    key pg_catalog.jsonb := '{}';
BEGIN
    FOR i IN 1 .. pg_catalog.cardinality(names) LOOP
        key := key OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(names[i],
                   fields OPERATOR(pg_catalog.->) ('f' OPERATOR(pg_catalog.||) i::pg_catalog.text));
    END LOOP;
    RETURN key;
END
$$;

COMMENT ON FUNCTION @extschema@._incr_tombstone_key(pg_catalog.text[], pg_catalog.record) IS
'incremental internal: the key of incr_tombstones, the key columns (a ROW) as jsonb under fixed output settings';

/* == incr_verify and incr_repair (issue 19) == */

/* incr_runs records verifies and repairs: the trigger check allows them */
ALTER TABLE @extschema@.incr_runs DROP CONSTRAINT incr_runs_trigger_check;
ALTER TABLE @extschema@.incr_runs ADD CONSTRAINT incr_runs_trigger_check
    CHECK (trigger OPERATOR(pg_catalog.=) ANY
           (ARRAY['manual', 'scheduler', 'pg_cron', 'backfill', 'catch_up', 'verify', 'repair']));

/* incr_verify: compare a target with what its pipeline promises up to the checkpoint */
CREATE FUNCTION @extschema@.incr_verify(name text, buckets integer DEFAULT 1024)
RETURNS TABLE (run_id bigint, rows_source bigint, rows_target bigint, missing bigint,
               extra bigint, different bigint, invalid_history bigint,
               buckets_differing integer, rows_fetched bigint, keys_skipped bigint,
               sample jsonb, checked_through text, took interval, retained bigint)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_verify';

COMMENT ON FUNCTION @extschema@.incr_verify(text, integer) IS
'compare the target with the rows its pipeline promises up to the checkpoint; changes nothing';

/* incr_repair: make the differing keys right, as one recorded run */
CREATE FUNCTION @extschema@.incr_repair(name text)
RETURNS @extschema@.incr_runs
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_repair';

COMMENT ON FUNCTION @extschema@.incr_repair(text) IS
'upsert, delete or add the target rows where incr_verify finds differences; the checkpoint stays';

/*
 * A source replicated by a subscription has no safe upper bound here: its
 * rows arrive in the publisher's commit order, and the bound sees only this
 * server's transactions.  incr_status says so (its safe_bound; the view is
 * replaced once, at the end of this script).
 */
CREATE FUNCTION @extschema@._incr_source_subscribed(source pg_catalog.regclass)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'incremental_source_subscribed';

COMMENT ON FUNCTION @extschema@._incr_source_subscribed(pg_catalog.regclass) IS
'internal: is a table the source reads replicated into by a subscription? (incr_status)';

/* == First week as a user (issue 20) == */

/*
 * -- incr_runs: the error's SQLSTATE and DETAIL, what a run's window held
 * and what its statement changed --
 * Added at the end, so every fixed column keeps its place; the library
 * writes them only where they exist (a database still at 0.2 has none).
 * rows_in_window: the source rows in the run's window (for a query
 * pipeline, counted before its command runs); rows_affected: the rows the
 * run's statement wrote (a query pipeline's command: what PostgreSQL
 * reports for it).
 */
ALTER TABLE @extschema@.incr_runs
    ADD COLUMN sqlstate text,
    ADD COLUMN detail text,
    ADD COLUMN rows_in_window bigint,
    ADD COLUMN rows_affected bigint;

/*
 * -- incr_create_pipeline: mode has no default value in the declaration --
 * NULL (left out) is append, with a NOTICE saying what append does not do.
 * Same signature, so grants and comment stay.
 */
CREATE OR REPLACE FUNCTION @extschema@.incr_create_pipeline(
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
    copy_options    jsonb DEFAULT NULL)
RETURNS @extschema@.incr_pipelines
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_create_pipeline';

/*
 * -- incr_reset returns the checkpoint before and after --
 * A new return type: dropped and created again, its privileges kept.
 */
SELECT pg_catalog.set_config('incr_upgrade.reset_acl', COALESCE(p.proacl::text, ''), true)
FROM pg_catalog.pg_proc p
WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.incr_reset(text, text)'::pg_catalog.regprocedure;

DROP FUNCTION @extschema@.incr_reset(text, text);

CREATE FUNCTION @extschema@.incr_reset(name text, to_value text DEFAULT NULL)
RETURNS TABLE (pipeline text, old_checkpoint text, new_checkpoint text)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_reset';

COMMENT ON FUNCTION @extschema@.incr_reset(text, text) IS
'move the checkpoint to a value (NULL: start over); returns the checkpoint before and after';

DO $$
DECLARE
    acl text := pg_catalog.current_setting('incr_upgrade.reset_acl', true);
    fn text := '@extschema@.incr_reset(text, text)';
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

/* -- incr_prune_runs: delete old history (incremental.runs_retention for the scheduler) -- */
CREATE FUNCTION @extschema@.incr_prune_runs(older_than interval)
RETURNS bigint
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'incremental_incr_prune_runs';

COMMENT ON FUNCTION @extschema@.incr_prune_runs(interval) IS
'delete the incr_runs rows started before now() - older_than of the pipelines the caller may act on, keeping each pipeline''s latest run';

/* -- incr_status: is it healthy? -- */
CREATE FUNCTION @extschema@._incr_scheduler_state(name text,
    OUT checked_at timestamptz, OUT next_run_at timestamptz,
    OUT failures integer, OUT last_success_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'incremental_scheduler_state';

COMMENT ON FUNCTION @extschema@._incr_scheduler_state(text) IS
'internal: what the scheduler''s worker remembers of a pipeline (shared memory; NULLs without it)';

/* The safe bound of a cursor type, as incr_status names it: C's table, not restated here. */
CREATE FUNCTION @extschema@._incr_bound_name(cursor_type pg_catalog.regtype)
RETURNS pg_catalog.text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'incremental_bound_name';

COMMENT ON FUNCTION @extschema@._incr_bound_name(pg_catalog.regtype) IS
'internal: the safe upper bound of a cursor type, as incr_status.safe_bound names it';

/*
 * incr_status answers "is it healthy?": the schedule, when the scheduler
 * last checked the pipeline (kept in shared memory, so idle pipelines cost
 * no write), its next run, consecutive failures (the backoff in force shows
 * in next_run_at), the last success, the last error's SQLSTATE, whether
 * rows_pending reached its cap, and health, one word for all of it.  Same
 * columns as before, new ones at the end.
 */
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
       END AS health
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
    SELECT @extschema@.incr_pending_rows(p.name) AS n) pend ON true;
