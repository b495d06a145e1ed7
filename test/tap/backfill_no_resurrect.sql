-- backfill_no_resurrect: a delete, once applied, is remembered (a tombstone
-- in incr_tombstones: the key and the version that deleted it), so that no
-- backfill or replay of older events brings the key back:
--   * cdc with version_column: a backfill over the range before a delete
--     leaves the key deleted; so does a key inserted and deleted within one
--     window (nothing was in the target to delete), and every key after a
--     truncate;
--   * merge with delete_column (hard deletes) over a change log: the same;
--   * a genuinely newer event brings the key back, and its tombstone goes;
--   * incr_reset forgets the tombstones past its value (the next run reads
--     those deletes again and leaves them again), incr_drop_pipeline all;
--   * a pipeline that never deleted anything runs the statement it always
--     did (no tombstone check in incr_plan); one that did checks them;
--   * only the owner's roles see a pipeline's tombstones.
BEGIN;
SELECT plan(24);
SET LOCAL client_min_messages = warning;

-------------------------------------------------------------------------------
-- cdc with version_column, op_column with the target's columns.
CREATE TABLE bn_events (seq bigint PRIMARY KEY, op text, id int, name text);
CREATE TABLE bn_cdc (id int PRIMARY KEY, name text, version bigint);
SELECT FROM incr_create_pipeline('bn_cdc', 'bn_events', 'bn_cdc', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], op_column => 'op',
                                 version_column => 'version');

INSERT INTO bn_events VALUES (1, 'c', 1, 'a'), (2, 'c', 2, 'b');
SELECT FROM incr_run('bn_cdc');
SELECT unalike(incr_plan('bn_cdc'), '%incr_tombstones AS tb%',
              'cdc: without a delete yet, the statement reads no tombstones');
INSERT INTO bn_events VALUES (3, 'd', 1, NULL);
SELECT results_eq($$SELECT rows_deleted FROM incr_run('bn_cdc')$$, $$VALUES (1::bigint)$$,
                  'cdc: event 3 deletes key 1');
SELECT results_eq($$SELECT key, value_numeric FROM incr_tombstones WHERE pipeline = 'bn_cdc'$$,
                  $$VALUES ('{"id": 1}'::jsonb, 3::numeric)$$,
                  'cdc: the delete leaves a tombstone of key 1 at version 3');
SELECT alike(incr_plan('bn_cdc'), '%incr_tombstones AS tb%',
            'cdc: with a tombstone, the statement checks them');

SELECT results_eq($$SELECT rows_read, rows_inserted, rows_updated FROM incr_backfill('bn_cdc', '1', '2')$$,
                  $$VALUES (2::bigint, 0::bigint, 0::bigint)$$,
                  'cdc: a backfill over events 1 and 2 writes nothing');
SELECT results_eq('SELECT * FROM bn_cdc ORDER BY id', $$VALUES (2, 'b', 2::bigint)$$,
                  'cdc: key 1 stays deleted after the backfill');

-- Inserted and deleted within one window: nothing to delete, still a tombstone.
INSERT INTO bn_events VALUES (4, 'c', 3, 'c'), (5, 'd', 3, NULL);
SELECT FROM incr_run('bn_cdc');
SELECT FROM incr_backfill('bn_cdc', '4', '4');
SELECT results_eq('SELECT * FROM bn_cdc ORDER BY id', $$VALUES (2, 'b', 2::bigint)$$,
                  'cdc: key 3, inserted and deleted in one window, does not come back with a backfill of its insert');

-- A newer event brings key 1 back, and its tombstone goes.
INSERT INTO bn_events VALUES (6, 'c', 1, 'a2');
SELECT results_eq($$SELECT rows_inserted FROM incr_run('bn_cdc')$$, $$VALUES (1::bigint)$$,
                  'cdc: a newer insert of key 1 comes back');
SELECT results_eq($$SELECT key FROM incr_tombstones WHERE pipeline = 'bn_cdc' ORDER BY key$$,
                  $$VALUES ('{"id": 3}'::jsonb)$$,
                  'cdc: key 1''s tombstone is gone, key 3''s stays');
SELECT FROM incr_backfill('bn_cdc', '1', '5');
SELECT results_eq('SELECT * FROM bn_cdc ORDER BY id', $$VALUES (1, 'a2', 6::bigint), (2, 'b', 2)$$,
                  'cdc: a backfill of the older events changes neither key');

-- A truncate is a tombstone of every key.
INSERT INTO bn_events VALUES (7, 't', NULL, NULL);
SELECT FROM incr_run('bn_cdc');
SELECT FROM incr_backfill('bn_cdc', '1', '6');
SELECT is((SELECT count(*) FROM bn_cdc), 0::bigint,
          'cdc: after a truncate, a backfill of the events before it brings nothing back');
