-- merge_deletes: a merge pipeline with delete_column turns source rows
-- marked deleted into deletes of the target.
--   * Hard delete, boolean flag: a row whose flag IS TRUE deletes the target
--     row of its key (rows_deleted); false and NULL are ordinary rows.
--   * Hard delete, any other type (deleted_at timestamptz): a non-NULL value
--     marks the row deleted.  In a change log (several rows per key) the
--     latest row of a key in the window decides, so a delete followed by a
--     re-insert in one window is an update; an older delete (a backfill)
--     never deletes a newer row.
--   * A delete of a key the target does not hold changes nothing and counts
--     as unchanged; a key deleted in one run comes back as an insert when a
--     later row is not marked deleted.
--   * Soft delete (soft_delete => true): the flag is written to the target's
--     column of the same name and rows written with it set count as deleted
--     (an insert of a deleted row, a flag set, a change of a deleted row);
--     clearing the flag is an update.
-- Every run's rows_read = inserted + updated + deleted + unchanged.
BEGIN;
SELECT plan(24);
SET LOCAL client_min_messages = warning;

-- The counts of a run: read, inserted, updated, deleted, unchanged.
CREATE FUNCTION pg_temp.md_counts(r incr_runs,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int,
    OUT rows_deleted int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int,
           r.rows_deleted::int, r.rows_unchanged::int
$$;

-------------------------------------------------------------------------------
-- Hard delete with a boolean flag; the source holds one row per key.
CREATE TABLE md_src (id int PRIMARY KEY, v bigint NOT NULL, name text, deleted boolean);
CREATE INDEX ON md_src (v);
CREATE TABLE md_tgt (id int PRIMARY KEY, v bigint, name text);
SELECT FROM incr_create_pipeline('md_bool', 'md_src', 'md_tgt', 'v', mode => 'merge',
                                 keys => ARRAY['id'], delete_column => 'deleted');

INSERT INTO md_src VALUES (1, 1, 'a', false), (2, 2, 'b', false), (3, 3, 'c', false),
                          (4, 4, 'd', NULL), (5, 5, 'e', true);
SELECT results_eq($$SELECT c.* FROM incr_run('md_bool') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (5, 4, 0, 0, 1)$$,
                  'boolean: rows 1-4 inserted (a NULL flag is not a delete); row 5, deleted and never loaded, is unchanged');
SELECT results_eq('SELECT id, v, name FROM md_tgt ORDER BY id',
                  $$VALUES (1, 1::bigint, 'a'), (2, 2, 'b'), (3, 3, 'c'), (4, 4, 'd')$$,
                  'boolean: the target holds rows 1-4');

UPDATE md_src SET deleted = true, v = 6 WHERE id = 2;
UPDATE md_src SET name = 'c2', v = 7 WHERE id = 3;
SELECT results_eq($$SELECT c.* FROM incr_run('md_bool') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (3, 0, 1, 1, 1)$$,
                  'boolean: row 2 marked deleted is deleted, row 3 updated, row 5 read again unchanged');
SELECT results_eq('SELECT id, v, name FROM md_tgt ORDER BY id',
                  $$VALUES (1, 1::bigint, 'a'), (3, 7, 'c2'), (4, 4, 'd')$$,
                  'boolean: key 2 is gone');

UPDATE md_src SET deleted = false, name = 'b2', v = 8 WHERE id = 2;
UPDATE md_src SET deleted = true, v = 9 WHERE id = 4;
UPDATE md_src SET v = 10 WHERE id = 5;
SELECT results_eq($$SELECT c.* FROM incr_run('md_bool') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (4, 1, 0, 1, 2)$$,
                  'boolean: key 2 comes back as an insert, key 4 deleted; row 5, still deleted, changes nothing');
SELECT results_eq('SELECT id, v, name FROM md_tgt ORDER BY id',
                  $$VALUES (1, 1::bigint, 'a'), (2, 8, 'b2'), (3, 7, 'c2')$$,
                  'boolean: key 2 is back, key 4 gone');
SELECT results_eq($$SELECT c.* FROM incr_run('md_bool') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (1, 0, 0, 0, 1)$$,
                  'boolean: a run with nothing new deletes nothing again');

-------------------------------------------------------------------------------
-- Hard delete with a timestamptz column; the source is a change log.
CREATE TABLE md_log (id int NOT NULL, v bigint NOT NULL, name text, deleted_at timestamptz);
CREATE INDEX ON md_log (v);
CREATE TABLE md_log_tgt (id int PRIMARY KEY, v bigint, name text);
SELECT FROM incr_create_pipeline('md_log', 'md_log', 'md_log_tgt', 'v', mode => 'merge',
                                 keys => ARRAY['id'], delete_column => 'deleted_at');

INSERT INTO md_log VALUES (1, 1, 'a', NULL), (2, 2, 'b', NULL), (3, 3, 'c', NULL),
                          (3, 4, 'c', '2024-01-01 00:00+00'), (4, 5, 'd', '2024-01-01 00:00+00');
SELECT results_eq($$SELECT c.* FROM incr_run('md_log') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (5, 2, 0, 0, 3)$$,
                  'deleted_at: keys 1 and 2 inserted; key 3 created and deleted in the window and key 4 deleted are not');
SELECT results_eq('SELECT id, v, name FROM md_log_tgt ORDER BY id',
                  $$VALUES (1, 1::bigint, 'a'), (2, 2, 'b')$$,
                  'deleted_at: the target holds keys 1 and 2');

INSERT INTO md_log VALUES (1, 6, 'a', '2024-02-01 00:00+00'),
                          (2, 7, 'b', '2024-02-01 00:00+00'), (2, 8, 'b2', NULL),
                          (3, 9, 'c3', NULL);
SELECT results_eq($$SELECT c.* FROM incr_run('md_log') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (5, 1, 1, 1, 2)$$,
                  'deleted_at: key 1 deleted; key 2 deleted and re-inserted in one window is updated; key 3 comes back');
SELECT results_eq('SELECT id, v, name FROM md_log_tgt ORDER BY id',
                  $$VALUES (2, 8::bigint, 'b2'), (3, 9, 'c3')$$,
                  'deleted_at: key 1 is gone, key 2 holds its re-inserted row, key 3 is back');

SELECT results_eq($$SELECT c.* FROM incr_backfill('md_log', '7', '7') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (1, 0, 0, 0, 1)$$,
                  'deleted_at: a backfill of key 2''s older delete (v 7) deletes nothing');
SELECT results_eq('SELECT id, v, name FROM md_log_tgt ORDER BY id',
                  $$VALUES (2, 8::bigint, 'b2'), (3, 9, 'c3')$$,
                  'deleted_at: key 2 keeps its newer row');

-------------------------------------------------------------------------------
-- Soft delete: the flag is kept in the target.
CREATE TABLE md_soft_src (id int PRIMARY KEY, v bigint NOT NULL, name text, deleted boolean);
CREATE INDEX ON md_soft_src (v);
CREATE TABLE md_soft_tgt (id int PRIMARY KEY, v bigint, name text, deleted boolean);
SELECT FROM incr_create_pipeline('md_soft', 'md_soft_src', 'md_soft_tgt', 'v', mode => 'merge',
                                 keys => ARRAY['id'], delete_column => 'deleted', soft_delete => true);

INSERT INTO md_soft_src VALUES (1, 1, 'a', false), (2, 2, 'b', false), (3, 3, 'c', true);
SELECT results_eq($$SELECT c.* FROM incr_run('md_soft') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (3, 2, 0, 1, 0)$$,
                  'soft: rows 1 and 2 inserted; row 3, inserted with its flag set, counts as deleted');
SELECT results_eq('SELECT id, v, name, deleted FROM md_soft_tgt ORDER BY id',
                  $$VALUES (1, 1::bigint, 'a', false), (2, 2, 'b', false), (3, 3, 'c', true)$$,
                  'soft: the target keeps every row with its flag');

UPDATE md_soft_src SET deleted = true, v = 4 WHERE id = 1;
SELECT results_eq($$SELECT c.* FROM incr_run('md_soft') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (2, 0, 0, 1, 1)$$,
                  'soft: setting row 1''s flag counts as a delete; row 3 read again is unchanged');
UPDATE md_soft_src SET deleted = false, v = 5 WHERE id = 1;
UPDATE md_soft_src SET name = 'c2', v = 6 WHERE id = 3;
SELECT results_eq($$SELECT c.* FROM incr_run('md_soft') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (2, 0, 1, 1, 0)$$,
                  'soft: clearing row 1''s flag is an update; a change of the deleted row 3 counts as deleted');
SELECT results_eq('SELECT id, v, name, deleted FROM md_soft_tgt ORDER BY id',
                  $$VALUES (1, 5::bigint, 'a', false), (2, 2, 'b', false), (3, 6, 'c2', true)$$,
                  'soft: row 1 is live again, row 3 changed and still deleted');

-- Soft delete with a timestamptz column.
CREATE TABLE md_soft_ts_tgt (id int PRIMARY KEY, v bigint, name text, deleted_at timestamptz);
SELECT FROM incr_create_pipeline('md_soft_ts', 'md_log', 'md_soft_ts_tgt', 'v', mode => 'merge',
                                 keys => ARRAY['id'], delete_column => 'deleted_at', soft_delete => true);
SELECT results_eq($$SELECT c.* FROM incr_run('md_soft_ts') AS r, pg_temp.md_counts(r) AS c$$,
                  $$VALUES (9, 2, 0, 2, 5)$$,
                  'soft, deleted_at: one run over the log: keys 2 and 3 inserted; keys 1 and 4, written with deleted_at set, count as deleted');
SELECT results_eq('SELECT id, v, name, deleted_at FROM md_soft_ts_tgt ORDER BY id',
                  $$VALUES (1, 6::bigint, 'a', timestamptz '2024-02-01 00:00+00'), (2, 8, 'b2', NULL),
                           (3, 9, 'c3', NULL), (4, 5, 'd', timestamptz '2024-01-01 00:00+00')$$,
                  'soft, deleted_at: every key''s latest row, deleted ones with their deleted_at');

-------------------------------------------------------------------------------
-- Definitions that cannot work are refused.
SELECT throws_ok($$SELECT incr_create_pipeline('md_bad1', 'md_src', 'md_tgt', 'v', mode => 'merge',
                                              keys => ARRAY['id'], delete_column => 'gone')$$,
                 '42703', 'delete_column column "gone" does not exist in source "md_src"',
                 'a delete_column the source lacks is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('md_bad2', 'md_src', 'md_tgt', 'v', mode => 'merge',
                                              keys => ARRAY['id'], soft_delete => true)$$,
                 '22023', 'soft_delete needs delete_column',
                 'soft_delete without delete_column is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('md_bad3', 'md_src', 'md_tgt', 'v', mode => 'merge',
                                              keys => ARRAY['id'], delete_column => 'deleted', soft_delete => true)$$,
                 '42703', 'delete_column column "deleted" does not exist in target "md_tgt"',
                 'soft delete into a target without the flag column is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('md_bad4', 'md_src', 'md_tgt', 'v', mode => 'append',
                                              keys => ARRAY['id'], delete_column => 'deleted')$$,
                 '22023', 'option "delete_column" does not apply to mode "append"',
                 'delete_column is refused for append');

SELECT * FROM finish();
ROLLBACK;
