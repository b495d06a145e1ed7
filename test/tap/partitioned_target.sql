-- partitioned_target: merge and cdc pipelines load into partitioned targets,
-- with the same exact counts as into a plain table.  (RETURNING cannot read
-- xmax from a partitioned table on PostgreSQL 15, which is how a run tells
-- an insert from an update; there the run counts updates in the upsert's
-- WHERE instead.  Every run into a partitioned target failed before.)
--   * merge: inserts, updates, unchanged rows, and rows moving partition;
--   * merge with soft_delete and with a hard delete_column;
--   * cdc: creates, updates, deletes;
--   * each with a twin pipeline into a plain table: counts equal.
BEGIN;
SELECT plan(10);
SET LOCAL client_min_messages = warning;

CREATE TABLE src (id int PRIMARY KEY, region text NOT NULL, v int, gone boolean, at timestamptz NOT NULL);
CREATE INDEX ON src (at);
INSERT INTO src SELECT g, CASE WHEN g % 2 = 0 THEN 'east' ELSE 'west' END, g, false,
                       timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 100) g;

CREATE TABLE part (id int, region text NOT NULL, v int, gone boolean, at timestamptz,
                   PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE part_east PARTITION OF part FOR VALUES IN ('east');
CREATE TABLE part_west PARTITION OF part FOR VALUES IN ('west');
CREATE TABLE plain (LIKE part INCLUDING ALL);

-- The counts of a run: read, inserted, updated, deleted, unchanged.
CREATE FUNCTION pg_temp.run(name text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('%s/%s/%s/%s/%s', rows_read, rows_inserted, rows_updated, rows_deleted, rows_unchanged)
    FROM incr_run(name) $$;

SELECT incr_create_pipeline('m_part', 'src', 'part', 'at', mode => 'merge', keys => ARRAY['id', 'region']);
SELECT incr_create_pipeline('m_plain', 'src', 'plain', 'at', mode => 'merge', keys => ARRAY['id', 'region']);
SELECT results_eq($$SELECT pg_temp.run('m_part'), pg_temp.run('m_plain')$$,
    $$VALUES ('100/100/0/0/0', '100/100/0/0/0')$$,
    'a first merge run into a partitioned target inserts, as into a plain one');

UPDATE src SET v = -v, at = at + interval '1 day' WHERE id <= 10;
UPDATE src SET at = at + interval '1 day' WHERE id BETWEEN 11 AND 15;   -- new cursor, same values
SELECT results_eq($$SELECT pg_temp.run('m_part'), pg_temp.run('m_plain')$$,
    $$VALUES ('16/0/15/0/1', '16/0/15/0/1')$$,
    'then updates are counted as updates (the cursor changed on 15 rows, the tie row is unchanged)');
UPDATE src SET v = v + 1000, at = at + interval '2 days' WHERE id IN (20, 21);
INSERT INTO src VALUES (101, 'east', 101, false, timestamptz '2024-01-05');
SELECT results_eq($$SELECT pg_temp.run('m_part'), pg_temp.run('m_plain')$$,
    $$VALUES ('4/1/2/0/1', '4/1/2/0/1')$$,
    'inserts and updates in one run are told apart');
SELECT is((SELECT count(*) FROM (SELECT id, region, v, at FROM src EXCEPT SELECT id, region, v, at FROM part) d),
    0::bigint, 'the partitioned target equals the source');

-- soft delete
SELECT incr_create_pipeline('s_part', 'src', 'part', 'at', mode => 'merge', keys => ARRAY['id', 'region'],
                            delete_column => 'gone', soft_delete => true);
SELECT incr_create_pipeline('s_plain', 'src', 'plain', 'at', mode => 'merge', keys => ARRAY['id', 'region'],
                            delete_column => 'gone', soft_delete => true);
SELECT incr_reset('s_part', '2024-01-05'), incr_reset('s_plain', '2024-01-05');
UPDATE src SET gone = true, at = timestamptz '2024-01-06' WHERE id IN (30, 31);
UPDATE src SET v = 0, at = timestamptz '2024-01-06' WHERE id = 32;
SELECT results_eq($$SELECT pg_temp.run('s_part'), pg_temp.run('s_plain')$$,
    $$VALUES ('4/0/1/2/1', '4/0/1/2/1')$$,
    'soft deletes count as deleted, not updated');

-- hard delete (the run statement has a DELETE and an upsert)
SELECT incr_create_pipeline('h_part', 'src', 'part', 'at', mode => 'merge', keys => ARRAY['id', 'region'],
                            delete_column => 'gone');
SELECT incr_create_pipeline('h_plain', 'src', 'plain', 'at', mode => 'merge', keys => ARRAY['id', 'region'],
                            delete_column => 'gone');
SELECT incr_reset('h_part', '2024-01-05 12:00'), incr_reset('h_plain', '2024-01-05 12:00');
UPDATE src SET v = 7, at = timestamptz '2024-01-07' WHERE id = 40;
SELECT results_eq($$SELECT pg_temp.run('h_part'), pg_temp.run('h_plain')$$,
    $$VALUES ('4/0/1/2/1', '4/0/1/2/1')$$,
    'hard deletes and updates in one statement');
SELECT is((SELECT count(*) FROM part WHERE id IN (30, 31)), 0::bigint, 'the deleted rows are gone');

-- cdc
CREATE TABLE events (seq bigint PRIMARY KEY, op text, id int, region text, v int);
CREATE TABLE cpart (id int, region text NOT NULL, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE cpart_e PARTITION OF cpart FOR VALUES IN ('east');
CREATE TABLE cpart_w PARTITION OF cpart FOR VALUES IN ('west');
CREATE TABLE cplain (LIKE cpart INCLUDING ALL);
SELECT incr_create_pipeline('c_part', 'events', 'cpart', 'seq', mode => 'cdc', keys => ARRAY['id', 'region'], op_column => 'op');
SELECT incr_create_pipeline('c_plain', 'events', 'cplain', 'seq', mode => 'cdc', keys => ARRAY['id', 'region'], op_column => 'op');
INSERT INTO events VALUES (1, 'c', 1, 'east', 1), (2, 'c', 2, 'west', 2), (3, 'c', 3, 'east', 3);
SELECT results_eq($$SELECT pg_temp.run('c_part'), pg_temp.run('c_plain')$$,
    $$VALUES ('3/3/0/0/0', '3/3/0/0/0')$$, 'cdc creates into a partitioned target');
INSERT INTO events VALUES (4, 'u', 1, 'east', 10), (5, 'd', 2, 'west', NULL), (6, 'c', 4, 'west', 4);
SELECT results_eq($$SELECT pg_temp.run('c_part'), pg_temp.run('c_plain')$$,
    $$VALUES ('4/1/1/1/1', '4/1/1/1/1')$$, 'cdc updates and deletes, counted as into a plain table');
SELECT results_eq('SELECT id, region, v FROM cpart ORDER BY id', 'SELECT id, region, v FROM cplain ORDER BY id',
    'both cdc targets hold the same rows');

SELECT * FROM finish();
ROLLBACK;
