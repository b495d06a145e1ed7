-- cdc_bad_events.sql: a change event a cdc run cannot apply stops the run; no
-- event is skipped silently.  For each of the three layouts (Debezium
-- envelope in a jsonb payload column; op_column with the target's columns;
-- op_column with after_column / before_column jsonb images):
--   * an event without an op, or with an op that is not one of c r u d t m
--     (flat layouts also take i for insert, in any case) raises SQLSTATE
--     22000 "change event at cursor N has no valid op";
--   * an upsert whose after-image lacks a key column, or has it null, and a
--     delete whose before-image lacks the key (or is missing), raise 22000
--     "change event at cursor N has no value for key column "id"";
--   * a value that does not convert to its column's type raises the
--     conversion's own error (22P02 invalid input syntax, 22003 out of
--     range);
-- and in every case nothing of the window is applied (the good events read
-- with the bad one are not written), the checkpoint stays, and the failure
-- is recorded in incr_runs (status error, the message, the window).  Once
-- the bad event is removed the next run applies the window.
BEGIN;
SELECT plan(49);
SET LOCAL client_min_messages = warning;

-- Failed runs are recorded by a worker in transactions of their own and
-- survive the ROLLBACK below: look past those of earlier executions.
CREATE TEMP TABLE cbe_mark AS SELECT coalesce(max(run_id), 0) AS last_run_id FROM incr_runs;

