-- keys_nullable: a key that a unique index lets repeat is refused.  A unique
-- index (and ON CONFLICT with it) holds NULLs distinct unless it is created
-- NULLS NOT DISTINCT, so a source row whose key holds a NULL would never
-- match the row loaded from it, and every run that reads it again (the
-- checkpoint's value is read again) would insert it again.  What must hold:
--   * merge, keyed append and scd2 pipelines whose key columns are nullable
--     in the target under an index without NULLS NOT DISTINCT are refused at
--     creation (42P10, a hint naming both remedies), and so is every run of a
--     pipeline whose key column lost its NOT NULL after creation;
--   * under a NULLS NOT DISTINCT index, NULL keys match: two source rows stay
--     two target rows over three runs, in merge and keyed append alike, a
--     merge delete of a NULL-keyed row deletes it, and a unique index on the
--     source that lets NULLs repeat does not pass for proof of unique keys;
--   * a NOT NULL key column accepts no NULL from the source: the run fails
--     with the column's NOT NULL violation and loads nothing.
BEGIN;
SELECT plan(17);
SET LOCAL client_min_messages = warning;

-- Refused at creation: a plain UNIQUE on columns that can hold NULLs.
CREATE TABLE kn_src (id int NOT NULL, region text, at int NOT NULL, v text, gone bool);
CREATE TABLE kn_tgt (id int, region text, at int, v text, UNIQUE (id, region));
SELECT throws_ok($$SELECT incr_create_pipeline('kn_bad', 'kn_src', 'kn_tgt', 'at',
                                               mode => 'merge', keys => ARRAY['id', 'region'])$$,
                 '42P10', 'key column "id" of target "kn_tgt" is nullable and its unique index lets NULLs repeat',
                 'merge: nullable key columns under a plain unique index are refused');
SELECT throws_ok($$SELECT incr_create_pipeline('kn_bad', 'kn_src', 'kn_tgt', 'at',
                                               mode => 'append', keys => ARRAY['id', 'region'])$$,
                 '42P10', 'key column "id" of target "kn_tgt" is nullable and its unique index lets NULLs repeat',
                 'keyed append: refused too');
ALTER TABLE kn_tgt ALTER COLUMN id SET NOT NULL;
SELECT throws_ok($$SELECT incr_create_pipeline('kn_bad', 'kn_src', 'kn_tgt', 'at',
                                               mode => 'merge', keys => ARRAY['id', 'region'])$$,
                 '42P10', 'key column "region" of target "kn_tgt" is nullable and its unique index lets NULLs repeat',
                 'one nullable key column is enough to refuse');

CREATE TABLE kn_hist (id int NOT NULL, region text, v text, valid_from int NOT NULL,
                      valid_to int, is_current bool, UNIQUE (id, region, valid_from));
SELECT throws_ok($$SELECT incr_create_pipeline('kn_bad', 'kn_src', 'kn_hist', 'at',
                                               mode => 'scd2', keys => ARRAY['id', 'region'])$$,
                 '42P10', 'key column "region" of target "kn_hist" is nullable and its unique index lets NULLs repeat',
                 'scd2: refused too');

-- The hint names both remedies.
CREATE FUNCTION pg_temp.kn_hint() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    h text;
BEGIN
    PERFORM incr_create_pipeline('kn_bad', 'kn_src', 'kn_tgt', 'at', mode => 'merge',
                                 keys => ARRAY['id', 'region']);
    RETURN NULL;
EXCEPTION WHEN invalid_column_reference THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN h;
END
$$;
SELECT is(pg_temp.kn_hint(),
          'Make the key columns NOT NULL (ALTER TABLE public.kn_tgt ALTER COLUMN region SET NOT NULL), or back the keys with a unique index created with NULLS NOT DISTINCT.',
          'the hint names SET NOT NULL and NULLS NOT DISTINCT');
SELECT is((SELECT count(*)::int FROM incr_pipelines WHERE name = 'kn_bad'), 0,
          'nothing was created');

-- NULLS NOT DISTINCT: a NULL key matches the row loaded from it.  The
-- NULL-keyed row holds the checkpoint's value, so every run reads it again.
CREATE TABLE kn_nnd (id int, region text, at int, v text,
                     UNIQUE NULLS NOT DISTINCT (id, region));
CREATE TABLE kn_nnd_app (LIKE kn_nnd INCLUDING INDEXES);
SELECT FROM incr_create_pipeline('kn_merge', 'kn_src', 'kn_nnd', 'at', mode => 'merge',
                                 keys => ARRAY['id', 'region'], delete_column => 'gone');
SELECT FROM incr_create_pipeline('kn_app', 'kn_src', 'kn_nnd_app', 'at', mode => 'append',
                                 keys => ARRAY['id', 'region']);
INSERT INTO kn_src VALUES (1, 'eu', 1, 'a', false), (2, NULL, 2, 'b', false);
SELECT FROM incr_run('kn_merge') AS a, incr_run('kn_app') AS b;
SELECT FROM incr_run('kn_merge') AS a, incr_run('kn_app') AS b;
SELECT results_eq($$SELECT r.rows_read::int, r.rows_inserted::int, r.rows_unchanged::int FROM incr_run('kn_merge') AS r$$,
                  $$VALUES (1, 0, 1)$$,
                  'merge: the third run reads the NULL-keyed row again and counts it unchanged');
SELECT results_eq($$SELECT r.rows_read::int, r.rows_inserted::int, r.rows_unchanged::int FROM incr_run('kn_app') AS r$$,
                  $$VALUES (1, 0, 1)$$,
                  'keyed append: the same');
SELECT results_eq('SELECT id, region, v FROM kn_nnd ORDER BY id',
                  $$VALUES (1, 'eu', 'a'), (2, NULL, 'b')$$,
                  'merge: two source rows are two target rows after three runs');
SELECT results_eq('SELECT id, region, v FROM kn_nnd_app ORDER BY id',
                  $$VALUES (1, 'eu', 'a'), (2, NULL, 'b')$$,
                  'keyed append: two source rows are two target rows after three runs');

-- A delete of the NULL-keyed row finds it.
INSERT INTO kn_src VALUES (2, NULL, 3, 'b', true);
SELECT results_eq($$SELECT r.rows_deleted::int FROM incr_run('kn_merge') AS r$$,
                  $$VALUES (1)$$,
                  'merge: a delete of a NULL key deletes its row');
SELECT results_eq('SELECT id, region FROM kn_nnd ORDER BY id',
                  $$VALUES (1, 'eu')$$,
                  'merge: only the other row is left');

-- A unique index on the source that lets NULLs repeat proves nothing: its two
-- (3, NULL) rows are one key for the target's NULLS NOT DISTINCT index.
CREATE TABLE kn_usrc (id int, region text, at int NOT NULL, v text, UNIQUE (id, region));
CREATE TABLE kn_utgt (LIKE kn_nnd INCLUDING INDEXES);
SELECT FROM incr_create_pipeline('kn_u', 'kn_usrc', 'kn_utgt', 'at', mode => 'merge',
                                 keys => ARRAY['id', 'region']);
INSERT INTO kn_usrc VALUES (3, NULL, 1, 'old'), (3, NULL, 2, 'new');
SELECT results_eq($$SELECT r.rows_read::int, r.rows_inserted::int FROM incr_run('kn_u') AS r$$,
                  $$VALUES (2, 1)$$,
                  'a source index that lets NULLs repeat: two rows of one NULL key are inserted once');
SELECT results_eq('SELECT id, region, v FROM kn_utgt',
                  $$VALUES (3, NULL, 'new')$$,
                  'the latest of the two is loaded');

-- A pipeline whose key column lost its NOT NULL after creation: its runs are
-- refused as creation would be.
CREATE TABLE kn_later (id int NOT NULL, region text NOT NULL, at int, v text, gone bool,
                       UNIQUE (id, region));
SELECT FROM incr_create_pipeline('kn_later', 'kn_src', 'kn_later', 'at', mode => 'merge',
                                 keys => ARRAY['id', 'region']);
ALTER TABLE kn_later ALTER COLUMN region DROP NOT NULL;
SELECT throws_ok($$SELECT incr_run('kn_later')$$,
                 '42P10', 'key column "region" of target "kn_later" is nullable and its unique index lets NULLs repeat',
                 'a run of a pipeline whose key column became nullable is refused');

-- A NOT NULL key column and a source row with a NULL key: the run fails
-- with the NOT NULL violation and loads nothing.
ALTER TABLE kn_later ALTER COLUMN region SET NOT NULL;
SELECT throws_ok($$SELECT incr_run('kn_later')$$,
                 '23502', 'null value in column "region" of relation "kn_later" violates not-null constraint',
                 'a NULL key into a NOT NULL key column fails the run with the column''s violation');
SELECT is((SELECT count(*)::int FROM kn_later), 0, 'the failed run loaded nothing');

SELECT * FROM finish();
ROLLBACK;
