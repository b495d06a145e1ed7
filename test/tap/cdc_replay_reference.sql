-- cdc_replay_reference: a cdc pipeline over a long Debezium change stream
-- builds exactly the table the stream describes.  The fixture simulates a
-- table of 10,000 keys changed 100,000 times (seeded, so every execution
-- sees the same stream): a snapshot (r) of the first 5,000 keys, then
-- creates (c) of absent keys, updates (u) and deletes (d, each followed by
-- its tombstone) of present ones, deleted keys created again later.  The
-- simulation's final table is the truth; a second reference is computed from
-- the events alone by replay semantics (per key, the after-image of its last
-- event if that event is c, r or u; no row if it is d).  Both must equal:
--   * the target of one run over the whole stream, with exact counts
--     (inserted = keys present at the end, nothing updated or deleted in an
--     empty target, every other event read and unchanged);
--   * the target of a pipeline with batch_size 7,777 run until caught up,
--     where the events of one key fall into many runs;
--   * the first target after incr_reset(name, NULL) and a replay, which
--     changes nothing.
BEGIN;
SELECT plan(10);
SET LOCAL client_min_messages = warning;

CREATE TABLE replay_events (seq bigint PRIMARY KEY, payload jsonb);
CREATE TABLE replay_truth (id int PRIMARY KEY, qty int NOT NULL, label text NOT NULL);

-- The simulation: the first 10,000 steps create keys 1..10,000 in order (the
-- first 5,000 are read by the snapshot), the next 90,000 each pick a key at
-- random: an absent key is created, a present one deleted (one time in four)
-- or updated.  replay_truth is the table at the end.
SELECT setseed(0.42);
DO $$
DECLARE
    present boolean[] := array_fill(false, ARRAY[10000]);
    qty int[] := array_fill(0, ARRAY[10000]);
    label text[] := array_fill(''::text, ARRAY[10000]);
    -- per event: op (NULL for a tombstone), key, before- and after-image values
    ops text[] := '{}';
    keys int[] := '{}';
    before_qty int[] := '{}';
    before_label text[] := '{}';
    after_qty int[] := '{}';
    after_label text[] := '{}';
    n int := 0;
    k int;
BEGIN
    FOR step IN 1..100000 LOOP
        -- every key once first, the first 5,000 as the snapshot; then at random
        k := CASE WHEN step <= 10000 THEN step ELSE 1 + floor(random() * 10000)::int END;
        n := n + 1;
        keys[n] := k;
        IF NOT present[k] THEN
            present[k] := true;
            qty[k] := floor(random() * 2000000)::int - 1000000;
            label[k] := 'k' || k || '-' || step;
            ops[n] := CASE WHEN step <= 5000 THEN 'r' ELSE 'c' END;
            after_qty[n] := qty[k];
            after_label[n] := label[k];
        ELSIF random() < 0.25 THEN
            present[k] := false;
            ops[n] := 'd';
            before_qty[n] := qty[k];
            before_label[n] := label[k];
            -- the tombstone that follows every delete
            n := n + 1;
            keys[n] := k;
            ops[n] := NULL;
        ELSE
            ops[n] := 'u';
            before_qty[n] := qty[k];
            before_label[n] := label[k];
            qty[k] := qty[k] + floor(random() * 1000)::int - 500;
            IF random() < 0.5 THEN
                label[k] := label[k] || '+';
            END IF;
            after_qty[n] := qty[k];
            after_label[n] := label[k];
        END IF;
    END LOOP;
    -- every array as long as the last
    ops[n + 1] := NULL; keys[n + 1] := NULL; before_qty[n + 1] := NULL;
    before_label[n + 1] := NULL; after_qty[n + 1] := NULL; after_label[n + 1] := NULL;

    INSERT INTO replay_events
    SELECT s, CASE WHEN o IS NOT NULL THEN jsonb_build_object(
                  'before', CASE WHEN o IN ('u', 'd') THEN jsonb_build_object('id', e.key, 'qty', bq, 'label', bl) END,
                  'after', CASE WHEN o <> 'd' THEN jsonb_build_object('id', e.key, 'qty', aq, 'label', al) END,
                  'op', o, 'ts_ms', 1700000000000 + s,
                  'source', jsonb_build_object('table', 'stock', 'lsn', 30000000 + 16 * s)) END
    FROM unnest(ops, keys, before_qty, before_label, after_qty, after_label)
             WITH ORDINALITY AS e(o, key, bq, bl, aq, al, s)
    WHERE s <= n;

    INSERT INTO replay_truth
    SELECT i, qty[i], label[i] FROM generate_series(1, 10000) AS i WHERE present[i];
END
$$;

