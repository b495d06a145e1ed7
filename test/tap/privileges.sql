-- privileges.sql: a pipeline never lets anyone do what their own privileges
-- do not allow.
--   - Creating needs SELECT on the source, USAGE on the schemas, INSERT (and
--     for merge UPDATE) on the target, and SELECT on the target, which every
--     run statement reads; refused with 42501 otherwise.
--   - Runs execute as the pipeline's owner, whoever calls incr_run: a
--     privilege revoked after creation makes the run fail cleanly (42501,
--     target and checkpoint unchanged); target triggers see the owner as
--     current_user even when a superuser calls; row-level security on the
--     source applies to the owner; the run is a security-restricted operation
--     (no temporary tables, no way back to the caller's role); a query
--     pipeline's command runs as the owner too.
--   - Only the owner, members of the owning role (with INHERIT) and
--     superusers may run, plan, reset, backfill, pause, resume, schedule or
--     drop a pipeline (42501 "must be owner of pipeline ...").
--   - Row-level security: a role sees in incr_pipelines, incr_checkpoints,
--     incr_runs, incr_status and incr_backfills only the pipelines it may act
--     on, and not the history of an earlier pipeline of another role that
--     had the same name; incr_pending_rows does not give away the progress
--     of another role's pipeline either.
--   - Nobody but superusers writes the catalog tables directly.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(57);

\o /dev/null

-- Failed runs are committed by the recorder worker and survive the ROLLBACK
-- at the end, so runs of earlier executions of this file may exist.
CREATE TEMP TABLE pv_mark AS SELECT coalesce(max(run_id), 0) AS last_run_id FROM incr_runs;
GRANT SELECT ON pv_mark TO PUBLIC;

-- alice owns pipelines; bob is a stranger; carol is a member of alice;
-- erin is a member of alice without INHERIT; dave lacks privileges.
CREATE ROLE pv_alice NOLOGIN;
CREATE ROLE pv_bob NOLOGIN;
CREATE ROLE pv_carol NOLOGIN IN ROLE pv_alice;
CREATE ROLE pv_erin NOLOGIN NOINHERIT IN ROLE pv_alice;
CREATE ROLE pv_dave NOLOGIN;

-- The SQLSTATE a statement raises, or 'ok'.
CREATE FUNCTION pg_temp.pv_state(sql text) RETURNS text
LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$f$;
GRANT EXECUTE ON FUNCTION pg_temp.pv_state(text) TO PUBLIC;

-- The main source and target.  loaded_by is filled by a trigger with the
-- role the run's INSERT executes as.
CREATE TABLE pv_src (id integer PRIMARY KEY, n bigint NOT NULL, v text);
CREATE INDEX ON pv_src (n);
CREATE TABLE pv_tgt (id integer PRIMARY KEY, n bigint, v text, loaded_by text);
CREATE FUNCTION pv_who() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    NEW.loaded_by := current_user;
    RETURN NEW;
END
$f$;
CREATE TRIGGER pv_who BEFORE INSERT OR UPDATE ON pv_tgt FOR EACH ROW EXECUTE FUNCTION pv_who();
GRANT SELECT ON pv_src TO pv_alice, pv_bob, pv_dave;
GRANT SELECT, INSERT, UPDATE ON pv_tgt TO pv_alice, pv_bob;
INSERT INTO pv_src VALUES (1, 1, 'a'), (2, 2, 'b');

-- Targets dave may only partly use.
CREATE TABLE pv_tgt_noinsert (id integer PRIMARY KEY, n bigint, v text);
GRANT SELECT, UPDATE ON pv_tgt_noinsert TO pv_dave;
CREATE TABLE pv_tgt_noupdate (id integer PRIMARY KEY, n bigint, v text);
GRANT SELECT, INSERT ON pv_tgt_noupdate TO pv_dave;
CREATE TABLE pv_tgt_noselect (id integer PRIMARY KEY, n bigint, v text);
GRANT INSERT, UPDATE ON pv_tgt_noselect TO pv_dave;
CREATE TABLE pv_tgt_dave (id integer PRIMARY KEY, n bigint, v text);
GRANT SELECT, INSERT, UPDATE ON pv_tgt_dave TO pv_dave;
-- A source dave may read, in a schema he may not use.
CREATE SCHEMA pv_hidden;
CREATE TABLE pv_hidden.src (id integer PRIMARY KEY, n bigint NOT NULL, v text);
CREATE INDEX ON pv_hidden.src (n);
GRANT SELECT ON pv_hidden.src TO pv_dave;
CREATE TEMP TABLE pv_oids AS SELECT 'pv_hidden.src'::regclass::oid AS hidden_src;
GRANT SELECT ON pv_oids TO PUBLIC;
\o

-- 1. Creating needs the privileges the runs will use.
SET ROLE pv_dave;
SELECT throws_ok(
    $$SELECT incr_create_pipeline('pv_dave_1', 'pv_src', 'pv_tgt', 'n', 'merge', ARRAY['id'])$$,
    '42501', 'permission denied for target relation "pv_tgt"',
    'create: dave has no INSERT on pv_tgt');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('pv_dave_2', 'pv_src', 'pv_tgt_noinsert', 'n', 'merge', ARRAY['id'])$$,
    '42501', 'permission denied for column "id" of relation "pv_tgt_noinsert"',
    'create: no INSERT on the target');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('pv_dave_3', 'pv_src', 'pv_tgt_noupdate', 'n', 'merge', ARRAY['id'])$$,
    '42501', 'permission denied for column "n" of relation "pv_tgt_noupdate"',
    'create: merge without UPDATE on the target');
