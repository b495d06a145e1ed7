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
