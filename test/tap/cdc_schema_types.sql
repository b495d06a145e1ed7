-- cdc_schema_types: change events shaped exactly like those of a Debezium
-- PostgreSQL connector with its default settings (pgoutput, REPLICA IDENTITY
-- DEFAULT, time.precision.mode = adaptive, decimal.handling.mode = precise)
-- through the Kafka Connect JSON converter with schemas.enable = true, i.e.
--   {"schema": {"type": "struct", "name": "shop.public.sch_items.Envelope",
--               "fields": [{... "field": "before"}, {... "field": "after"},
--                          {... "field": "source"}, {"field": "op"},
--                          {"field": "ts_ms"}, {... "field": "transaction"}]},
--    "payload": {"before": ..., "after": ..., "source": {..., "lsn": ...},
--                "op": "c", "ts_ms": ..., "transaction": null}}
-- decode into a target equal, value for value, to the table they describe:
--   numeric(12,3)  org.apache.kafka.connect.data.Decimal: base64 of the
--                  big-endian two's complement unscaled value, scale "3"
--   numeric        io.debezium.data.VariableScaleDecimal {scale, value}
--   date           io.debezium.time.Date: days since 1970-01-01
--   timestamp      io.debezium.time.MicroTimestamp: microseconds since epoch
--   timestamp(3)   io.debezium.time.Timestamp: milliseconds since epoch
--   timestamptz    io.debezium.time.ZonedTimestamp: ISO 8601 text in UTC
--   time           io.debezium.time.MicroTime: microseconds since midnight
--   time(3)        io.debezium.time.Time: milliseconds since midnight
--   uuid           io.debezium.data.Uuid: text
--   jsonb          io.debezium.data.Json: the JSON document as a string
-- including negative numbers, dates and timestamps before 1970, and NULLs.
-- The events are written by a trigger on the described table that computes
-- each encoding in SQL (independently of the extension); the encodings are
-- checked against hand-computed literals.  Without a schema (the same events,
-- schemas.enable = false) the target's column types decide: numbers into
-- timestamp, timestamptz and time columns are epoch values in epoch_unit,
-- numbers into date columns are days, base64 text into numeric columns is a
-- decimal with the column's scale.
BEGIN;
SELECT plan(16);
SET LOCAL client_min_messages = warning;
-- a zone far from UTC with DST: decoding must not depend on it
SET LOCAL timezone = 'America/Sao_Paulo';

