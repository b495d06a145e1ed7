-- wal_generated_column_refused: a wal pipeline whose target would load a
-- generated column of its source is refused at creation (0A000): pgoutput
-- leaves generated columns out of its changes, so the target would get NULL.
-- A target without that column is accepted.
BEGIN;
SELECT plan(3);
SET LOCAL client_min_messages = warning;

CREATE TABLE wg_src (id int PRIMARY KEY, v int, doubled int GENERATED ALWAYS AS (v * 2) STORED);
CREATE TABLE wg_dst (id int PRIMARY KEY, v int, doubled int);
CREATE TABLE wg_dst_plain (id int PRIMARY KEY, v int);

SELECT throws_ok($$SELECT incr_create_pipeline('wg', 'wg_src', 'wg_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '0A000', 'wal pipeline "wg" cannot load generated column "doubled" of source "wg_src"',
    'a generated source column loaded into the target is refused');
SELECT is((SELECT count(*) FROM incr_pipelines WHERE name = 'wg'), 0::bigint, 'nothing is created');
SELECT lives_ok($$SELECT incr_create_pipeline('wg', 'wg_src', 'wg_dst_plain', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    'a target without the generated column is accepted');

SELECT * FROM finish();
ROLLBACK;
