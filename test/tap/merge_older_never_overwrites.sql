-- merge_older_never_overwrites: when the source is a change log (several
-- versions per key) and the target holds key 1 at cursor T2, a version of
-- key 1 at an older cursor T1 < T2 that reaches a run later never overwrites
-- the target's row, however it gets there: a late event below the window, a
-- backfill of an older range, or a reset of the checkpoint to before T1.
-- It is counted as unchanged.  A version with the same cursor value as the
-- target's but other values is written: the cursor cannot order the two.
-- Documented behaviour around that rule:
--   * A source with a unique index on the keys holds one row per key: that
--     row is the key's current state and is written even when its cursor is
--     older than the target's (now() can go backwards between two updates of
--     one row; the later commit is the truth).
--   * The guard compares the target's own cursor column.  A target without
--     the cursor column has nothing to compare, and there an older version
--     DOES overwrite the newer one: keep the cursor column in a merge target.
BEGIN;
SELECT plan(18);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- The four counts of a run or backfill this file checks.
CREATE FUNCTION pg_temp.older_counts(r incr_runs,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int, r.rows_unchanged::int
$$;

-- A change log into a target that keeps the cursor.
CREATE TABLE older_log (id int NOT NULL, at timestamptz NOT NULL, v text);
CREATE INDEX ON older_log (at);
CREATE TABLE older_tgt (id int PRIMARY KEY, at timestamptz, v text);
SELECT FROM incr_create_pipeline('older_log', 'older_log', 'older_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id']);

INSERT INTO older_log VALUES (1, '2024-01-01 12:00+00', 'new'), (2, '2024-01-01 11:00+00', 'b');
SELECT results_eq($$SELECT c.* FROM incr_run('older_log') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (2, 2, 0, 0)$$,
                  'key 1 is loaded at 12:00, key 2 at 11:00');

-- A late event for key 1 at 10:00, older than the target's 12:00.
INSERT INTO older_log VALUES (1, '2024-01-01 10:00+00', 'old');

SELECT results_eq($$SELECT c.* FROM incr_run('older_log') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (1, 0, 0, 1)$$,
                  'the next run reads only the checkpoint''s value; the late event lies below it');
SELECT results_eq($$SELECT c.* FROM incr_backfill('older_log', '2024-01-01 09:00+00', '2024-01-01 11:00+00') AS r,
                                    pg_temp.older_counts(r) AS c$$,
                  $$VALUES (2, 0, 0, 2)$$,
                  'backfill: reading the older event of key 1 counts it unchanged, not updated');
SELECT results_eq('SELECT id, at, v FROM older_tgt ORDER BY id',
                  $$VALUES (1, timestamptz '2024-01-01 12:00+00', 'new'),
                           (2, timestamptz '2024-01-01 11:00+00', 'b')$$,
                  'backfill: key 1 still holds its 12:00 row');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'older_log'),
          timestamptz '2024-01-01 12:00+00',
          'backfill: the checkpoint stays at 12:00');

SELECT incr_reset('older_log', '2024-01-01 09:00+00');
SELECT results_eq($$SELECT c.* FROM incr_run('older_log') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (3, 0, 0, 3)$$,
                  'reset to 09:00: the run reads all three events; nothing is written');
SELECT results_eq('SELECT id, at, v FROM older_tgt ORDER BY id',
                  $$VALUES (1, timestamptz '2024-01-01 12:00+00', 'new'),
                           (2, timestamptz '2024-01-01 11:00+00', 'b')$$,
                  'reset to 09:00: key 1 still holds its 12:00 row');

-- The same log through a pipeline with batch_size 1, so that after a reset
-- the run's window holds the older event of key 1 and not the newer one.
CREATE TABLE older_batch_tgt (id int PRIMARY KEY, at timestamptz, v text);
SELECT FROM incr_create_pipeline('older_batch', 'older_log', 'older_batch_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id'], batch_size => 1);
SELECT incr_reset('older_batch', '2024-01-01 11:30+00');
SELECT results_eq($$SELECT c.* FROM incr_run('older_batch') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (1, 1, 0, 0)$$,
                  'batched: started past 11:30, the run loads key 1 at 12:00');
