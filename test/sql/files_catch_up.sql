-- files_catch_up: CALL incr_catch_up on a files pipeline with batch_size
-- loads every file once, batch_size files per committed batch, oldest first,
-- and stops after the first batch that finds nothing.
SET client_min_messages = warning;
CREATE TABLE fc (id int);
SELECT set_config('fc.dir', current_setting('data_directory') || '/fc_files', false) <> '' AS dir_set;
DO $$
BEGIN
    EXECUTE format('COPY (SELECT WHERE false) TO PROGRAM %L',
                   'rm -rf ' || current_setting('fc.dir') || ' && mkdir ' || current_setting('fc.dir'));
    FOR i IN 1..5 LOOP
        EXECUTE format('COPY (SELECT g FROM generate_series(%s, %s) g) TO %L',
                       i * 10, i * 10 + 9, current_setting('fc.dir') || '/f' || i || '.txt');
        -- f1 oldest, f5 newest
        EXECUTE format('COPY (SELECT WHERE false) TO PROGRAM %L',
                       format('touch -d "2026-01-0%s 00:00 UTC" %s/f%s.txt', i, current_setting('fc.dir'), i));
    END LOOP;
END $$;
SELECT mode, batch_size
FROM incr_create_pipeline('fc', target => 'fc', mode => 'files',
                          files => current_setting('fc.dir') || '/*.txt', batch_size => 2);
CALL incr_catch_up('fc');
-- four batches: 2 files, 2 files, 1 file, then none, each its own transaction
SELECT trigger, status, rows_read, rows_inserted FROM incr_runs WHERE pipeline = 'fc' ORDER BY run_id;
SELECT count(DISTINCT xmin::text) AS transactions FROM incr_runs WHERE pipeline = 'fc';
SELECT run_id - min(run_id) OVER () AS batch, regexp_replace(path, '.*/', '') AS file, rows
FROM incr_files WHERE pipeline = 'fc' ORDER BY run_id, modified_at;
SELECT count(*) AS loaded, count(DISTINCT id) AS distinct_ids, min(id), max(id) FROM fc;
SET timezone = 'UTC';
SELECT checkpoint FROM incr_status WHERE pipeline = 'fc';
-- nothing new: one batch, which loads nothing
CALL incr_catch_up('fc');
SELECT count(*) AS runs FROM incr_runs WHERE pipeline = 'fc';
SELECT count(*) FROM fc;
DO $$ BEGIN EXECUTE format('COPY (SELECT WHERE false) TO PROGRAM %L', 'rm -rf ' || current_setting('fc.dir')); END $$;