SELECT throws_ok(
    $$SELECT incr_create_pipeline('pv_dave_4', 'pv_src', 'pv_tgt_noselect', 'n', 'merge', ARRAY['id'])$$,
    '42501', NULL,
    'create: merge without SELECT on the target (its statement reads the target) is refused up front');
SELECT throws_ok(
    format($$SELECT incr_create_pipeline('pv_dave_5', %s::regclass, 'pv_tgt_dave', 'n', 'merge', ARRAY['id'])$$,
           (SELECT hidden_src FROM pv_oids)),
    '42501', 'permission denied for schema pv_hidden',
    'create: no USAGE on the source''s schema');
RESET ROLE;
REVOKE SELECT ON pv_src FROM pv_dave;
SET ROLE pv_dave;
SELECT throws_ok(
    $$SELECT incr_create_pipeline('pv_dave_6', 'pv_src', 'pv_tgt_dave', 'n', 'merge', ARRAY['id'])$$,
    '42501', 'permission denied for column "n" of relation "pv_src"',
    'create: no SELECT on the source');
RESET ROLE;
SELECT is((SELECT count(*) FROM incr_pipelines WHERE name LIKE 'pv\_dave%'), 0::bigint,
    'none of dave''s attempts created a pipeline');
\o /dev/null
SELECT incr_drop_pipeline(name) FROM incr_pipelines WHERE name LIKE 'pv\_dave%';
\o

-- 2. alice's pipeline runs as alice, whoever calls it.
SET ROLE pv_alice;
SELECT lives_ok(
    $$SELECT incr_create_pipeline('pv_merge', 'pv_src', 'pv_tgt', 'n', 'merge', ARRAY['id'])$$,
    'alice creates a merge pipeline over relations she may use');
RESET ROLE;
SELECT lives_ok($$SELECT incr_run('pv_merge')$$, 'a superuser runs alice''s pipeline');
SELECT results_eq('SELECT id, n, v, loaded_by FROM pv_tgt ORDER BY id',
    $$VALUES (1, 1::bigint, 'a', 'pv_alice'), (2, 2, 'b', 'pv_alice')$$,
    'the target trigger saw current_user = pv_alice though a superuser called incr_run');

-- 3. Privileges revoked after creation: runs fail cleanly with 42501.
INSERT INTO pv_src VALUES (3, 3, 'c');
CREATE TEMP TABLE pv_cp_before AS
    SELECT value_numeric, moved_by_run FROM incr_checkpoints WHERE pipeline = 'pv_merge';
REVOKE SELECT ON pv_src FROM pv_alice;
SET ROLE pv_alice;
SELECT throws_ok($$SELECT incr_run('pv_merge')$$,
    '42501', 'permission denied for column "n" of relation "pv_src"',
    'run after SELECT on the source was revoked');
RESET ROLE;
SELECT throws_ok($$SELECT incr_run('pv_merge')$$,
    '42501', 'permission denied for column "n" of relation "pv_src"',
    'run by a superuser after the owner lost SELECT on the source: still refused');
