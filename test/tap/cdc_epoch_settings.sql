-- cdc_epoch_settings: Debezium's encoded dates, times and decimals decode to
-- the same values whatever the session's DateStyle and TimeZone, and a value
-- no date or time can hold stops the run instead of wrapping around:
--   * with a schema, Date, Time, MicroTime, NanoTime, Timestamp,
--     MicroTimestamp, NanoTimestamp, ZonedTimestamp, Decimal and
--     VariableScaleDecimal decode to exactly the expected values under
--     DateStyle ISO and TimeZone UTC, and to the same values under
--     DateStyle 'Postgres, DMY' or 'SQL' with TimeZone 'Asia/Kolkata'
--     (epoch 0 into timestamptz is 1970-01-01 00:00:00+00, not 03:30);
--   * an epoch value out of range (days, ms, us or ns since the epoch, or a
--     time outside the day) raises SQLSTATE 22008 "change event value N is
--     out of range for type T"; nothing of the window is applied, the
--     checkpoint stays, and the failure is recorded in incr_runs.
BEGIN;
SELECT plan(13);
SET LOCAL client_min_messages = warning;
SET LOCAL DateStyle = 'ISO, MDY';
SET LOCAL TimeZone = 'UTC';

-- Failed runs are recorded by a worker in transactions of their own and
-- survive the ROLLBACK below: look past those of earlier executions.
CREATE TEMP TABLE es_mark AS SELECT coalesce(max(run_id), 0) AS last_run_id FROM incr_runs;

-- A Debezium create event with its schema: after is the row image.
CREATE FUNCTION pg_temp.es_event(after jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'schema', jsonb_build_object('type', 'struct', 'name', 'shop.public.es.Envelope',
            'fields', jsonb_build_array(
                jsonb_build_object('type', 'struct', 'optional', true, 'field', 'after',
                    'name', 'shop.public.es.Value', 'fields', '[
          {"type": "int32", "optional": false, "field": "id"},
          {"type": "int32", "optional": true, "name": "io.debezium.time.Date", "field": "d"},
          {"type": "int32", "optional": true, "name": "io.debezium.time.Time", "field": "t"},
          {"type": "int64", "optional": true, "name": "io.debezium.time.MicroTime", "field": "mt"},
          {"type": "int64", "optional": true, "name": "io.debezium.time.NanoTime", "field": "nt"},
          {"type": "int64", "optional": true, "name": "io.debezium.time.Timestamp", "field": "ts"},
          {"type": "int64", "optional": true, "name": "io.debezium.time.MicroTimestamp", "field": "mts"},
          {"type": "int64", "optional": true, "name": "io.debezium.time.NanoTimestamp", "field": "nts"},
          {"type": "string", "optional": true, "name": "io.debezium.time.ZonedTimestamp", "field": "zts"},
          {"type": "int32", "optional": true, "name": "io.debezium.time.Date", "field": "dtz"},
          {"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal",
           "parameters": {"scale": "2"}, "field": "dec"},
          {"type": "struct", "optional": true, "name": "io.debezium.data.VariableScaleDecimal",
           "fields": [{"type": "int32", "field": "scale"}, {"type": "bytes", "field": "value"}],
           "field": "vdec"}]'::jsonb),
                '{"type": "string", "optional": false, "field": "op"}'::jsonb)),
        'payload', jsonb_build_object('op', 'c', 'after', after))
$$;

CREATE TABLE es_ev (seq bigint PRIMARY KEY, payload jsonb);
CREATE TABLE es_tgt (id int PRIMARY KEY, d date, t time(3), mt time(6), nt time(6),
                     ts timestamp(3), mts timestamp(6), nts timestamptz, zts timestamptz,
                     dtz timestamptz, dec numeric(12, 2), vdec numeric);
