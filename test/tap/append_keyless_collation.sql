-- append_keyless_collation: a keyless append recognises rows read again (the
-- checkpoint's value is re-read) by comparing whole rows byte for byte, so a
-- column whose collation ignores case does not make 'SQL' pass for a loaded
-- 'sql'.  What must hold:
--   * a late 'SQL' at the checkpoint's value is loaded as 'SQL' (the
--     source's bytes), not as a second 'sql', and is loaded once;
--   * rows loaded before are still recognised and counted unchanged;
--   * the same holds when the source's column is the case-insensitive one
--     and the target's is not.
BEGIN;
SELECT plan(6);
SET LOCAL client_min_messages = warning;

CREATE COLLATION pg_temp.ak_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

-- A case-insensitive target column.
CREATE TABLE ak_src (w text, at int NOT NULL);
CREATE TABLE ak_tgt (w text COLLATE pg_temp.ak_ci, at int);
SELECT FROM incr_create_pipeline('ak', 'ak_src', 'ak_tgt', 'at', mode => 'append');
INSERT INTO ak_src VALUES ('sql', 1);
SELECT FROM incr_run('ak');
INSERT INTO ak_src VALUES ('SQL', 1);
SELECT results_eq($$SELECT r.rows_read::int, r.rows_inserted::int, r.rows_unchanged::int FROM incr_run('ak') AS r$$,
                  $$VALUES (2, 1, 1)$$,
                  'the late SQL is inserted, the loaded sql counted unchanged');
SELECT results_eq('SELECT w::bytea FROM ak_tgt ORDER BY w COLLATE "C"',
                  $$VALUES ('SQL'::bytea), ('sql'::bytea)$$,
                  'the target holds the source''s bytes: SQL and sql');
SELECT results_eq($$SELECT r.rows_read::int, r.rows_inserted::int, r.rows_unchanged::int FROM incr_run('ak') AS r$$,
                  $$VALUES (2, 0, 2)$$,
                  'read again, both are recognised');

-- A case-insensitive source column into a plain target column.
CREATE TABLE ak_src2 (w text COLLATE pg_temp.ak_ci, at int NOT NULL);
CREATE TABLE ak_tgt2 (w text, at int);
SELECT FROM incr_create_pipeline('ak2', 'ak_src2', 'ak_tgt2', 'at', mode => 'append');
INSERT INTO ak_src2 VALUES ('sql', 1);
SELECT FROM incr_run('ak2');
INSERT INTO ak_src2 VALUES ('SQL', 1);
SELECT results_eq($$SELECT r.rows_read::int, r.rows_inserted::int, r.rows_unchanged::int FROM incr_run('ak2') AS r$$,
                  $$VALUES (2, 1, 1)$$,
                  'a case-insensitive source: the late SQL is inserted');
SELECT results_eq('SELECT w::bytea FROM ak_tgt2 ORDER BY w COLLATE "C"',
                  $$VALUES ('SQL'::bytea), ('sql'::bytea)$$,
                  'a case-insensitive source: the target holds SQL and sql');
SELECT results_eq($$SELECT r.rows_read::int, r.rows_inserted::int, r.rows_unchanged::int FROM incr_run('ak2') AS r$$,
                  $$VALUES (2, 0, 2)$$,
                  'a case-insensitive source: read again, both are recognised');

SELECT * FROM finish();
ROLLBACK;
