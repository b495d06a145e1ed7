-- history_prune_owner_scoped: incr_prune_runs(older_than) deletes only the
-- history older than older_than of the pipelines the caller may act on (a
-- superuser: every pipeline), and keeps each pipeline's latest run, so that
-- incr_status still shows it; a role cannot prune another role's history,
-- and a negative interval is refused.  incr_reset returns the checkpoint
-- before and after.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;

CREATE ROLE hp_alice NOLOGIN;
CREATE ROLE hp_bob NOLOGIN;
CREATE TABLE hp_src (id int PRIMARY KEY, n int NOT NULL);
CREATE INDEX ON hp_src (n);
CREATE TABLE hp_a (id int PRIMARY KEY, n int);
CREATE TABLE hp_b (id int PRIMARY KEY, n int);
GRANT SELECT ON hp_src TO hp_alice, hp_bob;
GRANT SELECT, INSERT, UPDATE ON hp_a TO hp_alice;
GRANT SELECT, INSERT, UPDATE ON hp_b TO hp_bob;
INSERT INTO hp_src SELECT g, g FROM generate_series(1, 3) g;

SET LOCAL ROLE hp_alice;
SELECT FROM incr_create_pipeline('hp_a', 'hp_src', 'hp_a', 'n', mode => 'merge', keys => ARRAY['id']);
SELECT FROM incr_run('hp_a');
SELECT FROM incr_run('hp_a');
SELECT FROM incr_run('hp_a');
RESET ROLE;
SET LOCAL ROLE hp_bob;
SELECT FROM incr_create_pipeline('hp_b', 'hp_src', 'hp_b', 'n', mode => 'merge', keys => ARRAY['id']);
SELECT FROM incr_run('hp_b');
SELECT FROM incr_run('hp_b');
RESET ROLE;
-- the history is 40 days old
UPDATE incr_runs SET started_at = started_at - interval '40 days' WHERE pipeline IN ('hp_a', 'hp_b');

SET LOCAL ROLE hp_bob;
SELECT is(incr_prune_runs('30 days'), 1::bigint, 'bob prunes his older run and keeps his latest');
RESET ROLE;
SELECT results_eq($$SELECT pipeline, count(*) FROM incr_runs WHERE pipeline IN ('hp_a', 'hp_b')
                    GROUP BY 1 ORDER BY 1$$,
                  $$VALUES ('hp_a'::text, 3::bigint), ('hp_b', 1)$$,
                  'alice''s history is untouched by bob');
SET LOCAL ROLE hp_alice;
SELECT is(incr_prune_runs('50 days'), 0::bigint, 'nothing is older than 50 days');
SELECT is(incr_prune_runs('30 days'), 2::bigint, 'alice prunes her two older runs');
SELECT is((SELECT last_run_id IS NOT NULL FROM incr_status WHERE pipeline = 'hp_a'), true,
          'incr_status still shows her last run');
SELECT throws_ok($$SELECT incr_prune_runs('-1 day')$$, '22023', 'older_than must not be negative',
                 'a negative interval is refused');

SELECT results_eq($$SELECT * FROM incr_reset('hp_a', '1')$$,
                  $$VALUES ('hp_a'::text, '3'::text, '1'::text)$$,
                  'incr_reset returns the checkpoint before and after');
SELECT results_eq($$SELECT * FROM incr_reset('hp_a', NULL)$$,
                  $$VALUES ('hp_a'::text, '1'::text, NULL::text)$$,
                  'and NULL after a reset to the beginning');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