SELECT incr_reset('older_batch', '2024-01-01 09:00+00');
SELECT results_eq($$SELECT c.window_to, c.rows_read, c.rows_updated, c.rows_unchanged
                    FROM incr_run('older_batch') AS c$$,
                  $$VALUES ('2024-01-01 10:00:00+00', 1::bigint, 0::bigint, 1::bigint)$$,
                  'batched: reset to 09:00, the window [09:00, 10:00] holds only the older event; it is unchanged');
SELECT results_eq('SELECT id, at, v FROM older_batch_tgt',
                  $$VALUES (1, timestamptz '2024-01-01 12:00+00', 'new')$$,
                  'batched: key 1 still holds its 12:00 row');

-- A source with one row per key: its row is the key's current state.
CREATE TABLE older_cur (id int PRIMARY KEY, at timestamptz NOT NULL, v text);
CREATE INDEX ON older_cur (at);
CREATE TABLE older_cur_tgt (id int PRIMARY KEY, at timestamptz, v text);
SELECT FROM incr_create_pipeline('older_cur', 'older_cur', 'older_cur_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id']);

INSERT INTO older_cur VALUES (1, '2024-01-01 12:00+00', 'new');
SELECT results_eq($$SELECT c.* FROM incr_run('older_cur') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (1, 1, 0, 0)$$,
                  'one row per key: key 1 is loaded at 12:00');

-- Row 1 goes back to an older cursor value (an update whose now() was earlier).
UPDATE older_cur SET at = '2024-01-01 10:00+00', v = 'current' WHERE id = 1;
SELECT incr_reset('older_cur', '2024-01-01 09:00+00');

SELECT results_eq($$SELECT c.* FROM incr_run('older_cur') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (1, 0, 1, 0)$$,
                  'one row per key: the source''s row is the current state and is written despite its older cursor');
SELECT results_eq('SELECT id, at, v FROM older_cur_tgt',
                  $$VALUES (1, timestamptz '2024-01-01 10:00+00', 'current')$$,
                  'one row per key: the target holds the source''s current row');

-- A version with the same cursor value as the target's, other values.
INSERT INTO older_log VALUES (1, '2024-01-01 12:00+00', 'new, corrected');
SELECT results_eq($$SELECT c.* FROM incr_backfill('older_log', '2024-01-01 12:00+00', '2024-01-01 12:00+00') AS r,
                                    pg_temp.older_counts(r) AS c$$,
                  $$VALUES (2, 0, 1, 1)$$,
                  'equal cursor: of the two 12:00 versions the greater image wins and overwrites the target''s');
SELECT results_eq($$SELECT id, at, v FROM older_tgt WHERE id = 1$$,
                  $$VALUES (1, timestamptz '2024-01-01 12:00+00', 'new, corrected')$$,
                  'equal cursor: the target holds the corrected 12:00 version');

-- A target without the cursor column: no guard.  This documents the
-- behaviour; it is not a recommendation.
CREATE TABLE older_nc_tgt (id int PRIMARY KEY, v text);
SELECT FROM incr_create_pipeline('older_nc', 'older_log', 'older_nc_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id']);
SELECT incr_reset('older_nc', '2024-01-01 11:30+00');
SELECT results_eq($$SELECT c.* FROM incr_run('older_nc') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (2, 1, 0, 1)$$,
                  'no cursor in the target: started past 11:30, the run loads key 1''s greatest 12:00 version');
SELECT results_eq($$SELECT c.* FROM incr_backfill('older_nc', '2024-01-01 09:00+00', '2024-01-01 11:00+00') AS r,
                                    pg_temp.older_counts(r) AS c$$,
                  $$VALUES (2, 1, 1, 0)$$,
                  'no cursor in the target: a backfill of the older range updates key 1 (and inserts key 2)');
SELECT results_eq('SELECT id, v FROM older_nc_tgt ORDER BY id',
                  $$VALUES (1, 'old'), (2, 'b')$$,
                  'no cursor in the target: the older version has overwritten the newer one');

SELECT * FROM finish();
ROLLBACK;
