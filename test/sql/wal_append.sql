-- wal_append: an append pipeline with capture => 'wal' keeps a change log of
-- its source, one target row per committed change, in commit order:
--   * the first run copies the rows already there as inserts ('I'), and a
--     change committed between creation and the first run, which the copy
--     already holds, is not logged again;
--   * an insert or update logs the new row ('I', 'U'), a delete the old key
--     ('D'), a truncate a row of NULLs ('T'), each with its commit's LSN
--     and time in the columns wal_lsn_column and wal_time_column name;
--   * rolled-back transactions and rolled-back savepoints never appear;
--   * keys repeat in the log (no unique index, no ON CONFLICT): nothing is
--     dropped;
--   * an update that leaves a large (TOAST) value alone logs the value the
--     row had: from the key's earlier change in the same run, following a
--     key change, or from the log's rows of the key's last logged
--     transaction when they agree on it, else NULL; without keys NULL;
--   * a run with nothing new writes nothing.
-- Runs in autocommit: changes are decoded once committed.
\set VERBOSITY terse
SET timezone = 'UTC';

CREATE TABLE wa_src (id int PRIMARY KEY, name text, big text);
ALTER TABLE wa_src ALTER big SET STORAGE EXTERNAL;   -- out of line, uncompressed
CREATE TABLE wa_log (n bigint GENERATED ALWAYS AS IDENTITY, id int, name text, big text,
                     op "char", lsn pg_lsn, committed_at timestamptz);
CREATE TABLE wa_bare (n bigint GENERATED ALWAYS AS IDENTITY, id int, name text, big text,
                      op text);

INSERT INTO wa_src VALUES (1, 'a', repeat('x', 3000)), (2, 'b', NULL);

-- NOTICE: the log has no index for the lookup of a value an update left out
SELECT name, mode, keys FROM incr_create_pipeline('wa', 'wa_src', 'wa_log', mode => 'append',
    keys => ARRAY['id'], capture => 'wal', wal_op_column => 'op',
    wal_lsn_column => 'lsn', wal_time_column => 'committed_at');
SELECT name FROM incr_create_pipeline('wa_bare', 'wa_src', 'wa_bare', mode => 'append',
    capture => 'wal', wal_op_column => 'op');

-- committed before the first run: its copy holds it
UPDATE wa_src SET name = 'a1' WHERE id = 1;

SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('wa');
SELECT id, name, length(big) AS big, op FROM wa_log ORDER BY n;
SELECT rows_inserted FROM incr_run('wa_bare');

INSERT INTO wa_src VALUES (3, 'c', 'c');
UPDATE wa_src SET name = 'a2' WHERE id = 1;          -- big left alone: from the log
BEGIN;
UPDATE wa_src SET name = 'b1' WHERE id = 2;
UPDATE wa_src SET id = 4 WHERE id = 2;               -- a key change
COMMIT;
BEGIN;
INSERT INTO wa_src VALUES (9, 'rolled back', NULL);
ROLLBACK;
BEGIN;
INSERT INTO wa_src VALUES (5, 'e', NULL);
SAVEPOINT s;
UPDATE wa_src SET name = 'rolled back' WHERE id = 5;
ROLLBACK TO s;
UPDATE wa_src SET name = 'e1' WHERE id = 5;
COMMIT;
DELETE FROM wa_src WHERE id = 3;
UPDATE wa_src SET id = 6 WHERE id = 1;               -- a key change, big left alone
UPDATE wa_src SET name = 'f' WHERE id = 6;           -- big left alone again

SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('wa');
SELECT id, name, length(big) AS big, big = repeat('x', 3000) AS big_kept, op
FROM wa_log ORDER BY n;

-- one LSN and one commit time per transaction, both growing with the log
SELECT count(DISTINCT lsn) AS transactions, count(DISTINCT committed_at) AS commit_times,
       bool_and(lsn >= prev_lsn AND committed_at >= prev_at) AS in_commit_order
FROM (SELECT lsn, committed_at, lag(lsn, 1, '0/0') OVER w AS prev_lsn,
             lag(committed_at, 1, '-infinity') OVER w AS prev_at
      FROM wa_log WINDOW w AS (ORDER BY n)) AS l;

TRUNCATE wa_src;
INSERT INTO wa_src VALUES (7, 'g', NULL);
SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('wa');
SELECT id, name, big, op FROM wa_log WHERE n > 11 ORDER BY n;

-- a large value left alone, from the log: the key's rows of its last logged
-- transaction agree on it (two changes there), so the value is theirs;
-- they disagree (it changed twice there), so the log cannot tell: NULL
BEGIN;
UPDATE wa_src SET big = repeat('y', 3000) WHERE id = 7;
UPDATE wa_src SET name = 'g1' WHERE id = 7;          -- big left alone: from the run
COMMIT;
SELECT rows_inserted FROM incr_run('wa');
UPDATE wa_src SET name = 'g2' WHERE id = 7;
SELECT rows_inserted FROM incr_run('wa');
BEGIN;
UPDATE wa_src SET big = repeat('z', 3000) WHERE id = 7;
UPDATE wa_src SET big = repeat('w', 3000) WHERE id = 7;
COMMIT;
SELECT rows_inserted FROM incr_run('wa');
UPDATE wa_src SET name = 'g3' WHERE id = 7;
SELECT rows_inserted FROM incr_run('wa');
SELECT id, name, left(big, 1) AS big, length(big) AS length, op
FROM wa_log WHERE n > 13 ORDER BY n;

-- nothing new
SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('wa');
SELECT count(*) FROM wa_log;

-- without keys: a value an update left out is NULL; every change still logged
SELECT rows_inserted FROM incr_run('wa_bare');
SELECT id, name, length(big) AS big, op FROM wa_bare ORDER BY n;

SELECT incr_drop_pipeline('wa');
SELECT incr_drop_pipeline('wa_bare');
DROP TABLE wa_src, wa_log, wa_bare;
