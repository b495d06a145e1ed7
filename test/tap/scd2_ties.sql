-- scd2_ties: an scd2 history does not depend on when runs happen.  Rows of
-- one key with the same cursor value are one version (valid_from is that
-- value), and the greatest row image among them wins, as in one run over
-- the whole log.  So a row that commits after a run with the cursor value
-- of its key's current version (a tie, re-read because the window starts
-- at the checkpoint):
--   * with other values and a greater image, replaces the version's values
--     in place (updated), rather than being counted unchanged and lost;
--   * marked deleted and winning, removes that version (deleted), so the
--     key is deleted from that value on, as if the delete had come first;
--   * live and winning over the delete that closed the key's last version
--     at that value, opens a version there again (inserted).
-- The history equals a reference pipeline's that reads each cursor value
-- whole (batch_size 1), and a run after it changes nothing.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

CREATE FUNCTION pg_temp.t(h numeric) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz '2024-01-01 00:00+00' + h * interval '1 hour' $$;

-- The counts of a run: read, inserted, updated, deleted, unchanged.
CREATE FUNCTION pg_temp.tie_run(pipeline text,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int,
    OUT rows_deleted int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int,
           r.rows_deleted::int, r.rows_unchanged::int
    FROM incr_run(pipeline) AS r
$$;

-- A change log: several rows per key, with a delete flag.
CREATE TABLE tie_log (id int NOT NULL, at timestamptz NOT NULL, v text,
                      deleted boolean NOT NULL DEFAULT false);
CREATE INDEX ON tie_log (at);
CREATE TABLE tie_hist (id int NOT NULL, v text, valid_from timestamptz NOT NULL,
                       valid_to timestamptz, is_current boolean NOT NULL,
                       UNIQUE (id, valid_from));
CREATE UNIQUE INDEX ON tie_hist (id) WHERE is_current;
CREATE TABLE tie_ref (LIKE tie_hist INCLUDING ALL);
SELECT FROM incr_create_pipeline('tie', 'tie_log', 'tie_hist', 'at', mode => 'scd2',
                                 keys => ARRAY['id'], delete_column => 'deleted');

INSERT INTO tie_log (id, at, v) VALUES (1, pg_temp.t(1), 'a'), (2, pg_temp.t(0), 'x'),
                                       (3, pg_temp.t(1), 'a');
SELECT results_eq($$SELECT * FROM pg_temp.tie_run('tie')$$, $$VALUES (3, 3, 0, 0, 0)$$,
                  'run 1: three keys open three versions');
INSERT INTO tie_log (id, at, v) VALUES (2, pg_temp.t(1), 'y');
SELECT results_eq($$SELECT * FROM pg_temp.tie_run('tie')$$, $$VALUES (3, 0, 1, 0, 2)$$,
                  'run 2: key 2 changes at 01:00');

-- Ties with the checkpoint (01:00), committed after the run that reached it.
INSERT INTO tie_log (id, at, v, deleted) VALUES
    (1, pg_temp.t(1), 'b', false),  -- same cursor as key 1's version, greater image
    (2, pg_temp.t(1), 'z', true),   -- a delete at key 2's version's start, greater image
    (3, pg_temp.t(2), 'd', true);   -- a plain delete of key 3 at 02:00
SELECT results_eq($$SELECT * FROM pg_temp.tie_run('tie')$$, $$VALUES (6, 0, 1, 2, 3)$$,
                  'run 3: key 1''s tie replaces its version, key 2''s tie delete removes its, key 3 is deleted');
INSERT INTO tie_log (id, at, v) VALUES (3, pg_temp.t(2), 'e');  -- ties with key 3''s delete, greater image
SELECT results_eq($$SELECT * FROM pg_temp.tie_run('tie')$$, $$VALUES (2, 1, 0, 0, 1)$$,
                  'run 4: key 3''s live tie with its delete opens a version at 02:00');

SELECT results_eq('SELECT id, v, valid_from, valid_to, is_current FROM tie_hist ORDER BY id, valid_from',
    $$VALUES (1, 'b', pg_temp.t(1), NULL::timestamptz, true),
             (2, 'x', pg_temp.t(0), pg_temp.t(1), false),
             (3, 'a', pg_temp.t(1), pg_temp.t(2), false),
             (3, 'e', pg_temp.t(2), NULL, true)$$,
    'the history: each key''s winner at each cursor value');

-- The reference reads each cursor value whole: one batch per value.
SELECT FROM incr_create_pipeline('tie_ref', 'tie_log', 'tie_ref', 'at', mode => 'scd2',
                                 keys => ARRAY['id'], delete_column => 'deleted',
                                 batch_size => 1);
SELECT FROM incr_run('tie_ref');
SELECT FROM incr_run('tie_ref');
SELECT FROM incr_run('tie_ref');
SELECT results_eq($$SELECT window_from, window_to FROM incr_runs
                    WHERE pipeline = 'tie_ref' ORDER BY run_id$$,
    $$VALUES (NULL, '2024-01-01 00:00:00+00'), ('2024-01-01 00:00:00+00', '2024-01-01 01:00:00+00'),
             ('2024-01-01 01:00:00+00', '2024-01-01 02:00:00+00')$$,
    'the reference reads up to 00:00, then 01:00, then 02:00, one run each');
SELECT set_eq('SELECT id, v, valid_from, valid_to, is_current FROM tie_hist',
              'SELECT id, v, valid_from, valid_to, is_current FROM tie_ref',
              'the history equals the reference''s, built with every tie present');

SELECT results_eq($$SELECT rows_inserted + rows_updated + rows_deleted FROM pg_temp.tie_run('tie')$$,
                  $$VALUES (0)$$, 'a run over the same ties changes nothing');

SELECT * FROM finish();
ROLLBACK;
