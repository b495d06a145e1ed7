-- verify_finds_and_repairs: incr_verify compares a target with the rows its
-- pipeline promises up to the checkpoint, and incr_repair mends what differs.
--   * A correct target verifies clean; verify changes neither the target nor
--     the checkpoint and is recorded in incr_runs with trigger 'verify'.
--   * merge: a deleted target row is missing, an added one extra, a changed
--     value (also 1.50 for 1.5, which a run would rewrite) different, each
--     with its key in the sample; a key whose source row moved past the
--     checkpoint is not compared; a target key the source lacks is retained,
--     not extra (merge without delete_column never deletes).  incr_repair
--     inserts and updates exactly those rows (trigger 'repair', checkpoint
--     unchanged) and keeps the retained one, and the target verifies clean
--     after.
--   * retention: an append pipeline keeps the rows a retention job deleted
--     from the source: verify counts them as retained, not extra, and
--     incr_repair leaves them.
--   * append with keys: the first version of a key is what the target holds.
--   * append without keys: a duplicated and a lost row are found as extra
--     and missing copies, and repaired.
--   * scd2: two current versions of a key are found, repaired to one; a
--     current version changed in place gets the right values in place.
--   * cdc: the target is the replay of the events up to the checkpoint.
--   * query pipelines are refused (0A000); a non-owner is refused (42501).
BEGIN;
SELECT plan(36);
SET LOCAL client_min_messages = warning;

CREATE FUNCTION pg_temp.v(p text, OUT missing int, OUT extra int, OUT different int)
LANGUAGE sql AS $$ SELECT missing::int, extra::int, different::int FROM incr_verify(p, 16) $$;
CREATE FUNCTION pg_temp.r(p text, OUT ins int, OUT upd int, OUT del int)
LANGUAGE sql AS $$ SELECT rows_inserted::int, rows_updated::int, rows_deleted::int FROM incr_repair(p) $$;

-- merge
CREATE TABLE m_src (id int PRIMARY KEY, v text, n numeric, at timestamptz NOT NULL);
CREATE TABLE m_dst (id int PRIMARY KEY, v text, n numeric, at timestamptz);
INSERT INTO m_src SELECT g, 'v' || g, g / 2.0, '2024-01-01'::timestamptz + g * interval '1 min'
FROM generate_series(1, 200) g;
SELECT incr_create_pipeline('vm', 'm_src', 'm_dst', 'at', mode => 'merge', keys => ARRAY['id']);
SELECT incr_run('vm');

SELECT results_eq($$SELECT * FROM pg_temp.v('vm')$$, $$VALUES (0, 0, 0)$$,
                  'merge: a correct target verifies clean');
CREATE TEMP TABLE before AS SELECT * FROM m_dst;
CREATE TEMP TABLE cp_before AS SELECT * FROM incr_checkpoints WHERE pipeline = 'vm';
SELECT results_eq($$SELECT trigger, status, rows_read::int, window_to FROM incr_runs
                    WHERE pipeline = 'vm' ORDER BY run_id DESC LIMIT 1$$,
                  $$VALUES ('verify', 'ok', 400, '2024-01-01 03:20:00+00')$$,
                  'verify is recorded with trigger verify, rows read from both sides, up to the checkpoint');

DELETE FROM m_dst WHERE id = 5;
UPDATE m_dst SET v = 'bad' WHERE id = 7;
UPDATE m_dst SET n = 1.50 WHERE id = 3;
INSERT INTO m_dst VALUES (5000, 'x', 1, '2024-01-01');
-- a source row changed after the last run: past the checkpoint, not compared
UPDATE m_src SET v = 'newer', at = '2030-01-01' WHERE id = 9;

SELECT results_eq($$SELECT * FROM pg_temp.v('vm')$$, $$VALUES (1, 0, 2)$$,
                  'merge: one missing, two different, none extra');
SELECT is((SELECT retained::int FROM incr_verify('vm')), 1,
          'merge without delete_column: the key the source lacks is retained');
SELECT set_eq($$SELECT e->>'problem' AS problem, e->'key' AS key FROM incr_verify('vm') v, jsonb_array_elements(v.sample) e$$,
              $$VALUES ('missing', '[5]'::jsonb), ('different', '[3]'), ('different', '[7]')$$,
              'merge: the sample names each differing key and its problem');
SELECT is((SELECT e->'target'->>'v' FROM incr_verify('vm') v, jsonb_array_elements(v.sample) e
           WHERE e->'key' = '[7]'), 'bad', 'merge: the sample shows what the target holds');
SELECT is((SELECT keys_skipped::int FROM incr_verify('vm')), 1,
          'merge: the key with a row past the checkpoint is left out');
SELECT set_eq('SELECT id, v, n::text, at FROM m_dst EXCEPT SELECT id, v, n::text, at FROM before',
              $$VALUES (3, 'v3', '1.50', '2024-01-01 00:03:00+00'::timestamptz),
                       (7, 'bad', '3.5000000000000000', '2024-01-01 00:07:00+00'),
                       (5000, 'x', '1', '2024-01-01')$$,
              'verify changed nothing in the target');
