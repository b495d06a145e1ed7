-- merge_byte_changes: a merge run compares the loaded columns byte for byte,
-- not by their type's equality.  A value that is equal to the target's but
-- written differently is a change and is loaded: numeric 1.0 -> 1.00 (equal
-- by =, another scale), and text 'abc' -> 'ABC' in a target column whose
-- collation ignores case.  The same bytes again are no change.
BEGIN;
SELECT plan(4);
SET LOCAL client_min_messages = warning;

CREATE COLLATION pg_temp.bc_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE bc_src (id int PRIMARY KEY, seq bigint NOT NULL, n numeric, b text);
CREATE TABLE bc_tgt (id int PRIMARY KEY, seq bigint, n numeric, b text COLLATE pg_temp.bc_ci);
SELECT FROM incr_create_pipeline('bc', 'bc_src', 'bc_tgt', 'seq', mode => 'merge', keys => ARRAY['id']);
INSERT INTO bc_src VALUES (1, 1, 1.0, 'x'), (2, 2, 5, 'abc');
SELECT FROM incr_run('bc');

-- the cursor stays: only the values change, and a lag-free re-run re-reads seq 2
UPDATE bc_src SET n = 1.00 WHERE id = 1;
UPDATE bc_src SET seq = 2, b = 'ABC' WHERE id = 2;
UPDATE bc_src SET seq = 2 WHERE id = 1;
SELECT results_eq($$SELECT rows_updated::int, rows_unchanged::int FROM incr_run('bc')$$,
                  $$VALUES (2, 0)$$,
                  'numeric 1.0 -> 1.00 and text abc -> ABC under a case-blind collation are changes');
SELECT is((SELECT n::text FROM bc_tgt WHERE id = 1), '1.00', 'the new scale is loaded');
SELECT is((SELECT b::bytea FROM bc_tgt WHERE id = 2), 'ABC'::bytea, 'the new case is loaded');
SELECT results_eq($$SELECT rows_updated::int, rows_unchanged::int FROM incr_run('bc')$$,
                  $$VALUES (0, 2)$$,
                  'the same bytes read again change nothing');

SELECT * FROM finish();
ROLLBACK;
