-- Schema drift and dependencies: what a pipeline does when its relations
-- change.  on_schema_change = fail (default) refuses new, lost or retyped
-- source columns; ignore loads the columns left in common; add_columns adds
-- new source columns to the target.  A type change that could lose data is
-- refused under every policy.  Tables are followed through renames (they are
-- stored as OIDs); a renamed column, a dropped table or a dropped schema
-- makes the next run fail with an error naming what changed.  Every refused
-- run leaves target and checkpoint as they were.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(18);

CREATE TABLE sd_src (id int PRIMARY KEY, a text, n int, at timestamptz NOT NULL);
CREATE INDEX ON sd_src (at);
INSERT INTO sd_src VALUES (1, 'x', 10, '2024-01-01'), (2, 'y', 20, '2024-01-02');
CREATE TABLE sd_fail (id int PRIMARY KEY, a text, n int, at timestamptz);
CREATE TABLE sd_ignore (id int PRIMARY KEY, a text, n bigint, at timestamptz);
CREATE TABLE sd_add (id int PRIMARY KEY, a text, n int, at timestamptz);
SELECT incr_create_pipeline('sd_fail', 'sd_src', 'sd_fail', 'at', mode => 'merge', keys => ARRAY['id']);
SELECT incr_create_pipeline('sd_ignore', 'sd_src', 'sd_ignore', 'at', mode => 'merge', keys => ARRAY['id'],
                            on_schema_change => 'ignore');
SELECT incr_create_pipeline('sd_add', 'sd_src', 'sd_add', 'at', mode => 'merge', keys => ARRAY['id'],
                            on_schema_change => 'add_columns');
SELECT incr_run(name) FROM incr_pipelines WHERE name LIKE 'sd\_%';

SELECT throws_ok($$SELECT incr_create_pipeline('sd_bad', 'sd_src', 'sd_fail', 'at', on_schema_change => 'sometimes')$$,
                 '22023', 'on_schema_change must be fail, ignore or add_columns, not "sometimes"',
                 'an unknown policy is refused');

-- a new source column
ALTER TABLE sd_src ADD COLUMN extra text;
UPDATE sd_src SET extra = 'e' || id, at = at + interval '1 day';
SELECT throws_ok($$SELECT incr_run('sd_fail')$$, '55000',
                 'source "sd_src" of pipeline "sd_fail" has new columns: extra',
                 'fail: a new source column stops the run');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'sd_fail'),
          '2024-01-02'::timestamptz, 'fail: the checkpoint did not move');
SELECT is((SELECT rows_updated FROM incr_run('sd_ignore')), 2::bigint,
          'ignore: the run loads the common columns');
SELECT is((SELECT rows_updated FROM incr_run('sd_add')), 2::bigint,
          'add_columns: the run loads');
SELECT set_eq($$SELECT id, extra FROM sd_add$$, $$VALUES (1, 'e1'), (2, 'e2')$$,
              'add_columns: the new column was added to the target and loaded');
SELECT is((SELECT rows_updated FROM incr_run('sd_add')), 0::bigint,
          'add_columns: the next run finds nothing changed');

-- a widening type change: lossless into a bigint target, refused by fail
ALTER TABLE sd_src ALTER COLUMN n TYPE bigint;
SELECT throws_ok($$SELECT incr_run('sd_add')$$, '55000',
                 'column "n" of source "sd_src" of pipeline "sd_add" changed type from integer to bigint',
                 'a change to a type that would not fit the int target is refused, whatever the policy');
SELECT lives_ok($$SELECT incr_run('sd_ignore')$$,
                'ignore: a lossless type change (bigint into a bigint target) is accepted');
-- a lossy one: text into an int column
ALTER TABLE sd_src ALTER COLUMN n TYPE text;
SELECT throws_ok($$SELECT incr_run('sd_ignore')$$, '55000',
                 'column "n" of source "sd_src" of pipeline "sd_ignore" changed type from integer to text',
                 'ignore: a change that can lose data is refused');
ALTER TABLE sd_src ALTER COLUMN n TYPE int USING n::int;

-- a lost column
ALTER TABLE sd_src DROP COLUMN a;
SELECT throws_ok($$SELECT incr_run('sd_add')$$, '55000',
                 'source "sd_src" of pipeline "sd_add" lost columns: a',
                 'add_columns: a dropped source column stops the run');
UPDATE sd_src SET at = at + interval '1 day';
SELECT is((SELECT rows_updated FROM incr_run('sd_ignore')), 2::bigint,
          'ignore: the columns left are loaded');

SELECT set_eq($$SELECT id, a FROM sd_ignore$$, $$VALUES (1, 'x'), (2, 'y')$$,
              'ignore: the target keeps the values of the column the source lost');

-- renames and drops
ALTER TABLE sd_src RENAME TO sd_src_renamed;
SELECT is((SELECT status FROM incr_run('sd_ignore')), 'ok',
          'a renamed source table is followed');
ALTER TABLE sd_src_renamed RENAME COLUMN at TO changed_at;
SELECT throws_ok($$SELECT incr_run('sd_ignore')$$, '42703',
                 'cursor column "at" does not exist in source "sd_src_renamed"',
                 'a renamed cursor column stops the run with an error naming it');
ALTER TABLE sd_src_renamed RENAME COLUMN changed_at TO at;

CREATE SCHEMA sd_schema;
CREATE TABLE sd_schema.src (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE sd_tgt2 (id int PRIMARY KEY, at timestamptz);
SELECT incr_create_pipeline('sd_schema', 'sd_schema.src', 'sd_tgt2', 'at', keys => ARRAY['id']);
DROP SCHEMA sd_schema CASCADE;
SELECT throws_ok($$SELECT incr_run('sd_schema')$$, '42P01',
                 'source relation of pipeline "sd_schema" does not exist',
                 'a source dropped with its schema stops the run with a clear error');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'sd_schema'), NULL,
          'and the checkpoint stays');
SELECT lives_ok($$SELECT incr_drop_pipeline('sd_schema')$$, 'such a pipeline can be dropped');

SELECT * FROM finish();
ROLLBACK;
