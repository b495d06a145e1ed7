-- cdc_debezium: a cdc pipeline applies Debezium change events (a jsonb
-- payload column, ordered by the event sequence seq) so that the target
-- equals the source table the events describe:
--   * per key the last event of the window wins: c (insert), r (snapshot
--     read) and u (update) write the after-image, d deletes the key of the
--     before-image; several events of one key in one run collapse into the
--     last one, also across c / d / c;
--   * a primary key change (d of the old key, tombstone, c of the new key)
--     moves the row;
--   * t (truncate) deletes every target row; only the events after the last
--     t of the window count (a row the truncate removes and a later event of
--     the window writes again is counted as updated);
--   * m (logical decoding messages) and tombstones (SQL NULL, JSON null, or a
--     "payload": null wrapper) are read and change nothing;
--   * the envelope may come bare, wrapped in "payload", or wrapped in
--     "payload" with its "schema"; all three decode alike;
--   * each run reads its window's events (the checkpoint's own event again)
--     and counts rows_read = inserted + updated + deleted + unchanged;
--   * incr_reset(name, NULL) and a run replay every event and change nothing;
--     a fresh pipeline over the same events builds the same target;
--   * with version_column the target keeps, for each row, the cursor of the
--     last event applied to its key, also when that event's after-image
--     equals the row; an older event (a backfill) never overwrites it, and
--     an older truncate never deletes it.
BEGIN;
SELECT plan(36);
SET LOCAL client_min_messages = warning;

