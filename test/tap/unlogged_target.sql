-- unlogged_target: a crash empties an UNLOGGED table but not the pipeline's
-- checkpoint, so the rows loaded before it would never be loaded again.
-- incr_create_pipeline refuses an unlogged target, or a partitioned target
-- with an unlogged partition (0A000, hint ALTER TABLE ... SET LOGGED), and a
-- run refuses one made unlogged after creation, before any data moves.  An
-- unlogged source is fine: its rows vanish in a crash, the target's stay.
BEGIN;
SELECT plan(7);
SET LOCAL client_min_messages = warning;

CREATE TABLE ul_src (id int PRIMARY KEY, n bigint NOT NULL);
CREATE INDEX ON ul_src (n);
CREATE UNLOGGED TABLE ul_tgt (id int PRIMARY KEY, n bigint);
CREATE TABLE ul_parted (id int PRIMARY KEY, n bigint) PARTITION BY RANGE (id);
CREATE TABLE ul_parted_low PARTITION OF ul_parted FOR VALUES FROM (0) TO (100);
CREATE UNLOGGED TABLE ul_parted_high PARTITION OF ul_parted FOR VALUES FROM (100) TO (200);

SELECT throws_ok($$SELECT incr_create_pipeline('ul', 'ul_src', 'ul_tgt', 'n', keys => ARRAY['id'])$$,
                 '0A000', 'target "ul_tgt" of pipeline "ul" is unlogged',
                 'an unlogged target is refused at creation');
SELECT throws_ok($$SELECT incr_create_pipeline('ul', 'ul_src', 'ul_parted', 'n', keys => ARRAY['id'])$$,
                 '0A000', 'target "ul_parted_high" of pipeline "ul" is unlogged',
                 'a partitioned target with an unlogged partition is refused at creation');
SELECT is((SELECT count(*) FROM incr_pipelines WHERE name = 'ul'), 0::bigint,
          'no pipeline was stored');

-- made unlogged after creation: the run refuses, nothing moves
ALTER TABLE ul_tgt SET LOGGED;
SELECT lives_ok($$SELECT incr_create_pipeline('ul', 'ul_src', 'ul_tgt', 'n', keys => ARRAY['id'])$$,
                'a logged target is accepted');
INSERT INTO ul_src VALUES (1, 1), (2, 2);
ALTER TABLE ul_tgt SET UNLOGGED;
SELECT throws_ok($$SELECT * FROM incr_run('ul')$$,
                 '0A000', 'target "ul_tgt" of pipeline "ul" is unlogged',
                 'a run refuses a target made unlogged after creation');
SELECT is((SELECT value_numeric FROM incr_checkpoints WHERE pipeline = 'ul'), NULL,
          'and the checkpoint did not move');

-- an unlogged source is fine
ALTER TABLE ul_tgt SET LOGGED;
ALTER TABLE ul_src SET UNLOGGED;
SELECT results_eq($$SELECT status, rows_inserted FROM incr_run('ul')$$,
                  $$VALUES ('ok', 2::bigint)$$,
                  'an unlogged source with a logged target runs');

SELECT * FROM finish();
ROLLBACK;
