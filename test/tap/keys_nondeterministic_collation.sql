-- keys_nondeterministic_collation: a target key whose collation ignores case
-- (nondeterministic ICU) is one key for 'ann@x.org' and 'Ann@X.org', and a
-- run must treat the two as the key index does, whatever the source's
-- collation.  What must hold, in merge, keyed append, scd2 and cdc:
--   * rows of one window that the key index holds equal are one key: the
--     run writes it once (not "ON CONFLICT DO UPDATE command cannot affect
--     row a second time", which would stop the pipeline for good);
--   * merge updates the loaded row (its key keeps the bytes loaded first),
--     keyed append keeps the first version, scd2 opens one version, cdc
--     applies the last event;
--   * deletes (merge, cdc) and scd2's version match find the row whatever
--     the case of the source's key;
--   * a unique index on the source in its own (deterministic) collation does
--     not pass for proof that the keys are unique in the target's.
BEGIN;
SELECT plan(14);
SET LOCAL client_min_messages = warning;

CREATE COLLATION pg_temp.kc_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

-- merge, with hard deletes, and keyed append, from one plain-text source.
CREATE TABLE kc_src (email text NOT NULL, at int NOT NULL, v text, gone bool NOT NULL DEFAULT false);
CREATE TABLE kc_merge (email text COLLATE pg_temp.kc_ci PRIMARY KEY, at int, v text);
CREATE TABLE kc_app (email text COLLATE pg_temp.kc_ci PRIMARY KEY, at int, v text);
SELECT FROM incr_create_pipeline('kc_merge', 'kc_src', 'kc_merge', 'at', mode => 'merge',
                                 keys => ARRAY['email'], delete_column => 'gone');
SELECT FROM incr_create_pipeline('kc_app', 'kc_src', 'kc_app', 'at', mode => 'append',
                                 keys => ARRAY['email']);
INSERT INTO kc_src VALUES ('ann@x.org', 1, 'a');
SELECT FROM incr_run('kc_merge') AS a, incr_run('kc_app') AS b;
INSERT INTO kc_src VALUES ('Ann@X.org', 2, 'b');
SELECT results_eq($$SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int FROM incr_run('kc_merge') AS r$$,
                  $$VALUES (2, 0, 1)$$,
                  'merge: ann@x.org and Ann@X.org in one window are one key, updated once');
SELECT results_eq($$SELECT r.rows_read::int, r.rows_inserted::int, r.rows_unchanged::int FROM incr_run('kc_app') AS r$$,
                  $$VALUES (2, 0, 2)$$,
                  'keyed append: the key is loaded already, nothing is inserted');
SELECT results_eq('SELECT email::bytea, at, v FROM kc_merge',
                  $$VALUES ('ann@x.org'::bytea, 2, 'b')$$,
                  'merge: the loaded row holds the latest values');
SELECT results_eq('SELECT email::bytea, at, v FROM kc_app',
                  $$VALUES ('ann@x.org'::bytea, 1, 'a')$$,
                  'keyed append: the first version stays');
SELECT results_eq($$SELECT r.rows_read::int, r.rows_updated::int, r.rows_unchanged::int FROM incr_run('kc_merge') AS r$$,
                  $$VALUES (1, 0, 1)$$,
                  'merge: the next run goes on');

-- A delete under the other case finds the row.
INSERT INTO kc_src VALUES ('ANN@X.ORG', 3, 'b', true);
SELECT results_eq($$SELECT r.rows_deleted::int FROM incr_run('kc_merge') AS r$$,
                  $$VALUES (1)$$,
                  'merge: a delete of ANN@X.ORG deletes ann@x.org');
SELECT is((SELECT count(*)::int FROM kc_merge), 0, 'merge: the row is gone');

-- A source whose own unique index tells the two apart.
CREATE TABLE kc_usrc (email text PRIMARY KEY, at int NOT NULL, v text);
CREATE TABLE kc_utgt (email text COLLATE pg_temp.kc_ci PRIMARY KEY, at int, v text);
SELECT FROM incr_create_pipeline('kc_u', 'kc_usrc', 'kc_utgt', 'at', mode => 'merge',
                                 keys => ARRAY['email']);
INSERT INTO kc_usrc VALUES ('bob@x.org', 1, 'a'), ('Bob@X.org', 2, 'b');
SELECT results_eq($$SELECT r.rows_inserted::int FROM incr_run('kc_u') AS r$$,
                  $$VALUES (1)$$,
                  'a unique source in another collation: one key, inserted once');
SELECT is((SELECT v FROM kc_utgt), 'b', 'the latest of the two is loaded');

-- scd2: two new rows of one key in a window open one version.
CREATE TABLE kc_hist (email text COLLATE pg_temp.kc_ci NOT NULL, v text, valid_from int NOT NULL,
                      valid_to int, is_current bool, UNIQUE (email, valid_from));
SELECT FROM incr_create_pipeline('kc_scd2', 'kc_src', 'kc_hist', 'at', mode => 'scd2',
                                 keys => ARRAY['email'], delete_column => 'gone');
SELECT results_eq($$SELECT r.rows_inserted::int, r.rows_deleted::int FROM incr_run('kc_scd2') AS r$$,
                  $$VALUES (0, 0)$$,
                  'scd2: the key''s only version in the window is a delete, nothing opens');
INSERT INTO kc_src VALUES ('carl@x.org', 4, 'a'), ('Carl@X.org', 5, 'b');
SELECT FROM incr_run('kc_scd2');
SELECT results_eq($$SELECT email::bytea, v, valid_from, valid_to, is_current FROM kc_hist WHERE email = 'CARL@X.ORG'$$,
                  $$VALUES ('Carl@X.org'::bytea, 'b', 5, NULL::int, true)$$,
                  'scd2: Carl@X.org and carl@x.org in one window open one current version');

-- cdc (flat layout): the last event of a key in the window wins.
CREATE TABLE kc_events (email text NOT NULL, op text NOT NULL, at int NOT NULL, v text);
CREATE TABLE kc_cdc (email text COLLATE pg_temp.kc_ci PRIMARY KEY, v text);
SELECT FROM incr_create_pipeline('kc_cdc', 'kc_events', 'kc_cdc', 'at', mode => 'cdc',
                                 keys => ARRAY['email'], op_column => 'op');
INSERT INTO kc_events VALUES ('dan@x.org', 'c', 1, 'a'), ('DAN@x.org', 'u', 2, 'b'),
                             ('eve@x.org', 'c', 3, 'a');
SELECT results_eq($$SELECT r.rows_inserted::int, r.rows_updated::int FROM incr_run('kc_cdc') AS r$$,
                  $$VALUES (2, 0)$$,
                  'cdc: two events of one key in a window are applied once');
SELECT results_eq('SELECT email::bytea, v FROM kc_cdc ORDER BY email',
                  $$VALUES ('DAN@x.org'::bytea, 'b'), ('eve@x.org'::bytea, 'a')$$,
                  'cdc: the last event of the key wins');
INSERT INTO kc_events VALUES ('Eve@X.org', 'd', 4, NULL);
SELECT FROM incr_run('kc_cdc');
SELECT results_eq('SELECT email::bytea FROM kc_cdc',
                  $$VALUES ('DAN@x.org'::bytea)$$,
                  'cdc: a delete under another case deletes the row');

SELECT * FROM finish();
ROLLBACK;
