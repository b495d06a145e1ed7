-- merge_null_target_cursor: a target row whose cursor (or cdc version, or
-- scd2 valid_from) is NULL, as rows of a target that existed before the
-- pipeline often are, is older than any loaded row.  The older-never-
-- overwrites guard must not compare with NULL and skip it.  What must hold:
--   * merge: such a row is updated by the source's row of its key, and
--     deleted by a delete of its key;
--   * cdc with version_column: an event updates or deletes such a row;
--   * scd2: a changed row closes such a current version and opens a new one;
--   * and a row with a cursor is still never overwritten by an older one.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;

-- merge from a change log (no unique index on the source: the guard applies)
CREATE TABLE nc_log (id int NOT NULL, at int NOT NULL, v text, gone bool NOT NULL DEFAULT false);
CREATE TABLE nc_tgt (id int PRIMARY KEY, at int, v text);
INSERT INTO nc_tgt VALUES (1, NULL, 'old'), (2, NULL, 'old'), (3, 9, 'newer');
SELECT FROM incr_create_pipeline('nc', 'nc_log', 'nc_tgt', 'at', mode => 'merge',
                                 keys => ARRAY['id'], delete_column => 'gone');
INSERT INTO nc_log VALUES (1, 5, 'new', false), (2, 5, NULL, true), (3, 5, 'older', false);
SELECT results_eq($$SELECT r.rows_updated::int, r.rows_deleted::int, r.rows_unchanged::int FROM incr_run('nc') AS r$$,
                  $$VALUES (1, 1, 1)$$,
                  'merge: the NULL-cursor rows are updated and deleted, the newer row is left');
SELECT results_eq('SELECT id, at, v FROM nc_tgt ORDER BY id',
                  $$VALUES (1, 5, 'new'), (3, 9, 'newer')$$,
                  'merge: key 1 holds the loaded row, key 2 is gone, key 3 keeps its newer row');

-- merge without deletes: the upsert alone
CREATE TABLE nc_tgt2 (id int PRIMARY KEY, at int, v text);
INSERT INTO nc_tgt2 VALUES (1, NULL, 'old');
SELECT FROM incr_create_pipeline('nc2', 'nc_log', 'nc_tgt2', 'at', mode => 'merge', keys => ARRAY['id']);
SELECT FROM incr_run('nc2');
SELECT results_eq('SELECT id, at, v FROM nc_tgt2 WHERE id = 1',
                  $$VALUES (1, 5, 'new')$$,
                  'merge without deletes: the NULL-cursor row is updated');

-- cdc with a version column
CREATE TABLE nc_events (id int NOT NULL, op text NOT NULL, seq int NOT NULL, v text);
CREATE TABLE nc_cdc (id int PRIMARY KEY, v text, version int);
INSERT INTO nc_cdc VALUES (1, 'old', NULL), (2, 'old', NULL);
SELECT FROM incr_create_pipeline('nc_cdc', 'nc_events', 'nc_cdc', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], op_column => 'op', version_column => 'version');
INSERT INTO nc_events VALUES (1, 'u', 1, 'new'), (2, 'd', 2, NULL);
SELECT results_eq($$SELECT r.rows_updated::int, r.rows_deleted::int FROM incr_run('nc_cdc') AS r$$,
                  $$VALUES (1, 1)$$,
                  'cdc: an event updates a row without a version, a delete deletes one');
SELECT results_eq('SELECT id, v, version FROM nc_cdc',
                  $$VALUES (1, 'new', 1)$$,
                  'cdc: the row holds the event and its version');

-- scd2 with a current version whose valid_from is NULL
CREATE TABLE nc_src (id int PRIMARY KEY, at int NOT NULL, v text);
CREATE TABLE nc_hist (id int NOT NULL, v text, valid_from int, valid_to int, is_current bool,
                      UNIQUE (id, valid_from));
INSERT INTO nc_hist VALUES (1, 'old', NULL, NULL, true);
SELECT FROM incr_create_pipeline('nc_scd2', 'nc_src', 'nc_hist', 'at', mode => 'scd2', keys => ARRAY['id']);
INSERT INTO nc_src VALUES (1, 5, 'new');
SELECT results_eq($$SELECT r.rows_inserted::int, r.rows_updated::int FROM incr_run('nc_scd2') AS r$$,
                  $$VALUES (0, 1)$$,
                  'scd2: the changed row is a new version of the key');
SELECT results_eq('SELECT v, valid_from, valid_to, is_current FROM nc_hist ORDER BY valid_from NULLS FIRST',
                  $$VALUES ('old', NULL::int, 5, false), ('new', 5, NULL::int, true)$$,
                  'scd2: the NULL-valid_from version is closed at 5, the new one is current');

-- the guard still holds for rows with a cursor
INSERT INTO nc_log VALUES (1, 4, 'older');
SELECT FROM incr_backfill('nc2', '4', '4');
SELECT results_eq('SELECT id, at, v FROM nc_tgt2 WHERE id = 1',
                  $$VALUES (1, 5, 'new')$$,
                  'merge: an older row still never overwrites a newer one');

SELECT * FROM finish();
ROLLBACK;