-- The target's rows and the pipeline's checkpoint, as one line of text.
CREATE FUNCTION pg_temp.cbe_state(target regclass, pipeline text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    rows text;
BEGIN
    EXECUTE format('SELECT string_agg(t::text, '' '' ORDER BY t.id) FROM %s AS t', target) INTO rows;
    RETURN format('%s | checkpoint %s', rows,
                  (SELECT value_numeric FROM incr_checkpoints AS c WHERE c.pipeline = cbe_state.pipeline));
END
$$;

-- The failed runs of a pipeline recorded since this file started.
CREATE FUNCTION pg_temp.cbe_errors(pipeline text,
    OUT trigger text, OUT status text, OUT window_from text, OUT window_to text, OUT error text)
RETURNS SETOF record LANGUAGE sql AS $$
    SELECT r.trigger, r.status, r.window_from, r.window_to, r.error FROM incr_runs AS r
    WHERE r.pipeline = cbe_errors.pipeline AND r.run_id > (SELECT last_run_id FROM cbe_mark)
      AND r.status = 'error'
    ORDER BY r.run_id
$$;

-- The detail and hint of the error a statement raises.
CREATE FUNCTION pg_temp.cbe_detail(sql text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;

-------------------------------------------------------------------------------
-- Debezium envelopes in a jsonb payload column.
CREATE TABLE cbe_ev (seq bigint PRIMARY KEY, payload jsonb);
CREATE TABLE cbe_tgt (id int PRIMARY KEY, name text, qty int);
SELECT FROM incr_create_pipeline('cbe_json', 'cbe_ev', 'cbe_tgt', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], payload_column => 'payload');
INSERT INTO cbe_ev VALUES
    (1, '{"op": "c", "after": {"id": 1, "name": "a", "qty": 1}}'),
    (2, '{"payload": {"op": "c", "after": {"id": 2, "name": "b", "qty": 2}}}');
SELECT is((SELECT rows_inserted FROM incr_run('cbe_json')), 2::bigint, 'payload: two good events load');

-- A good event 3 comes with each bad one; it must not be applied either.
INSERT INTO cbe_ev VALUES (3, '{"op": "c", "after": {"id": 3, "name": "c", "qty": 3}}'),
                          (4, '{"after": {"id": 4, "name": "d", "qty": 4}}');
SELECT throws_ok($$SELECT incr_run('cbe_json')$$, '22000',
                 'change event at cursor 4 has no valid op',
                 'payload: an event without op stops the run, naming its cursor');
SELECT is(pg_temp.cbe_state('cbe_tgt', 'cbe_json'), '(1,a,1) (2,b,2) | checkpoint 2',
          'payload, no op: the target and checkpoint are unchanged; good event 3 was not applied');
SELECT results_eq($$SELECT * FROM pg_temp.cbe_detail('SELECT incr_run(''cbe_json'')')$$,
                  $$VALUES ('Nothing of the run''s window was applied.',
                            'Fix or delete the event in the source, then run again.')$$,
                  'payload, no op: the error says nothing was applied and how to go on');

UPDATE cbe_ev SET payload = '{"payload": {"op": "x", "after": {"id": 4, "name": "d", "qty": 4}}}' WHERE seq = 4;
SELECT throws_ok($$SELECT incr_run('cbe_json')$$, '22000',
                 'change event at cursor 4 has no valid op',
                 'payload: an unknown op "x" stops the run');
UPDATE cbe_ev SET payload = '{"op": null, "after": {"id": 4}}' WHERE seq = 4;
SELECT throws_ok($$SELECT incr_run('cbe_json')$$, '22000',
                 'change event at cursor 4 has no valid op',
                 'payload: an op that is JSON null stops the run');
SELECT is(pg_temp.cbe_state('cbe_tgt', 'cbe_json'), '(1,a,1) (2,b,2) | checkpoint 2',
          'payload, bad ops: the target and checkpoint are unchanged');

UPDATE cbe_ev SET payload = '{"op": "c", "after": {"name": "d", "qty": 4}}' WHERE seq = 4;
SELECT throws_ok($$SELECT incr_run('cbe_json')$$, '22000',
                 'change event at cursor 4 has no value for key column "id"',
                 'payload: a create whose after-image lacks the key stops the run');
UPDATE cbe_ev SET payload = '{"op": "u", "before": {"id": 1}, "after": {"id": null, "name": "d"}}' WHERE seq = 4;
SELECT throws_ok($$SELECT incr_run('cbe_json')$$, '22000',
                 'change event at cursor 4 has no value for key column "id"',
                 'payload: an update whose after-image has a null key stops the run');
UPDATE cbe_ev SET payload = '{"op": "d", "before": null, "after": null}' WHERE seq = 4;
SELECT throws_ok($$SELECT incr_run('cbe_json')$$, '22000',
                 'change event at cursor 4 has no value for key column "id"',
                 'payload: a delete without a before-image stops the run');
UPDATE cbe_ev SET payload = '{"op": "d", "before": {"name": "a"}, "after": null}' WHERE seq = 4;
SELECT throws_ok($$SELECT incr_run('cbe_json')$$, '22000',
                 'change event at cursor 4 has no value for key column "id"',
                 'payload: a delete whose before-image lacks the key stops the run');
SELECT is(pg_temp.cbe_state('cbe_tgt', 'cbe_json'), '(1,a,1) (2,b,2) | checkpoint 2',
          'payload, missing keys: the target and checkpoint are unchanged');

UPDATE cbe_ev SET payload = '{"op": "c", "after": {"id": "abc", "name": "d"}}' WHERE seq = 4;
SELECT throws_ok($$SELECT incr_run('cbe_json')$$, '22P02',
                 'invalid input syntax for type integer: "abc"',
                 'payload: a key that does not convert to integer stops the run');
UPDATE cbe_ev SET payload = '{"op": "u", "after": {"id": 2, "name": "b", "qty": "many"}}' WHERE seq = 4;
SELECT throws_ok($$SELECT incr_run('cbe_json')$$, '22P02',
                 'invalid input syntax for type integer: "many"',
                 'payload: a value that does not convert to its column''s type stops the run');
SELECT is(pg_temp.cbe_state('cbe_tgt', 'cbe_json'), '(1,a,1) (2,b,2) | checkpoint 2',
          'payload, bad values: the target and checkpoint are unchanged');

SELECT results_eq($$SELECT trigger, status, error FROM pg_temp.cbe_errors('cbe_json')$$,
    $$VALUES ('manual', 'error', 'change event at cursor 4 has no valid op'),
             ('manual', 'error', 'change event at cursor 4 has no valid op'),
             ('manual', 'error', 'change event at cursor 4 has no valid op'),
             ('manual', 'error', 'change event at cursor 4 has no valid op'),
             ('manual', 'error', 'change event at cursor 4 has no value for key column "id"'),
             ('manual', 'error', 'change event at cursor 4 has no value for key column "id"'),
             ('manual', 'error', 'change event at cursor 4 has no value for key column "id"'),
             ('manual', 'error', 'change event at cursor 4 has no value for key column "id"'),
             ('manual', 'error', 'invalid input syntax for type integer: "abc"'),
             ('manual', 'error', 'invalid input syntax for type integer: "many"')$$,
    'payload: each failed run is recorded in incr_runs with status error and its error');
SELECT results_eq($$SELECT DISTINCT window_from, window_to FROM pg_temp.cbe_errors('cbe_json')$$,
                  $$VALUES ('2', '4')$$,
                  'payload: the records of the failed runs hold their window [2, 4]');

DELETE FROM cbe_ev WHERE seq = 4;
SELECT results_eq($$SELECT status, rows_read, rows_inserted FROM incr_run('cbe_json')$$,
                  $$VALUES ('ok', 2::bigint, 1::bigint)$$,
                  'payload: with the bad event deleted the next run applies the window');
SELECT is(pg_temp.cbe_state('cbe_tgt', 'cbe_json'), '(1,a,1) (2,b,2) (3,c,3) | checkpoint 3',
          'payload: event 3 is applied and the checkpoint moves');

-------------------------------------------------------------------------------
-- op_column with the target's columns.
CREATE TABLE cbe_flat (seq bigint PRIMARY KEY, op text, id int, name text, qty bigint);
CREATE TABLE cbe_flat_tgt (id int PRIMARY KEY, name text, qty int);
SELECT FROM incr_create_pipeline('cbe_flat', 'cbe_flat', 'cbe_flat_tgt', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], op_column => 'op');
INSERT INTO cbe_flat VALUES (1, 'I', 1, 'a', 1), (2, 'c', 2, 'b', 2), (3, 'U', 1, 'a', 10),
                            (4, 'r', 5, 'e', 5), (5, 'D', 5, NULL, NULL);
