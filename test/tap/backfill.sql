-- backfill: incr_backfill(name, from, to) re-processes the source rows whose
-- cursor lies in [from, min(to, checkpoint)] and never moves the checkpoint:
--   * merge: rows changed in the source inside an already loaded range
--     (without a new cursor value, so no run reads them again) are applied by
--     a backfill of that range, and only those rows of the range; rows
--     outside it stay as they are;
--   * overlapping backfills, and a backfill repeated, change nothing more;
--   * a backfill reaching past the checkpoint stops at it: rows beyond are
--     left to the next run, which loads them once;
--   * append without keys: a backfill restores rows missing from the target
--     in its range and duplicates none;
--   * a pipeline that never ran has nothing to backfill; a range with from
--     after to is refused; a paused pipeline can still be backfilled;
--   * each backfill is recorded in incr_runs with trigger backfill, its
--     window (from, and to or the checkpoint) and its counts.
BEGIN;
SELECT plan(25);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- The point in time h hours after 2024-01-01 00:00 UTC.
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz '2024-01-01 00:00+00' + h * interval '1 hour' $$;

-- A backfill with its record: trigger, window and counts.
CREATE FUNCTION pg_temp.bf(pipeline text, from_h int, to_h int,
    OUT trigger text, OUT window_from timestamptz, OUT window_to timestamptz,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.trigger, r.window_from::timestamptz, r.window_to::timestamptz, r.rows_read::int,
           r.rows_inserted::int, r.rows_updated::int, r.rows_unchanged::int
    FROM incr_backfill(pipeline, pg_temp.t(from_h)::text, pg_temp.t(to_h)::text) AS r
$$;

CREATE TABLE bf_src (id int PRIMARY KEY, at timestamptz NOT NULL, v text);
CREATE INDEX ON bf_src (at);
CREATE TABLE bf_merge (id int PRIMARY KEY, at timestamptz, v text);
SELECT FROM incr_create_pipeline('bf_merge', 'bf_src', 'bf_merge', 'at', mode => 'merge', keys => ARRAY['id']);
-- an append-only log for the append pipeline
CREATE TABLE bf_log (id int NOT NULL, at timestamptz NOT NULL, v text);
CREATE INDEX ON bf_log (at);
CREATE TABLE bf_append (id int, at timestamptz, v text);
SELECT FROM incr_create_pipeline('bf_append', 'bf_log', 'bf_append', 'at', mode => 'append');

INSERT INTO bf_src SELECT i, pg_temp.t(i), 'v' || i FROM generate_series(1, 10) AS i;
INSERT INTO bf_log SELECT * FROM bf_src;

SELECT results_eq($$SELECT c.rows_read, c.rows_inserted FROM pg_temp.bf('bf_merge', 1, 10) AS c$$,
                  $$VALUES (0, 0)$$,
                  'before the first run there is nothing to backfill');
SELECT is((SELECT count(*) FROM bf_merge), 0::bigint, 'before the first run: the target stays empty');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'bf_merge'), NULL,
          'before the first run: no checkpoint is set');

SELECT is((SELECT rows_inserted FROM incr_run('bf_merge')), 10::bigint, 'the first run loads ten rows');
SELECT is((SELECT rows_inserted FROM incr_run('bf_append')), 10::bigint, 'append: the first run loads ten rows');

-- Rows 3, 4 and 8 are corrected in place: their cursor does not move.
UPDATE bf_src SET v = v || '-fixed' WHERE id IN (3, 4, 8);

SELECT results_eq($$SELECT * FROM pg_temp.bf('bf_merge', 2, 5)$$,
                  $$VALUES ('backfill', pg_temp.t(2), pg_temp.t(5), 4, 0, 2, 2)$$,
                  'backfill [02:00, 05:00]: reads rows 2-5, applies the corrections of rows 3 and 4');
SELECT results_eq('SELECT id, at, v FROM bf_merge ORDER BY id',
                  $$SELECT id, at, CASE WHEN id IN (3, 4) THEN v ELSE 'v' || id END FROM bf_src ORDER BY id$$,
                  'backfill [02:00, 05:00]: rows 3 and 4 corrected; row 8, outside the range, is not');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'bf_merge'), pg_temp.t(10),
          'backfill [02:00, 05:00]: the checkpoint stays at 10:00');

SELECT results_eq($$SELECT * FROM pg_temp.bf('bf_merge', 4, 9)$$,
                  $$VALUES ('backfill', pg_temp.t(4), pg_temp.t(9), 6, 0, 1, 5)$$,
                  'overlapping backfill [04:00, 09:00]: only row 8 is still to correct');
SELECT results_eq($$SELECT * FROM pg_temp.bf('bf_merge', 2, 9)$$,
                  $$VALUES ('backfill', pg_temp.t(2), pg_temp.t(9), 8, 0, 0, 8)$$,
                  'backfill [02:00, 09:00] over both: nothing left to change');