GRANT SELECT ON pv_src TO pv_alice;
REVOKE INSERT ON pv_tgt FROM pv_alice;
SET ROLE pv_alice;
SELECT throws_ok($$SELECT incr_run('pv_merge')$$,
    '42501', 'permission denied for column "id" of relation "pv_tgt"',
    'run after INSERT on the target was revoked');
RESET ROLE;
GRANT INSERT ON pv_tgt TO pv_alice;
REVOKE UPDATE ON pv_tgt FROM pv_alice;
SET ROLE pv_alice;
SELECT throws_ok($$SELECT incr_run('pv_merge')$$,
    '42501', 'permission denied for column "n" of relation "pv_tgt"',
    'merge run after UPDATE on the target was revoked');
RESET ROLE;
GRANT UPDATE ON pv_tgt TO pv_alice;
REVOKE SELECT ON pv_tgt FROM pv_alice;
SET ROLE pv_alice;
SELECT throws_ok($$SELECT incr_run('pv_merge')$$,
    '42501', NULL,
    'merge run after SELECT on the target was revoked');
RESET ROLE;
GRANT SELECT ON pv_tgt TO pv_alice;
SELECT results_eq('SELECT id, n, v FROM pv_tgt ORDER BY id',
    $$VALUES (1, 1::bigint, 'a'), (2, 2, 'b')$$,
    'the refused runs wrote nothing: row 3 is not in the target');
SELECT results_eq(
    $$SELECT value_numeric, moved_by_run FROM incr_checkpoints WHERE pipeline = 'pv_merge'$$,
    'SELECT value_numeric, moved_by_run FROM pv_cp_before',
    'the refused runs left the checkpoint where it was');
SELECT results_eq(
    $$SELECT status, error FROM incr_runs
      WHERE pipeline = 'pv_merge' AND run_id > (SELECT last_run_id FROM pv_mark) ORDER BY run_id
      LIMIT 5$$,
    $$VALUES ('ok', NULL::text),
             ('error', 'permission denied for column "n" of relation "pv_src"'),
             ('error', 'permission denied for column "n" of relation "pv_src"'),
             ('error', 'permission denied for column "id" of relation "pv_tgt"'),
             ('error', 'permission denied for column "n" of relation "pv_tgt"')$$,
    'each refused run is recorded as an error with its message');
SELECT is((SELECT count(*) FROM incr_runs
           WHERE pipeline = 'pv_merge' AND run_id > (SELECT last_run_id FROM pv_mark)
             AND status = 'error' AND error LIKE 'permission denied for %'), 5::bigint,
    'the run refused for want of SELECT on the target is recorded too');
SET ROLE pv_alice;
SELECT lives_ok($$SELECT incr_run('pv_merge')$$, 'with the privileges back, alice runs it');
RESET ROLE;
SELECT results_eq('SELECT id, loaded_by FROM pv_tgt ORDER BY id',
    $$VALUES (1, 'pv_alice'), (2, 'pv_alice'), (3, 'pv_alice')$$,
    'and row 3 is loaded, as alice');

-- USAGE on the schema of the source, revoked after creation.
CREATE SCHEMA pv_sch;
CREATE TABLE pv_sch.src (id integer PRIMARY KEY, n bigint NOT NULL, v text);
CREATE INDEX ON pv_sch.src (n);
INSERT INTO pv_sch.src VALUES (1, 1, 'a');
CREATE TABLE pv_sch_tgt (id integer PRIMARY KEY, n bigint, v text);
GRANT USAGE ON SCHEMA pv_sch TO pv_alice;
GRANT SELECT ON pv_sch.src TO pv_alice;
GRANT SELECT, INSERT, UPDATE ON pv_sch_tgt TO pv_alice;
SET ROLE pv_alice;
SELECT incr_create_pipeline('pv_sch', 'pv_sch.src', 'pv_sch_tgt', 'n', 'merge', ARRAY['id']) IS NOT NULL AS created \gset
RESET ROLE;
REVOKE USAGE ON SCHEMA pv_sch FROM pv_alice;
SELECT throws_ok($$SELECT incr_run('pv_sch')$$,
    '42501', 'permission denied for schema pv_sch',
    'run after USAGE on the source''s schema was revoked');
SELECT is((SELECT count(*) FROM pv_sch_tgt), 0::bigint, 'and it loaded nothing');

-- 4. A stranger may not act on alice's pipeline.
SET ROLE pv_bob;
SELECT throws_ok($$SELECT incr_run('pv_merge')$$, '42501',
    'must be owner of pipeline "pv_merge"', 'bob: incr_run');
