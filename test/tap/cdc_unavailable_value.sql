-- cdc_unavailable_value: Debezium writes __debezium_unavailable_value for a
-- value it does not have (an unchanged TOASTed column of an update under
-- REPLICA IDENTITY DEFAULT): base64 of those bytes for a bytea column (hex
-- with binary.handling.mode = hex), the string itself for text and json.
-- It means "unchanged", never data:
--   * an update carrying it keeps the target's value (text, jsonb, bytea),
--     writes the other columns, and a jsonb column does not fail the run;
--   * when the key's earlier events in the same window carry the value (a
--     create then updates), that latest real value is written;
--   * a key neither the target nor the window has a value for gets NULL;
--   * re-running the whole stream changes nothing;
--   * an after_column layout behaves the same.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;

CREATE TABLE uv_src (off bigint PRIMARY KEY, ev jsonb);
CREATE TABLE uv_tgt (id int PRIMARY KEY, t text, j jsonb, b bytea, n int);
SELECT incr_create_pipeline('uv', 'uv_src', 'uv_tgt', 'off', mode => 'cdc', keys => '{id}', payload_column => 'ev');

INSERT INTO uv_src VALUES (1, '{"op":"c","after":{"id":1,"t":"big","j":{"a":1},"b":"\\x0102","n":1}}');
SELECT is((SELECT rows_inserted FROM incr_run('uv')), 1::bigint, 'the row is created');

INSERT INTO uv_src VALUES
  (2, '{"op":"u","after":{"id":1,"t":"__debezium_unavailable_value","j":"__debezium_unavailable_value","b":"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==","n":2}}'),
  (3, '{"op":"c","after":{"id":2,"t":"two","j":[1],"b":null,"n":1}}'),
  (4, '{"op":"u","after":{"id":2,"t":"__debezium_unavailable_value","j":"{\"k\":2}","b":"5f5f646562657a69756d5f756e617661696c61626c655f76616c7565","n":2}}'),
  (5, '{"op":"u","after":{"id":2,"t":"__debezium_unavailable_value","j":"__debezium_unavailable_value","b":null,"n":3}}'),
  (6, '{"op":"u","after":{"id":3,"t":"__debezium_unavailable_value","j":null,"b":null,"n":3}}');
SELECT results_eq($$SELECT rows_read, rows_inserted, rows_updated FROM incr_run('uv')$$,
                  $$VALUES (6::bigint, 2::bigint, 1::bigint)$$, 'the placeholders do not fail the run (the checkpoint''s event is read again)');
SELECT results_eq($$SELECT id, t, j, b, n FROM uv_tgt ORDER BY id$$,
                  $$VALUES (1, 'big'::text, '{"a":1}'::jsonb, '\x0102'::bytea, 2),
                           (2, 'two', '{"k":2}', NULL, 3),
                           (3, NULL, NULL, NULL, 3)$$,
                  'unavailable values keep the target''s value or the window''s latest, else NULL');
SELECT is((SELECT count(*) FROM uv_tgt WHERE t = '__debezium_unavailable_value'), 0::bigint,
          'the placeholder is never written');

SELECT incr_reset('uv', NULL);
SELECT results_eq($$SELECT rows_inserted, rows_updated, rows_unchanged FROM incr_run('uv')$$,
                  $$VALUES (0::bigint, 0::bigint, 6::bigint)$$, 'replaying the stream changes nothing');

-- op and after columns
CREATE TABLE uv2_src (off bigint PRIMARY KEY, op text, after jsonb);
CREATE TABLE uv2_tgt (id int PRIMARY KEY, t text, j jsonb);
SELECT incr_create_pipeline('uv2', 'uv2_src', 'uv2_tgt', 'off', mode => 'cdc', keys => '{id}',
                            op_column => 'op', after_column => 'after');
INSERT INTO uv2_src VALUES (1, 'c', '{"id":1,"t":"big","j":{"a":1}}');
SELECT is((SELECT rows_inserted FROM incr_run('uv2')), 1::bigint, 'after_column: created');
INSERT INTO uv2_src VALUES (2, 'u', '{"id":1,"t":"__debezium_unavailable_value","j":"__debezium_unavailable_value"}');
SELECT is((SELECT rows_updated FROM incr_run('uv2')), 0::bigint, 'after_column: an update of unavailable values only changes nothing');
SELECT results_eq($$SELECT id, t, j FROM uv2_tgt$$, $$VALUES (1, 'big'::text, '{"a":1}'::jsonb)$$,
                  'after_column: the values are kept');

SELECT * FROM finish();
ROLLBACK;
