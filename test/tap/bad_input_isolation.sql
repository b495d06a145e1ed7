-- bad_input_isolation.sql: incr_run refuses a REPEATABLE READ caller, whose
-- snapshot is older than the safe upper bound a run computes, with 25000 and
-- a clear message, and leaves the checkpoint and the target as they were.
-- (SERIALIZABLE takes the same path: IsolationUsesXactSnapshot.)
BEGIN;
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SET LOCAL client_min_messages = warning;
SELECT plan(6);

CREATE TABLE bad_iso_src (id integer NOT NULL, ts timestamptz NOT NULL, v text);
CREATE INDEX ON bad_iso_src (ts);
INSERT INTO bad_iso_src VALUES (1, '2024-01-01 00:00+00', 'a'), (2, '2024-01-02 00:00+00', 'b');
CREATE TABLE bad_iso_tgt (id integer PRIMARY KEY, ts timestamptz, v text);
SELECT lives_ok(
    $$SELECT incr_create_pipeline('bad_iso', 'bad_iso_src', 'bad_iso_tgt', 'ts', 'merge', ARRAY['id'])$$,
    'a pipeline can be defined in a REPEATABLE READ transaction');
CREATE TEMP TABLE bad_iso_checkpoint AS
    SELECT * FROM incr_checkpoints WHERE pipeline = 'bad_iso';

SELECT throws_ok($$SELECT incr_run('bad_iso')$$,
    '25000', 'cannot run pipeline "bad_iso" in a REPEATABLE READ transaction',
    'incr_run in a REPEATABLE READ transaction');
SELECT throws_ok($$SELECT incr_run('bad_iso', wait => false)$$,
    '25000', 'cannot run pipeline "bad_iso" in a REPEATABLE READ transaction',
    'incr_run without waiting in a REPEATABLE READ transaction');

SELECT results_eq(
    $$SELECT * FROM incr_checkpoints WHERE pipeline = 'bad_iso'$$,
    $$SELECT * FROM bad_iso_checkpoint$$,
    'the checkpoint is unchanged');
SELECT is((SELECT value_timestamptz FROM incr_checkpoints WHERE pipeline = 'bad_iso'), NULL,
    'the checkpoint is still unset');
SELECT is((SELECT count(*) FROM bad_iso_tgt), 0::bigint, 'nothing was loaded');

SELECT * FROM finish();
ROLLBACK;