SELECT results_eq($$SELECT rows_read, rows_inserted, rows_deleted FROM incr_run('cbe_flat')$$,
                  $$VALUES (5::bigint, 2::bigint, 0::bigint)$$,
                  'flat: ops are read in any case, and i is an insert');
SELECT is(pg_temp.cbe_state('cbe_flat_tgt', 'cbe_flat'), '(1,a,10) (2,b,2) | checkpoint 5',
          'flat: the good events are applied');

INSERT INTO cbe_flat VALUES (6, 'c', 6, 'f', 6), (7, NULL, 7, 'g', 7);
SELECT throws_ok($$SELECT incr_run('cbe_flat')$$, '22000',
                 'change event at cursor 7 has no valid op',
                 'flat: a NULL op stops the run');
UPDATE cbe_flat SET op = 'upsert' WHERE seq = 7;
SELECT throws_ok($$SELECT incr_run('cbe_flat')$$, '22000',
                 'change event at cursor 7 has no valid op',
                 'flat: an unknown op stops the run');
UPDATE cbe_flat SET op = 'c', id = NULL WHERE seq = 7;
SELECT throws_ok($$SELECT incr_run('cbe_flat')$$, '22000',
                 'change event at cursor 7 has no value for key column "id"',
                 'flat: an insert with a NULL key stops the run');
UPDATE cbe_flat SET op = 'd' WHERE seq = 7;
SELECT throws_ok($$SELECT incr_run('cbe_flat')$$, '22000',
                 'change event at cursor 7 has no value for key column "id"',
                 'flat: a delete with a NULL key stops the run');
UPDATE cbe_flat SET op = 'u', id = 2, qty = 10000000000 WHERE seq = 7;
SELECT throws_ok($$SELECT incr_run('cbe_flat')$$, '22003', 'integer out of range',
                 'flat: a value that does not fit its column''s type stops the run');
SELECT is(pg_temp.cbe_state('cbe_flat_tgt', 'cbe_flat'), '(1,a,10) (2,b,2) | checkpoint 5',
          'flat: after five failed runs the target and checkpoint are unchanged; good event 6 was not applied');
