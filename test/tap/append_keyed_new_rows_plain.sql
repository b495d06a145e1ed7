-- append_keyed_new_rows_plain: a keyed append whose keys are unique in the
-- source (here mostly with the cursor as the key) inserts the rows past what it already wrote with
-- a plain INSERT, without ON CONFLICT's speculative insertion, which probes
-- the key index once per row before inserting; and still loads every row
-- exactly once, with exact counts, whatever the target holds:
--   * new rows: the key index is probed a handful of times, not once a row;
--   * ties: the checkpoint's row is read again and left alone;
--   * a row someone else wrote into the target past the checkpoint is kept
--     and not counted as inserted, as with ON CONFLICT DO NOTHING;
--   * with two key columns (only the checkpoint bounds what was written)
--     such a row collides with the plain INSERT: the run does what the one
--     statement over the whole window does, with the same counts;
--   * a row breaking another constraint of the target fails the run as it
--     always did (its SQLSTATE and message), nothing loaded;
--   * incr_reset back, then a run: no duplicates, exact counts;
--   * incr_backfill: nothing inserted twice, the checkpoint unmoved;
--   * incr_plan shows both statements;
--   * a timestamp key and cursor with lag: the stretch read again is not
--     inserted twice;
--   * an updated_at cursor (not a key): a run of its own uses the plain
--     INSERT into an empty target only, keeps the one statement otherwise,
--     and a loaded key with a new cursor value is left alone;
--   * a target with a trigger of its own: one statement, its statement
--     trigger fired once.
BEGIN;
SELECT plan(30);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- One run: its counts.
CREATE FUNCTION pg_temp.kp_run(pipeline text,
    OUT rows_read int, OUT rows_inserted int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_unchanged::int
    FROM incr_run(pipeline) AS r
$$;

-- Scans of an index in this transaction (ON CONFLICT's check of each row is one).
CREATE FUNCTION pg_temp.kp_probes(idx regclass) RETURNS bigint
LANGUAGE sql AS $$ SELECT pg_catalog.pg_stat_get_xact_numscans(idx) $$;

CREATE TABLE kp_src (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text NOT NULL);
CREATE TABLE kp_tgt (id bigint PRIMARY KEY, v text NOT NULL CHECK (v <> 'forbidden'));
INSERT INTO kp_src (v) SELECT 'a' || g FROM generate_series(1, 1000) g;
SELECT FROM incr_create_pipeline('kp', 'kp_src', 'kp_tgt', 'id', mode => 'append',
                                 keys => ARRAY['id']);

-------------------------------------------------------------------------------
-- New rows go in without a probe of the key index each.
CREATE TEMP TABLE kp_probes_before AS SELECT pg_temp.kp_probes('kp_tgt_pkey') AS n;
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('kp')$$, $$VALUES (1000, 1000, 0)$$,
                  'first run: 1,000 rows read and inserted');
SELECT cmp_ok(pg_temp.kp_probes('kp_tgt_pkey') - (SELECT n FROM kp_probes_before), '<', 10::bigint,
              'first run: the key index was not probed once per row (no speculative insertion)');

INSERT INTO kp_src (v) SELECT 'b' || g FROM generate_series(1, 500) g;
UPDATE kp_probes_before SET n = pg_temp.kp_probes('kp_tgt_pkey');
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('kp')$$, $$VALUES (501, 500, 1)$$,
                  'second run: the checkpoint''s row read again and left alone, 500 new rows inserted');
SELECT cmp_ok(pg_temp.kp_probes('kp_tgt_pkey') - (SELECT n FROM kp_probes_before), '<', 10::bigint,
              'second run: the key index was not probed once per new row');
SELECT results_eq($$SELECT count(*)::int, count(DISTINCT id)::int, max(id)::int FROM kp_tgt$$,
                  $$VALUES (1500, 1500, 1500)$$, 'the target holds each row once');
SELECT is((SELECT checkpoint FROM incr_status WHERE pipeline = 'kp'), '1500',
          'the checkpoint is the greatest id');
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('kp')$$, $$VALUES (1, 0, 1)$$,
                  'a run with nothing new reads the checkpoint''s row only');

-------------------------------------------------------------------------------
-- A row someone else wrote past the checkpoint stays as it is.
INSERT INTO kp_src (v) SELECT 'c' || g FROM generate_series(1, 100) g;
SELECT alike(incr_plan('kp'), E'%ON CONFLICT (id) DO NOTHING%go in with a plain INSERT%\nINSERT INTO public.kp_tgt AS t (id, v)%WHERE s.id OPERATOR(pg_catalog.>) $3 AND s.id OPERATOR(pg_catalog.<=) $2 AND %',
             'incr_plan shows the keyed statement, then the plain INSERT of the rows past $3');
