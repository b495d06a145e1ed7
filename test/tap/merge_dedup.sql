-- merge_dedup: a merge run writes one row per key.  When a batch holds
-- several rows of a key, the one with the greatest cursor value wins; among
-- rows of a key with the same cursor value the greatest row image wins
-- (record image order), so the result never depends on the physical order of
-- the source or on the run.  rows_read counts every source row in the
-- window; rows_inserted + rows_updated count the keys written (at most one
-- write per key); every other row read (a version superseded within the
-- batch, a key already up to date) counts in rows_unchanged, so that
-- inserted + updated + deleted + unchanged = rows_read.  A source whose
-- unique index proves the keys unique takes no de-duplication step at all;
-- a change log without one does.
BEGIN;
SELECT plan(15);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- One run of a pipeline, as the four counts this file checks.
CREATE FUNCTION pg_temp.dedup_run(pipeline text,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int, r.rows_unchanged::int
    FROM incr_run(pipeline) AS r
$$;

-- An append-only change log: no unique index, several rows per key.
CREATE TABLE dedup_log (id int NOT NULL, at timestamptz NOT NULL, v text);
CREATE INDEX ON dedup_log (at);
CREATE TABLE dedup_log_tgt (id int PRIMARY KEY, at timestamptz, v text);
SELECT FROM incr_create_pipeline('dedup_log', 'dedup_log', 'dedup_log_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id']);

SELECT matches(incr_plan('dedup_log'), 'DISTINCT ON',
               'change log: the run de-duplicates the batch by key');

INSERT INTO dedup_log VALUES
    (1, '2024-01-01 01:00+00', 'a1'), (1, '2024-01-01 03:00+00', 'a3'),
    (1, '2024-01-01 02:00+00', 'a2'),
    (2, '2024-01-01 01:00+00', 'b1'),
    (3, '2024-01-01 02:00+00', 'c-x'), (3, '2024-01-01 02:00+00', 'c-y');

SELECT results_eq($$SELECT * FROM pg_temp.dedup_run('dedup_log')$$, $$VALUES (6, 3, 0, 3)$$,
                  'change log: six rows read for three keys: three inserted, the three superseded versions unchanged');
SELECT results_eq('SELECT id, at, v FROM dedup_log_tgt ORDER BY id',
                  $$VALUES (1, timestamptz '2024-01-01 03:00+00', 'a3'),
                           (2, timestamptz '2024-01-01 01:00+00', 'b1'),
                           (3, timestamptz '2024-01-01 02:00+00', 'c-y')$$,
                  'change log: the latest row of each key wins; of two rows with equal cursor the greater image (c-y) wins');

-- More events; the window starts at the checkpoint 03:00 and re-reads a3.
INSERT INTO dedup_log VALUES
    (2, '2024-01-01 03:00+00', 'b2'), (2, '2024-01-01 04:00+00', 'b3'),
    (3, '2024-01-01 04:00+00', 'c3'),
    (4, '2024-01-01 03:30+00', 'd-y'), (4, '2024-01-01 03:30+00', 'd-x'),
    (1, '2024-01-01 02:30+00', 'a-older');

SELECT results_eq($$SELECT * FROM pg_temp.dedup_run('dedup_log')$$, $$VALUES (6, 1, 2, 3)$$,
                  'change log: six rows read in [03:00, ...) for four keys: key 4 inserted, keys 2 and 3 updated; key 1 and the superseded b2 and d-x unchanged');
SELECT results_eq('SELECT id, at, v FROM dedup_log_tgt ORDER BY id',
                  $$VALUES (1, timestamptz '2024-01-01 03:00+00', 'a3'),
                           (2, timestamptz '2024-01-01 04:00+00', 'b3'),
                           (3, timestamptz '2024-01-01 04:00+00', 'c3'),
                           (4, timestamptz '2024-01-01 03:30+00', 'd-y')$$,
                  'change log: keys 2 and 3 hold their latest rows, key 4 the greater image of its tie');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'dedup_log'),
          timestamptz '2024-01-01 04:00+00',
          'change log: the checkpoint is the greatest cursor value read');

