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
               sample jsonb, checked_through text, took interval)
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