INSERT INTO kp_tgt VALUES (1550, 'someone else''s');
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('kp')$$, $$VALUES (101, 99, 2)$$,
                  'someone else''s row past the checkpoint: 99 inserted, it and the tie unchanged');
SELECT is((SELECT v FROM kp_tgt WHERE id = 1550), 'someone else''s',
          'someone else''s row is kept, as ON CONFLICT DO NOTHING keeps it');

-------------------------------------------------------------------------------
-- A row breaking the CHECK fails the run as before; nothing loaded.
INSERT INTO kp_src (v) VALUES ('d1'), ('forbidden'), ('d2');
SELECT throws_ok($$SELECT * FROM pg_temp.kp_run('kp')$$, '23514',
                 'new row for relation "kp_tgt" violates check constraint "kp_tgt_v_check"',
                 'a row breaking a CHECK of the target fails the run as before');
SELECT results_eq($$SELECT count(*)::int, max(id)::int FROM kp_tgt$$, $$VALUES (1600, 1600)$$,
                  'the failed run loaded nothing');
DELETE FROM kp_src WHERE v = 'forbidden';
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('kp')$$, $$VALUES (3, 2, 1)$$,
                  'the next run loads the two rows');

-------------------------------------------------------------------------------
-- incr_reset back: rows past the new checkpoint are in the target already.
SELECT FROM incr_reset('kp', '1000');
INSERT INTO kp_src (v) SELECT 'e' || g FROM generate_series(1, 10) g;
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('kp')$$, $$VALUES (613, 10, 603)$$,
                  'after incr_reset back: 603 rows read again and left alone, 10 new inserted');
SELECT results_eq($$SELECT count(*)::int, count(DISTINCT id)::int FROM kp_tgt$$,
                  $$VALUES (1612, 1612)$$, 'after incr_reset back: no row twice');

-------------------------------------------------------------------------------
-- incr_backfill: rows deleted from the target come back, others stay once.
DELETE FROM kp_tgt WHERE id BETWEEN 101 AND 110;
SELECT results_eq($$SELECT rows_read::int, rows_inserted::int, rows_unchanged::int
                    FROM incr_backfill('kp', '100', '200')$$, $$VALUES (101, 10, 91)$$,
                  'backfill: the 10 deleted rows come back, 91 unchanged');
SELECT is((SELECT checkpoint FROM incr_status WHERE pipeline = 'kp'), '1613',
          'backfill: the checkpoint did not move');

-------------------------------------------------------------------------------
-- Two key columns: only the checkpoint bounds what was written, and a row
-- someone else wrote past it collides with the plain INSERT.
CREATE TABLE kp2_src (tenant int, id bigint, v text, PRIMARY KEY (tenant, id));
CREATE TABLE kp2_tgt (tenant int, id bigint, v text, PRIMARY KEY (tenant, id));
INSERT INTO kp2_src SELECT g % 3, g, 'a' || g FROM generate_series(1, 100) g;
SELECT FROM incr_create_pipeline('kp2', 'kp2_src', 'kp2_tgt', 'id', mode => 'append',
                                 keys => ARRAY['tenant', 'id']);
SELECT FROM pg_temp.kp_run('kp2');
INSERT INTO kp2_src SELECT g % 3, g, 'b' || g FROM generate_series(101, 200) g;
INSERT INTO kp2_tgt VALUES (150 % 3, 150, 'someone else''s');
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('kp2')$$, $$VALUES (101, 99, 2)$$,
                  'two keys, someone else''s row past the checkpoint: counted as the one statement counts');
SELECT results_eq($$SELECT count(*)::int, count(DISTINCT id)::int,
                           (SELECT v FROM kp2_tgt WHERE id = 150) FROM kp2_tgt$$,
                  $$VALUES (200, 200, 'someone else''s')$$,
                  'two keys: every row once, someone else''s kept');

-------------------------------------------------------------------------------
-- A timestamp key and cursor with lag: the lag stretch is read again.
CREATE TABLE kt_src (at timestamptz PRIMARY KEY, v text);
CREATE TABLE kt_tgt (at timestamptz PRIMARY KEY, v text);
INSERT INTO kt_src SELECT timestamptz '2024-01-01' + g * interval '1 minute', 'a'
FROM generate_series(1, 120) g;
SELECT FROM incr_create_pipeline('kt', 'kt_src', 'kt_tgt', 'at', mode => 'append',
                                 keys => ARRAY['at'], lag => '30 minutes');
SELECT FROM pg_temp.kp_run('kt');
INSERT INTO kt_src SELECT timestamptz '2024-01-01' + g * interval '1 minute', 'b'
FROM generate_series(121, 180) g;
-- a late row inside the lag
INSERT INTO kt_src VALUES (timestamptz '2024-01-01' + interval '110 minutes 30 seconds', 'late');
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('kt')$$, $$VALUES (92, 61, 31)$$,
                  'lag: 31 rows read again and left alone, the late row and 60 new inserted');