-- Determinism: the same log stored in the opposite physical order gives the
-- same target.
CREATE TABLE dedup_rev (id int NOT NULL, at timestamptz NOT NULL, v text);
INSERT INTO dedup_rev SELECT id, at, v FROM dedup_log ORDER BY ctid DESC;
CREATE TABLE dedup_rev_tgt (id int PRIMARY KEY, at timestamptz, v text);
SELECT FROM incr_create_pipeline('dedup_rev', 'dedup_rev', 'dedup_rev_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id']);
SELECT results_eq($$SELECT * FROM pg_temp.dedup_run('dedup_rev')$$, $$VALUES (12, 4, 0, 8)$$,
                  'reversed log: all twelve rows read in one batch, four keys inserted, eight superseded versions unchanged');
SELECT set_eq('SELECT id, at, v FROM dedup_rev_tgt', 'SELECT id, at, v FROM dedup_log_tgt',
              'reversed log: one batch gives the same rows as the two runs over the log in its order');

-- Determinism: reset and load again from scratch; the same rows win.
CREATE TEMP TABLE dedup_before AS SELECT id, at, v FROM dedup_log_tgt;
TRUNCATE dedup_log_tgt;
SELECT incr_reset('dedup_log', NULL);
SELECT results_eq($$SELECT * FROM pg_temp.dedup_run('dedup_log')$$, $$VALUES (12, 4, 0, 8)$$,
                  'reset: all twelve rows read again, four keys inserted into the emptied target');
SELECT set_eq('SELECT id, at, v FROM dedup_log_tgt', 'SELECT id, at, v FROM dedup_before',
              'reset: the run from scratch picks the same winners');

-- A source whose primary key is the pipeline's key: one row per key, nothing
-- to de-duplicate.
CREATE TABLE dedup_cur (id int PRIMARY KEY, at timestamptz NOT NULL, v text);
CREATE INDEX ON dedup_cur (at);
CREATE TABLE dedup_cur_tgt (id int PRIMARY KEY, at timestamptz, v text);
SELECT FROM incr_create_pipeline('dedup_cur', 'dedup_cur', 'dedup_cur_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id']);

SELECT doesnt_match(incr_plan('dedup_cur'), 'DISTINCT ON',
                    'unique source: the run reads the window without a de-duplication step');

INSERT INTO dedup_cur VALUES
    (1, '2024-01-01 01:00+00', 'a'), (2, '2024-01-01 01:00+00', 'b'), (3, '2024-01-01 02:00+00', 'c');
SELECT results_eq($$SELECT * FROM pg_temp.dedup_run('dedup_cur')$$, $$VALUES (3, 3, 0, 0)$$,
                  'unique source: three rows read, three keys inserted');

-- Key 1 changes twice between runs, key 2 once, key 4 is new.
UPDATE dedup_cur SET at = '2024-01-01 02:30+00', v = 'a2' WHERE id = 1;
UPDATE dedup_cur SET at = '2024-01-01 03:00+00', v = 'a3' WHERE id = 1;
UPDATE dedup_cur SET at = '2024-01-01 03:00+00', v = 'b2' WHERE id = 2;
INSERT INTO dedup_cur VALUES (4, '2024-01-01 02:00+00', 'd');

SELECT results_eq($$SELECT * FROM pg_temp.dedup_run('dedup_cur')$$, $$VALUES (4, 1, 2, 1)$$,
                  'unique source: four rows read in [02:00, ...), one per key: key 4 inserted, keys 1 and 2 updated, key 3 unchanged');
SELECT results_eq('SELECT id, at, v FROM dedup_cur_tgt ORDER BY id',
                  $$VALUES (1, timestamptz '2024-01-01 03:00+00', 'a3'),
                           (2, timestamptz '2024-01-01 03:00+00', 'b2'),
                           (3, timestamptz '2024-01-01 02:00+00', 'c'),
                           (4, timestamptz '2024-01-01 02:00+00', 'd')$$,
                  'unique source: the target holds the current row of each key');
SELECT results_eq($$SELECT * FROM pg_temp.dedup_run('dedup_cur')$$, $$VALUES (2, 0, 0, 2)$$,
                  'unique source: the next run re-reads the two rows at the checkpoint, unchanged');

SELECT * FROM finish();
ROLLBACK;
