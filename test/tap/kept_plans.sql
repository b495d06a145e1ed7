-- kept_plans: a session keeps each pipeline's run statement planned, and a
-- run may start inside another (a trigger on a target calling incr_run):
--   * runs started from a trigger of another pipeline's target, more of them
--     than the session keeps plans for, do not free the plan of the run
--     that is still executing (this crashed the backend once);
--   * the outer and the inner runs load exactly their rows, run after run,
--     whether a run uses the kept generic plan or a plan of its own;
--   * a pipeline dropped and created again with another definition under
--     the same name gets a new statement.
BEGIN;
SELECT plan(7);
SET LOCAL client_min_messages = warning;

CREATE TABLE kp_src (id int PRIMARY KEY, v int, seq bigint NOT NULL);
CREATE INDEX ON kp_src (seq);
CREATE TABLE kp_a (id int PRIMARY KEY, v int, seq bigint);
SELECT incr_create_pipeline('kp_a', 'kp_src', 'kp_a', 'seq', mode => 'merge', keys => ARRAY['id']);
DO $$
BEGIN
    FOR i IN 1..270 LOOP
        EXECUTE format('CREATE TABLE kp_b%s (id int PRIMARY KEY, v int, seq bigint)', i);
        PERFORM incr_create_pipeline('kp_b' || i, 'kp_src', 'kp_b' || i, 'seq',
                                     mode => 'merge', keys => ARRAY['id']);
    END LOOP;
END $$;

-- every write of kp_a runs the 270 other pipelines (more than the 256 run statements a session keeps)
CREATE FUNCTION kp_run_others() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..270 LOOP
        PERFORM incr_run('kp_b' || i);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER kp_others AFTER INSERT ON kp_a FOR EACH STATEMENT EXECUTE FUNCTION kp_run_others();

INSERT INTO kp_src SELECT g, g, g FROM generate_series(1, 10) g;
SELECT is((SELECT rows_inserted FROM incr_run('kp_a')), 10::bigint,
    'a first run, with a plan of its own, runs 270 others from its trigger');
INSERT INTO kp_src VALUES (11, 11, 11);
SELECT is((SELECT rows_inserted FROM incr_run('kp_a')), 1::bigint,
    'a second run, on the kept plan, survives 270 runs inside it pushing its plan out');
UPDATE kp_src SET v = -v, seq = seq + 100 WHERE id <= 3;
SELECT results_eq($$SELECT rows_read, rows_updated FROM incr_run('kp_a')$$,
    $$VALUES (4::bigint, 3::bigint)$$, 'and a third one, after them');

SELECT is((SELECT count(*) FROM kp_src s JOIN kp_a t USING (id) WHERE (s.v, s.seq) = (t.v, t.seq)),
    11::bigint, 'the outer target equals the source');
SELECT is((SELECT count(*) FROM kp_src s JOIN kp_b270 t USING (id) WHERE (s.v, s.seq) = (t.v, t.seq)),
    11::bigint, 'so does the target of the last inner pipeline');

-- same name, another definition: a new statement, not the kept one
DROP TRIGGER kp_others ON kp_a;
SELECT incr_drop_pipeline('kp_a');
CREATE TABLE kp_a2 (id int PRIMARY KEY, v int);
SELECT incr_create_pipeline('kp_a', 'kp_src', 'kp_a2', 'seq', mode => 'append', keys => ARRAY['id']);
SELECT is((SELECT rows_inserted FROM incr_run('kp_a')), 11::bigint,
    'a pipeline created again under the same name loads into its new target');
SELECT is((SELECT count(*) FROM kp_a2), 11::bigint, 'all of it');

SELECT * FROM finish();
ROLLBACK;