INSERT INTO bn_events VALUES (8, 'u', 2, 'b2');
SELECT FROM incr_run('bn_cdc');
SELECT results_eq('SELECT * FROM bn_cdc ORDER BY id', $$VALUES (2, 'b2', 8::bigint)$$,
                  'cdc: an event after the truncate is applied');

-- incr_reset forgets the tombstones past its value; the run reads them again.
SELECT incr_reset('bn_cdc', '4');
SELECT results_eq($$SELECT key FROM incr_tombstones WHERE pipeline = 'bn_cdc' ORDER BY key$$,
                  $$SELECT NULL::jsonb WHERE false$$,
                  'cdc: a reset to 4 forgets the tombstones of versions 5 and 7');
SELECT FROM incr_run('bn_cdc');
SELECT results_eq($$SELECT key, value_numeric FROM incr_tombstones WHERE pipeline = 'bn_cdc' ORDER BY key$$,
                  $$VALUES ('null'::jsonb, 7::numeric)$$,
                  'cdc: the run after the reset leaves the truncate''s again (it stands for key 3''s delete before it)');
SELECT results_eq('SELECT * FROM bn_cdc ORDER BY id', $$VALUES (2, 'b2', 8::bigint)$$,
                  'cdc: and the target is what the events describe');

-------------------------------------------------------------------------------
-- merge with hard deletes over a change log.
CREATE TABLE bn_log (v bigint NOT NULL, id int NOT NULL, name text,
                     deleted boolean NOT NULL DEFAULT false);
CREATE INDEX ON bn_log (v);
CREATE TABLE bn_merge (id int PRIMARY KEY, v bigint, name text);
SELECT FROM incr_create_pipeline('bn_merge', 'bn_log', 'bn_merge', 'v', mode => 'merge',
                                 keys => ARRAY['id'], delete_column => 'deleted');
INSERT INTO bn_log (v, id, name) VALUES (1, 1, 'a'), (2, 2, 'b');
SELECT FROM incr_run('bn_merge');
INSERT INTO bn_log (v, id, deleted) VALUES (3, 1, true);
SELECT results_eq($$SELECT rows_deleted FROM incr_run('bn_merge')$$, $$VALUES (1::bigint)$$,
                  'merge: row 3 deletes key 1');
SELECT FROM incr_backfill('bn_merge', '1', '2');
SELECT results_eq('SELECT * FROM bn_merge ORDER BY id', $$VALUES (2, 2::bigint, 'b')$$,
                  'merge: key 1 stays deleted after a backfill over rows 1 and 2');
INSERT INTO bn_log (v, id, name) VALUES (4, 1, 'a2');
SELECT results_eq($$SELECT rows_inserted FROM incr_run('bn_merge')$$, $$VALUES (1::bigint)$$,
                  'merge: a newer row of key 1 brings it back');
SELECT FROM incr_backfill('bn_merge', '1', '3');
SELECT results_eq('SELECT * FROM bn_merge ORDER BY id', $$VALUES (1, 4::bigint, 'a2'), (2, 2, 'b')$$,
                  'merge: a backfill of the older rows changes neither key');
SELECT is((SELECT count(*) FROM incr_tombstones WHERE pipeline = 'bn_merge'), 0::bigint,
          'merge: key 1''s tombstone went when it came back');
INSERT INTO bn_log (v, id, deleted) VALUES (5, 2, true);
SELECT FROM incr_run('bn_merge');
SELECT FROM incr_reset('bn_merge', '1');
SELECT FROM incr_run('bn_merge');
SELECT results_eq('SELECT * FROM bn_merge ORDER BY id', $$VALUES (1, 4::bigint, 'a2')$$,
                  'merge: a replay from 1 keeps key 2 deleted');

-------------------------------------------------------------------------------
-- Who sees tombstones, and what forgets them.
CREATE ROLE bn_other;
SET LOCAL ROLE bn_other;
SELECT is((SELECT count(*) FROM incr_tombstones), 0::bigint,
          'another role sees no tombstone of the pipelines');
SELECT throws_ok($$INSERT INTO incr_tombstones (pipeline, key, value_numeric, deleted_at, run_id)
                   VALUES ('bn_cdc', '{"id": 2}', 100, now(), 0)$$,
                 '42501', 'permission denied for table incr_tombstones',
                 'nobody but the extension writes tombstones');
RESET ROLE;
SELECT FROM incr_reset('bn_cdc', NULL);
SELECT FROM incr_drop_pipeline('bn_merge');
SELECT is((SELECT count(*) FROM incr_tombstones), 0::bigint,
          'incr_reset(name, NULL) and incr_drop_pipeline forget the tombstones');

SELECT * FROM finish();
ROLLBACK;
