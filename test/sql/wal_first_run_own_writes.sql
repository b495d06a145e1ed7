-- The first run of a wal pipeline refuses a transaction that has written
-- (25001), also when its slot already exists (left by a first run that
-- failed after making it): the copy would hold that transaction's own
-- writes, which decoding gives again once it commits (an append target
-- would get them twice).  Run on its own, the first run then copies the
-- table.  Runs in autocommit: slots outlive a failed run.
SET client_min_messages = warning;
CREATE TABLE ow_src (id int PRIMARY KEY, v int);
CREATE TABLE ow_dst (id int PRIMARY KEY, v int CHECK (v > 0));
INSERT INTO ow_src VALUES (1, 1), (2, -2);
SELECT FROM incr_create_pipeline('ow', source => 'ow_src', target => 'ow_dst',
                                 mode => 'merge', keys => ARRAY['id'], capture => 'wal');
-- the first run makes the slot, then fails on the target's check
\set VERBOSITY terse
SELECT status FROM incr_run('ow');
SELECT count(*) AS slots FROM pg_replication_slots
WHERE slot_name = (SELECT options->>'wal_slot' FROM incr_pipelines WHERE name = 'ow');
UPDATE ow_src SET v = 2 WHERE id = 2;
-- a first run in a transaction that wrote the source is refused
BEGIN;
INSERT INTO ow_src VALUES (3, 3);
SELECT status FROM incr_run('ow');
ROLLBACK;
\set VERBOSITY default
BEGIN;
INSERT INTO ow_src VALUES (3, 3);
COMMIT;
SELECT status, rows_read FROM incr_run('ow');
INSERT INTO ow_src VALUES (4, 4);
SELECT status, rows_read FROM incr_run('ow');
SELECT * FROM ow_dst ORDER BY id;
SELECT incr_drop_pipeline('ow');
DROP TABLE ow_src, ow_dst;
