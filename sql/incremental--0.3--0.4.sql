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

/* == Performance (issue 18) == */
