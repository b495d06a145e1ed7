-- A wal pipeline's slot is confirmed only to a committed checkpoint: two runs
-- in one transaction that rolls back (or in a savepoint rolled back) leave
-- the slot where the committed checkpoint is, so that the next run still
-- applies every change since that checkpoint, exactly once.  Runs in
-- autocommit: decoding sees committed changes.
SET client_min_messages = warning;
CREATE TABLE rk_src (id int PRIMARY KEY, v text);
CREATE TABLE rk_dst (id int PRIMARY KEY, v text);
INSERT INTO rk_src VALUES (1, 'one');
SELECT FROM incr_create_pipeline('rk', source => 'rk_src', target => 'rk_dst',
                                 mode => 'merge', keys => ARRAY['id'], capture => 'wal');
CREATE VIEW rk_slot_behind AS
SELECT s.confirmed_flush_lsn <= st.checkpoint::pg_lsn AS slot_not_past_checkpoint
FROM pg_replication_slots s, incr_status st
WHERE st.pipeline = 'rk' AND s.slot_name = (SELECT options->>'wal_slot' FROM incr_pipelines WHERE name = 'rk');
SELECT status, rows_read, rows_inserted FROM incr_run('rk');

-- two runs in one transaction, rolled back
INSERT INTO rk_src VALUES (2, 'two');
BEGIN;
SELECT status, rows_read, rows_inserted FROM incr_run('rk');
INSERT INTO rk_src VALUES (3, 'three');
SELECT status, rows_read, rows_inserted FROM incr_run('rk');
ROLLBACK;
SELECT * FROM rk_slot_behind;
SELECT status, rows_read, rows_inserted FROM incr_run('rk');
SELECT * FROM rk_dst ORDER BY id;

-- two runs in a savepoint rolled back, the transaction committed
INSERT INTO rk_src VALUES (4, 'four');
INSERT INTO rk_src VALUES (5, 'five');
BEGIN;
SAVEPOINT s;
SELECT status, rows_read, rows_inserted FROM incr_run('rk');
SELECT status, rows_read, rows_inserted FROM incr_run('rk');
ROLLBACK TO s;
COMMIT;
SELECT * FROM rk_slot_behind;
SELECT status, rows_read, rows_inserted FROM incr_run('rk');
SELECT * FROM rk_dst ORDER BY id;

-- a committed checkpoint is confirmed by the next run
UPDATE rk_src SET v = 'ONE' WHERE id = 1;
SELECT status, rows_read, rows_updated FROM incr_run('rk');
SELECT status, rows_read FROM incr_run('rk');
SELECT s.confirmed_flush_lsn = st.checkpoint::pg_lsn AS confirmed_to_checkpoint
FROM pg_replication_slots s, incr_status st
WHERE st.pipeline = 'rk' AND s.slot_name = (SELECT options->>'wal_slot' FROM incr_pipelines WHERE name = 'rk');
SELECT (SELECT count(*) FROM (TABLE rk_src EXCEPT TABLE rk_dst) d) AS missing,
       (SELECT count(*) FROM (TABLE rk_dst EXCEPT TABLE rk_src) d) AS extra;
SELECT incr_drop_pipeline('rk');
DROP VIEW rk_slot_behind;
DROP TABLE rk_src, rk_dst;
