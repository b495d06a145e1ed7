-- After incr_reset, the first run of a merge wal pipeline makes the target
-- the source's rows again: keys the target holds that the copy does not
-- (rows deleted from the source while no slot captured them) are deleted,
-- or flagged with soft_delete.  Runs in autocommit: the slot is dropped when
-- the reset commits.
SET client_min_messages = warning;
CREATE TABLE rm_src (id int PRIMARY KEY, v text);
CREATE TABLE rm_dst (id int PRIMARY KEY, v text);
CREATE TABLE rm_soft (id int PRIMARY KEY, v text, deleted boolean);
INSERT INTO rm_src VALUES (1, 'one'), (2, 'two'), (3, 'three');
SELECT FROM incr_create_pipeline('rm', source => 'rm_src', target => 'rm_dst',
                                 mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SELECT FROM incr_create_pipeline('rm_s', source => 'rm_src', target => 'rm_soft',
                                 mode => 'merge', keys => ARRAY['id'], capture => 'wal',
                                 delete_column => 'deleted', soft_delete => true);
SELECT status, rows_read, rows_inserted, rows_deleted FROM incr_run('rm');
SELECT status, rows_read, rows_inserted, rows_deleted FROM incr_run('rm_s');
SELECT FROM incr_reset('rm');
SELECT FROM incr_reset('rm_s');
-- changes no slot captures
DELETE FROM rm_src WHERE id = 2;
UPDATE rm_src SET v = 'ONE' WHERE id = 1;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('rm');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('rm_s');
SELECT * FROM rm_dst ORDER BY id;
SELECT * FROM rm_soft ORDER BY id;
SELECT incr_drop_pipeline('rm');
SELECT incr_drop_pipeline('rm_s');
DROP TABLE rm_src, rm_dst, rm_soft;
