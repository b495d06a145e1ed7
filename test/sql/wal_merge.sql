-- A merge pipeline with capture => 'wal' mirrors its source exactly: the
-- first run copies the table, later runs apply every committed insert,
-- update, delete, key change and truncate once, in commit order; rolled-back
-- transactions and subtransactions never appear; an update that leaves a
-- large (TOASTed) column untouched keeps the target's value; a transaction
-- larger than logical_decoding_work_mem works; batch_size ends a run on a
-- transaction boundary and incr_catch_up drains a backlog; a partitioned
-- source works; soft_delete flags; only the source's changes are read; incr_status
-- shows the slot; dropping the pipeline (or the extension) removes its slot
-- and publication.  Runs in autocommit: decoding sees committed changes.
SET client_min_messages = warning;
CREATE TABLE wal_src (id int PRIMARY KEY, v text, big text);
CREATE TABLE wal_other (id int PRIMARY KEY, v text);
CREATE TABLE wal_dst (id int PRIMARY KEY, v text, big text);
CREATE VIEW wal_diff AS
  (SELECT 'missing' AS side, * FROM wal_src EXCEPT ALL SELECT 'missing', * FROM wal_dst)
  UNION ALL
  (SELECT 'extra', * FROM wal_dst EXCEPT ALL SELECT 'extra', * FROM wal_src);
INSERT INTO wal_src SELECT g, 'v' || g, NULL FROM generate_series(1, 5) g;

SELECT name, mode, cursor_column, cursor_type, options->>'capture' AS capture,
       options->>'wal_slot' LIKE 'incr\_%\_%' AS slot_named
FROM incr_create_pipeline('wal_m', source => 'wal_src', target => 'wal_dst',
                          mode => 'merge', keys => ARRAY['id'], capture => 'wal');

-- the publication: the source only, owned by a superuser, a member of the extension
SELECT p.pubname = (SELECT options->>'wal_slot' FROM incr_pipelines WHERE name = 'wal_m') AS named,
       r.rolsuper AS owner_is_superuser, p.pubviaroot,
       (SELECT array_agg(tablename::text) FROM pg_publication_tables t WHERE t.pubname = p.pubname) AS tables,
       EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_publication'::regclass
               AND d.objid = p.oid AND d.deptype = 'e') AS extension_member
FROM pg_publication p JOIN pg_roles r ON r.oid = p.pubowner;
-- no slot until the first run
SELECT count(*) AS slots FROM pg_replication_slots WHERE database = current_database();

-- the first run creates the slot and copies the table
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_m');
SELECT slot_type, plugin, database = current_database() AS this_database
FROM pg_replication_slots WHERE database = current_database();
SELECT * FROM wal_diff;

-- inserts, updates, deletes, a key change, a rollback, a rolled-back savepoint
INSERT INTO wal_src VALUES (6, 'six', repeat('x', 5000));
UPDATE wal_src SET v = 'two' WHERE id = 2;
DELETE FROM wal_src WHERE id = 3;
UPDATE wal_src SET id = 10 WHERE id = 4;
BEGIN; INSERT INTO wal_src VALUES (100, 'rolled back'); UPDATE wal_src SET v = 'no' WHERE id = 1; ROLLBACK;
BEGIN;
INSERT INTO wal_src VALUES (7, 'seven');
SAVEPOINT a; INSERT INTO wal_src VALUES (8, 'eight'); DELETE FROM wal_src WHERE id = 5; ROLLBACK TO a;
UPDATE wal_src SET v = 'seven!' WHERE id = 7;
COMMIT;
INSERT INTO wal_other VALUES (1, 'not ours');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_m');
SELECT * FROM wal_diff;
SELECT id, v, length(big) FROM wal_dst ORDER BY id;

-- nothing new: nothing applied, twice
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_m');

-- an update that leaves the large column alone keeps the target's value
UPDATE wal_src SET v = 'six!' WHERE id = 6;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_m');
SELECT id, v, length(big), big = repeat('x', 5000) AS kept FROM wal_dst WHERE id = 6;
-- ... also after another change of the key in the same window, and across a key change
UPDATE wal_src SET big = repeat('y', 6000) WHERE id = 6;
UPDATE wal_src SET v = 'six?' WHERE id = 6;
UPDATE wal_src SET id = 60 WHERE id = 6;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_m');
SELECT * FROM wal_diff;
SELECT id, v, length(big), big = repeat('y', 6000) AS kept FROM wal_dst WHERE id IN (6, 60);
UPDATE wal_src SET big = repeat('z', 7000) WHERE id = 60;
UPDATE wal_src SET v = 'sixty' WHERE id = 60;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_m');
SELECT id, v, length(big), big = repeat('z', 7000) AS kept FROM wal_dst WHERE id = 60;

