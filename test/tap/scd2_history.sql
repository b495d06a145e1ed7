-- scd2_history: an scd2 pipeline keeps the history of a source table as
-- versions [valid_from, valid_to) with is_current, valid_from being the
-- cursor value of the row that opened the version:
--   * a new key opens a version (valid_to NULL, is_current true; inserted);
--   * a changed row (other values, cursor past the current version's start)
--     closes the current version at the row's cursor and opens a new one
--     (updated);
--   * a row marked deleted (delete_column) closes the current version at its
--     cursor and opens none (deleted); a delete of a key without a current
--     version changes nothing;
--   * unchanged rows (only the cursor moved), re-runs and the lag's re-reads
--     add no version; a late row, not newer than its key's latest version,
--     is ignored; all of these count as unchanged;
--   * a deleted key comes back with a later row as a new version (inserted);
--   * the three column names are configurable, and the target must have a
--     unique index on the keys and the valid_from column.
--   * a unique index on the current versions' keys holds throughout a run
--     (a version is closed before the next one opens).
-- The history table is checked whole after every run.
BEGIN;
SELECT plan(24);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- The point in time h hours after 2024-01-01 00:00 UTC.
CREATE FUNCTION pg_temp.t(h numeric) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz '2024-01-01 00:00+00' + h * interval '1 hour' $$;

-- The counts of a run: read, inserted, updated, deleted, unchanged.
CREATE FUNCTION pg_temp.sc_run(pipeline text,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int,
    OUT rows_deleted int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int,
           r.rows_deleted::int, r.rows_unchanged::int
    FROM incr_run(pipeline) AS r
$$;

-- A table of products, one row per key, with a soft-delete flag.
CREATE TABLE sc_src (id int PRIMARY KEY, at timestamptz NOT NULL, name text, price numeric,
                     deleted boolean NOT NULL DEFAULT false);
CREATE INDEX ON sc_src (at);
CREATE TABLE sc_hist (id int NOT NULL, name text, price numeric,
                      valid_from timestamptz NOT NULL, valid_to timestamptz, is_current boolean NOT NULL,
                      UNIQUE (id, valid_from));
-- at most one current version per key, at every moment of a run
CREATE UNIQUE INDEX ON sc_hist (id) WHERE is_current;
SELECT FROM incr_create_pipeline('sc', 'sc_src', 'sc_hist', 'at', mode => 'scd2', keys => ARRAY['id'],
                                 delete_column => 'deleted', lag => '2 hours');

CREATE VIEW sc_history AS
    SELECT id, name, price, valid_from, valid_to, is_current FROM sc_hist ORDER BY id, valid_from;

INSERT INTO sc_src (id, at, name, price) VALUES
    (1, pg_temp.t(1), 'a', 10), (2, pg_temp.t(2), 'b', 20), (3, pg_temp.t(3), 'c', 30);
SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc')$$, $$VALUES (3, 3, 0, 0, 0)$$,
                  'run 1: three new keys open three versions');
SELECT results_eq('SELECT * FROM sc_history',
    $$VALUES (1, 'a', 10::numeric, pg_temp.t(1), NULL::timestamptz, true),
             (2, 'b', 20, pg_temp.t(2), NULL, true),
             (3, 'c', 30, pg_temp.t(3), NULL, true)$$,
    'run 1: one current version per key, valid from its row''s cursor');

SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc')$$, $$VALUES (3, 0, 0, 0, 3)$$,
                  'run 2, nothing new: the lag re-reads all three rows; nothing changes');
SELECT is((SELECT count(*) FROM sc_hist), 3::bigint, 'run 2: still three versions');

-- Key 1 changes, key 2 is touched without a change, key 3 is deleted.
UPDATE sc_src SET at = pg_temp.t(4), name = 'a2' WHERE id = 1;
UPDATE sc_src SET at = pg_temp.t(5) WHERE id = 2;
UPDATE sc_src SET at = pg_temp.t(6), deleted = true WHERE id = 3;
SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc')$$, $$VALUES (3, 0, 1, 1, 1)$$,
                  'run 3: key 1 changed (updated), key 3 deleted, key 2 touched only (unchanged)');