SELECT set_eq('SELECT * FROM incr_checkpoints WHERE pipeline = ''vm''', 'SELECT * FROM cp_before',
              'verify left the checkpoint as it was');

SELECT results_eq($$SELECT * FROM pg_temp.r('vm')$$, $$VALUES (1, 2, 0)$$,
                  'merge: repair inserts one, updates two, deletes none');
SELECT results_eq($$SELECT trigger, status FROM incr_runs WHERE pipeline = 'vm' ORDER BY run_id DESC LIMIT 1$$,
                  $$VALUES ('repair', 'ok')$$, 'repair is recorded with trigger repair');
SELECT set_eq('SELECT * FROM incr_checkpoints WHERE pipeline = ''vm''', 'SELECT * FROM cp_before',
              'repair left the checkpoint as it was');
SELECT results_eq($$SELECT * FROM pg_temp.v('vm')$$, $$VALUES (0, 0, 0)$$,
                  'merge: verifies clean after the repair');
SELECT set_eq('SELECT * FROM m_dst', $$SELECT * FROM before UNION ALL VALUES (5000, 'x', 1, '2024-01-01'::timestamptz)$$,
              'merge: the repaired target is what the run had loaded, and the retained key');
SELECT results_eq($$SELECT * FROM pg_temp.r('vm')$$, $$VALUES (0, 0, 0)$$,
                  'merge: a second repair has nothing to do');

-- append with keys, and a retention job on the source (audit F10)
CREATE TABLE rt_events (id int PRIMARY KEY, ts timestamptz NOT NULL, v text);
CREATE TABLE rt_hist (id int PRIMARY KEY, ts timestamptz, v text);
INSERT INTO rt_events SELECT g, '2024-01-01'::timestamptz + g * interval '1 min', 'e' || g FROM generate_series(1, 10) g;
SELECT incr_create_pipeline('rt', 'rt_events', 'rt_hist', 'ts', 'append', keys => ARRAY['id']);
SELECT incr_run('rt');
DELETE FROM rt_events WHERE id <= 7;
SELECT results_eq($$SELECT missing::int, extra::int, different::int, retained::int FROM incr_verify('rt', 16)$$,
                  $$VALUES (0, 0, 0, 7)$$,
                  'append: rows a retention job deleted from the source are retained, not extra');
SELECT results_eq($$SELECT * FROM pg_temp.r('rt')$$, $$VALUES (0, 0, 0)$$,
                  'append: repair deletes none of the retained rows');
SELECT is((SELECT count(*)::int FROM rt_hist), 10, 'append: the history keeps all ten rows');

-- merge with hard deletes: a deleted key must be absent
CREATE TABLE d_src (id int, v text, gone boolean, at int NOT NULL);
CREATE TABLE d_dst (id int PRIMARY KEY, v text);
INSERT INTO d_src VALUES (1, 'a', false, 1), (2, 'b', false, 2), (1, 'a', true, 3);
SELECT incr_create_pipeline('vd', 'd_src', 'd_dst', 'at', mode => 'merge', keys => ARRAY['id'],
                            delete_column => 'gone');
SELECT incr_run('vd');
INSERT INTO d_dst VALUES (1, 'a');
SELECT results_eq($$SELECT * FROM pg_temp.v('vd')$$, $$VALUES (0, 1, 0)$$,
                  'merge with delete_column: a key deleted in the source is extra in the target');
SELECT results_eq($$SELECT * FROM pg_temp.r('vd')$$, $$VALUES (0, 0, 1)$$,
                  'merge with delete_column: repair deletes it');

-- append with keys: the first version wins
CREATE TABLE k_src (id int, v text, at int NOT NULL);
CREATE TABLE k_dst (id int PRIMARY KEY, v text, at int);
INSERT INTO k_src VALUES (1, 'first', 1), (1, 'second', 2), (2, 'only', 3);
SELECT incr_create_pipeline('vk', 'k_src', 'k_dst', 'at', mode => 'append', keys => ARRAY['id']);
SELECT incr_run('vk');
SELECT results_eq($$SELECT * FROM pg_temp.v('vk')$$, $$VALUES (0, 0, 0)$$,
                  'append with keys: the first version of a key verifies clean');
UPDATE k_dst SET v = 'second', at = 2 WHERE id = 1;
SELECT results_eq($$SELECT * FROM pg_temp.v('vk')$$, $$VALUES (0, 0, 1)$$,
                  'append with keys: a later version in the target is different');
SELECT results_eq($$SELECT * FROM pg_temp.r('vk')$$, $$VALUES (0, 1, 0)$$,
                  'append with keys: repair puts the first version back');
SELECT results_eq('SELECT v FROM k_dst WHERE id = 1', $$VALUES ('first')$$,
                  'append with keys: the target holds the first version again');

