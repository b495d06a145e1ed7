-- A merge pipeline with capture => 'wal' applies a backlog with joins,
-- windows and sorts over the changes, never a subquery per row: the plan of
-- its statement (hard deletes, soft deletes flagged true or with the
-- delete's time) has no SubPlan, since one over the changes runs once per
-- target row or per change and makes a run quadratic in the backlog (issue
-- 16: 164,000 changes took minutes).  And an unchanged TOAST value is found
-- through the key changes of the window: an update that left a large
-- column alone after the key changed gets the value the old key was given
-- earlier in the same window, never NULL and never the target's stale one.
-- Runs in autocommit: decoding sees committed changes.
SET client_min_messages = warning;
CREATE TABLE wsb_src (id int PRIMARY KEY, v text, big text);
ALTER TABLE wsb_src ALTER big SET STORAGE EXTERNAL;
CREATE TABLE wsb_dst (id int PRIMARY KEY, v text, big text);
CREATE TABLE wsb_sd (id int PRIMARY KEY, v text, big text, deleted boolean NOT NULL DEFAULT false);
CREATE TABLE wsb_sdt (id int PRIMARY KEY, v text, big text, deleted_at timestamptz);
INSERT INTO wsb_src VALUES (1, 'one', repeat('a', 5000)), (2, 'two', repeat('b', 5000));
SELECT name FROM incr_create_pipeline('wsb', source => 'wsb_src', target => 'wsb_dst',
                                      mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SELECT name FROM incr_create_pipeline('wsb_sd', source => 'wsb_src', target => 'wsb_sd',
                                      mode => 'merge', keys => ARRAY['id'], capture => 'wal',
                                      delete_column => 'deleted', soft_delete => true);
SELECT name FROM incr_create_pipeline('wsb_sdt', source => 'wsb_src', target => 'wsb_sdt',
                                      mode => 'merge', keys => ARRAY['id'], capture => 'wal',
                                      delete_column => 'deleted_at', soft_delete => true);
SELECT status, rows_inserted FROM incr_run('wsb');
SELECT status, rows_inserted FROM incr_run('wsb_sd');
SELECT status, rows_inserted FROM incr_run('wsb_sdt');

-- in one window: key 1's large value changes, then its key (the large value
-- left out), then another column of the new key (the large value left out)
UPDATE wsb_src SET big = repeat('y', 6000) WHERE id = 1;
UPDATE wsb_src SET id = 10 WHERE id = 1;
UPDATE wsb_src SET v = 'ten' WHERE id = 10;
-- key 2: a key change, then an update, the large value left out by both
UPDATE wsb_src SET id = 20 WHERE id = 2;
UPDATE wsb_src SET v = 'twenty' WHERE id = 20;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wsb');
SELECT id, v, length(big) AS len, big = repeat('y', 6000) AS y, big = repeat('b', 5000) AS b
FROM wsb_dst ORDER BY id;
SELECT count(*) AS differing
FROM ((TABLE wsb_src EXCEPT ALL TABLE wsb_dst) UNION ALL (TABLE wsb_dst EXCEPT ALL TABLE wsb_src)) x;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wsb_sd');
SELECT id, v, length(big) AS len, deleted FROM wsb_sd ORDER BY id;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wsb_sdt');
SELECT id, v, length(big) AS len, deleted_at IS NOT NULL AS deleted FROM wsb_sdt ORDER BY id;

-- The plans: the statement incr_plan shows, explained over a table in the
-- place of the changes (the contract's columns, mode.h), whose statistics
-- say it is large
CREATE TEMP TABLE _incr_changes (
    _incr_seq int8, _incr_op "char", _incr_lsn pg_lsn, _incr_commit_time timestamptz,
    _incr_unchanged text[], _incr_old_id int, id int, v text, big text);
INSERT INTO _incr_changes
SELECT g, (ARRAY['I', 'U', 'U', 'D'])[g % 4 + 1]::"char", '0/1', now(),
       CASE WHEN g % 10 = 0 THEN ARRAY['big'] END, CASE WHEN g % 100 = 0 THEN g + 1 END,
       g % 5000, 'v', 'big'
FROM generate_series(1, 20000) g;
ANALYZE _incr_changes;
CREATE FUNCTION pg_temp.plan_lines(pipeline text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    sql text := (SELECT string_agg(line, E'\n') FROM regexp_split_to_table(incr_plan(pipeline), E'\n') AS line
                 WHERE line NOT LIKE '--%');
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || rtrim(sql, ';') LOOP
        RETURN NEXT line;
    END LOOP;
END $$;
SELECT p AS pipeline,
       (SELECT count(*) FROM pg_temp.plan_lines(p) l WHERE l LIKE '%SubPlan%') AS subplans,
       (SELECT count(*) FROM pg_temp.plan_lines(p) l WHERE l LIKE '%Named Tuplestore%' OR l LIKE '%on _incr_changes%') AS changes_scans
FROM unnest(ARRAY['wsb', 'wsb_sd', 'wsb_sdt']) p;
DROP TABLE _incr_changes;

-- a truncate takes the other branch: the keys after it stay, the rest go
TRUNCATE wsb_src;
INSERT INTO wsb_src VALUES (3, 'three', 'c');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wsb');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wsb_sd');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wsb_sdt');
SELECT id, v, big FROM wsb_dst ORDER BY id;
SELECT id, v, deleted FROM wsb_sd ORDER BY id;
SELECT id, v, deleted_at IS NOT NULL AS deleted FROM wsb_sdt ORDER BY id;

SELECT incr_drop_pipeline(name) FROM incr_pipelines WHERE name LIKE 'wsb%' ORDER BY name;
SELECT count(*) AS slots_left FROM pg_replication_slots WHERE database = current_database();
DROP TABLE wsb_src, wsb_dst, wsb_sd, wsb_sdt;
