-- incr_verify and incr_repair run the owner's code (a source view's functions)
-- as the owner; whatever settings that code changes are undone when they
-- return: a set_config(..., false) in a view must never become the setting of
-- the superuser (or member) who verifies, or the owner would get the caller's
-- rights on its next unqualified call (search_path) or change what it sees.
BEGIN;
SELECT plan(6);

CREATE ROLE vk_owner;
CREATE SCHEMA vk AUTHORIZATION vk_owner;
GRANT USAGE ON SCHEMA public TO vk_owner;
SET ROLE vk_owner;
CREATE TABLE vk.src_t (id int PRIMARY KEY, v text, ts timestamptz NOT NULL);
CREATE TABLE vk.tgt (id int PRIMARY KEY, v text, ts timestamptz NOT NULL);
CREATE FUNCTION vk.hook() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'vk, pg_catalog', false);
    PERFORM pg_catalog.set_config('work_mem', '1234kB', false);
    RETURN true;
END $$;
CREATE VIEW vk.src AS SELECT * FROM vk.src_t WHERE vk.hook();
INSERT INTO vk.src_t VALUES (1, 'a', '2024-01-01'), (2, 'b', '2024-01-02');
SELECT incr_create_pipeline('vk_p', 'vk.src', 'vk.tgt', 'ts', 'merge', keys => ARRAY['id']);
RESET ROLE;
SELECT rows_inserted FROM incr_run('vk_p');

SET search_path = public, pg_catalog;
SET work_mem = '4MB';
SELECT is((SELECT missing + extra + different FROM incr_verify('vk_p')), 0::bigint,
          'a verify by a superuser over a view that changes settings is clean');
SELECT is(current_setting('search_path'), 'public, pg_catalog',
          'the owner''s set_config(search_path) is undone after incr_verify');
SELECT is(current_setting('work_mem'), '4MB',
          'the owner''s set_config(work_mem) is undone after incr_verify');

UPDATE vk.tgt SET v = 'damaged' WHERE id = 2;
SELECT is((SELECT rows_updated FROM incr_repair('vk_p')), 1::bigint,
          'incr_repair mends the damaged row');
SELECT is(current_setting('search_path'), 'public, pg_catalog',
          'the owner''s set_config(search_path) is undone after incr_repair');
SELECT is(current_setting('work_mem'), '4MB',
          'the owner''s set_config(work_mem) is undone after incr_repair');

SELECT * FROM finish();
ROLLBACK;