SELECT results_eq('SELECT * FROM sc_history',
    $$VALUES (1, 'a', 10::numeric, pg_temp.t(1), pg_temp.t(4), false),
             (1, 'a2', 10, pg_temp.t(4), NULL, true),
             (2, 'b', 20, pg_temp.t(2), NULL, true),
             (3, 'c', 30, pg_temp.t(3), pg_temp.t(6), false)$$,
    'run 3: key 1''s version closed at 04:00 and a new one opened there; key 3''s closed at 06:00');

SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc')$$, $$VALUES (3, 0, 0, 0, 3)$$,
                  'run 4, nothing new: the lag re-reads the change, the touch and the delete; nothing changes');
SELECT results_eq('SELECT * FROM sc_history',
    $$VALUES (1, 'a', 10::numeric, pg_temp.t(1), pg_temp.t(4), false),
             (1, 'a2', 10, pg_temp.t(4), NULL, true),
             (2, 'b', 20, pg_temp.t(2), NULL, true),
             (3, 'c', 30, pg_temp.t(3), pg_temp.t(6), false)$$,
    'run 4: the history is as run 3 left it');

-- A new key 4, and the deleted key 3 comes back.
INSERT INTO sc_src (id, at, name, price) VALUES (4, pg_temp.t(7), 'd', 40);
UPDATE sc_src SET at = pg_temp.t(8), name = 'c3', price = 31, deleted = false WHERE id = 3;
SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc')$$, $$VALUES (4, 2, 0, 0, 2)$$,
                  'run 5: key 4 and the returning key 3 open versions (inserted)');
SELECT results_eq('SELECT * FROM sc_history',
    $$VALUES (1, 'a', 10::numeric, pg_temp.t(1), pg_temp.t(4), false),
             (1, 'a2', 10, pg_temp.t(4), NULL, true),
             (2, 'b', 20, pg_temp.t(2), NULL, true),
             (3, 'c', 30, pg_temp.t(3), pg_temp.t(6), false),
             (3, 'c3', 31, pg_temp.t(8), NULL, true),
             (4, 'd', 40, pg_temp.t(7), NULL, true)$$,
    'run 5: key 3 has a gap from 06:00 to 08:00 and a new current version');

-- Key 4 is changed with a cursor (06:30) older than its current version
-- (07:00) but inside the lag; key 1 changes again.
UPDATE sc_src SET at = pg_temp.t(6.5), name = 'd-late', price = 41 WHERE id = 4;
UPDATE sc_src SET at = pg_temp.t(9), name = 'a3', price = 12 WHERE id = 1;
SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc')$$, $$VALUES (3, 0, 1, 0, 2)$$,
                  'run 6: key 1 changed; key 4''s late row is ignored (unchanged), as is key 3 read again');
SELECT results_eq('SELECT * FROM sc_history',
    $$VALUES (1, 'a', 10::numeric, pg_temp.t(1), pg_temp.t(4), false),
             (1, 'a2', 10, pg_temp.t(4), pg_temp.t(9), false),
             (1, 'a3', 12, pg_temp.t(9), NULL, true),
             (2, 'b', 20, pg_temp.t(2), NULL, true),
             (3, 'c', 30, pg_temp.t(3), pg_temp.t(6), false),
             (3, 'c3', 31, pg_temp.t(8), NULL, true),
             (4, 'd', 40, pg_temp.t(7), NULL, true)$$,
    'run 6: key 1 has three versions; key 4 keeps its 07:00 version');

-- Key 1 is deleted; key 5 appears already deleted.
UPDATE sc_src SET at = pg_temp.t(10), deleted = true WHERE id = 1;
INSERT INTO sc_src VALUES (5, pg_temp.t(10), 'e', 50, true);
SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc')$$, $$VALUES (3, 0, 0, 1, 2)$$,
                  'run 7: key 1 deleted; the delete of key 5, which has no version, changes nothing');
SELECT results_eq('SELECT * FROM sc_history',
    $$VALUES (1, 'a', 10::numeric, pg_temp.t(1), pg_temp.t(4), false),
             (1, 'a2', 10, pg_temp.t(4), pg_temp.t(9), false),
             (1, 'a3', 12, pg_temp.t(9), pg_temp.t(10), false),
             (2, 'b', 20, pg_temp.t(2), NULL, true),
             (3, 'c', 30, pg_temp.t(3), pg_temp.t(6), false),
             (3, 'c3', 31, pg_temp.t(8), NULL, true),
             (4, 'd', 40, pg_temp.t(7), NULL, true)$$,
    'run 7: key 1''s last version closed at 10:00; no version of key 5');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'sc'), pg_temp.t(10),
          'run 7: the checkpoint is the greatest cursor read');