-- append without keys: multisets of rows
CREATE TABLE a_src (at int NOT NULL, v text);
CREATE TABLE a_dst (at int, v text);
INSERT INTO a_src SELECT g % 20, 'e' || (g % 3) FROM generate_series(1, 100) g;
SELECT incr_create_pipeline('va', 'a_src', 'a_dst', 'at');
SELECT incr_run('va');
INSERT INTO a_dst SELECT * FROM a_dst WHERE at = 3 LIMIT 1;
DELETE FROM a_dst WHERE ctid = (SELECT min(ctid) FROM a_dst WHERE at = 4);
SELECT results_eq($$SELECT * FROM pg_temp.v('va')$$, $$VALUES (1, 1, 0)$$,
                  'append without keys: a duplicated row is extra, a lost one missing');
SELECT results_eq($$SELECT * FROM pg_temp.r('va')$$, $$VALUES (1, 0, 1)$$,
                  'append without keys: repair adds one copy and removes one');
SELECT set_eq('SELECT at, v, count(*) FROM a_dst GROUP BY 1, 2', 'SELECT at, v, count(*) FROM a_src GROUP BY 1, 2',
              'append without keys: the target holds the source''s rows, as many times as the source');

-- scd2: two current versions of a key
CREATE TABLE s_src (id int PRIMARY KEY, v text, at int NOT NULL);
CREATE TABLE s_dst (id int, v text, valid_from int, valid_to int, is_current boolean,
                    PRIMARY KEY (id, valid_from));
INSERT INTO s_src VALUES (1, 'a', 1), (2, 'b', 2);
SELECT incr_create_pipeline('vs', 's_src', 's_dst', 'at', mode => 'scd2', keys => ARRAY['id']);
SELECT incr_run('vs');
UPDATE s_src SET v = 'b2', at = 3 WHERE id = 2;
SELECT incr_run('vs');
SELECT results_eq($$SELECT missing::int, extra::int, different::int, invalid_history::int FROM incr_verify('vs')$$,
                  $$VALUES (0, 0, 0, 0)$$, 'scd2: current versions and history verify clean');
UPDATE s_dst SET is_current = true, valid_to = NULL WHERE id = 2 AND valid_from = 2;
SELECT results_eq($$SELECT different::int, invalid_history::int, sample->0->'key' FROM incr_verify('vs')$$,
                  $$VALUES (1, 1, '[2]'::jsonb)$$, 'scd2: two current versions of key 2 are found');
SELECT results_eq($$SELECT * FROM pg_temp.r('vs')$$, $$VALUES (0, 1, 0)$$,
                  'scd2: repair closes the wrong current version');
SELECT results_eq($$SELECT missing::int, extra::int, different::int, invalid_history::int FROM incr_verify('vs')$$,
                  $$VALUES (0, 0, 0, 0)$$, 'scd2: verifies clean after the repair');
-- a current version whose values were changed in place: the right values go
-- in place (closing it and opening the right one at the same valid_from
-- would collide on the primary key)
UPDATE s_dst SET v = 'tampered' WHERE id = 1 AND is_current;
SELECT results_eq($$SELECT * FROM pg_temp.r('vs')$$, $$VALUES (0, 1, 0)$$,
                  'scd2: repair puts the right values into a version changed in place');
SELECT results_eq($$SELECT v, valid_from, valid_to, is_current FROM s_dst WHERE id = 1$$,
                  $$VALUES ('a', 1, NULL::int, true)$$, 'scd2: ... in that version, which stays current');

-- cdc: the replay of the events up to the checkpoint
CREATE TABLE c_src (seq int NOT NULL, op text, id int, v text);
CREATE TABLE c_dst (id int PRIMARY KEY, v text);
INSERT INTO c_src VALUES (1, 'c', 1, 'a'), (2, 'c', 2, 'b'), (3, 'u', 1, 'a2'), (4, 'd', 2, NULL);
SELECT incr_create_pipeline('vc', 'c_src', 'c_dst', 'seq', mode => 'cdc', keys => ARRAY['id'],
                            op_column => 'op');
SELECT incr_run('vc');
INSERT INTO c_dst VALUES (2, 'b');
SELECT results_eq($$SELECT * FROM pg_temp.v('vc')$$, $$VALUES (0, 1, 0)$$,
                  'cdc: a key deleted by an event is extra in the target');

-- refusals
SELECT incr_create_pipeline('vq', 'a_src', 'a_dst', 'at', mode => 'query',
                            command => 'INSERT INTO a_dst SELECT * FROM a_src WHERE at > $1 AND at <= $2');
SELECT throws_ok($$SELECT * FROM incr_verify('vq')$$, '0A000',
                 'query pipeline "vq" cannot be verified', 'a query pipeline is refused');
CREATE ROLE verify_stranger;
SET LOCAL ROLE verify_stranger;
SELECT throws_ok($$SELECT * FROM incr_verify('vm')$$, '42501',
                 'must be owner of pipeline "vm"', 'a non-owner cannot verify');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
