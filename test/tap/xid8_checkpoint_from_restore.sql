-- xid8_checkpoint_from_restore: pg_dump keeps xid8 values in rows and
-- checkpoints but not the transaction-id counter, so after a restore into a
-- new cluster the checkpoint can lie above every id this cluster hands out,
-- and runs would silently read nothing.  A run refuses a checkpoint above
-- the next transaction id (55000, with a hint to reset), incr_reset refuses
-- such a value, and a reset to this cluster's ids makes runs load again.
BEGIN;
SELECT plan(6);
SET LOCAL client_min_messages = warning;

CREATE TABLE xr_src (id int PRIMARY KEY, txid xid8 NOT NULL DEFAULT pg_current_xact_id());
CREATE INDEX ON xr_src (txid);
CREATE TABLE xr_tgt (id int PRIMARY KEY, txid xid8);
SELECT FROM incr_create_pipeline('xr', 'xr_src', 'xr_tgt', 'txid', keys => ARRAY['id']);

-- the checkpoint of a pipeline restored from a cluster far ahead in ids
INSERT INTO incr_checkpoints (pipeline, value_numeric)
VALUES ('xr', 999999999999)
ON CONFLICT (pipeline) DO UPDATE SET value_numeric = excluded.value_numeric;

SELECT throws_ok($$SELECT * FROM incr_run('xr')$$, '55000',
                 'checkpoint 999999999999 of pipeline "xr" is not a transaction id of this cluster',
                 'a run refuses a checkpoint above the next transaction id');
SELECT lives_ok($$SELECT * FROM incr_status WHERE pipeline = 'xr'$$,
                'incr_status still shows the pipeline');
SELECT throws_ok($$SELECT incr_reset('xr', '999999999999')$$, '55000',
                 'cursor value 999999999999 of pipeline "xr" is not a transaction id of this cluster',
                 'incr_reset refuses a value above the next transaction id');

-- the fix the hint gives: reset to an id of this cluster, then rows load
SELECT lives_ok($$SELECT incr_reset('xr', pg_snapshot_xmin(pg_current_snapshot())::text)$$,
                'incr_reset to the current xmin is accepted');
INSERT INTO xr_src (id) VALUES (1), (2);
SELECT results_eq($$SELECT status FROM incr_run('xr')$$, $$VALUES ('ok')$$,
                  'the run after the reset succeeds');
SELECT cmp_ok((SELECT value_numeric FROM incr_checkpoints WHERE pipeline = 'xr'), '<', 999999999999::numeric,
              'the checkpoint is an id of this cluster');

SELECT * FROM finish();
ROLLBACK;
