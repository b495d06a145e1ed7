-- A wal pipeline's slot is dropped only when what let it go commits:
-- incr_drop_pipeline or incr_reset rolled back to a savepoint (also from a
-- nested savepoint released into it) keeps the slot, and the pipeline still
-- runs; a DROP EXTENSION that fails (a role that does not own the extension,
-- its error caught in an exception block) or is rolled back to a savepoint
-- drops no slot.  A drop in a savepoint that is released and committed does
-- drop it.  Runs in autocommit: slots are dropped at commit.
SET client_min_messages = warning;
CREATE TABLE dk_src (id int PRIMARY KEY, v text);
CREATE TABLE dk_dst (id int PRIMARY KEY, v text);
INSERT INTO dk_src VALUES (1, 'one');
SELECT FROM incr_create_pipeline('dk', source => 'dk_src', target => 'dk_dst',
                                 mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SELECT options->>'wal_slot' AS slot FROM incr_pipelines WHERE name = 'dk' \gset
SELECT status, rows_read FROM incr_run('dk');
CREATE VIEW dk_slot AS SELECT count(*) AS slots FROM pg_replication_slots WHERE slot_name = :'slot';
SELECT * FROM dk_slot;

-- incr_drop_pipeline rolled back to a savepoint
BEGIN;
SAVEPOINT s;
SELECT incr_drop_pipeline('dk');
ROLLBACK TO s;
COMMIT;
SELECT * FROM dk_slot;
INSERT INTO dk_src VALUES (2, 'two');
SELECT status, rows_read, rows_inserted FROM incr_run('dk');

-- incr_reset rolled back to a savepoint
BEGIN;
SAVEPOINT s;
SELECT FROM incr_reset('dk');
ROLLBACK TO s;
COMMIT;
SELECT * FROM dk_slot;

-- a drop in a nested savepoint released into one rolled back
BEGIN;
SAVEPOINT a;
SAVEPOINT b;
SELECT incr_drop_pipeline('dk');
RELEASE b;
ROLLBACK TO a;
COMMIT;
SELECT * FROM dk_slot;

-- DROP EXTENSION by a role that does not own it, its error caught
CREATE ROLE regress_dk_nobody;
SET ROLE regress_dk_nobody;
DO $$ BEGIN DROP EXTENSION incremental; EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'refused: %', SQLERRM; END $$;
RESET ROLE;
DROP ROLE regress_dk_nobody;
SELECT * FROM dk_slot;

-- DROP EXTENSION rolled back to a savepoint
BEGIN;
SAVEPOINT s;
DROP EXTENSION incremental;
ROLLBACK TO s;
COMMIT;
SELECT * FROM dk_slot;
UPDATE dk_src SET v = 'ONE' WHERE id = 1;
SELECT status, rows_read, rows_updated FROM incr_run('dk');
SELECT * FROM dk_dst ORDER BY id;

-- a drop in a savepoint released, then committed: the slot goes
BEGIN;
SAVEPOINT s;
SELECT incr_drop_pipeline('dk');
RELEASE s;
COMMIT;
SELECT * FROM dk_slot;
DROP VIEW dk_slot;
DROP TABLE dk_src, dk_dst;
