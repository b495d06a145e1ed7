-- wal_scd2: an scd2 pipeline with capture => 'wal' keeps one version per
-- committed change of a key, valid_from being the commit time of the
-- change's transaction (full history, not one version per run):
--   * the first run copies the rows already there, each a version from the
--     copy's time;
--   * an update closes the key's current version at its commit time and
--     opens the next; a delete closes it; an update that changes the key
--     closes the old key's version and opens the new key's; a truncate
--     closes every current version; a later insert opens a new one;
--   * several changes of one key in one transaction are one version, the
--     last; an update that changes no value opens none;
--   * rolled-back transactions and savepoints never appear;
--   * an update that leaves a large (TOAST) value alone keeps the previous
--     version's value;
--   * after incr_reset the copy is the whole source: current versions of
--     keys it lacks are closed, changed ones replaced, unchanged ones kept.
-- Every writing transaction records the time it started and a time after
-- its commit in ws_tx; a version's valid_from and valid_to must fall in
-- exactly the interval of the transaction that opened or closed it (shown as
-- the transaction's number).  Runs in autocommit: changes are decoded once
-- committed.
\set VERBOSITY terse
SET timezone = 'UTC';

CREATE TABLE ws_src (id int PRIMARY KEY, name text, big text);
ALTER TABLE ws_src ALTER big SET STORAGE EXTERNAL;   -- out of line, uncompressed
CREATE TABLE ws_hist (id int NOT NULL, name text, big text,
                      valid_from timestamptz NOT NULL, valid_to timestamptz,
                      is_current boolean NOT NULL, PRIMARY KEY (id, valid_from));
-- at most one current version per key, at every moment of a run
CREATE UNIQUE INDEX ws_hist_current ON ws_hist (id) WHERE is_current;
CREATE TABLE ws_tx (n int PRIMARY KEY, started timestamptz NOT NULL, ended timestamptz);

-- The number of the transaction whose interval holds t.
CREATE FUNCTION ws_tx_of(t timestamptz) RETURNS int LANGUAGE sql STABLE
AS $$ SELECT n FROM ws_tx WHERE t BETWEEN started AND ended $$;

INSERT INTO ws_src VALUES (1, 'a', repeat('x', 3000)), (2, 'b', 'b'), (3, 'c', 'c');

SELECT name, mode, keys FROM incr_create_pipeline('ws', 'ws_src', 'ws_hist', mode => 'scd2',
    keys => ARRAY['id'], capture => 'wal');

-- committed before the first run: its copy holds it, no version of its own
UPDATE ws_src SET name = 'c0' WHERE id = 3;

-- transaction 0: the first run, whose copy opens the versions
INSERT INTO ws_tx VALUES (0, clock_timestamp());
SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('ws');
UPDATE ws_tx SET ended = clock_timestamp() WHERE n = 0;

BEGIN;                                               -- 1: big left alone
INSERT INTO ws_tx VALUES (1, now());
UPDATE ws_src SET name = 'a1' WHERE id = 1;
COMMIT;
UPDATE ws_tx SET ended = clock_timestamp() WHERE n = 1;

BEGIN;                                               -- 2: two updates, one version
INSERT INTO ws_tx VALUES (2, now());
UPDATE ws_src SET name = 'b1' WHERE id = 2;
UPDATE ws_src SET name = 'b2' WHERE id = 2;
COMMIT;
UPDATE ws_tx SET ended = clock_timestamp() WHERE n = 2;

BEGIN;                                               -- rolled back: never seen
UPDATE ws_src SET name = 'rolled back' WHERE id = 3;
ROLLBACK;

BEGIN;                                               -- 3: a key change, big left alone
INSERT INTO ws_tx VALUES (3, now());
UPDATE ws_src SET id = 4 WHERE id = 1;
SAVEPOINT s;
UPDATE ws_src SET name = 'rolled back' WHERE id = 4;
ROLLBACK TO s;
COMMIT;
UPDATE ws_tx SET ended = clock_timestamp() WHERE n = 3;

BEGIN;                                               -- 4: a delete; an update of no value
INSERT INTO ws_tx VALUES (4, now());
DELETE FROM ws_src WHERE id = 3;
UPDATE ws_src SET name = name WHERE id = 2;
COMMIT;
UPDATE ws_tx SET ended = clock_timestamp() WHERE n = 4;

BEGIN;                                               -- 5: big left alone again
INSERT INTO ws_tx VALUES (5, now());
UPDATE ws_src SET name = 'a2' WHERE id = 4;
COMMIT;
UPDATE ws_tx SET ended = clock_timestamp() WHERE n = 5;

SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('ws');
SELECT id, name, length(big) AS big, big = repeat('x', 3000) AS big_kept,
       ws_tx_of(valid_from) AS opened_by, ws_tx_of(valid_to) AS closed_by, is_current
FROM ws_hist ORDER BY valid_from, id;

BEGIN;                                               -- 6: truncate, then a new row
INSERT INTO ws_tx VALUES (6, now());
TRUNCATE ws_src;
COMMIT;
UPDATE ws_tx SET ended = clock_timestamp() WHERE n = 6;
BEGIN;                                               -- 7
INSERT INTO ws_tx VALUES (7, now());
INSERT INTO ws_src VALUES (2, 'b3', NULL);
COMMIT;
UPDATE ws_tx SET ended = clock_timestamp() WHERE n = 7;

SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('ws');
SELECT id, name, length(big) AS big, ws_tx_of(valid_from) AS opened_by,
       ws_tx_of(valid_to) AS closed_by, is_current
FROM ws_hist ORDER BY valid_from, id;

-- nothing new
SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('ws');
-- versions of a key never overlap: each closes where the next opens
SELECT count(*) AS overlaps FROM ws_hist a JOIN ws_hist b
  ON a.id = b.id AND a.valid_from < b.valid_from
 AND (a.valid_to IS NULL OR a.valid_to > b.valid_from);

-- incr_reset starts over: its run copies the table again, and the copy is
-- the whole source: a key it lacks is closed, a changed one gets a version,
-- an unchanged one keeps its version (transaction 8: that run)
INSERT INTO ws_src VALUES (9, 'i', NULL), (10, 'j', NULL);
SELECT rows_inserted FROM incr_run('ws');
SELECT pipeline, new_checkpoint FROM incr_reset('ws');
DELETE FROM ws_src WHERE id = 9;
UPDATE ws_src SET name = 'b4' WHERE id = 2;
INSERT INTO ws_src VALUES (8, 'h', NULL);
INSERT INTO ws_tx VALUES (8, clock_timestamp());
SELECT rows_inserted, rows_updated, rows_deleted FROM incr_run('ws');
UPDATE ws_tx SET ended = clock_timestamp() WHERE n = 8;
SELECT id, name, ws_tx_of(valid_from) AS opened_by, ws_tx_of(valid_to) AS closed_by, is_current
FROM ws_hist WHERE id IN (2, 8, 9, 10) ORDER BY id, valid_from;

SELECT incr_drop_pipeline('ws');
DROP TABLE ws_src, ws_hist, ws_tx;
DROP FUNCTION ws_tx_of(timestamptz);