SELECT throws_ok($$SELECT incr_reset('pv_merge', '0')$$, '42501',
    'must be owner of pipeline "pv_merge"', 'bob: incr_reset');
SELECT throws_ok($$SELECT incr_backfill('pv_merge', '1', '3')$$, '42501',
    'must be owner of pipeline "pv_merge"', 'bob: incr_backfill');
SELECT throws_ok($$SELECT incr_pause('pv_merge')$$, '42501',
    'must be owner of pipeline "pv_merge"', 'bob: incr_pause');
SELECT throws_ok($$SELECT incr_resume('pv_merge')$$, '42501',
    'must be owner of pipeline "pv_merge"', 'bob: incr_resume');
SELECT throws_ok($$SELECT incr_plan('pv_merge')$$, '42501',
    'must be owner of pipeline "pv_merge"', 'bob: incr_plan');
SELECT throws_ok($$SELECT incr_schedule('pv_merge', '1 minute')$$, '42501',
    'must be owner of pipeline "pv_merge"', 'bob: incr_schedule');
SELECT throws_ok($$SELECT incr_drop_pipeline('pv_merge')$$, '42501',
    'must be owner of pipeline "pv_merge"', 'bob: incr_drop_pipeline');
RESET ROLE;
SET ROLE pv_erin;
SELECT throws_ok($$SELECT incr_run('pv_merge')$$, '42501',
    'must be owner of pipeline "pv_merge"',
    'erin, a member of alice without INHERIT, may not run it either');
RESET ROLE;

-- 5. A member of the owning role may do all of it; the run is still alice's.
INSERT INTO pv_src VALUES (4, 4, 'd');
SET ROLE pv_carol;
SELECT results_eq(
    $$SELECT pg_temp.pv_state(s) FROM unnest(ARRAY[
        'SELECT incr_plan(''pv_merge'')',
        'SELECT incr_pause(''pv_merge'')',
        'SELECT incr_resume(''pv_merge'')',
        'SELECT incr_run(''pv_merge'')',
        'SELECT incr_backfill(''pv_merge'', ''1'', ''4'')',
        'SELECT incr_reset(''pv_merge'', ''4'')',
        'SELECT incr_schedule(''pv_merge'', ''1 hour'')',
        'SELECT incr_unschedule(''pv_merge'')']) AS s$$,
    $$VALUES ('ok'), ('ok'), ('ok'), ('ok'), ('ok'), ('ok'), ('ok'), ('ok')$$,
    'carol, a member of alice, may plan, pause, resume, run, backfill, reset and schedule');
RESET ROLE;
SELECT results_eq('SELECT id, loaded_by FROM pv_tgt WHERE id = 4',
    $$VALUES (4, 'pv_alice')$$,
    'carol''s run inserted as alice, the owner');

-- 6. Row-level security on the catalog.  bob has a pipeline of his own.
CREATE TABLE pv_bob_tgt (id integer PRIMARY KEY, n bigint, v text);
GRANT SELECT, INSERT, UPDATE ON pv_bob_tgt TO pv_bob;
SET ROLE pv_bob;
SELECT lives_ok(
    $$SELECT incr_create_pipeline('pv_bobs', 'pv_src', 'pv_bob_tgt', 'n', 'append', ARRAY['id'])$$,
    'bob creates a pipeline of his own');
SELECT lives_ok($$SELECT incr_run('pv_bobs')$$, 'and runs it');
RESET ROLE;
CREATE TEMP VIEW pv_seen WITH (security_invoker = true) AS
SELECT (SELECT array_agg(name ORDER BY name) FROM incr_pipelines WHERE name LIKE 'pv\_%') AS pipelines,
       (SELECT array_agg(pipeline ORDER BY pipeline) FROM incr_checkpoints WHERE pipeline LIKE 'pv\_%') AS checkpoints,
       (SELECT array_agg(DISTINCT pipeline ORDER BY pipeline) FROM incr_runs
        WHERE pipeline LIKE 'pv\_%' AND run_id > (SELECT last_run_id FROM pv_mark)) AS runs,
       (SELECT array_agg(pipeline ORDER BY pipeline) FROM incr_status WHERE pipeline LIKE 'pv\_%') AS status,
       (SELECT array_agg(DISTINCT pipeline ORDER BY pipeline) FROM incr_backfills
        WHERE pipeline LIKE 'pv\_%' AND run_id > (SELECT last_run_id FROM pv_mark)) AS backfills;
