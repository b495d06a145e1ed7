-- wal_owner_needs_wal_role: only a role that may hold a replication slot
-- may own a wal pipeline: a superuser, a role with REPLICATION, or a member
-- of role incremental_wal (the extension's script makes it, NOLOGIN).  Any
-- other role is refused at creation with 42501 (a slot keeps WAL and catalog
-- rows for the whole cluster), and nothing is created; granted
-- incremental_wal, or REPLICATION, the same role may.
BEGIN;
SELECT plan(6);
SET LOCAL client_min_messages = warning;

SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'incremental_wal'), false,
    'the role incremental_wal exists and cannot log in');
CREATE ROLE wo_etl;
CREATE TABLE wo_src (id int PRIMARY KEY, v text);
CREATE TABLE wo_dst (id int PRIMARY KEY, v text);
GRANT SELECT ON wo_src TO wo_etl;
GRANT ALL ON wo_dst TO wo_etl;

SET LOCAL ROLE wo_etl;
SELECT throws_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '42501', 'role "wo_etl" cannot create wal pipeline "wo"',
    'a role without REPLICATION nor incremental_wal is refused');
RESET ROLE;
SELECT is((SELECT count(*) FROM pg_publication)::int, 0, 'the refusal left no publication');

GRANT incremental_wal TO wo_etl;
SET LOCAL ROLE wo_etl;
SELECT lives_ok($$SELECT incr_create_pipeline('wo', 'wo_src', 'wo_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    'a member of incremental_wal may');
RESET ROLE;
REVOKE incremental_wal FROM wo_etl;
ALTER ROLE wo_etl REPLICATION;
SET LOCAL ROLE wo_etl;
SELECT lives_ok($$SELECT incr_create_pipeline('wo2', 'wo_src', 'wo_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    'a role with REPLICATION may');
RESET ROLE;
SELECT is((SELECT count(*) FROM incr_pipelines WHERE owner = 'wo_etl'::regrole)::int, 2, 'both are owned by the role');

SELECT * FROM finish();
ROLLBACK;