-------------------------------------------------------------------------------
-- A primary key and an updated_at cursor (not a key): a loaded key whose row
-- got a new cursor value collides with the target, so only the scheduler's
-- worker and incr_catch_up, which remember a collision for their next runs,
-- split such a run (test/sql/append_keyed_catch_up_backoff.sql); a run of
-- its own, as here, keeps the one ON CONFLICT statement, and leaves the
-- loaded row as it was.
CREATE TABLE ku_src (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
CREATE TABLE ku_tgt (id int PRIMARY KEY, v text, updated_at timestamptz);
INSERT INTO ku_src SELECT g, 'a', timestamptz '2024-01-01' + g * interval '1 second'
FROM generate_series(1, 1000) g;
SELECT FROM incr_create_pipeline('ku', 'ku_src', 'ku_tgt', 'updated_at', mode => 'append',
                                 keys => ARRAY['id']);
UPDATE kp_probes_before SET n = pg_temp.kp_probes('ku_tgt_pkey');
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('ku')$$, $$VALUES (1000, 1000, 0)$$,
                  'updated_at cursor: first run, 1,000 rows read and inserted');
SELECT cmp_ok(pg_temp.kp_probes('ku_tgt_pkey') - (SELECT n FROM kp_probes_before), '<', 10::bigint,
              'updated_at cursor: into an empty target a run of its own uses the plain INSERT');
INSERT INTO ku_src SELECT g, 'b', timestamptz '2024-01-01' + g * interval '1 second'
FROM generate_series(1001, 1100) g;
UPDATE kp_probes_before SET n = pg_temp.kp_probes('ku_tgt_pkey');
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('ku')$$, $$VALUES (101, 100, 1)$$,
                  'updated_at cursor: second run, 100 new rows inserted, the tie unchanged');
SELECT cmp_ok(pg_temp.kp_probes('ku_tgt_pkey') - (SELECT n FROM kp_probes_before), '>=', 100::bigint,
              'updated_at cursor: into a target with rows a run of its own keeps ON CONFLICT (the key index probed per row)');
UPDATE ku_src SET v = 'changed', updated_at = timestamptz '2024-01-01' + interval '2000 seconds' WHERE id = 5;
INSERT INTO ku_src SELECT g, 'c', timestamptz '2024-01-01' + g * interval '1 second'
FROM generate_series(1101, 1200) g;
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('ku')$$, $$VALUES (102, 100, 2)$$,
                  'a loaded key with a new cursor value: 100 inserted, it and the tie unchanged');
SELECT results_eq($$SELECT v, updated_at FROM ku_tgt WHERE id = 5$$,
                  $$VALUES ('a', timestamptz '2024-01-01' + interval '5 seconds')$$,
                  'the loaded row is left as it was');
SELECT alike(incr_plan('ku'), E'%(the checkpoint: call it L) go in with a plain INSERT in runs of the scheduler''s worker and of incr_catch_up, and into an empty target (another run of its own, by hand or from pg_cron, executes the statement above alone)%\nINSERT INTO public.ku_tgt AS t (id, v, updated_at)%WHERE s.updated_at OPERATOR(pg_catalog.>) $3 AND %',
             'updated_at cursor: incr_plan shows when the plain INSERT is used, and that L is the checkpoint');

-------------------------------------------------------------------------------
-- A target with a trigger of its own: one statement, which fires its
-- statement trigger once (two would fire it twice).
CREATE TABLE kg_src (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
CREATE TABLE kg_tgt (id bigint PRIMARY KEY, v text);
CREATE TABLE kg_fired (n int);
CREATE FUNCTION pg_temp.kg_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO kg_fired VALUES (1); RETURN NULL; END $$;
CREATE TRIGGER kg_stmt AFTER INSERT ON kg_tgt FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.kg_count();
INSERT INTO kg_src (v) SELECT 'a' || g FROM generate_series(1, 10) g;
SELECT FROM incr_create_pipeline('kg', 'kg_src', 'kg_tgt', 'id', mode => 'append',
                                 keys => ARRAY['id']);
SELECT FROM pg_temp.kp_run('kg');
INSERT INTO kg_src (v) SELECT 'b' || g FROM generate_series(1, 10) g;
DELETE FROM kg_fired;
SELECT results_eq($$SELECT * FROM pg_temp.kp_run('kg')$$, $$VALUES (11, 10, 1)$$,
                  'a target with a trigger: 10 inserted, the tie unchanged');
SELECT is((SELECT count(*)::int FROM kg_fired), 1,
          'a target with a trigger of its own: one statement, its statement trigger fired once');
SELECT unalike(incr_plan('kg'), '%plain INSERT%',
               'a target with a trigger of its own: incr_plan shows one statement');

SELECT * FROM finish();
ROLLBACK;