INSERT INTO es_ev VALUES
    (1, pg_temp.es_event('{"id": 1, "d": 0, "t": 0, "mt": 0, "nt": 0, "ts": 0, "mts": 0, "nts": 0,
                           "zts": "1970-01-01T00:00:00Z", "dtz": 0, "dec": "MDk=",
                           "vdec": {"scale": 3, "value": "AeJA"}}')),
    (2, pg_temp.es_event('{"id": 2, "d": 19723, "t": 45296789, "mt": 45296789012,
                           "nt": 45296789012345, "ts": 1704112496789, "mts": 1704112496789012,
                           "nts": 1704112496789012345, "zts": "2024-01-01T12:34:56.789012+05:30",
                           "dtz": 19723, "dec": "z8c=", "vdec": {"scale": 0, "value": "AeJA"}}')),
    (3, pg_temp.es_event('{"id": 3, "d": -1, "t": 86400000, "mt": 1, "nt": 999,
                           "ts": -1, "mts": -1, "nts": -1, "zts": "1969-12-31T23:59:59.999999Z",
                           "dtz": -719162, "dec": "AA==", "vdec": {"scale": 6, "value": "/w=="}}'));
SELECT FROM incr_create_pipeline('es', 'es_ev', 'es_tgt', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload');

-- The target as text, always printed under ISO and UTC.
CREATE FUNCTION pg_temp.es_rows() RETURNS SETOF text LANGUAGE sql
SET DateStyle = 'ISO, MDY' SET TimeZone = 'UTC' AS $$
    SELECT r::text FROM es_tgt AS r ORDER BY r.id
$$;

SELECT FROM incr_run('es');
SELECT results_eq('SELECT * FROM pg_temp.es_rows()', $$VALUES
    ('(1,1970-01-01,00:00:00,00:00:00,00:00:00,"1970-01-01 00:00:00","1970-01-01 00:00:00","1970-01-01 00:00:00+00","1970-01-01 00:00:00+00","1970-01-01 00:00:00+00",123.45,123.456)'),
    ('(2,2024-01-01,12:34:56.789,12:34:56.789012,12:34:56.789012,"2024-01-01 12:34:56.789","2024-01-01 12:34:56.789012","2024-01-01 12:34:56.789012+00","2024-01-01 07:04:56.789012+00","2024-01-01 00:00:00+00",-123.45,123456)'),
    ('(3,1969-12-31,24:00:00,00:00:00.000001,00:00:00,"1969-12-31 23:59:59.999","1969-12-31 23:59:59.999999","1969-12-31 23:59:59.999999+00","1969-12-31 23:59:59.999999+00","0001-01-01 00:00:00+00",0.00,-0.000001)')$$,
    'ISO, UTC: every encoding decodes to its exact value');
CREATE TEMP TABLE es_iso AS SELECT * FROM pg_temp.es_rows() AS r;

SET LOCAL DateStyle = 'Postgres, DMY';
SET LOCAL TimeZone = 'Asia/Kolkata';
DELETE FROM es_tgt;
SELECT incr_reset('es', NULL);
SELECT FROM incr_run('es');
SELECT results_eq('SELECT * FROM pg_temp.es_rows()', 'SELECT * FROM es_iso',
                  'DateStyle Postgres, DMY and TimeZone Asia/Kolkata: the same values as under ISO and UTC');

SET LOCAL DateStyle = 'SQL';
DELETE FROM es_tgt;
SELECT incr_reset('es', NULL);
SELECT FROM incr_run('es');
SELECT results_eq('SELECT * FROM pg_temp.es_rows()', 'SELECT * FROM es_iso',
                  'DateStyle SQL and TimeZone Asia/Kolkata: the same values as under ISO and UTC');

-------------------------------------------------------------------------------
-- Out of range: a good event and a bad one in one window.
SET LOCAL DateStyle = 'ISO, MDY';
SET LOCAL TimeZone = 'UTC';
DELETE FROM es_tgt;
DELETE FROM es_ev;
SELECT incr_reset('es', NULL);
INSERT INTO es_ev VALUES (1, pg_temp.es_event('{"id": 1, "d": 0}')), (2, NULL);

CREATE FUNCTION pg_temp.es_bad(after text) RETURNS text LANGUAGE sql AS $$
    UPDATE es_ev SET payload = pg_temp.es_event(after::jsonb) WHERE seq = 2;
    SELECT 'SELECT incr_run(''es'')';
$$;

SELECT throws_ok(pg_temp.es_bad('{"id": 2, "d": 300000000}'), '22008',
                 'change event value 300000000 is out of range for type date',
                 'Date of 300000000 days: 22008, not a wrapped-around date');
SELECT throws_ok(pg_temp.es_bad('{"id": 2, "dtz": 300000000}'), '22008',
                 'change event value 300000000 is out of range for type timestamp with time zone',
                 'Date of 300000000 days into timestamptz: 22008');
SELECT throws_ok(pg_temp.es_bad('{"id": 2, "ts": 9223372036854775807}'), '22008',
                 'change event value 9223372036854775807 is out of range for type timestamp without time zone',
                 'Timestamp of 2^63-1 ms: 22008, not bigint out of range');
SELECT throws_ok(pg_temp.es_bad('{"id": 2, "mts": -300000000000000000}'), '22008',
                 'change event value -300000000000000000 is out of range for type timestamp without time zone',
                 'MicroTimestamp before 4714 BC: 22008');
SELECT throws_ok(pg_temp.es_bad('{"id": 2, "nts": 99999999999999999999999999}'), '22008',
                 'change event value 99999999999999999999999999 is out of range for type timestamp with time zone',
                 'NanoTimestamp beyond bigint: 22008');
SELECT throws_ok(pg_temp.es_bad('{"id": 2, "t": 86400001}'), '22008',
                 'change event value 86400001 is out of range for type time without time zone',
                 'Time past midnight: 22008');
SELECT throws_ok(pg_temp.es_bad('{"id": 2, "mt": -1}'), '22008',
                 'change event value -1 is out of range for type time without time zone',
                 'MicroTime before midnight: 22008');
SELECT is((SELECT count(*) FROM es_tgt), 0::bigint,
          'out of range: nothing of the window was applied');
SELECT is((SELECT value_numeric FROM incr_checkpoints WHERE pipeline = 'es'), NULL,
          'out of range: the checkpoint stays');
SELECT results_eq($$SELECT status, error FROM incr_runs
                    WHERE pipeline = 'es' AND run_id > (SELECT last_run_id FROM es_mark) AND status = 'error'
                    ORDER BY run_id LIMIT 2$$,
                  $$VALUES ('error', 'change event value 300000000 is out of range for type date'),
                           ('error', 'change event value 300000000 is out of range for type timestamp with time zone')$$,
                  'out of range: the failures are recorded in incr_runs');

SELECT * FROM finish();
ROLLBACK;
