-- merge_no_rewrite: a merge run rewrites a target row only when one of its
-- loaded columns really changes.  A row read again (a re-run, the lag
-- stretch) whose values equal the target's keeps its tuple: same ctid, same
-- xmin, and is counted in rows_unchanged, not rows_updated.  NULL -> value
-- and value -> NULL are changes; NULL -> NULL is not.  A change of the cursor
-- column alone is a change too (the target holds the cursor).
BEGIN;
SELECT plan(13);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- One run of a pipeline, as the four counts this file checks.
CREATE FUNCTION pg_temp.nr_run(pipeline text,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int, r.rows_unchanged::int
    FROM incr_run(pipeline) AS r
$$;

CREATE TABLE nr_src (id int PRIMARY KEY, at timestamptz NOT NULL, a int, b text);
CREATE INDEX ON nr_src (at);
-- loaded_at is the target's own: not in the source, never compared
CREATE TABLE nr_tgt (id int PRIMARY KEY, at timestamptz, a int, b text,
                     loaded_at timestamptz DEFAULT clock_timestamp());
SELECT FROM incr_create_pipeline('nr', 'nr_src', 'nr_tgt', 'at',
                                 mode => 'merge', keys => ARRAY['id'], lag => '1 hour');

INSERT INTO nr_src VALUES
    (1, '2024-01-01 10:40+00', 1, NULL),
    (2, '2024-01-01 10:50+00', 2, 'two'),
    (3, '2024-01-01 11:00+00', 3, NULL),
    (4, '2024-01-01 11:00+00', 4, 'four');

SELECT results_eq($$SELECT * FROM pg_temp.nr_run('nr')$$, $$VALUES (4, 4, 0, 0)$$,
                  'the first run inserts the four rows');
CREATE TEMP TABLE nr_tuples_1 AS SELECT id, ctid::text AS tuple_ctid, xmin::text AS tuple_xmin FROM nr_tgt;

-- A re-run: the lag window [10:00, ...] reads all four rows again.
SELECT results_eq($$SELECT * FROM pg_temp.nr_run('nr')$$, $$VALUES (4, 0, 0, 4)$$,
                  're-run: the four rows read again are unchanged, none updated');
SELECT results_eq('SELECT id, ctid::text, xmin::text FROM nr_tgt ORDER BY id',
                  'SELECT id, tuple_ctid, tuple_xmin FROM nr_tuples_1 ORDER BY id',
                  're-run: no target tuple was rewritten (same ctid and xmin)');

-- Row 2: a value changes.  Row 3: NULL -> value.  Row 4: value -> NULL.
-- Row 1 is read again through the lag and still has b NULL: no change.
UPDATE nr_src SET a = 20, at = '2024-01-01 11:10+00' WHERE id = 2;
UPDATE nr_src SET b = 'three', at = '2024-01-01 11:20+00' WHERE id = 3;
UPDATE nr_src SET b = NULL, at = '2024-01-01 11:30+00' WHERE id = 4;

SELECT results_eq($$SELECT * FROM pg_temp.nr_run('nr')$$, $$VALUES (4, 0, 3, 1)$$,
                  'a value change, NULL -> value and value -> NULL are three updates; NULL -> NULL is unchanged');
SELECT results_eq('SELECT id, at, a, b FROM nr_tgt ORDER BY id',
                  $$VALUES (1, timestamptz '2024-01-01 10:40+00', 1, NULL::text),
                           (2, timestamptz '2024-01-01 11:10+00', 20, 'two'),
                           (3, timestamptz '2024-01-01 11:20+00', 3, 'three'),
                           (4, timestamptz '2024-01-01 11:30+00', 4, NULL)$$,
                  'the target holds the changed values');
SELECT results_eq($$SELECT id, ctid::text, xmin::text FROM nr_tgt WHERE id = 1$$,
                  $$SELECT id, tuple_ctid, tuple_xmin FROM nr_tuples_1 WHERE id = 1$$,
                  'the unchanged row 1 keeps its tuple');
SELECT is_empty($$SELECT id FROM nr_tgt JOIN nr_tuples_1 AS old USING (id)
                  WHERE id IN (2, 3, 4)
                    AND (nr_tgt.ctid::text = old.tuple_ctid OR nr_tgt.xmin::text = old.tuple_xmin)$$,
                'rows 2, 3 and 4 were rewritten (new ctid and new xmin)');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'nr'),
          timestamptz '2024-01-01 11:30+00',
          'the checkpoint moved to 11:30');

-- The lag window [10:30, ...] reads all four again.  Row 2 is rewritten in
-- the source with its own values: nothing changes in the target.
CREATE TEMP TABLE nr_tuples_2 AS SELECT id, ctid::text AS tuple_ctid, xmin::text AS tuple_xmin FROM nr_tgt;
UPDATE nr_src SET a = a WHERE id = 2;

SELECT results_eq($$SELECT * FROM pg_temp.nr_run('nr')$$, $$VALUES (4, 0, 0, 4)$$,
                  'lag re-read: four rows read again, all unchanged');
SELECT results_eq('SELECT id, ctid::text, xmin::text FROM nr_tgt ORDER BY id',
                  'SELECT id, tuple_ctid, tuple_xmin FROM nr_tuples_2 ORDER BY id',
                  'lag re-read: no target tuple was rewritten');

-- Only the cursor of row 1 moves: that is a change of a loaded column.
UPDATE nr_src SET at = '2024-01-01 11:40+00' WHERE id = 1;

SELECT results_eq($$SELECT * FROM pg_temp.nr_run('nr')$$, $$VALUES (4, 0, 1, 3)$$,
                  'a new cursor value alone counts as an update');
SELECT results_eq('SELECT id, at, a, b FROM nr_tgt ORDER BY id',
                  $$VALUES (1, timestamptz '2024-01-01 11:40+00', 1, NULL::text),
                           (2, timestamptz '2024-01-01 11:10+00', 20, 'two'),
                           (3, timestamptz '2024-01-01 11:20+00', 3, 'three'),
                           (4, timestamptz '2024-01-01 11:30+00', 4, NULL)$$,
                  'the target holds row 1 with its new cursor value');
SELECT results_eq($$SELECT id, ctid::text, xmin::text FROM nr_tgt WHERE id <> 1 ORDER BY id$$,
                  $$SELECT id, tuple_ctid, tuple_xmin FROM nr_tuples_2 WHERE id <> 1 ORDER BY id$$,
                  'rows 2, 3 and 4 keep their tuples');

SELECT * FROM finish();
ROLLBACK;