-- Base64 of the shortest big-endian two's complement bytes of v, as Java's
-- BigInteger.toByteArray() writes the unscaled value of a decimal.
CREATE FUNCTION pg_temp.dbz_bytes(v bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT encode(substring(int8send(v) FROM 9 - n), 'base64')
    FROM (SELECT min(n) AS n FROM generate_series(1, 8) AS n
          WHERE v >= -(2::numeric ^ (8 * n - 1)) AND v < 2::numeric ^ (8 * n - 1)) AS m
$$;

-- Kafka Connect's Decimal of a value at a scale.
CREATE FUNCTION pg_temp.dbz_decimal(v numeric, scale int) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT pg_temp.dbz_bytes((v * 10::numeric ^ scale)::bigint)
$$;

-- Debezium's ZonedTimestamp: ISO 8601 in UTC, fraction without trailing zeros.
CREATE FUNCTION pg_temp.dbz_zoned(v timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(v AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
           || coalesce('.' || nullif(rtrim(to_char(v AT TIME ZONE 'UTC', 'US'), '0'), ''), '')
           || 'Z'
$$;

CREATE TABLE sch_items (
    id      int PRIMARY KEY,
    amount  numeric(12,3),
    ratio   numeric,
    d       date,
    ts      timestamp,
    ts3     timestamp(3),
    tstz    timestamptz,
    t       time,
    t3      time(3),
    u       uuid,
    j       jsonb
);

-- The row image of sch_items as the connector writes it.
CREATE FUNCTION pg_temp.dbz_image(r sch_items) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'id', r.id,
        'amount', pg_temp.dbz_decimal(r.amount, 3),
        'ratio', CASE WHEN r.ratio IS NOT NULL THEN
                     jsonb_build_object('scale', scale(r.ratio),
                                        'value', pg_temp.dbz_decimal(r.ratio, scale(r.ratio))) END,
        'd', r.d - date '1970-01-01',
        'ts', (extract(epoch FROM r.ts) * 1000000)::bigint,
        'ts3', (extract(epoch FROM r.ts3) * 1000)::bigint,
        'tstz', pg_temp.dbz_zoned(r.tstz),
        't', (extract(epoch FROM r.t) * 1000000)::bigint,
        't3', (extract(epoch FROM r.t3) * 1000)::int,
        'u', r.u::text,
        'j', r.j::text)
$$;

-- The schema of a row image (the struct shop.public.sch_items.Value).
CREATE FUNCTION pg_temp.dbz_value_schema(field text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'type', 'struct', 'optional', true, 'name', 'shop.public.sch_items.Value', 'field', field,
        'fields', '[
          {"type": "int32", "optional": false, "default": 0, "field": "id"},
          {"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
           "parameters": {"scale": "3", "connect.decimal.precision": "12"}, "field": "amount"},
          {"type": "struct", "fields": [{"type": "int32", "optional": false, "field": "scale"},
                                        {"type": "bytes", "optional": false, "field": "value"}],
           "optional": true, "name": "io.debezium.data.VariableScaleDecimal", "version": 1,
           "doc": "Variable scaled decimal", "field": "ratio"},
          {"type": "int32", "optional": true, "name": "io.debezium.time.Date", "version": 1, "field": "d"},
          {"type": "int64", "optional": true, "name": "io.debezium.time.MicroTimestamp", "version": 1, "field": "ts"},
          {"type": "int64", "optional": true, "name": "io.debezium.time.Timestamp", "version": 1, "field": "ts3"},
          {"type": "string", "optional": true, "name": "io.debezium.time.ZonedTimestamp", "version": 1, "field": "tstz"},
          {"type": "int64", "optional": true, "name": "io.debezium.time.MicroTime", "version": 1, "field": "t"},
          {"type": "int32", "optional": true, "name": "io.debezium.time.Time", "version": 1, "field": "t3"},
          {"type": "string", "optional": true, "name": "io.debezium.data.Uuid", "version": 1, "field": "u"},
          {"type": "string", "optional": true, "name": "io.debezium.data.Json", "version": 1, "field": "j"}
        ]'::jsonb)
$$;

-- The events, one per change of sch_items, in commit order.
CREATE TABLE sch_events (seq bigint PRIMARY KEY, payload jsonb);
CREATE SEQUENCE sch_seq;

-- Append one event (payload NULL: a tombstone) with its full envelope.
CREATE FUNCTION pg_temp.dbz_emit(op text, before jsonb, after jsonb, tombstone boolean DEFAULT false)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO sch_events
    SELECT s, CASE WHEN NOT tombstone THEN jsonb_build_object(
        'schema', jsonb_build_object(
            'type', 'struct', 'optional', false, 'name', 'shop.public.sch_items.Envelope', 'version', 1,
            'fields', jsonb_build_array(
                pg_temp.dbz_value_schema('before'),
                pg_temp.dbz_value_schema('after'),
                '{"type": "struct", "optional": false, "name": "io.debezium.connector.postgresql.Source",
                  "field": "source", "fields": [
                    {"type": "string", "optional": false, "field": "version"},
                    {"type": "string", "optional": false, "field": "connector"},
                    {"type": "string", "optional": false, "field": "name"},
                    {"type": "int64", "optional": false, "field": "ts_ms"},
                    {"type": "string", "optional": true, "name": "io.debezium.data.Enum", "version": 1,
                     "parameters": {"allowed": "true,last,false,incremental"}, "default": "false", "field": "snapshot"},
                    {"type": "string", "optional": false, "field": "db"},
                    {"type": "string", "optional": true, "field": "sequence"},
                    {"type": "string", "optional": false, "field": "schema"},
                    {"type": "string", "optional": false, "field": "table"},
                    {"type": "int64", "optional": true, "field": "txId"},
                    {"type": "int64", "optional": true, "field": "lsn"},
                    {"type": "int64", "optional": true, "field": "xmin"}]}'::jsonb,
                '{"type": "string", "optional": false, "field": "op"}'::jsonb,
                '{"type": "int64", "optional": true, "field": "ts_ms"}'::jsonb,
                '{"type": "struct", "optional": true, "name": "event.block", "version": 1, "field": "transaction",
                  "fields": [{"type": "string", "optional": false, "field": "id"},
                             {"type": "int64", "optional": false, "field": "total_order"},
                             {"type": "int64", "optional": false, "field": "data_collection_order"}]}'::jsonb)),
        'payload', jsonb_build_object(
            'before', before,
            'after', after,
            'source', jsonb_build_object(
                'version', '2.5.4.Final', 'connector', 'postgresql', 'name', 'shop',
                'ts_ms', 1700000000000 + s, 'snapshot', CASE WHEN op = 'r' THEN 'true' ELSE 'false' END,
                'db', 'shop', 'sequence', format('["%s","%s"]', 24000000 + 8 * s, 24000000 + 8 * s),
                'schema', 'public', 'table', 'sch_items', 'txId', 500 + s,
                'lsn', 24000000 + 8 * s, 'xmin', NULL::jsonb),
            'op', op,
            'ts_ms', 1700000000100 + s,
            'transaction', NULL::jsonb)) END
    FROM (SELECT nextval('sch_seq') AS s) AS n
$$;

-- The connector: c (or r while sch.snapshot is on) for inserts; u with no
-- before-image for updates; d with the key-only before-image and a tombstone
-- for deletes; a primary key change is a delete of the old key, its
-- tombstone, and a create of the new one.
CREATE FUNCTION pg_temp.dbz_capture() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_temp.dbz_emit(CASE WHEN current_setting('sch.snapshot', true) = 'on' THEN 'r' ELSE 'c' END,
                                 NULL, pg_temp.dbz_image(NEW));
    ELSIF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        PERFORM pg_temp.dbz_emit('u', NULL, pg_temp.dbz_image(NEW));
    ELSE
        PERFORM pg_temp.dbz_emit('d', pg_temp.dbz_image(ROW(OLD.id, NULL, NULL, NULL, NULL, NULL,
                                                             NULL, NULL, NULL, NULL, NULL)::sch_items), NULL);
        PERFORM pg_temp.dbz_emit(NULL, NULL, NULL, tombstone => true);
        IF TG_OP = 'UPDATE' THEN
            PERFORM pg_temp.dbz_emit('c', NULL, pg_temp.dbz_image(NEW));
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER sch_capture AFTER INSERT OR UPDATE OR DELETE ON sch_items
    FOR EACH ROW EXECUTE FUNCTION pg_temp.dbz_capture();

-- The encoders against values computed by hand.
SELECT results_eq(
    $$SELECT decode(b, 'base64') FROM unnest(ARRAY['AA==', 'Bdw=', '+iQ=', 'AIA=', 'gA==', '/w==', '/38=',
                                                   'HL6ZGoM=', '/xcrWvAB', 'hQ=='], ARRAY[]::text[]) AS u(b, x)$$,
    $$VALUES ('\x00'::bytea), ('\x05dc'), ('\xfa24'), ('\x0080'), ('\x80'), ('\xff'), ('\xff7f'),
             ('\x1cbe991a83'), ('\xff172b5af001'), ('\x85')$$,
    'the hand-computed base64 strings hold the two''s complement bytes of 0, 1500, -1500, 128, -128, -1, -129, 123456789123, -999999999999, -123');
SELECT results_eq(
    $$SELECT pg_temp.dbz_bytes(v) FROM unnest(ARRAY[0, 1500, -1500, 128, -128, -1, -129,
                                                   123456789123, -999999999999, -123]::bigint[]) AS v$$,
    $$VALUES ('AA=='), ('Bdw='), ('+iQ='), ('AIA='), ('gA=='), ('/w=='), ('/38='),
             ('HL6ZGoM='), ('/xcrWvAB'), ('hQ==')$$,
    'the fixture''s decimal encoder writes those strings');

-- A snapshot of rows 1..4, then inserts of rows 5..8.
SET LOCAL sch.snapshot = 'on';
INSERT INTO sch_items VALUES
    (1, 1.500, 3.14159, '2024-02-29', '2024-02-29 23:59:59.999999', '2024-02-29 23:59:59.999',
     '2024-02-29 23:59:59.999999+00', '23:59:59.999999', '23:59:59.999',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.5, {"b": null}], "s": "x\"y"}'),
    (2, -1.500, -0.000123, '1969-12-31', '1969-12-31 23:59:59.5', '1969-12-31 23:59:59.5',
     '1969-12-31 23:59:59.5+00', '00:00:00', '00:00:00',
     '00000000-0000-0000-0000-000000000000', '[]'),
    (3, 123456789.123, 100000000000, '1900-01-01', '1900-01-01 00:00:00', '1066-10-14 09:00:00.001',
     '1815-06-18 11:30:00+01', '12:00:00.000001', '12:00:00.001',
     'ffffffff-ffff-ffff-ffff-ffffffffffff', '"text"'),
    (4, -999999999.999, -7.0, '1492-10-12', '1492-10-12 06:07:08.000009', '1492-10-12 06:07:08.010',
     '1492-10-12 06:07:08.000009+00', '06:07:08.000009', '06:07:08.01',
     '123e4567-e89b-12d3-a456-426614174000', '-1500');
SET LOCAL sch.snapshot = 'off';
INSERT INTO sch_items VALUES
    (5, 0.000, 0, '1970-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:00',
     '1970-01-01 00:00:00+00', '00:00:00.000001', '00:00:00.001',
     '6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'null'),
    (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (7, -0.005, 0.5, '1960-02-29', '1960-02-29 12:34:56.789012', '1960-02-29 12:34:56.789',
     '2024-03-31 02:30:00+02', '23:00:00', '23:00:00',
     'c9bf9e57-1685-4c89-bafb-ff5af830be8a', '{}'),
    (8, 0.128, -12.345, '2038-01-19', '2038-01-19 03:14:08', '2262-04-11 23:47:16.854',
     '1969-07-20 20:17:40.25-03', '03:14:08', '03:14:08.5',
     '3f333df6-90a4-4fda-8dd3-9485d27cee36', '{"nested": {"deep": [true, false, null]}}');

SELECT is((SELECT payload->'payload'->'after' FROM sch_events WHERE payload->'payload'->'after'->>'id' = '2'),
          '{"id": 2, "amount": "+iQ=", "ratio": {"scale": 6, "value": "hQ=="}, "d": -1,
            "ts": -500000, "ts3": -500, "tstz": "1969-12-31T23:59:59.5Z", "t": 0, "t3": 0,
            "u": "00000000-0000-0000-0000-000000000000", "j": "[]"}'::jsonb,
          'the fixture''s after-image of row 2, as computed by hand');
SELECT is((SELECT payload->'payload'->'after' FROM sch_events WHERE payload->'payload'->'after'->>'id' = '4'),
          '{"id": 4, "amount": "/xcrWvAB", "ratio": {"scale": 1, "value": "ug=="}, "d": -174301,
            "ts": -15059584371999991, "ts3": -15059584371990, "tstz": "1492-10-12T06:07:08.000009Z",
            "t": 22028000009, "t3": 22028010,
            "u": "123e4567-e89b-12d3-a456-426614174000", "j": "-1500"}'::jsonb,
          'the fixture''s after-image of row 4, as computed by hand');
SELECT results_eq(
    $$SELECT payload->'schema'->>'name', payload->'schema'->'fields'->1->>'name',
             array(SELECT f->>'field' FROM jsonb_array_elements(payload->'schema'->'fields') AS f),
             array(SELECT jsonb_object_keys(payload->'payload')),
             payload->'payload'->>'op', payload->'payload'->'source'->>'lsn'
      FROM sch_events ORDER BY seq LIMIT 1$$,
    $$VALUES ('shop.public.sch_items.Envelope', 'shop.public.sch_items.Value',
              ARRAY['before', 'after', 'source', 'op', 'ts_ms', 'transaction'],
              ARRAY['op', 'after', 'ts_ms', 'before', 'source', 'transaction'],
              'r', '24000008')$$,
    'the first event has the connector''s envelope: schema and payload with before, after, source (with lsn), op, ts_ms, transaction');

CREATE TABLE sch_target (LIKE sch_items);
ALTER TABLE sch_target ADD PRIMARY KEY (id);
SELECT FROM incr_create_pipeline('sch_items', 'sch_events', 'sch_target', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload');

SELECT results_eq($$SELECT rows_read, rows_inserted, rows_updated, rows_deleted FROM incr_run('sch_items')$$,
                  $$VALUES (8::bigint, 8::bigint, 0::bigint, 0::bigint)$$,
                  'the first run reads the eight events and inserts eight rows');
SELECT results_eq('SELECT * FROM sch_target ORDER BY id', 'SELECT * FROM sch_items ORDER BY id',
                  'every value of the eight rows decodes to the original');
SELECT results_eq('SELECT id, amount::text, ratio::text FROM sch_target ORDER BY id',
                  'SELECT id, amount::text, ratio::text FROM sch_items ORDER BY id',
                  'decimals keep their scale (1.500, -7.0, 100000000000)');

-- Updates (to and from NULL, across 1970), a delete, a primary key change
-- and an insert.
UPDATE sch_items SET amount = -amount, ratio = -ratio, d = d - 36500, ts = ts - interval '100 years',
                     ts3 = ts3 - interval '100 years', tstz = tstz - interval '100 years',
                     t = t - interval '1 hour', t3 = t3 - interval '1 hour', j = jsonb_build_array(j)
    WHERE id IN (1, 7);
UPDATE sch_items SET amount = 42.042, ratio = 1e-10, d = '1969-01-01', ts = '1969-01-01 00:00:00.000001',
                     ts3 = '1969-01-01 00:00:00.999', tstz = '1969-01-01 00:00:00.000001+14',
                     t = '00:00:00.5', t3 = '00:00:00.5', u = gen_random_uuid(), j = '{"was": null}'
    WHERE id = 6;
UPDATE sch_items SET amount = NULL, ratio = NULL, d = NULL, ts = NULL, ts3 = NULL, tstz = NULL,
                     t = NULL, t3 = NULL, u = NULL, j = NULL
    WHERE id = 5;
DELETE FROM sch_items WHERE id = 2;
UPDATE sch_items SET id = 30 WHERE id = 3;
INSERT INTO sch_items VALUES
    (9, -0.128, -0.5, '1601-01-01', '1601-01-01 00:00:00.000001', '1601-01-01 00:00:00.001',
     '1601-01-01 00:00:00.000001+00', '00:00:00', '00:00:00',
     'e7c1d9a4-0b1f-4f7e-9a43-1d0f1a2b3c4d', '[{"k": "v"}, 1, "two", null]');

SELECT results_eq($$SELECT count(*) FILTER (WHERE payload IS NULL),
                           count(*) FILTER (WHERE payload->'payload'->>'op' = 'd'),
                           count(*) FILTER (WHERE payload->'payload'->>'op' = 'u'),
                           count(*) FILTER (WHERE payload->'payload'->>'op' = 'c')
                    FROM sch_events WHERE seq > 8$$,
                  $$VALUES (2::bigint, 2::bigint, 4::bigint, 2::bigint)$$,
                  'the changes are 10 events: 4 u, 2 d each followed by a tombstone, 2 c');
SELECT results_eq($$SELECT rows_read, rows_inserted, rows_updated, rows_deleted, rows_unchanged
                    FROM incr_run('sch_items')$$,
                  $$VALUES (11::bigint, 2::bigint, 4::bigint, 2::bigint, 3::bigint)$$,
                  'the second run reads events 8..18: rows 30 and 9 inserted, 1, 5, 6, 7 updated, 2 and 3 deleted');
SELECT results_eq('SELECT * FROM sch_target ORDER BY id', 'SELECT * FROM sch_items ORDER BY id',
                  'after the changes every value of every row equals the table''s');
SELECT results_eq('SELECT id, amount::text, ratio::text FROM sch_target ORDER BY id',
                  'SELECT id, amount::text, ratio::text FROM sch_items ORDER BY id',
                  'after the changes decimals keep their scale');

-- The same events without their schema (schemas.enable = false): the
-- target's types decide.  Microsecond columns with epoch_unit 'us' ...
CREATE VIEW sch_events_bare AS SELECT seq, payload->'payload' AS payload FROM sch_events;
CREATE TABLE sch_bare_us (id int PRIMARY KEY, amount numeric(12,3), d date, ts timestamp,
                          tstz timestamptz, t time, u uuid, j jsonb);
SELECT FROM incr_create_pipeline('sch_bare_us', 'sch_events_bare', 'sch_bare_us', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload', epoch_unit => 'us');
SELECT results_eq($$SELECT rows_read, rows_inserted, rows_deleted FROM incr_run('sch_bare_us')$$,
                  $$VALUES (18::bigint, 8::bigint, 0::bigint)$$,
                  'without schema, epoch_unit us: one run over all 18 events inserts the 8 rows left');
SELECT results_eq('SELECT * FROM sch_bare_us ORDER BY id',
                  'SELECT id, amount, d, ts, tstz, t, u, j FROM sch_items ORDER BY id',
                  'without schema, epoch_unit us: numbers decode as microseconds and days, base64 as decimals of scale 3');

-- ... and millisecond columns with epoch_unit 'ms' (the default).
CREATE TABLE sch_bare_ms (id int PRIMARY KEY, ts3 timestamp(3), t3 time(3), tsz3 timestamptz);
CREATE VIEW sch_events_ms AS
    SELECT seq, jsonb_set(payload, '{after}',
                          payload->'after' || jsonb_build_object('tsz3', payload->'after'->'ts3')) AS payload
    FROM sch_events_bare WHERE payload->>'op' <> 'd';
SELECT FROM incr_create_pipeline('sch_bare_ms', 'sch_events_ms', 'sch_bare_ms', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload');
SELECT results_eq($$SELECT rows_read, rows_inserted FROM incr_run('sch_bare_ms')$$,
                  $$VALUES (14::bigint, 10::bigint)$$,
                  'without schema, epoch_unit ms: the 14 events other than deletes, 10 keys');
SELECT results_eq($$SELECT id, ts3, t3, tsz3 FROM sch_bare_ms WHERE id IN (SELECT id FROM sch_items) ORDER BY id$$,
                  $$SELECT id, ts3, t3, ts3 AT TIME ZONE 'UTC' FROM sch_items ORDER BY id$$,
                  'without schema, epoch_unit ms: numbers decode as milliseconds into timestamp(3), time(3) and timestamptz');

SELECT * FROM finish();
ROLLBACK;