-- truncate: only the changes after it count
UPDATE wal_src SET v = 'gone anyway' WHERE id = 1;
TRUNCATE wal_src;
INSERT INTO wal_src VALUES (1, 'after truncate'), (2, 'again');
DELETE FROM wal_src WHERE id = 2;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_m');
SELECT * FROM wal_diff;
SELECT id, v FROM wal_dst ORDER BY id;

-- a transaction larger than logical_decoding_work_mem (spilled to disk)
SET logical_decoding_work_mem = '64kB';
INSERT INTO wal_src SELECT g, repeat('w', 100), NULL FROM generate_series(1000, 6000) g;
UPDATE wal_src SET v = 'big' WHERE id BETWEEN 1000 AND 3000;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_m');
SELECT * FROM wal_diff;
RESET logical_decoding_work_mem;

-- dropping the pipeline drops its publication, and its slot at commit
SELECT incr_drop_pipeline('wal_m');
SELECT count(*) AS slots_after_drop FROM pg_replication_slots WHERE database = current_database();
SELECT count(*) AS publications_after_drop FROM pg_publication;

-- batch_size: a run ends at the commit that reaches it; the next goes on
TRUNCATE wal_dst;
SELECT name FROM incr_create_pipeline('wal_b', source => 'wal_src', target => 'wal_dst',
                                      mode => 'merge', keys => ARRAY['id'], batch_size => 3,
                                      capture => 'wal');
SELECT status, rows_read, rows_inserted FROM incr_run('wal_b');
BEGIN; INSERT INTO wal_src VALUES (1, 'a1'), (2, 'a2') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v; COMMIT;
BEGIN; INSERT INTO wal_src VALUES (3, 'b3'), (4, 'b4'); COMMIT;
BEGIN; INSERT INTO wal_src VALUES (5, 'c5'); COMMIT;
SELECT status, rows_read, rows_inserted, rows_updated FROM incr_run('wal_b');
SELECT status, rows_read, rows_inserted, rows_updated FROM incr_run('wal_b');
SELECT status, rows_read, rows_inserted, rows_updated FROM incr_run('wal_b');
SELECT * FROM wal_diff;

-- incr_status: the checkpoint is an LSN, the slot and the WAL it keeps
SELECT capture, wal_slot = (SELECT options->>'wal_slot' FROM incr_pipelines WHERE name = 'wal_b') AS slot,
       checkpoint::pg_lsn IS NOT NULL AS checkpoint_is_lsn, wal_retained_bytes >= 0 AS retains,
       wal_status, safe_bound, rows_pending
FROM incr_status WHERE pipeline = 'wal_b';
-- incr_plan: the LSN window and the statement over the changes
SELECT line FROM regexp_split_to_table(incr_plan('wal_b'), E'\n') AS line
WHERE line LIKE '-- %' AND line NOT LIKE '-- pipeline%'
  AND line NOT LIKE '%LSN%';
SELECT incr_plan('wal_b') LIKE '%FROM _incr_changes AS c%' AS reads_changes;

-- a backfill has no range to read again
SELECT incr_backfill('wal_b', '0/0', '0/1');

-- incr_reset starts over: a new slot at the next run, and a new copy
SELECT pipeline, new_checkpoint FROM incr_reset('wal_b');
SELECT count(*) AS slots_after_reset FROM pg_replication_slots WHERE database = current_database();
DELETE FROM wal_dst WHERE id = 1;
SELECT status, rows_read, rows_inserted, rows_updated FROM incr_run('wal_b');
SELECT * FROM wal_diff;