SELECT results_eq($$SELECT * FROM pg_temp.bf('bf_merge', 2, 5)$$,
                  $$VALUES ('backfill', pg_temp.t(2), pg_temp.t(5), 4, 0, 0, 4)$$,
                  'the first backfill repeated: nothing changes');
SELECT results_eq('SELECT id, at, v FROM bf_merge ORDER BY id', 'SELECT id, at, v FROM bf_src ORDER BY id',
                  'after the backfills the target equals the source');

-- Rows 11 and 12 arrive; a backfill up to 12:00 stops at the checkpoint.
INSERT INTO bf_src VALUES (11, pg_temp.t(11), 'v11'), (12, pg_temp.t(12), 'v12');
SELECT results_eq($$SELECT * FROM pg_temp.bf('bf_merge', 9, 12)$$,
                  $$VALUES ('backfill', pg_temp.t(9), pg_temp.t(10), 2, 0, 0, 2)$$,
                  'backfill [09:00, 12:00]: the window is cut at the checkpoint, 10:00');
SELECT is((SELECT count(*) FROM bf_merge WHERE id > 10), 0::bigint,
          'backfill past the checkpoint: rows 11 and 12 are not loaded');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'bf_merge'), pg_temp.t(10),
          'backfill past the checkpoint: the checkpoint stays at 10:00');
SELECT results_eq($$SELECT rows_read, rows_inserted, rows_unchanged FROM incr_run('bf_merge')$$,
                  $$VALUES (3::bigint, 2::bigint, 1::bigint)$$,
                  'the next run loads rows 11 and 12 once');

-- The backfills' records.
SELECT results_eq($$SELECT trigger, status, window_from::timestamptz, window_to::timestamptz, rows_updated
                    FROM incr_runs WHERE pipeline = 'bf_merge' AND trigger = 'backfill'
                      AND rows_read > 0
                    ORDER BY run_id$$,
                  $$VALUES ('backfill', 'ok', pg_temp.t(2), pg_temp.t(5), 2::bigint),
                           ('backfill', 'ok', pg_temp.t(4), pg_temp.t(9), 1),
                           ('backfill', 'ok', pg_temp.t(2), pg_temp.t(9), 0),
                           ('backfill', 'ok', pg_temp.t(2), pg_temp.t(5), 0),
                           ('backfill', 'ok', pg_temp.t(9), pg_temp.t(10), 0)$$,
                  'every backfill is recorded in incr_runs with trigger backfill and its window');

-- Append without keys: a backfill restores rows missing in its range.
DELETE FROM bf_append WHERE id IN (3, 6);
SELECT results_eq($$SELECT * FROM pg_temp.bf('bf_append', 2, 5)$$,
                  $$VALUES ('backfill', pg_temp.t(2), pg_temp.t(5), 4, 1, 0, 3)$$,
                  'append: backfill [02:00, 05:00] restores row 3 and duplicates none');
SELECT results_eq('SELECT id, at, v FROM bf_append ORDER BY id',
                  $$SELECT id, pg_temp.t(id), 'v' || id FROM generate_series(1, 10) AS id WHERE id <> 6$$,
                  'append: row 6, outside the range, is still missing; no row is doubled');
INSERT INTO bf_log VALUES (11, pg_temp.t(11), 'v11');
SELECT results_eq($$SELECT * FROM pg_temp.bf('bf_append', 1, 12)$$,
                  $$VALUES ('backfill', pg_temp.t(1), pg_temp.t(10), 10, 1, 0, 9)$$,
                  'append: backfill [01:00, 12:00] stops at the checkpoint and restores row 6');
SELECT results_eq('SELECT id, at, v FROM bf_append ORDER BY id',
                  $$SELECT id, pg_temp.t(id), 'v' || id FROM generate_series(1, 10) AS id$$,
                  'append: rows 1-10 once each; row 11, past the checkpoint, is left to the next run');

-- Refusals and a paused pipeline.
SELECT throws_ok($$SELECT incr_backfill('bf_merge', '2024-01-01 05:00+00', '2024-01-01 02:00+00')$$,
                 '22023', 'backfill range of pipeline "bf_merge" is empty',
                 'a range with from after to is refused');
SELECT throws_ok($$SELECT incr_backfill('bf_merge', 'yesterday-ish', '2024-01-01 02:00+00')$$,
                 '22007', 'invalid input syntax for type timestamp with time zone: "yesterday-ish"',
                 'a value that is not of the cursor''s type is refused');
SELECT incr_pause('bf_merge');
UPDATE bf_src SET v = 'v1-paused' WHERE id = 1;
SELECT results_eq($$SELECT c.rows_read, c.rows_updated FROM pg_temp.bf('bf_merge', 1, 1) AS c$$,
                  $$VALUES (1, 1)$$,
                  'a paused pipeline can be backfilled');
SELECT is((SELECT v FROM bf_merge WHERE id = 1), 'v1-paused', 'the paused pipeline''s backfill applied row 1');

SELECT * FROM finish();
ROLLBACK;
