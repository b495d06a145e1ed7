-- merge_older_never_overwrites: once the target holds key 1 at cursor T2, a
-- source row for key 1 at an older cursor T1 < T2 never overwrites it,
-- however it reaches a run: a late event below the window, a backfill of an
-- older range, or a reset of the checkpoint to before T1.  Such a row is
-- counted as unchanged.  A row with the same cursor value as the target's
-- but other values does overwrite it: the cursor cannot order them and the
-- source is the truth.
-- The guard compares the target's own cursor column.  A target without the
-- cursor column has nothing to compare, and there the older row DOES
-- overwrite the newer one: keep the cursor column in a merge target.
BEGIN;
SELECT plan(15);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- One run or backfill of a pipeline, as the four counts this file checks.
CREATE FUNCTION pg_temp.older_counts(r incr_runs,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int, r.rows_unchanged::int
$$;

-- A change log (several rows per key) into a target that keeps the cursor.
CREATE TABLE older_log (id int NOT NULL, at timestamptz NOT NULL, v text);
CREATE INDEX ON older_log (at);
CREATE TABLE older_tgt (id int PRIMARY KEY, at timestamptz, v text);
SELECT FROM incr_create_pipeline('older_log', 'older_log', 'older_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id']);

INSERT INTO older_log VALUES (1, '2024-01-01 12:00+00', 'new'), (2, '2024-01-01 11:00+00', 'b');
SELECT results_eq($$SELECT c.* FROM incr_run('older_log') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (2, 2, 0, 0)$$,
                  'change log: key 1 is loaded at 12:00, key 2 at 11:00');

-- A late event for key 1 at 10:00, older than the target's 12:00.
INSERT INTO older_log VALUES (1, '2024-01-01 10:00+00', 'old');

SELECT results_eq($$SELECT c.* FROM incr_run('older_log') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (1, 0, 0, 1)$$,
                  'change log: the next run reads only the checkpoint''s value; the late event lies below it');
SELECT results_eq($$SELECT c.* FROM incr_backfill('older_log', '2024-01-01 09:00+00', '2024-01-01 11:00+00') AS r,
                                    pg_temp.older_counts(r) AS c$$,
                  $$VALUES (2, 0, 0, 2)$$,
                  'change log: a backfill reading the older event for key 1 counts it unchanged, not updated');
SELECT results_eq('SELECT id, at, v FROM older_tgt ORDER BY id',
                  $$VALUES (1, timestamptz '2024-01-01 12:00+00', 'new'),
                           (2, timestamptz '2024-01-01 11:00+00', 'b')$$,
                  'change log: after the backfill key 1 still holds its 12:00 row');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'older_log'),
          timestamptz '2024-01-01 12:00+00',
          'change log: the backfill left the checkpoint at 12:00');

SELECT incr_reset('older_log', '2024-01-01 09:00+00');
SELECT results_eq($$SELECT c.* FROM incr_run('older_log') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (3, 0, 0, 2)$$,
                  'change log: after a reset to 09:00 the run reads all three events; both keys unchanged');
SELECT results_eq('SELECT id, at, v FROM older_tgt ORDER BY id',
                  $$VALUES (1, timestamptz '2024-01-01 12:00+00', 'new'),
                           (2, timestamptz '2024-01-01 11:00+00', 'b')$$,
                  'change log: after the reset and run key 1 still holds its 12:00 row');

-- A source with one row per key: the older row is the only one a run sees,
-- so nothing but the guard keeps it out.
CREATE TABLE older_cur (id int PRIMARY KEY, at timestamptz NOT NULL, v text);
CREATE INDEX ON older_cur (at);
CREATE TABLE older_cur_tgt (id int PRIMARY KEY, at timestamptz, v text);
SELECT FROM incr_create_pipeline('older_cur', 'older_cur', 'older_cur_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id']);

INSERT INTO older_cur VALUES (1, '2024-01-01 12:00+00', 'new');
SELECT results_eq($$SELECT c.* FROM incr_run('older_cur') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (1, 1, 0, 0)$$,
                  'one row per key: key 1 is loaded at 12:00');

-- The source row goes back to an older version (say, restored from a backup).
UPDATE older_cur SET at = '2024-01-01 10:00+00', v = 'old' WHERE id = 1;
SELECT incr_reset('older_cur', '2024-01-01 09:00+00');

SELECT results_eq($$SELECT c.* FROM incr_run('older_cur') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (1, 0, 0, 1)$$,
                  'one row per key: the older row is read and counted unchanged');
SELECT results_eq('SELECT id, at, v FROM older_cur_tgt',
                  $$VALUES (1, timestamptz '2024-01-01 12:00+00', 'new')$$,
                  'one row per key: the target keeps the newer row');

-- Same cursor value as the target's, other values: it is written.
UPDATE older_cur SET at = '2024-01-01 12:00+00', v = 'same time' WHERE id = 1;
SELECT results_eq($$SELECT c.* FROM incr_run('older_cur') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (1, 0, 1, 0)$$,
                  'one row per key: a row with the target''s cursor value and other values is an update');
SELECT results_eq('SELECT id, at, v FROM older_cur_tgt',
                  $$VALUES (1, timestamptz '2024-01-01 12:00+00', 'same time')$$,
                  'one row per key: the target holds the row of equal cursor from the source');

-- A target without the cursor column: no guard.  This documents the
-- behaviour; it is not a recommendation.
CREATE TABLE older_nc_tgt (id int PRIMARY KEY, v text);
SELECT FROM incr_create_pipeline('older_nc', 'older_log', 'older_nc_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id']);
SELECT results_eq($$SELECT c.* FROM incr_run('older_nc') AS r, pg_temp.older_counts(r) AS c$$,
                  $$VALUES (3, 2, 0, 0)$$,
                  'no cursor in the target: the first run loads the latest row of each key');
SELECT results_eq($$SELECT c.* FROM incr_backfill('older_nc', '2024-01-01 09:00+00', '2024-01-01 11:00+00') AS r,
                                    pg_temp.older_counts(r) AS c$$,
                  $$VALUES (2, 0, 1, 1)$$,
                  'no cursor in the target: a backfill of the older range updates key 1');
SELECT results_eq('SELECT id, v FROM older_nc_tgt ORDER BY id',
                  $$VALUES (1, 'old'), (2, 'b')$$,
                  'no cursor in the target: the older row has overwritten the newer one');

SELECT * FROM finish();
ROLLBACK;