-- a partitioned source is published as its root: a row moving between
-- partitions is a delete and an insert of the root
CREATE TABLE wal_ps (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE wal_ps_eu PARTITION OF wal_ps FOR VALUES IN ('eu');
CREATE TABLE wal_ps_us PARTITION OF wal_ps FOR VALUES IN ('us');
CREATE TABLE wal_pd (id int, region text, v text, PRIMARY KEY (id, region));
INSERT INTO wal_ps VALUES (1, 'eu', 'a'), (2, 'us', 'b');
SELECT name FROM incr_create_pipeline('wal_p', source => 'wal_ps', target => 'wal_pd', mode => 'merge',
                                      keys => ARRAY['id', 'region'], capture => 'wal');
SELECT status, rows_read, rows_inserted FROM incr_run('wal_p');
INSERT INTO wal_ps VALUES (3, 'us', 'c');
UPDATE wal_ps SET region = 'us' WHERE id = 1;
DELETE FROM wal_ps WHERE id = 2;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_p');
SELECT * FROM wal_pd ORDER BY id;

-- incr_catch_up drains a backlog in batches of whole transactions
CREATE TABLE wal_cs (id int PRIMARY KEY, v int);
CREATE TABLE wal_cd (id int PRIMARY KEY, v int);
SELECT name FROM incr_create_pipeline('wal_c', source => 'wal_cs', target => 'wal_cd', mode => 'merge',
                                      keys => ARRAY['id'], capture => 'wal', batch_size => 1000);
SELECT status, rows_read FROM incr_run('wal_c');
INSERT INTO wal_cs SELECT g, g FROM generate_series(1, 3000) g;
UPDATE wal_cs SET v = v + 1 WHERE id % 2 = 0;
DELETE FROM wal_cs WHERE id % 5 = 0;
CALL incr_catch_up('wal_c');
SELECT trigger, rows_read, rows_inserted, rows_updated, rows_deleted
FROM incr_runs WHERE pipeline = 'wal_c' ORDER BY run_id;
SELECT (SELECT count(*) FROM wal_cs) AS source_rows,
       (SELECT count(*) FROM (SELECT * FROM wal_cs EXCEPT ALL SELECT * FROM wal_cd) m) AS missing,
       (SELECT count(*) FROM (SELECT * FROM wal_cd EXCEPT ALL SELECT * FROM wal_cs) e) AS extra;

-- soft_delete: a delete or a truncate flags the target row (true, or the
-- commit time of the delete); the key's next insert clears the flag
CREATE TABLE wal_sd_src (id int PRIMARY KEY, v text);
CREATE TABLE wal_sd_dst (id int PRIMARY KEY, v text, deleted boolean NOT NULL DEFAULT false);
CREATE TABLE wal_sdt_dst (id int PRIMARY KEY, v text, deleted_at timestamptz);
INSERT INTO wal_sd_src VALUES (1, 'a'), (2, 'b'), (3, 'c');
SELECT name FROM incr_create_pipeline('wal_sd', source => 'wal_sd_src', target => 'wal_sd_dst',
                                      mode => 'merge', keys => ARRAY['id'], capture => 'wal',
                                      delete_column => 'deleted', soft_delete => true);
SELECT name FROM incr_create_pipeline('wal_sdt', source => 'wal_sd_src', target => 'wal_sdt_dst',
                                      mode => 'merge', keys => ARRAY['id'], capture => 'wal',
                                      delete_column => 'deleted_at', soft_delete => true);
SELECT status, rows_read, rows_inserted FROM incr_run('wal_sd');
SELECT status, rows_read, rows_inserted FROM incr_run('wal_sdt');
DELETE FROM wal_sd_src WHERE id = 1;
UPDATE wal_sd_src SET v = 'bb' WHERE id = 2;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_sd');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_sdt');
SELECT * FROM wal_sd_dst ORDER BY id;
SELECT id, v, deleted_at IS NOT NULL AS deleted, deleted_at <= now() AS at_commit FROM wal_sdt_dst ORDER BY id;
INSERT INTO wal_sd_src VALUES (1, 'back');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_sd');
SELECT * FROM wal_sd_dst ORDER BY id;
TRUNCATE wal_sd_src;
INSERT INTO wal_sd_src VALUES (3, 'c3');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_sd');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('wal_sdt');
SELECT * FROM wal_sd_dst ORDER BY id;
SELECT id, v, deleted_at IS NOT NULL AS deleted FROM wal_sdt_dst ORDER BY id;

-- a slot named like a wal pipeline's of this database that no pipeline has
-- is dropped when a wal pipeline is created
SELECT 1 FROM pg_create_logical_replication_slot(
    format('incr_%s_00000000deadbeef', (SELECT oid FROM pg_database WHERE datname = current_database())),
    'pgoutput');
SELECT name FROM incr_create_pipeline('wal_o', source => 'wal_sd_src', target => 'wal_sd_dst',
                                      mode => 'merge', keys => ARRAY['id'], capture => 'wal',
                                      delete_column => 'deleted', soft_delete => true);
SELECT count(*) AS orphans FROM pg_replication_slots WHERE slot_name LIKE '%deadbeef';

-- DROP EXTENSION removes the slots and publications of its wal pipelines
DROP EXTENSION incremental;
SELECT count(*) AS slots_after_drop_extension FROM pg_replication_slots WHERE database = current_database();
SELECT count(*) AS publications_after_drop_extension FROM pg_publication;
CREATE EXTENSION incremental;
DROP VIEW wal_diff;
DROP TABLE wal_src, wal_other, wal_dst, wal_sd_src, wal_sd_dst, wal_sdt_dst, wal_ps, wal_pd, wal_cs, wal_cd;
