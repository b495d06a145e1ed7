-- cdc_same_cursor_ties: among change events of one key with the same cursor
-- value, the one with the greatest row image (op, then the columns, byte by
-- byte) wins, whatever order the events were written in, so that a run, a
-- split run over Citus (test/citus.sh) and incr_verify all pick the same one:
--   * flat layout: 40 keys, each with two updates at one time, written in
--     alternating order: every key ends with the greater value; a delete and
--     an update at one time: the update ('u' > 'd') wins;
--   * incr_verify finds the target as it expects it;
--   * a jsonb layout (op and an after image) picks by op and image the same way.
BEGIN;
SELECT plan(5);
SET LOCAL client_min_messages = warning;

CREATE TABLE tie_ev (id int NOT NULL, v text, op text NOT NULL, at timestamptz NOT NULL);
CREATE INDEX ON tie_ev (at);
CREATE TABLE tie_dst (id int PRIMARY KEY, v text);
-- keys 1..40: 'a' and 'b' at one time, 'b' written first for even keys
INSERT INTO tie_ev
SELECT g, CASE WHEN (g % 2 = 0) = (n = 1) THEN 'b' ELSE 'a' END, 'u',
       timestamptz '2024-01-01 00:00+00' + g * interval '1 minute'
FROM generate_series(1, 40) g, generate_series(1, 2) n;
-- key 41: a delete and an update at one time (written first), key 42 the other way round
INSERT INTO tie_ev VALUES (41, 'x', 'u', '2024-01-02'), (41, 'x', 'd', '2024-01-02'),
                          (42, 'y', 'd', '2024-01-02'), (42, 'y', 'u', '2024-01-02');
SELECT incr_create_pipeline('tie_cdc', 'tie_ev', 'tie_dst', 'at', mode => 'cdc',
                            keys => ARRAY['id'], op_column => 'op');

SELECT results_eq($$SELECT rows_read::int, rows_inserted::int FROM incr_run('tie_cdc')$$,
                  $$VALUES (84, 42)$$, 'one run reads every event and writes each key once');
SELECT results_eq($$SELECT (count(*) FILTER (WHERE v = 'b'))::int, (count(*) FILTER (WHERE id > 40 AND v IN ('x', 'y')))::int
                    FROM tie_dst$$,
                  $$VALUES (40, 2)$$,
                  'the greater event of each tie wins, whatever the order it was written in; an update beats a delete');
SELECT results_eq($$SELECT missing::int, extra::int, different::int FROM incr_verify('tie_cdc')$$,
                  $$VALUES (0, 0, 0)$$, 'incr_verify expects the same winners');

-- a jsonb layout: the images differ, the op is the same
CREATE TABLE tie_jev (id int, at timestamptz NOT NULL, op text NOT NULL, after jsonb);
CREATE INDEX ON tie_jev (at);
CREATE TABLE tie_jdst (id int PRIMARY KEY, v text);
INSERT INTO tie_jev
SELECT g, timestamptz '2024-01-01 00:00+00' + g * interval '1 minute', 'u',
       jsonb_build_object('id', g, 'v', CASE WHEN (g % 2 = 0) = (n = 1) THEN 'b' ELSE 'a' END)
FROM generate_series(1, 40) g, generate_series(1, 2) n;
SELECT incr_create_pipeline('tie_jcdc', 'tie_jev', 'tie_jdst', 'at', mode => 'cdc',
                            keys => ARRAY['id'], op_column => 'op', after_column => 'after');
SELECT results_eq($$SELECT rows_inserted::int FROM incr_run('tie_jcdc')$$, $$VALUES (40)$$,
                  'jsonb layout: one row per key');
SELECT results_eq($$SELECT count(*)::int FROM tie_jdst WHERE v = 'b'$$, $$VALUES (40)$$,
                  'jsonb layout: the greater image of each tie wins');

SELECT * FROM finish();
ROLLBACK;