-- A Debezium PostgreSQL change event for table public.items(id, name, qty):
-- shape 'bare' (JSON converter without schemas), 'payload' (the envelope
-- under "payload" only) or 'schema' (schemas.enable = true).
CREATE FUNCTION pg_temp.dbz(shape text, op text, before jsonb, after jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    WITH env AS (
        SELECT CASE
            WHEN op = 't' THEN
                jsonb_build_object('source', src, 'op', op, 'ts_ms', 1700000000999,
                                   'transaction', NULL::jsonb)
            WHEN op = 'm' THEN
                jsonb_build_object('op', op, 'ts_ms', 1700000000999, 'source', src,
                                   'message', jsonb_build_object('prefix', 'audit', 'content', 'aGVsbG8='))
            ELSE
                jsonb_build_object('before', before, 'after', after, 'source', src,
                                   'op', op, 'ts_ms', 1700000000999, 'transaction', NULL::jsonb)
            END AS e
        FROM (SELECT jsonb_build_object(
                  'version', '2.5.4.Final', 'connector', 'postgresql', 'name', 'shop',
                  'ts_ms', 1700000000000, 'snapshot', CASE WHEN op = 'r' THEN 'true' ELSE 'false' END,
                  'db', 'shop', 'sequence', '["24023119","24023128"]', 'schema', 'public',
                  'table', 'items', 'txId', 555, 'lsn', 24023128, 'xmin', NULL::jsonb) AS src) AS s
    ), value_schema AS (
        SELECT jsonb_build_array(
                   jsonb_build_object('type', 'int32', 'optional', false, 'default', 0, 'field', 'id'),
                   jsonb_build_object('type', 'string', 'optional', true, 'field', 'name'),
                   jsonb_build_object('type', 'int32', 'optional', true, 'field', 'qty')) AS f
    )
    SELECT CASE shape
        WHEN 'bare' THEN e
        WHEN 'payload' THEN jsonb_build_object('payload', e)
        WHEN 'schema' THEN jsonb_build_object(
            'schema', jsonb_build_object(
                'type', 'struct', 'optional', false, 'name', 'shop.public.items.Envelope', 'version', 1,
                'fields', jsonb_build_array(
                    jsonb_build_object('type', 'struct', 'fields', f, 'optional', true,
                                       'name', 'shop.public.items.Value', 'field', 'before'),
                    jsonb_build_object('type', 'struct', 'fields', f, 'optional', true,
                                       'name', 'shop.public.items.Value', 'field', 'after'),
                    jsonb_build_object('type', 'struct', 'optional', false,
                                       'name', 'io.debezium.connector.postgresql.Source', 'field', 'source',
                                       'fields', jsonb_build_array(
                                           jsonb_build_object('type', 'string', 'optional', false, 'field', 'version'),
                                           jsonb_build_object('type', 'int64', 'optional', true, 'field', 'lsn'))),
                    jsonb_build_object('type', 'string', 'optional', false, 'field', 'op'),
                    jsonb_build_object('type', 'int64', 'optional', true, 'field', 'ts_ms'))),
            'payload', e)
        END
    FROM env, value_schema
$$;

-- The row image of an item.
CREATE FUNCTION pg_temp.item(id int, name text, qty int) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT jsonb_build_object('id', id, 'name', name, 'qty', qty) $$;

-- The counts of a run: read, inserted, updated, deleted, unchanged.
CREATE FUNCTION pg_temp.dbz_counts(r incr_runs,
    OUT rows_read int, OUT rows_inserted int, OUT rows_updated int,
    OUT rows_deleted int, OUT rows_unchanged int)
LANGUAGE sql AS $$
    SELECT r.rows_read::int, r.rows_inserted::int, r.rows_updated::int,
           r.rows_deleted::int, r.rows_unchanged::int
$$;

CREATE TABLE dbz_events (seq bigint PRIMARY KEY, payload jsonb);
CREATE TABLE dbz_items (id int PRIMARY KEY, name text, qty int);
CREATE TABLE dbz_items_v (id int PRIMARY KEY, name text, qty int, version bigint);
SELECT FROM incr_create_pipeline('dbz', 'dbz_events', 'dbz_items', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload');
SELECT FROM incr_create_pipeline('dbz_v', 'dbz_events', 'dbz_items_v', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload',
                                 version_column => 'version');

-- Batch 1: snapshot reads, inserts, updates, a message, deletes and
-- tombstones; key 4 is created and deleted, key 5 deleted and created again.
INSERT INTO dbz_events VALUES
    (1,  pg_temp.dbz('schema',  'r', NULL, pg_temp.item(1, 'apple', 10))),
    (2,  pg_temp.dbz('bare',    'r', NULL, pg_temp.item(2, 'pear', 20))),
    (3,  pg_temp.dbz('payload', 'c', NULL, pg_temp.item(3, 'plum', 30))),
    (4,  pg_temp.dbz('bare',    'u', pg_temp.item(1, 'apple', 10), pg_temp.item(1, 'apple', 11))),
    (5,  pg_temp.dbz('schema',  'u', NULL, pg_temp.item(1, 'apple', 12))),
    (6,  pg_temp.dbz('bare',    'm', NULL, NULL)),
    (7,  pg_temp.dbz('schema',  'd', pg_temp.item(2, 'pear', 20), NULL)),
    (8,  NULL),
    (9,  pg_temp.dbz('bare',    'c', NULL, pg_temp.item(4, 'fig', 40))),
    (10, pg_temp.dbz('payload', 'd', pg_temp.item(4, 'fig', 40), NULL)),
    (11, 'null'),
    (12, pg_temp.dbz('schema',  'c', NULL, pg_temp.item(5, 'kiwi', 50))),
    (13, pg_temp.dbz('schema',  'd', pg_temp.item(5, 'kiwi', 50), NULL)),
    (14, pg_temp.dbz('bare',    'c', NULL, pg_temp.item(5, 'kiwi', 51))),
    (15, pg_temp.dbz('bare',    'c', NULL, pg_temp.item(10, 'lime', 1)));

SELECT results_eq($$SELECT c.* FROM incr_run('dbz') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (15, 4, 0, 0, 11)$$,
                  'batch 1: 15 events read; keys 1, 3, 5, 10 inserted; key 2 and 4 deleted before being loaded; the rest unchanged');
SELECT results_eq('SELECT id, name, qty FROM dbz_items ORDER BY id',
                  $$VALUES (1, 'apple', 12), (3, 'plum', 30), (5, 'kiwi', 51), (10, 'lime', 1)$$,
                  'batch 1: the target holds the last after-image of every key not deleted');
SELECT results_eq($$SELECT c.* FROM incr_run('dbz_v') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (15, 4, 0, 0, 11)$$,
                  'batch 1, with version_column: the same counts');
SELECT results_eq('SELECT id, name, qty, version FROM dbz_items_v ORDER BY id',
                  $$VALUES (1, 'apple', 12, 5::bigint), (3, 'plum', 30, 3), (5, 'kiwi', 51, 14),
                           (10, 'lime', 1, 15)$$,
                  'batch 1, with version_column: each row keeps the cursor of its key''s last event');
SELECT is((SELECT value_numeric FROM incr_checkpoints WHERE pipeline = 'dbz'), 15::numeric,
          'batch 1: the checkpoint is the last event''s sequence');

-- Batch 2, across runs: an update, a delete, a primary key change 5 -> 6
-- (delete, tombstone, create), key 10 changed and changed back, and a
-- redelivered update of key 3.
INSERT INTO dbz_events VALUES
    (16, pg_temp.dbz('bare',    'u', NULL, pg_temp.item(3, 'plum', 31))),
    (17, pg_temp.dbz('bare',    'd', pg_temp.item(1, 'apple', 12), NULL)),
    (18, pg_temp.dbz('schema',  'd', pg_temp.item(5, NULL, NULL), NULL)),
    (19, '{"schema": null, "payload": null}'),
    (20, pg_temp.dbz('schema',  'c', NULL, pg_temp.item(6, 'kiwi', 51))),
    (21, pg_temp.dbz('schema',  'u', NULL, pg_temp.item(10, 'lime', 2))),
    (22, pg_temp.dbz('bare',    'u', NULL, pg_temp.item(10, 'lime', 1))),
    (23, pg_temp.dbz('payload', 'u', NULL, pg_temp.item(3, 'plum', 31)));

SELECT results_eq($$SELECT c.* FROM incr_run('dbz') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (9, 1, 1, 2, 5)$$,
                  'batch 2: events 15..23 read; key 6 inserted, key 3 updated, keys 1 and 5 deleted; key 10 back to its loaded values is unchanged');
SELECT results_eq('SELECT id, name, qty FROM dbz_items ORDER BY id',
                  $$VALUES (3, 'plum', 31), (6, 'kiwi', 51), (10, 'lime', 1)$$,
                  'batch 2: the row of key 5 moved to key 6; key 1 is gone');
SELECT results_eq($$SELECT c.rows_read, c.rows_inserted, c.rows_deleted
                    FROM incr_run('dbz_v') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (9, 1, 2)$$,
                  'batch 2, with version_column: the same events read, inserted and deleted');
SELECT results_eq('SELECT id, name, qty, version FROM dbz_items_v ORDER BY id',
                  $$VALUES (3, 'plum', 31, 23::bigint), (6, 'kiwi', 51, 20), (10, 'lime', 1, 22)$$,
                  'batch 2, with version_column: key 10 holds event 22''s cursor although its after-image equals the row');

-- Event 21 (lime, 2) is older than event 22, the last one of key 10.
SELECT results_eq($$SELECT c.rows_read, c.rows_inserted, c.rows_updated, c.rows_deleted
                    FROM incr_backfill('dbz_v', '21', '21') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (1, 0, 0, 0)$$,
                  'with version_column: a backfill of event 21 alone writes nothing');
SELECT results_eq('SELECT id, name, qty, version FROM dbz_items_v ORDER BY id',
                  $$VALUES (3, 'plum', 31, 23::bigint), (6, 'kiwi', 51, 20), (10, 'lime', 1, 22)$$,
                  'with version_column: the older event 21 did not overwrite key 10');

-- Replays of events 1..23.
CREATE TABLE dbz_items_before_replay AS SELECT * FROM dbz_items;
SELECT incr_reset('dbz', NULL);
SELECT results_eq($$SELECT c.* FROM incr_run('dbz') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (23, 0, 0, 0, 23)$$,
                  'replay after incr_reset(NULL): all 23 events read, nothing written');
SELECT results_eq('SELECT id, name, qty FROM dbz_items ORDER BY id',
                  'SELECT id, name, qty FROM dbz_items_before_replay ORDER BY id',
                  'replay after incr_reset(NULL): the same target');
SELECT incr_reset('dbz_v', NULL);
SELECT results_eq($$SELECT c.rows_read, c.rows_inserted, c.rows_deleted
                    FROM incr_run('dbz_v') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (23, 0, 0)$$,
                  'replay with version_column: all 23 events read, nothing inserted or deleted');
SELECT results_eq('SELECT id, name, qty, version FROM dbz_items_v ORDER BY id',
                  $$VALUES (3, 'plum', 31, 23::bigint), (6, 'kiwi', 51, 20), (10, 'lime', 1, 22)$$,
                  'replay with version_column: the same rows and versions');

CREATE TABLE dbz_items_fresh (id int PRIMARY KEY, name text, qty int);
SELECT FROM incr_create_pipeline('dbz_fresh', 'dbz_events', 'dbz_items_fresh', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload');
SELECT results_eq($$SELECT c.* FROM incr_run('dbz_fresh') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (23, 3, 0, 0, 20)$$,
                  'a fresh pipeline over events 1..23 inserts the three surviving rows in one run');
SELECT results_eq('SELECT id, name, qty FROM dbz_items_fresh ORDER BY id',
                  'SELECT id, name, qty FROM dbz_items ORDER BY id',
                  'one run over all events builds the target two incremental runs built');

-- Batch 3: a truncate between events; the event of key 7 before it is
-- dropped, key 3 is written again after it.
INSERT INTO dbz_events VALUES
    (24, pg_temp.dbz('bare',    't', NULL, NULL)),
    (25, pg_temp.dbz('bare',    'c', NULL, pg_temp.item(7, 'date', 70))),
    (26, pg_temp.dbz('schema',  't', NULL, NULL)),
    (27, pg_temp.dbz('bare',    'c', NULL, pg_temp.item(8, 'fig', 80))),
    (28, pg_temp.dbz('schema',  'u', NULL, pg_temp.item(3, 'plum', 32)));
SELECT results_eq($$SELECT c.* FROM incr_run('dbz') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (6, 1, 1, 2, 2)$$,
                  'batch 3: events 23..28 read; keys 6 and 10 truncated, key 8 inserted, key 3 rewritten (updated)');
SELECT results_eq('SELECT id, name, qty FROM dbz_items ORDER BY id',
                  $$VALUES (3, 'plum', 32), (8, 'fig', 80)$$,
                  'batch 3: only the events after the last truncate remain');
SELECT results_eq($$SELECT c.* FROM incr_run('dbz_v') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (6, 1, 1, 2, 2)$$,
                  'batch 3, with version_column: the same counts');
SELECT results_eq('SELECT id, name, qty, version FROM dbz_items_v ORDER BY id',
                  $$VALUES (3, 'plum', 32, 28::bigint), (8, 'fig', 80, 27)$$,
                  'batch 3, with version_column: the rows after the truncate, with their events'' cursors');

-- Batch 4 ends with a truncate; batch 5 re-reads it (the checkpoint's event)
-- and applies what follows.
INSERT INTO dbz_events VALUES
    (29, pg_temp.dbz('payload', 'c', NULL, pg_temp.item(9, 'yam', 90))),
    (30, pg_temp.dbz('bare',    'u', NULL, pg_temp.item(8, 'fig', 81))),
    (31, pg_temp.dbz('payload', 't', NULL, NULL));
SELECT results_eq($$SELECT c.* FROM incr_run('dbz') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (4, 0, 0, 2, 2)$$,
                  'batch 4: a truncate as the last event deletes every row (3 and 8)');
SELECT is((SELECT count(*) FROM dbz_items), 0::bigint, 'batch 4: the target is empty');

INSERT INTO dbz_events VALUES
    (32, pg_temp.dbz('bare',    'c', NULL, pg_temp.item(11, 'nut', 110))),
    (33, pg_temp.dbz('schema',  'r', NULL, pg_temp.item(12, 'oat', 120))),
    (34, NULL),
    (35, pg_temp.dbz('schema',  'u', pg_temp.item(11, 'nut', 110), pg_temp.item(11, 'nut', 111)));
SELECT results_eq($$SELECT c.* FROM incr_run('dbz') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (5, 2, 0, 0, 3)$$,
                  'batch 5: the truncate read again deletes nothing more; keys 11 and 12 inserted');
SELECT results_eq('SELECT id, name, qty FROM dbz_items ORDER BY id',
                  $$VALUES (11, 'nut', 111), (12, 'oat', 120)$$,
                  'batch 5: the rows created after the last truncate');
SELECT results_eq($$SELECT c.* FROM incr_run('dbz') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (1, 0, 0, 0, 1)$$,
                  'a run with nothing new reads the checkpoint''s event again and changes nothing');

SELECT results_eq($$SELECT c.* FROM incr_run('dbz_v') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (8, 2, 0, 2, 4)$$,
                  'batches 4 and 5 in one run, with version_column: events 28..35 read; rows 3 and 8 truncated, 11 and 12 inserted');
SELECT results_eq('SELECT id, name, qty, version FROM dbz_items_v ORDER BY id',
                  $$VALUES (11, 'nut', 111, 35::bigint), (12, 'oat', 120, 33)$$,
                  'batches 4 and 5 in one run, with version_column: the rows with their last events'' cursors');

-- Replays of all 35 events.
SELECT incr_reset('dbz', NULL);
SELECT results_eq($$SELECT c.* FROM incr_run('dbz') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (35, 0, 0, 0, 35)$$,
                  'replay of all 35 events: nothing written');
SELECT results_eq('SELECT id, name, qty FROM dbz_items ORDER BY id',
                  $$VALUES (11, 'nut', 111), (12, 'oat', 120)$$,
                  'replay of all 35 events: the same target');
SELECT incr_reset('dbz_v', NULL);
SELECT results_eq($$SELECT c.rows_read, c.rows_inserted, c.rows_deleted
                    FROM incr_run('dbz_v') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (35, 0, 0)$$,
                  'replay of all 35 events with version_column: nothing inserted or deleted');
SELECT results_eq('SELECT id, name, qty, version FROM dbz_items_v ORDER BY id',
                  $$VALUES (11, 'nut', 111, 35::bigint), (12, 'oat', 120, 33)$$,
                  'replay of all 35 events with version_column: the same rows and versions');
SELECT results_eq($$SELECT c.* FROM incr_run('dbz_fresh') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (13, 2, 0, 3, 8)$$,
                  'the fresh pipeline, one run over events 23..35: three rows truncated, two inserted');
SELECT results_eq('SELECT id, name, qty FROM dbz_items_fresh ORDER BY id',
                  'SELECT id, name, qty FROM dbz_items ORDER BY id',
                  'the fresh pipeline''s target equals the one built batch by batch');

-- Events 24..31 hold three truncates, all older than the rows of keys 11
-- and 12 (events 35 and 33).
SELECT results_eq($$SELECT c.rows_read, c.rows_inserted, c.rows_deleted
                    FROM incr_backfill('dbz_v', '24', '31') AS r, pg_temp.dbz_counts(r) AS c$$,
                  $$VALUES (8, 0, 0)$$,
                  'with version_column: a backfill of older truncates deletes nothing');
SELECT results_eq('SELECT id, name, qty, version FROM dbz_items_v ORDER BY id',
                  $$VALUES (11, 'nut', 111, 35::bigint), (12, 'oat', 120, 33)$$,
                  'with version_column: rows written by events after a truncate survive its backfill');

SELECT * FROM finish();
ROLLBACK;
