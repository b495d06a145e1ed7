-- files: mode => 'files' loads each new or changed file of a folder once,
-- with COPY, and records it in incr_files:
--   * a first run loads every file, oldest first, and records path, size,
--     modification time, SHA-256, run and rows of each; a second run loads
--     nothing;
--   * a new file is loaded alone, even with a modification time older than
--     every file loaded (the decision is the file's, not a watermark's);
--   * a file touched (new modification time, same bytes) is not loaded
--     again, and its new time is recorded so it is not read again; a file
--     whose bytes changed is loaded again, as a second incr_files row;
--   * batch_size is a number of files per run; a lag leaves files modified
--     within it for a later run;
--   * a file COPY rejects fails the run: nothing of it is kept (no rows, no
--     incr_files row, checkpoint unchanged), the failure is recorded with the
--     file named, and the next run after the fix loads it;
--   * incr_reset forgets files (all, or modified after a time) so the next
--     run loads them again; incr_backfill is refused;
--   * incr_plan lists the files the next run would load and their COPY;
--   * bad definitions are refused with clear errors and leave no pipeline:
--     relative path, folder pattern, missing folder, source or keys given,
--     no files, copy_options of the wrong shape, unknown columns, options
--     COPY rejects, files options on other modes, and a role that may not
--     read server files; a missing folder at run time is an error.
BEGIN;
SELECT plan(58);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

-- The folder of this test, inside the data directory (the server can read it).
CREATE FUNCTION pg_temp.dir() RETURNS text
LANGUAGE sql AS $$ SELECT current_setting('data_directory') || '/incr_files_tap' $$;

-- Run a shell command on the server.
CREATE FUNCTION pg_temp.sh(cmd text) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('COPY (SELECT WHERE false) TO PROGRAM %L', cmd); END $$;

-- Write a file of the folder, one line per element, modified at mtime.
CREATE FUNCTION pg_temp.put(name text, lines text[], mtime text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT unnest(%L::text[])) TO %L', lines, pg_temp.dir() || '/' || name);
    PERFORM pg_temp.sh(format('touch -d %s %s', quote_literal(mtime), pg_temp.dir() || '/' || name));
END $$;

-- The last run of a pipeline: status and rows inserted.
CREATE FUNCTION pg_temp.run(name text, OUT status text, OUT inserted bigint)
LANGUAGE sql AS $$ SELECT status, rows_inserted FROM incr_run(name) $$;

SELECT pg_temp.sh('rm -rf ' || pg_temp.dir() || ' && mkdir ' || pg_temp.dir());
SELECT pg_temp.put('a.csv', ARRAY['id,amount', '1,10', '2,20'], '2026-01-01 00:00 UTC');
SELECT pg_temp.put('b.csv', ARRAY['id,amount', '3,30'], '2026-01-02 00:00 UTC');
SELECT pg_temp.put('c.txt', ARRAY['not,a,match'], '2026-01-02 00:00 UTC');

CREATE TABLE sales (id int NOT NULL, amount numeric, loaded_at timestamptz DEFAULT now());

SELECT lives_ok(
    format($$SELECT incr_create_pipeline('sales_files', target => 'sales', mode => 'files',
              files => %L, copy_options => '{"format": "csv", "header": true, "columns": ["id", "amount"]}')$$,
           pg_temp.dir() || '/*.csv'),
    'a files pipeline is created with a pattern, COPY options and a column list');

SELECT results_eq($$SELECT mode, source IS NULL, cursor_column IS NULL, cursor_type::text
                    FROM incr_pipelines WHERE name = 'sales_files'$$,
    $$VALUES ('files', true, true, 'timestamp with time zone')$$,
    'it has no source and no cursor column; its checkpoint is a modification time');

SELECT matches(incr_plan('sales_files'),
    '2 to load.*new file, 20 bytes.*COPY public\.sales \(id, amount\) FROM ''[^'']*/a\.csv'' WITH \(format ''csv'', header ''true''\);.*/b\.csv',
    'incr_plan lists the files the next run loads, oldest first, with their COPY');

