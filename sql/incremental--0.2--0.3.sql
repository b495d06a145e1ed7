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
