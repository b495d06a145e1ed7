-- wal_reset_without_source: incr_reset of a wal pipeline whose publication
-- is gone and whose source was dropped fails with 42P01 naming the missing
-- source (it cannot create the publication again), instead of crashing.
BEGIN;
SELECT plan(2);
SET LOCAL client_min_messages = warning;

CREATE TABLE wr_src (id int PRIMARY KEY, v text);
CREATE TABLE wr_dst (id int PRIMARY KEY, v text);
SELECT FROM incr_create_pipeline('wr', 'wr_src', 'wr_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal');
-- the publication lost (as in a restored dump): its membership, then itself
DELETE FROM pg_depend
WHERE classid = 'pg_publication'::regclass AND deptype = 'e'
  AND objid = (SELECT p.oid FROM pg_publication p JOIN incr_pipelines i ON p.pubname = i.options->>'wal_slot'
               WHERE i.name = 'wr');
SELECT format('DROP PUBLICATION %I', options->>'wal_slot') FROM incr_pipelines WHERE name = 'wr' \gexec
DROP TABLE wr_src;

SELECT throws_ok($$SELECT incr_reset('wr')$$,
    '42P01', 'source of wal pipeline "wr" does not exist', 'incr_reset without the source fails cleanly');
SELECT is((SELECT count(*) FROM pg_publication), 0::bigint, 'no publication is made');

SELECT * FROM finish();
ROLLBACK;