SELECT results_eq($$SELECT * FROM pg_temp.run('sales_files')$$, $$VALUES ('ok', 3::bigint)$$,
    'the first run loads the rows of both matching files');
SELECT results_eq('SELECT id, amount FROM sales ORDER BY id',
    $$VALUES (1, 10::numeric), (2, 20), (3, 30)$$, 'the target holds them; c.txt is not matched');
SELECT results_eq($$SELECT replace(path, pg_temp.dir(), ''), size, modified_at, rows,
                           checksum = encode(sha256(pg_read_binary_file(path)), 'hex')
                    FROM incr_files WHERE pipeline = 'sales_files' ORDER BY path$$,
    $$VALUES ('/a.csv', 20::bigint, timestamptz '2026-01-01 00:00+00', 2::bigint, true),
             ('/b.csv', 15, '2026-01-02 00:00+00', 1, true)$$,
    'incr_files records each file: path, size, modification time, rows, and its SHA-256');
SELECT is((SELECT count(DISTINCT run_id) FROM incr_files f
           JOIN incr_runs r USING (run_id) WHERE f.pipeline = 'sales_files' AND r.status = 'ok'),
    1::bigint, 'both files name the run that loaded them');
SELECT is((SELECT checkpoint FROM incr_status WHERE pipeline = 'sales_files'),
    '2026-01-02 00:00:00+00', 'the checkpoint is the newest modification time loaded');

SELECT results_eq($$SELECT * FROM pg_temp.run('sales_files')$$, $$VALUES ('ok', 0::bigint)$$,
    'a second run loads nothing');

-- a new file with an old modification time (copied with cp -p, say)
SELECT pg_temp.put('old.csv', ARRAY['id,amount', '4,40'], '2025-06-01 00:00 UTC');
SELECT results_eq($$SELECT * FROM pg_temp.run('sales_files')$$, $$VALUES ('ok', 1::bigint)$$,
    'a new file is loaded even though it is older than every file loaded');
SELECT is((SELECT count(*) FROM sales), 4::bigint, 'and only its row is added');
SELECT is((SELECT checkpoint FROM incr_status WHERE pipeline = 'sales_files'),
    '2026-01-02 00:00:00+00', 'the checkpoint does not go back');

-- touched: same bytes, new modification time
SELECT pg_temp.sh('touch -d "2026-02-01 00:00 UTC" ' || pg_temp.dir() || '/a.csv');
SELECT results_eq($$SELECT * FROM pg_temp.run('sales_files')$$, $$VALUES ('ok', 0::bigint)$$,
    'a touched file with the same content is not loaded again');
SELECT results_eq($$SELECT count(*), max(modified_at) FROM incr_files
                    WHERE pipeline = 'sales_files' AND path LIKE '%/a.csv'$$,
    $$VALUES (1::bigint, timestamptz '2026-02-01 00:00+00')$$,
    'its new modification time is recorded on its row, so the next run need not read it');

-- changed: other bytes
SELECT pg_temp.put('b.csv', ARRAY['id,amount', '3,30', '5,50'], '2026-02-02 00:00 UTC');
SELECT results_eq($$SELECT * FROM pg_temp.run('sales_files')$$, $$VALUES ('ok', 2::bigint)$$,
    'a file whose content changed is loaded again, whole');
SELECT results_eq($$SELECT rows, size FROM incr_files
                    WHERE pipeline = 'sales_files' AND path LIKE '%/b.csv' ORDER BY run_id$$,
    $$VALUES (1::bigint, 15::bigint), (2, 20)$$,
    'incr_files keeps both versions of the file');
SELECT results_eq($$SELECT * FROM pg_temp.run('sales_files')$$, $$VALUES ('ok', 0::bigint)$$,
    'and loads it once');

