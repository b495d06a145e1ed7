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
