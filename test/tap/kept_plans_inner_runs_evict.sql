-- kept_plans_inner_runs_evict: a run started inside another pushes out the
-- session's least recently used kept plans, but never one its outer run is
-- still executing; what must hold:
--   * a keyed append's plain INSERT of its new rows (and its run statement)
--     survive 270 runs started from a column default of its target while
--     that INSERT executes, each run with a window query, a run statement
--     and a plain INSERT of its own (more than the 256 plans a session
--     keeps of each); outer and inner runs load exactly their rows, run
--     after run, on kept and on new plans;
--   * a window query survives the same runs started from a function of a
--     source view while that query executes, and the run loads exactly its
--     rows.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;

-- 270 keyed appends, each over its own source: window queries of 270 texts
DO $$
BEGIN
    FOR i IN 1..270 LOOP
        EXECUTE format('CREATE TABLE ke_s%s (id bigint PRIMARY KEY, v int)', i);
        EXECUTE format('CREATE TABLE ke_t%s (id bigint PRIMARY KEY, v int)', i);
        EXECUTE format('INSERT INTO ke_s%s VALUES (1, 1)', i);
        PERFORM incr_create_pipeline('ke_' || i, 'ke_s' || i, 'ke_t' || i, 'id',
                                     mode => 'append', keys => ARRAY['id']);
    END LOOP;
END $$;

-- each call runs the 270 others, a row into each source first (new rows: the plain INSERT)
CREATE FUNCTION ke_run_others() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int := 0;
BEGIN
    FOR i IN 1..270 LOOP
        EXECUTE format('INSERT INTO ke_s%s SELECT max(id) + 1, 0 FROM ke_s%s', i, i);
        n := n + (SELECT rows_inserted FROM incr_run('ke_' || i));
    END LOOP;
    RETURN n;
END $$;

-- the outer keyed append: the cursor is the key, so its new rows go in
-- with a plain INSERT; its target's default runs the others while ke_go
-- has a row
CREATE TABLE ke_go (go bool);
CREATE FUNCTION ke_maybe_others() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM ke_go) THEN
        RETURN ke_run_others();
    END IF;
    RETURN 0;
END $$;
CREATE TABLE ke_src (id bigint PRIMARY KEY, v int);
CREATE TABLE ke_tgt (id bigint PRIMARY KEY, v int, inner_rows int DEFAULT ke_maybe_others());
SELECT FROM incr_create_pipeline('ke_outer', 'ke_src', 'ke_tgt', 'id', mode => 'append', keys => ARRAY['id']);

INSERT INTO ke_src VALUES (1, 1);
SELECT results_eq($$SELECT rows_read, rows_inserted FROM incr_run('ke_outer')$$,
    $$VALUES (1::bigint, 1::bigint)$$,
    'a first run, alone: its statements are kept, planned for small runs');
-- the tie read again runs the others too: its default is computed before
-- ON CONFLICT finds the row there
INSERT INTO ke_src VALUES (2, 2), (3, 3);
INSERT INTO ke_go VALUES (true);
SELECT results_eq($$SELECT rows_read, rows_inserted FROM incr_run('ke_outer')$$,
    $$VALUES (3::bigint, 2::bigint)$$,
    'a second run, on the kept plans, survives 3 x 270 runs inside it pushing them out');
INSERT INTO ke_src VALUES (4, 4);
SELECT results_eq($$SELECT rows_read, rows_inserted FROM incr_run('ke_outer')$$,
    $$VALUES (2::bigint, 1::bigint)$$,
    'a third run, on new plans, survives 2 x 270 more');
SELECT results_eq($$SELECT id, v, inner_rows FROM ke_tgt ORDER BY id$$,
    $$VALUES (1::bigint, 1, 0), (2, 2, 270), (3, 3, 270), (4, 4, 270)$$,
    'the outer target equals its source; the inner runs loaded one row each');
SELECT is((SELECT count(*) FROM ke_t270), 6::bigint,
    'the last inner target holds the 6 rows of its source: its first and 5 calls');

-- a source view whose function runs the 270 others inside the window query
CREATE FUNCTION ke_once() RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM ke_go) THEN
        DELETE FROM ke_go;
        PERFORM ke_run_others();
    END IF;
    RETURN true;
END $$;
CREATE TABLE ke_vsrc (id bigint PRIMARY KEY, v int);
CREATE VIEW ke_view AS SELECT id, v FROM ke_vsrc WHERE (SELECT ke_once());
CREATE TABLE ke_vtgt (id bigint PRIMARY KEY, v int);
SELECT FROM incr_create_pipeline('ke_viewed', 'ke_view', 'ke_vtgt', 'id', mode => 'merge', keys => ARRAY['id']);
DELETE FROM ke_go;
INSERT INTO ke_vsrc SELECT g, g FROM generate_series(1, 5) g;
SELECT is((SELECT rows_inserted FROM incr_run('ke_viewed')), 5::bigint,
    'a first run over the view');
INSERT INTO ke_go VALUES (true);
INSERT INTO ke_vsrc VALUES (6, 6);
SELECT results_eq($$SELECT rows_read, rows_inserted FROM incr_run('ke_viewed')$$,
    $$VALUES (2::bigint, 1::bigint)$$,
    'a run whose window query runs 270 others loads its one new row');
SELECT is((SELECT count(*) FROM ke_t1), 7::bigint,
    'the inner runs started by the view loaded their rows');

SELECT * FROM finish();
ROLLBACK;