-- a file COPY rejects
SELECT pg_temp.put('bad.csv', ARRAY['id,amount', '6,60', 'seven,70'], '2026-03-01 00:00 UTC');
SELECT pg_temp.put('d.csv', ARRAY['id,amount', '8,80'], '2026-02-15 00:00 UTC');
SELECT throws_like($$SELECT incr_run('sales_files')$$,
    '%invalid input syntax for type integer: "seven"%',
    'a file COPY rejects fails the run');
SELECT is((SELECT count(*) FROM sales), 6::bigint, 'no row of the failed run is kept, not even of d.csv, loaded before it');
SELECT is((SELECT count(*) FROM incr_files WHERE pipeline = 'sales_files'), 4::bigint,
    'and no incr_files row');
SELECT is((SELECT checkpoint FROM incr_status WHERE pipeline = 'sales_files'),
    '2026-02-02 00:00:00+00', 'the checkpoint did not move');
SELECT matches((SELECT error FROM incr_runs WHERE pipeline = 'sales_files' AND status = 'error'
                ORDER BY run_id DESC LIMIT 1),
    'invalid input syntax.*bad\.csv',
    'the failure is recorded, naming the file');
SELECT pg_temp.put('bad.csv', ARRAY['id,amount', '6,60', '7,70'], '2026-03-02 00:00 UTC');
SELECT results_eq($$SELECT * FROM pg_temp.run('sales_files')$$, $$VALUES ('ok', 3::bigint)$$,
    'once fixed, the next run loads both files');

-- batch_size and lag
SELECT incr_create_pipeline('batched', target => 'sales', mode => 'files',
    files => pg_temp.dir() || '/*.csv', batch_size => 2,
    copy_options => '{"format": "csv", "header": true, "columns": ["id", "amount"]}');
SELECT results_eq($$SELECT * FROM pg_temp.run('batched') UNION ALL SELECT * FROM pg_temp.run('batched')
                    UNION ALL SELECT * FROM pg_temp.run('batched') UNION ALL SELECT * FROM pg_temp.run('batched')$$,
    $$VALUES ('ok', 3::bigint), ('ok', 3), ('ok', 2), ('ok', 0)$$,
    'batch_size 2 loads two files per run, oldest first, until none is left');
SELECT results_eq($$SELECT replace(path, pg_temp.dir(), '') FROM incr_files
                    WHERE pipeline = 'batched' ORDER BY run_id, modified_at$$,
    $$VALUES ('/old.csv'), ('/a.csv'), ('/b.csv'), ('/d.csv'), ('/bad.csv')$$,
    'in the order of their modification times');

SELECT incr_create_pipeline('settled', target => 'sales', mode => 'files',
    files => pg_temp.dir() || '/*.csv', lag => '1 hour',
    copy_options => '{"format": "csv", "header": true, "columns": ["id", "amount"]}');
SELECT pg_temp.sh('touch ' || pg_temp.dir() || '/d.csv');
SELECT results_eq($$SELECT * FROM pg_temp.run('settled')$$, $$VALUES ('ok', 7::bigint)$$,
    'with a lag, files modified within it are left');
SELECT is((SELECT count(*) FROM incr_files WHERE pipeline = 'settled' AND path LIKE '%/d.csv'),
    0::bigint, 'd.csv, just modified, waits');
SELECT matches(incr_plan('settled'), '0 to load, 4 unchanged since loaded, 1 modified within the lag',
    'incr_plan says it waits');

-- reset and backfill
SELECT incr_reset('sales_files', '2026-02-10 00:00+00');
SELECT results_eq($$SELECT replace(path, pg_temp.dir(), '') FROM incr_files
                    WHERE pipeline = 'sales_files' ORDER BY path$$,
    $$VALUES ('/a.csv'), ('/b.csv'), ('/b.csv'), ('/old.csv')$$,
    'incr_reset to a time forgets the files modified after it');
SELECT results_eq($$SELECT * FROM pg_temp.run('sales_files')$$, $$VALUES ('ok', 3::bigint)$$,
    'the next run loads them again');
SELECT incr_reset('sales_files');
SELECT is((SELECT count(*) FROM incr_files WHERE pipeline = 'sales_files'), 0::bigint,
    'incr_reset without a time forgets every file');