SELECT results_eq($$SELECT trigger, status, error FROM pg_temp.cbe_errors('cbe_flat')$$,
    $$VALUES ('manual', 'error', 'change event at cursor 7 has no valid op'),
             ('manual', 'error', 'change event at cursor 7 has no valid op'),
             ('manual', 'error', 'change event at cursor 7 has no value for key column "id"'),
             ('manual', 'error', 'change event at cursor 7 has no value for key column "id"'),
             ('manual', 'error', 'integer out of range')$$,
    'flat: each failed run is recorded in incr_runs with status error and its error');
SELECT results_eq($$SELECT DISTINCT window_from, window_to FROM pg_temp.cbe_errors('cbe_flat')$$,
                  $$VALUES ('5', '7')$$,
                  'flat: the records of the failed runs hold their window [5, 7]');
UPDATE cbe_flat SET qty = 20 WHERE seq = 7;
SELECT results_eq($$SELECT status, rows_inserted, rows_updated FROM incr_run('cbe_flat')$$,
                  $$VALUES ('ok', 1::bigint, 1::bigint)$$,
                  'flat: with the event fixed the next run applies the window');
SELECT is(pg_temp.cbe_state('cbe_flat_tgt', 'cbe_flat'), '(1,a,10) (2,g,20) (6,f,6) | checkpoint 7',
          'flat: events 6 and 7 are applied');

-------------------------------------------------------------------------------
-- op_column with after_column and before_column jsonb images.
CREATE TABLE cbe_fj (seq bigint PRIMARY KEY, op varchar(8), after_image jsonb, before_image json);
CREATE TABLE cbe_fj_tgt (id int PRIMARY KEY, name text, qty int);
SELECT FROM incr_create_pipeline('cbe_fj', 'cbe_fj', 'cbe_fj_tgt', 'seq', mode => 'cdc',
                                 keys => ARRAY['id'], op_column => 'op',
                                 after_column => 'after_image', before_column => 'before_image');
INSERT INTO cbe_fj VALUES (1, 'c', '{"id": 1, "name": "a", "qty": 1}', NULL),
                          (2, 'c', '{"id": 2, "name": "b", "qty": 2}', NULL),
                          (3, 'c', '{"id": 3, "name": "c", "qty": 3}', NULL),
                          (4, 'd', NULL, '{"id": 3, "name": "c", "qty": 3}');
SELECT results_eq($$SELECT rows_read, rows_inserted, rows_deleted FROM incr_run('cbe_fj')$$,
                  $$VALUES (4::bigint, 2::bigint, 0::bigint)$$,
                  'after/before images: the good events are applied, the delete by its before-image');

INSERT INTO cbe_fj VALUES (5, 'u', '{"id": 1, "name": "a", "qty": 11}', NULL),
                          (6, NULL, '{"id": 6, "name": "f"}', NULL);
SELECT throws_ok($$SELECT incr_run('cbe_fj')$$, '22000',
                 'change event at cursor 6 has no valid op',
                 'after/before images: a NULL op stops the run');
UPDATE cbe_fj SET op = '?' WHERE seq = 6;
SELECT throws_ok($$SELECT incr_run('cbe_fj')$$, '22000',
                 'change event at cursor 6 has no valid op',
                 'after/before images: an unknown op stops the run');
UPDATE cbe_fj SET op = 'c', after_image = '{"name": "f"}' WHERE seq = 6;
SELECT throws_ok($$SELECT incr_run('cbe_fj')$$, '22000',
                 'change event at cursor 6 has no value for key column "id"',
                 'after/before images: an after-image without the key stops the run');
UPDATE cbe_fj SET after_image = NULL WHERE seq = 6;
SELECT throws_ok($$SELECT incr_run('cbe_fj')$$, '22000',
                 'change event at cursor 6 has no value for key column "id"',
                 'after/before images: an insert without an after-image stops the run');
UPDATE cbe_fj SET op = 'd', after_image = '{"id": 2}', before_image = NULL WHERE seq = 6;
SELECT throws_ok($$SELECT incr_run('cbe_fj')$$, '22000',
                 'change event at cursor 6 has no value for key column "id"',
                 'after/before images: a delete without a before-image stops the run (the after-image is not used)');