GRANT SELECT ON pv_seen TO PUBLIC;
SET ROLE pv_bob;
SELECT results_eq('SELECT * FROM pv_seen',
    $$VALUES ('{pv_bobs}'::text[], '{pv_bobs}'::text[], '{pv_bobs}'::text[], '{pv_bobs}'::text[], NULL::text[])$$,
    'bob sees only his own pipeline in incr_pipelines, incr_checkpoints, incr_runs, incr_status and incr_backfills');
RESET ROLE;
SET ROLE pv_alice;
SELECT results_eq('SELECT * FROM pv_seen',
    $$VALUES ('{pv_merge,pv_sch}'::text[], '{pv_merge,pv_sch}'::text[], '{pv_merge,pv_sch}'::text[],
              '{pv_merge,pv_sch}'::text[], '{pv_merge}'::text[])$$,
    'alice sees only hers, with its history and backfills');
RESET ROLE;
SET ROLE pv_carol;
SELECT results_eq('SELECT * FROM pv_seen',
    $$VALUES ('{pv_merge,pv_sch}'::text[], '{pv_merge,pv_sch}'::text[], '{pv_merge,pv_sch}'::text[],
              '{pv_merge,pv_sch}'::text[], '{pv_merge}'::text[])$$,
    'carol, a member of alice, sees alice''s');
RESET ROLE;
SELECT results_eq('SELECT * FROM pv_seen',
    $$VALUES ('{pv_bobs,pv_merge,pv_sch}'::text[], '{pv_bobs,pv_merge,pv_sch}'::text[],
              '{pv_bobs,pv_merge,pv_sch}'::text[], '{pv_bobs,pv_merge,pv_sch}'::text[], '{pv_merge}'::text[])$$,
    'a superuser sees all of them');
SET ROLE pv_bob;
SELECT ok(pg_temp.pv_state($$SELECT 1 / (incr_pending_rows('pv_merge') IS NULL)::integer$$) IN ('ok', '42501'),
    'incr_pending_rows tells bob nothing about alice''s checkpoint (NULL, or an error 42501)');
RESET ROLE;

-- The history of a dropped pipeline does not pass to a new pipeline of
-- another role that reuses the name.
SET ROLE pv_bob;
SELECT lives_ok($$SELECT incr_drop_pipeline('pv_bobs')$$, 'bob drops his pipeline');
RESET ROLE;
CREATE TABLE pv_reuse_tgt (id integer PRIMARY KEY, n bigint, v text);
GRANT SELECT, INSERT, UPDATE ON pv_reuse_tgt TO pv_alice;
SET ROLE pv_alice;
SELECT lives_ok(
    $$SELECT incr_create_pipeline('pv_bobs', 'pv_src', 'pv_reuse_tgt', 'n', 'append', ARRAY['id'])$$,
    'alice creates a pipeline with the name bob used');
SELECT is((SELECT count(*) FROM incr_runs WHERE pipeline = 'pv_bobs'), 0::bigint,
    'alice does not see the runs of bob''s earlier pipeline of that name');
RESET ROLE;

