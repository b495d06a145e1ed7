-- status_runs_as_owner.sql: reading incr_status never runs a pipeline
-- owner's code with the reader's rights.
--   - The pending-row count of incr_status (incr_pending_rows) reads the
--     source as the pipeline's owner, restricted as a run is: a function in
--     the source view's WHERE sees current_user = the owner when a superuser
--     reads incr_status, cannot create a temporary table, cannot make its
--     owner a superuser, and the settings it changes are undone afterwards.
--   - The count is bounded in time: a source that sleeps yields rows_pending
--     NULL after about 5 seconds instead of hanging incr_status.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(6);

\o /dev/null

CREATE ROLE sro_mallory NOLOGIN;

-- What the spy saw, each time the view's WHERE called it.
CREATE TABLE sro_seen (who text, temp_table text, escalation text);
ALTER TABLE sro_seen OWNER TO sro_mallory;

CREATE FUNCTION sro_spy() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    t text;
    s text;
BEGIN
    BEGIN
        CREATE TEMP TABLE sro_tmp (x int);
        DROP TABLE sro_tmp;
        t := 'created';
    EXCEPTION WHEN OTHERS THEN
        t := SQLSTATE;
    END;
    BEGIN
        ALTER ROLE sro_mallory SUPERUSER;
        s := 'escalated';
    EXCEPTION WHEN OTHERS THEN
        s := SQLSTATE;
    END;
    PERFORM pg_catalog.set_config('work_mem', '1234kB', false);
    INSERT INTO sro_seen VALUES (current_user, t, s);
    RETURN true;
END
$f$;
ALTER FUNCTION sro_spy() OWNER TO sro_mallory;

CREATE FUNCTION sro_sleepy() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    PERFORM pg_catalog.pg_sleep(30);
    RETURN true;
END
$f$;
ALTER FUNCTION sro_sleepy() OWNER TO sro_mallory;

CREATE TABLE sro_src (id bigint PRIMARY KEY, n bigint NOT NULL);
INSERT INTO sro_src VALUES (1, 1), (2, 2);
CREATE TABLE sro_tgt (id bigint PRIMARY KEY, n bigint);
CREATE TABLE sro_slow_tgt (id bigint PRIMARY KEY, n bigint);
ALTER TABLE sro_src OWNER TO sro_mallory;
ALTER TABLE sro_tgt OWNER TO sro_mallory;
ALTER TABLE sro_slow_tgt OWNER TO sro_mallory;
CREATE VIEW sro_v AS SELECT id, n FROM sro_src WHERE sro_spy();
CREATE VIEW sro_slow_v AS SELECT id, n FROM sro_src WHERE id = 1 AND sro_sleepy();
ALTER VIEW sro_v OWNER TO sro_mallory;
ALTER VIEW sro_slow_v OWNER TO sro_mallory;

SET ROLE sro_mallory;
SELECT incr_create_pipeline('sro_p', 'sro_v', 'sro_tgt', 'n', 'append', keys => ARRAY['id']);
SELECT incr_create_pipeline('sro_slow', 'sro_slow_v', 'sro_slow_tgt', 'n', 'append',
                            keys => ARRAY['id']);
RESET ROLE;
DELETE FROM sro_seen;
SET work_mem = '4MB';

\o

-- a superuser reads incr_status
SELECT is((SELECT rows_pending FROM incr_status WHERE pipeline = 'sro_p'), 2::bigint,
          'incr_status counts the rows pending through the owner''s view');

SELECT bag_eq('SELECT who, temp_table, escalation FROM sro_seen',
              $$VALUES ('sro_mallory', '42501', '42501'), ('sro_mallory', '42501', '42501')$$,
              'the view''s function ran as the owner, restricted: no temporary table, no ALTER ROLE');

SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'sro_mallory'), false,
          'the owner did not become a superuser');

SELECT is(current_setting('work_mem'), '4MB',
          'a setting the owner''s code changed is undone after the count');

-- a source that sleeps: the count gives up, incr_status answers
CREATE TEMP TABLE sro_clock AS SELECT clock_timestamp() AS t0;
SELECT is((SELECT rows_pending FROM incr_status WHERE pipeline = 'sro_slow'), NULL::bigint,
          'a count that takes too long shows rows_pending NULL');
SELECT cmp_ok(clock_timestamp() - (SELECT t0 FROM sro_clock), '<', interval '15 seconds',
              'incr_status answers although the source sleeps for 30 seconds');

SELECT * FROM finish();
ROLLBACK;