-- Replay semantics over the events alone.
CREATE VIEW replay_reference AS
    SELECT (image->>'id')::int AS id, (image->>'qty')::int AS qty, image->>'label' AS label
    FROM (SELECT DISTINCT ON (coalesce(payload->'after'->>'id', payload->'before'->>'id'))
                 payload->>'op' AS op, payload->'after' AS image
          FROM replay_events
          WHERE payload IS NOT NULL
          ORDER BY coalesce(payload->'after'->>'id', payload->'before'->>'id'), seq DESC) AS last_event
    WHERE op IN ('c', 'r', 'u');

SELECT results_eq(
    $$SELECT count(*) FILTER (WHERE payload->>'op' IS NOT NULL),
             count(DISTINCT coalesce(payload->'after'->>'id', payload->'before'->>'id')),
             count(*) FILTER (WHERE payload->>'op' = 'r') = 5000,
             count(*) FILTER (WHERE payload->>'op' = 'c') > 10000,
             count(*) FILTER (WHERE payload->>'op' = 'u') > 10000,
             count(*) FILTER (WHERE payload->>'op' = 'd') > 10000,
             count(*) FILTER (WHERE payload IS NULL) = count(*) FILTER (WHERE payload->>'op' = 'd')
      FROM replay_events$$,
    $$VALUES (100000::bigint, 10000::bigint, true, true, true, true, true)$$,
    'the fixture: 100,000 change events over 10,000 keys, with snapshot reads, creates, updates, deletes and a tombstone per delete');
SELECT ok((SELECT count(*) FROM (SELECT payload->'after'->>'id' FROM replay_events
                                 WHERE payload->>'op' = 'c'
                                 GROUP BY 1 HAVING count(*) > 1) AS again) > 1000,
          'the fixture: more than 1,000 keys are created, deleted and created again');
SELECT set_eq('SELECT * FROM replay_reference', 'SELECT * FROM replay_truth',
              'the replay reference equals the simulated table');

-- One run over the whole stream.
CREATE TABLE replay_target (id int PRIMARY KEY, qty int, label text);
SELECT FROM incr_create_pipeline('replay', 'replay_events', 'replay_target', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload');
SELECT results_eq(
    $$SELECT r.rows_read, r.rows_inserted, r.rows_updated, r.rows_deleted, r.rows_unchanged
      FROM incr_run('replay') AS r$$,
    $$SELECT count(*), (SELECT count(*) FROM replay_truth), 0::bigint, 0::bigint,
             count(*) - (SELECT count(*) FROM replay_truth)
      FROM replay_events$$,
    'one run reads every event and inserts the keys present at the end');
SELECT set_eq('SELECT id, qty, label FROM replay_target', 'SELECT * FROM replay_truth',
              'one run: the target equals the simulated table');
SELECT set_eq('SELECT id, qty, label FROM replay_target', 'SELECT * FROM replay_reference',
              'one run: the target equals the replay reference');

-- The same stream in batches of 7,777 events.
CREATE TABLE replay_batched (id int PRIMARY KEY, qty int, label text);
SELECT FROM incr_create_pipeline('replay_batched', 'replay_events', 'replay_batched', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload', batch_size => 7777);
CREATE TEMP TABLE replay_batch_runs AS SELECT * FROM incr_run('replay_batched') WITH NO DATA;
DO $$
BEGIN
    FOR attempt IN 1..100 LOOP
        INSERT INTO replay_batch_runs SELECT * FROM incr_run('replay_batched');
        EXIT WHEN (SELECT value_numeric FROM incr_checkpoints WHERE pipeline = 'replay_batched')
                  = (SELECT max(seq) FROM replay_events);
    END LOOP;
END
$$;
SELECT results_eq(
    $$SELECT count(*), sum(rows_inserted) - sum(rows_deleted), min(window_to::bigint)
      FROM replay_batch_runs$$,
    $$SELECT ceil(count(*) / 7777.0)::bigint, (SELECT count(*) FROM replay_truth)::numeric, 7777::bigint
      FROM replay_events$$,
    'batched: one run per 7,777 events; inserted less deleted is the number of keys at the end');
SELECT set_eq('SELECT id, qty, label FROM replay_batched', 'SELECT * FROM replay_truth',
              'batched: the target equals the simulated table');

-- A replay of the whole stream into the loaded target.
SELECT incr_reset('replay', NULL);
SELECT results_eq(
    $$SELECT r.rows_read, r.rows_inserted, r.rows_updated, r.rows_deleted FROM incr_run('replay') AS r$$,
    $$SELECT count(*), 0::bigint, 0::bigint, 0::bigint FROM replay_events$$,
    'replay after incr_reset(NULL): every event read, nothing written');
SELECT set_eq('SELECT id, qty, label FROM replay_target', 'SELECT * FROM replay_truth',
              'replay after incr_reset(NULL): the target still equals the simulated table');

SELECT * FROM finish();
ROLLBACK;