-- A reset replays the whole source into the history: nothing changes.
SELECT incr_reset('sc', NULL);
SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc')$$, $$VALUES (5, 0, 0, 0, 5)$$,
                  'after incr_reset(NULL): all five rows read again, no version added or closed');
SELECT is((SELECT count(*) FROM sc_hist), 7::bigint, 'after incr_reset(NULL): still seven versions');

-- Other column names; the first run over the source as it is now.
CREATE TABLE sc_hist2 (id int NOT NULL, name text, price numeric,
                       starts timestamptz NOT NULL, ends timestamptz, live boolean NOT NULL,
                       PRIMARY KEY (id, starts));
SELECT FROM incr_create_pipeline('sc_named', 'sc_src', 'sc_hist2', 'at', mode => 'scd2', keys => ARRAY['id'],
                                 delete_column => 'deleted', valid_from_column => 'starts',
                                 valid_to_column => 'ends', current_column => 'live');
SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc_named')$$, $$VALUES (5, 3, 0, 0, 2)$$,
                  'named columns: the rows not deleted open versions');
SELECT results_eq('SELECT id, name, price, starts, ends, live FROM sc_hist2 ORDER BY id, starts',
    $$VALUES (2, 'b', 20::numeric, pg_temp.t(5), NULL::timestamptz, true),
             (3, 'c3', 31, pg_temp.t(8), NULL, true),
             (4, 'd-late', 41, pg_temp.t(6.5), NULL, true)$$,
    'named columns: starts, ends and live hold the versions');
UPDATE sc_src SET at = pg_temp.t(11), price = 21 WHERE id = 2;
SELECT results_eq($$SELECT * FROM pg_temp.sc_run('sc_named')$$, $$VALUES (3, 0, 1, 0, 2)$$,
                  'named columns: a change is an update; the deleted keys 1 and 5 read again change nothing');
SELECT results_eq('SELECT id, name, price, starts, ends, live FROM sc_hist2 ORDER BY id, starts',
    $$VALUES (2, 'b', 20::numeric, pg_temp.t(5), pg_temp.t(11), false),
             (2, 'b', 21, pg_temp.t(11), NULL, true),
             (3, 'c3', 31, pg_temp.t(8), NULL, true),
             (4, 'd-late', 41, pg_temp.t(6.5), NULL, true)$$,
    'named columns: the version is closed in ends and live, and a new one opened');

-- Targets that cannot hold history are refused.
CREATE TABLE sc_bad1 (id int NOT NULL, name text, price numeric,
                      valid_from timestamptz, valid_to timestamptz, is_current boolean, UNIQUE (id));
SELECT throws_ok($$SELECT incr_create_pipeline('sc_bad1', 'sc_src', 'sc_bad1', 'at', mode => 'scd2',
                                              keys => ARRAY['id'])$$,
                 '42P10', 'keys of pipeline "sc_bad1" are not backed by a unique index on target "sc_bad1"',
                 'a target without a unique index on the keys and valid_from is refused');
CREATE TABLE sc_bad2 (id int NOT NULL, name text, valid_from timestamptz, valid_to timestamptz,
                      UNIQUE (id, valid_from));
SELECT throws_ok($$SELECT incr_create_pipeline('sc_bad2', 'sc_src', 'sc_bad2', 'at', mode => 'scd2',
                                              keys => ARRAY['id'])$$,
                 '42703', 'current_column column "is_current" does not exist in target "sc_bad2"',
                 'a target without the current column is refused');
CREATE TABLE sc_bad3 (id int NOT NULL, name text, valid_from date, valid_to timestamptz, is_current boolean,
                      UNIQUE (id, valid_from));
SELECT throws_ok($$SELECT incr_create_pipeline('sc_bad3', 'sc_src', 'sc_bad3', 'at', mode => 'scd2',
                                              keys => ARRAY['id'])$$,
                 '42804', 'valid_from_column column "valid_from" has type date, expected timestamp with time zone',
                 'a valid_from column of another type than the cursor is refused');

SELECT * FROM finish();
ROLLBACK;
