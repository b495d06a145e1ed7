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
 * A tombstone's key as the runs build and compare it: jsonb_build_object
 * itself, with the settings that change how values print pinned for the
 * call (a timestamptz prints in TimeZone, bytea in bytea_output, floats with
 * extra_float_digits, intervals in IntervalStyle, nested dates in
 * DateStyle), so that a delete run in one session and a backfill in another
 * build the same key.  PUBLIC keeps EXECUTE: runs call it as the pipeline's
 * owner, and it is jsonb_build_object.
 */
CREATE FUNCTION @extschema@._incr_tombstone_key(VARIADIC "any")
RETURNS pg_catalog.jsonb
LANGUAGE internal STABLE PARALLEL SAFE
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'iso_8601'
SET extra_float_digits = 1 SET bytea_output = 'hex'
AS 'jsonb_build_object';

COMMENT ON FUNCTION @extschema@._incr_tombstone_key("any") IS
'incremental internal: jsonb_build_object with the output settings fixed, the key of incr_tombstones';

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