-- 7. Nobody but superusers writes the catalog directly.
SET ROLE pv_alice;
SELECT results_eq(
    $$SELECT s, pg_temp.pv_state(s) FROM unnest(ARRAY[
        'INSERT INTO incr_pipelines (name, source, target, cursor_column, cursor_type, mode, owner)
           VALUES (''pv_forged'', ''pv_src'', ''pv_tgt'', ''n'', ''bigint'', ''append'', ''pv_alice'')',
        'UPDATE incr_pipelines SET owner = ''pv_bob'' WHERE name = ''pv_merge''',
        'DELETE FROM incr_pipelines WHERE name = ''pv_merge''',
        'TRUNCATE incr_pipelines CASCADE',
        'INSERT INTO incr_checkpoints (pipeline) VALUES (''pv_forged'')',
        'UPDATE incr_checkpoints SET value_numeric = 0 WHERE pipeline = ''pv_merge''',
        'DELETE FROM incr_checkpoints WHERE pipeline = ''pv_merge''',
        'TRUNCATE incr_checkpoints',
        'INSERT INTO incr_runs (pipeline, trigger, started_at, status) VALUES (''pv_merge'', ''manual'', now(), ''ok'')',
        'UPDATE incr_runs SET status = ''ok'' WHERE pipeline = ''pv_merge''',
        'DELETE FROM incr_runs WHERE pipeline = ''pv_merge''',
        'TRUNCATE incr_runs',
        'SELECT nextval(''incr_runs_run_id_seq'')',
        'ALTER TABLE incr_pipelines DISABLE ROW LEVEL SECURITY',
        'DROP POLICY incr_runs_owner ON incr_runs']) AS s$$,
    $$SELECT s, '42501' FROM unnest(ARRAY[
        'INSERT INTO incr_pipelines (name, source, target, cursor_column, cursor_type, mode, owner)
           VALUES (''pv_forged'', ''pv_src'', ''pv_tgt'', ''n'', ''bigint'', ''append'', ''pv_alice'')',
        'UPDATE incr_pipelines SET owner = ''pv_bob'' WHERE name = ''pv_merge''',
        'DELETE FROM incr_pipelines WHERE name = ''pv_merge''',
        'TRUNCATE incr_pipelines CASCADE',
        'INSERT INTO incr_checkpoints (pipeline) VALUES (''pv_forged'')',
        'UPDATE incr_checkpoints SET value_numeric = 0 WHERE pipeline = ''pv_merge''',
        'DELETE FROM incr_checkpoints WHERE pipeline = ''pv_merge''',
        'TRUNCATE incr_checkpoints',
        'INSERT INTO incr_runs (pipeline, trigger, started_at, status) VALUES (''pv_merge'', ''manual'', now(), ''ok'')',
        'UPDATE incr_runs SET status = ''ok'' WHERE pipeline = ''pv_merge''',
        'DELETE FROM incr_runs WHERE pipeline = ''pv_merge''',
        'TRUNCATE incr_runs',
        'SELECT nextval(''incr_runs_run_id_seq'')',
        'ALTER TABLE incr_pipelines DISABLE ROW LEVEL SECURITY',
        'DROP POLICY incr_runs_owner ON incr_runs']) AS s$$,
    'a pipeline owner cannot insert, update, delete or truncate the catalog, nor lift its row-level security (42501)');
RESET ROLE;
SELECT results_eq(
    $$SELECT name, owner::text, enabled FROM incr_pipelines WHERE name LIKE 'pv\_%' ORDER BY name$$,
    $$VALUES ('pv_bobs', 'pv_alice', true), ('pv_merge', 'pv_alice', true), ('pv_sch', 'pv_alice', true)$$,
    'the catalog is as the functions left it');

-- 8. Row-level security on the source applies to the owner, whoever calls.
CREATE TABLE pv_rls_src (id integer PRIMARY KEY, n bigint NOT NULL, v text);
CREATE INDEX ON pv_rls_src (n);
ALTER TABLE pv_rls_src ENABLE ROW LEVEL SECURITY;
CREATE POLICY pv_rls_hide ON pv_rls_src FOR SELECT TO pv_alice USING (v IS DISTINCT FROM 'secret');
GRANT SELECT ON pv_rls_src TO pv_alice;
INSERT INTO pv_rls_src VALUES (1, 1, 'a'), (2, 2, 'secret'), (3, 3, 'c');
CREATE TABLE pv_rls_tgt (id integer PRIMARY KEY, n bigint, v text);
GRANT SELECT, INSERT, UPDATE ON pv_rls_tgt TO pv_alice;
SET ROLE pv_alice;
SELECT lives_ok(
    $$SELECT incr_create_pipeline('pv_rls', 'pv_rls_src', 'pv_rls_tgt', 'n', 'merge', ARRAY['id'])$$,
    'alice creates a pipeline over a source with a policy that hides a row from her');
RESET ROLE;
SELECT results_eq($$SELECT status, rows_read, rows_inserted FROM incr_run('pv_rls')$$,
    $$VALUES ('ok', 2::bigint, 2::bigint)$$,
    'a superuser''s run of it reads the two rows alice may see');
SELECT results_eq('SELECT id, v FROM pv_rls_tgt ORDER BY id',
    $$VALUES (1, 'a'), (3, 'c')$$,
    'the row hidden from the owner is not loaded');
SET LOCAL row_security = off;
SELECT throws_ok($$SELECT incr_backfill('pv_rls', '1', '3')$$, '42501',
    'query would be affected by row-level security policy for table "pv_rls_src"',
    'with row_security off, a run refuses rather than bypass the owner''s policy');