UPDATE cbe_fj SET op = 'd', after_image = NULL, before_image = '{"id": "two"}' WHERE seq = 6;
SELECT throws_ok($$SELECT incr_run('cbe_fj')$$, '22P02',
                 'invalid input syntax for type integer: "two"',
                 'after/before images: a key that does not convert stops the run');
UPDATE cbe_fj SET op = 'u', after_image = '{"id": 2, "qty": 2.5}', before_image = NULL WHERE seq = 6;
SELECT throws_ok($$SELECT incr_run('cbe_fj')$$, '22P02',
                 'invalid input syntax for type integer: "2.5"',
                 'after/before images: a fractional number into an integer column stops the run');
SELECT is(pg_temp.cbe_state('cbe_fj_tgt', 'cbe_fj'), '(1,a,1) (2,b,2) | checkpoint 4',
          'after/before images: after seven failed runs the target and checkpoint are unchanged; good event 5 was not applied');
SELECT results_eq($$SELECT error FROM pg_temp.cbe_errors('cbe_fj')$$,
    $$VALUES ('change event at cursor 6 has no valid op'),
             ('change event at cursor 6 has no valid op'),
             ('change event at cursor 6 has no value for key column "id"'),
             ('change event at cursor 6 has no value for key column "id"'),
             ('change event at cursor 6 has no value for key column "id"'),
             ('invalid input syntax for type integer: "two"'),
             ('invalid input syntax for type integer: "2.5"')$$,
    'after/before images: each failed run is recorded in incr_runs');
SELECT results_eq($$SELECT DISTINCT trigger, status FROM pg_temp.cbe_errors('cbe_fj')$$,
                  $$VALUES ('manual', 'error')$$,
                  'after/before images: all with trigger manual and status error');
SELECT results_eq($$SELECT DISTINCT window_from, window_to FROM pg_temp.cbe_errors('cbe_fj')$$,
                  $$VALUES ('4', '6')$$,
                  'after/before images: the records of the failed runs hold their window [4, 6]');
UPDATE cbe_fj SET after_image = '{"id": 2, "name": "b", "qty": 25}' WHERE seq = 6;
SELECT results_eq($$SELECT status, rows_read, rows_updated FROM incr_run('cbe_fj')$$,
                  $$VALUES ('ok', 3::bigint, 2::bigint)$$,
                  'after/before images: with the event fixed the next run applies the window');
SELECT is(pg_temp.cbe_state('cbe_fj_tgt', 'cbe_fj'), '(1,a,11) (2,b,25) | checkpoint 6',
          'after/before images: events 5 and 6 are applied');

-------------------------------------------------------------------------------
-- Options that do not fit the layout are refused when the pipeline is created.
SELECT throws_ok($$SELECT incr_create_pipeline('cbe_both', 'cbe_fj', 'cbe_fj_tgt', 'seq', mode => 'cdc',
                                              keys => ARRAY['id'], op_column => 'op', payload_column => 'after_image')$$,
                 '22023', 'cdc pipeline "cbe_both" needs either payload_column or op_column',
                 'payload_column and op_column together are refused');
SELECT throws_ok($$SELECT incr_create_pipeline('cbe_none', 'cbe_fj', 'cbe_fj_tgt', 'seq', mode => 'cdc',
                                              keys => ARRAY['id'])$$,
                 '22023', 'cdc pipeline "cbe_none" needs either payload_column or op_column',
                 'a cdc pipeline without payload_column or op_column is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('cbe_unit', 'cbe_ev', 'cbe_tgt', 'seq', mode => 'cdc',
                                              keys => ARRAY['id'], payload_column => 'payload', epoch_unit => 'days')$$,
                 '22023', 'epoch_unit must be one of s, ms, us, ns, not "days"',
                 'an unknown epoch_unit is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('cbe_optype', 'cbe_flat', 'cbe_flat_tgt', 'seq', mode => 'cdc',
                                              keys => ARRAY['id'], op_column => 'qty')$$,
                 '42804', 'op_column column "qty" has type bigint, expected text',
                 'an op_column that is not text is refused');

SELECT * FROM finish();
ROLLBACK;
