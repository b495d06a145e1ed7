-- _incr_source_subscribed is callable by anyone (incr_status uses it): it
-- answers only about a relation the caller may read, and locks nothing the
-- caller could not lock with a SELECT of its own; for the rest it is NULL.
BEGIN;
SELECT plan(4);

CREATE ROLE sc_owner;
CREATE ROLE sc_other;
CREATE SCHEMA sc AUTHORIZATION sc_owner;
GRANT USAGE ON SCHEMA sc TO sc_other;
CREATE TABLE sc.t (id int);
CREATE VIEW sc.v AS SELECT * FROM sc.t;
ALTER TABLE sc.t OWNER TO sc_owner;
ALTER VIEW sc.v OWNER TO sc_owner;

SET ROLE sc_other;
SELECT is(_incr_source_subscribed('sc.v'::regclass), NULL,
          'no SELECT on the view: NULL');
-- (this transaction created the view and holds its AccessExclusiveLock; the
-- walk would add an AccessShareLock)
SELECT ok(NOT EXISTS (SELECT FROM pg_locks
                      WHERE relation = 'sc.v'::regclass AND pid = pg_backend_pid()
                        AND mode = 'AccessShareLock'),
          'no SELECT on the view: the view is not locked');
RESET ROLE;
GRANT SELECT ON sc.v TO sc_other;
SET ROLE sc_other;
SELECT is(_incr_source_subscribed('sc.v'::regclass), false,
          'with SELECT on the view: answered (not subscribed)');
RESET ROLE;
SELECT is(_incr_source_subscribed('sc.t'::regclass), false,
          'a superuser gets an answer');

SELECT * FROM finish();
ROLLBACK;