RESET row_security;

-- 9. A run is a security-restricted operation.
CREATE TABLE pv_sro_tgt (id integer PRIMARY KEY, n bigint, v text);
CREATE FUNCTION pv_sro_temp() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    CREATE TEMP TABLE pv_sro_scratch (x integer);
    RETURN NEW;
END
$f$;
CREATE TRIGGER pv_sro_temp BEFORE INSERT ON pv_sro_tgt FOR EACH ROW EXECUTE FUNCTION pv_sro_temp();
GRANT SELECT, INSERT, UPDATE ON pv_sro_tgt TO pv_alice;
SET ROLE pv_alice;
SELECT lives_ok(
    $$SELECT incr_create_pipeline('pv_sro', 'pv_src', 'pv_sro_tgt', 'n', 'append', ARRAY['id'])$$,
    'alice creates a pipeline into a target whose trigger creates a temporary table');
RESET ROLE;
SELECT throws_ok($$SELECT incr_run('pv_sro')$$, '42501',
    'cannot create temporary table within security-restricted operation',
    'the trigger cannot create a temporary table during the run');
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM pv_sro_tgt), c.value_numeric, to_regclass('pg_temp.pv_sro_scratch')
      FROM incr_checkpoints c WHERE c.pipeline = 'pv_sro'$$,
    $$VALUES (0::bigint, NULL::numeric, NULL::regclass)$$,
    'the failed run left no row, no checkpoint and no temporary table');

-- A target trigger cannot turn back into the superuser who called the run.
CREATE TABLE pv_esc_tgt (id integer PRIMARY KEY, n bigint, v text);
CREATE TABLE pv_esc_stmt (stmt text);
INSERT INTO pv_esc_stmt VALUES ('SELECT 1');
CREATE FUNCTION pv_esc() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE (SELECT stmt FROM pv_esc_stmt);
    RETURN NEW;
END
$f$;
CREATE TRIGGER pv_esc BEFORE INSERT ON pv_esc_tgt FOR EACH ROW EXECUTE FUNCTION pv_esc();
GRANT SELECT, INSERT, UPDATE ON pv_esc_tgt TO pv_alice;
GRANT SELECT ON pv_esc_stmt TO pv_alice;
SET ROLE pv_alice;
SELECT incr_create_pipeline('pv_esc', 'pv_src', 'pv_esc_tgt', 'n', 'append', ARRAY['id']) IS NOT NULL AS created \gset
RESET ROLE;
CREATE FUNCTION pg_temp.pv_esc_try(s text) RETURNS text
LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE pv_esc_stmt SET stmt = s;
    RETURN pg_temp.pv_state('SELECT incr_run(''pv_esc'')');
END
$f$;
SELECT results_eq(
    $$SELECT s, pg_temp.pv_esc_try(s)
      FROM unnest(ARRAY['RESET ROLE', 'SET ROLE NONE', 'SET SESSION AUTHORIZATION DEFAULT',
                        'RESET SESSION AUTHORIZATION']) AS s$$,
    $$SELECT s, '42501' FROM unnest(ARRAY['RESET ROLE', 'SET ROLE NONE', 'SET SESSION AUTHORIZATION DEFAULT',
                                         'RESET SESSION AUTHORIZATION']) AS s$$,
    'a trigger of the target cannot reset the role or session authorization during a superuser''s run');
SELECT is((SELECT count(*) FROM pv_esc_tgt), 0::bigint, 'and those runs loaded nothing');

-- A query pipeline's command runs as the owner too.
CREATE TABLE pv_q_log (who text, n bigint);
GRANT SELECT, INSERT ON pv_q_log TO pv_alice;
SET ROLE pv_alice;
SELECT incr_create_pipeline('pv_query', 'pv_src', 'pv_q_log', 'n', 'query',
    command => 'INSERT INTO pv_q_log SELECT current_user, max(n) FROM pv_src WHERE n > $1 AND n <= $2')
    IS NOT NULL AS created \gset
RESET ROLE;
SELECT lives_ok($$SELECT incr_run('pv_query')$$, 'a superuser runs alice''s query pipeline');
SELECT results_eq('SELECT who FROM pv_q_log', $$VALUES ('pv_alice')$$,
    'its command ran as alice');

SELECT * FROM finish();
ROLLBACK;