SELECT throws_ok($$SELECT incr_backfill('sales_files', '2026-01-01', '2026-02-01')$$,
    '0A000', 'files pipeline "sales_files" cannot be backfilled',
    'incr_backfill is refused');

-- bad definitions
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => 'in/*.csv')$$,
    '22023', 'files pattern of pipeline "x" must be an absolute path', 'a relative pattern is refused');
SELECT throws_ok(format($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => %L)$$,
                        pg_temp.dir() || '/'),
    '22023', 'files pattern of pipeline "x" names a folder, not files', 'a folder is refused');
SELECT throws_ok(format($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => %L)$$,
                        pg_temp.dir()),
    '22023', 'files pattern of pipeline "x" names a folder, not files', 'a folder without a slash is refused');
SELECT throws_ok(format($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => %L)$$,
                        pg_temp.dir() || '/*/a.csv'),
    '22023', 'files pattern of pipeline "x" may have wildcards in its file name only',
    'wildcards in folder names are refused');
SELECT throws_like($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/no/such/folder/*.csv')$$,
    'could not read folder "/no/such/folder" of files pipeline "x": No such file%', 'a missing folder is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('x', source => 'sales', target => 'sales', mode => 'files', files => '/tmp/*.csv')$$,
    '22023', 'files pipeline "x" takes no source or cursor_column', 'a source is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/tmp/*.csv', keys => ARRAY['id'])$$,
    '22023', 'files pipeline "x" takes no keys', 'keys are refused');
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files')$$,
    '22023', 'files pipeline "x" needs files', 'files are required');
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/tmp/*.csv', copy_options => '["csv"]')$$,
    '22023', 'copy_options of pipeline "x" must be a JSON object', 'copy_options must be an object');
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/tmp/*.csv', copy_options => '{"freeze": true}')$$,
    '22023', 'invalid copy_options entry "freeze" of pipeline "x"', 'an option outside the list is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/tmp/*.csv', copy_options => '{"columns": ["id", 2]}')$$,
    '22023', 'invalid copy_options entry "columns" of pipeline "x"', 'a column name must be a string');
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/tmp/*.csv', copy_options => '{"columns": ["id", "id"]}')$$,
    '42701', 'column "id" is named twice in copy_options "columns" of pipeline "x"',
    'a column named twice is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/tmp/*.csv', copy_options => '{"columns": ["id", "nope"]}')$$,
    '42703', 'column "nope" in copy_options "columns" of pipeline "x" is not a column target "sales" can be loaded into',
    'an unknown column is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/tmp/*.csv',
                   copy_options => '{"format": "csv", "delimiter": ";;"}')$$,
    '0A000', 'COPY delimiter must be a single one-byte character', 'options COPY rejects are refused at creation');
SELECT throws_ok($$SELECT incr_create_pipeline('x', 'sales', 'sales', 'id', files => '/tmp/*.csv')$$,
    '22023', 'option "files" does not apply to mode "append"', 'files on another mode is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/tmp/*.csv',
                   on_schema_change => 'add_columns')$$,
    '22023', 'option "on_schema_change" does not apply to mode "files"', 'on_schema_change is refused');
SELECT pg_temp.sh('mkdir ' || pg_temp.dir() || '/locked && chmod 000 ' || pg_temp.dir() || '/locked');
SELECT throws_like(format($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => %L)$$,
                          pg_temp.dir() || '/locked/*.csv'),
    'could not read folder "%/locked" of files pipeline "x": Permission denied',
    'a folder the server cannot read is refused at creation');

-- a role that may not read server files, then one that may
SELECT set_config('incr_test.dir', pg_temp.dir(), true);
CREATE ROLE incr_files_loader;
GRANT INSERT ON sales TO incr_files_loader;
SET LOCAL ROLE incr_files_loader;
SELECT throws_ok($$SELECT incr_create_pipeline('x', target => 'sales', mode => 'files', files => '/tmp/*.csv')$$,
    '42501', 'permission denied to load files for pipeline "x"',
    'a role that is not a member of pg_read_server_files cannot create a files pipeline');
RESET ROLE;
GRANT pg_read_server_files TO incr_files_loader;
SET LOCAL ROLE incr_files_loader;
SELECT lives_ok(format($$SELECT incr_create_pipeline('loader_files', target => 'sales', mode => 'files',
                          files => %L, copy_options => '{"format": "csv", "header": true, "columns": ["id", "amount"]}')$$,
                       current_setting('incr_test.dir') || '/a.csv'),
    'a member of pg_read_server_files can');
RESET ROLE;
CREATE TABLE guarded (id int, amount numeric);
GRANT INSERT ON guarded TO incr_files_loader;
ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
SET LOCAL ROLE incr_files_loader;
SELECT throws_ok(format($$SELECT incr_create_pipeline('x', target => 'guarded', mode => 'files', files => %L)$$,
                        current_setting('incr_test.dir') || '/a.csv'),
    '0A000', 'files pipeline "x" cannot load into "guarded", which has row-level security for role "incr_files_loader"',
    'a target with row-level security for the owner is refused: COPY FROM could not load it');
RESET ROLE;
REVOKE pg_read_server_files FROM incr_files_loader;
SELECT throws_ok($$SELECT incr_run('loader_files')$$, '42501',
    'permission denied to load files for pipeline "loader_files"',
    'a run as an owner who lost the right is refused');

-- a file that grows while COPY reads it (a statement trigger of the target appends to it)
SELECT pg_temp.sh('mkdir ' || pg_temp.dir() || '/grow');
SELECT pg_temp.put('grow/g.csv', ARRAY['1', '2'], '2026-01-01 00:00 UTC');
CREATE TABLE grown (id int);
CREATE FUNCTION grow_file() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT WHERE false) TO PROGRAM %L', 'echo 3 >> ' || current_setting('incr_test.dir') || '/grow/g.csv');
    RETURN NULL;
END $$;
CREATE TRIGGER grow BEFORE INSERT ON grown FOR EACH STATEMENT EXECUTE FUNCTION grow_file();
SELECT incr_create_pipeline('grow_files', target => 'grown', mode => 'files', files => pg_temp.dir() || '/grow/*.csv');
SELECT throws_like($$SELECT incr_run('grow_files')$$,
    'file "%/grow/g.csv" changed while pipeline "grow_files" was loading it',
    'a file that changed while it loaded fails the run');
SELECT results_eq($$SELECT (SELECT count(*) FROM grown), (SELECT count(*) FROM incr_files WHERE pipeline = 'grow_files')$$,
    $$VALUES (0::bigint, 0::bigint)$$, 'and nothing of it is kept');

-- a file name the database encoding cannot hold stops the run, shown escaped
SELECT pg_temp.sh('mkdir ' || pg_temp.dir() || '/enc && printf "1\n" > "' || pg_temp.dir() || '/enc/caf$(printf ''\351'').csv"');
SELECT incr_create_pipeline('enc_files', target => 'grown', mode => 'files', files => pg_temp.dir() || '/enc/*.csv');
DROP TRIGGER grow ON grown;
SELECT throws_like($$SELECT incr_run('enc_files')$$,
    'name of file "%/enc/caf\\xe9.csv" of pipeline "enc_files" is not valid in encoding "UTF8"',
    'a file name that is not valid in the database encoding stops the run rather than being skipped');
SELECT is((SELECT error FROM incr_runs WHERE pipeline = 'enc_files' ORDER BY run_id DESC LIMIT 1) LIKE '%caf\\xe9.csv%',
    true, 'and the recorded error is valid text, with the name escaped');

-- the folder goes away
SELECT pg_temp.sh('rm -rf ' || pg_temp.dir());
SELECT throws_like($$SELECT incr_run('sales_files')$$,
    'could not read folder "%incr_files_tap" of files pipeline "sales_files": No such file%',
    'a folder that went away is an error, not an empty folder');

SELECT * FROM finish();
ROLLBACK;
