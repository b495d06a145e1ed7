-- cursor_least_value: every mode sees the rows at the least value of its
-- cursor type, for smallint, integer, bigint, numeric, date, timestamp,
-- timestamptz and xid8:
--   * append and merge load a row at the least value (-32768, -2147483648,
--     -9223372036854775808, -Infinity, -infinity, 0) with the others on the
--     first run, whose lower bound is that value, inclusive;
--   * a query pipeline's command reads cursor > $1, and on its first run $1
--     is the type's least value, so a row there could be in no window: that
--     run is refused (55000, naming the value) instead of moving the
--     checkpoint past it, and so is incr_plan; after the rows there are
--     processed by hand, incr_reset(name, least) lets runs start after them;
--   * a query pipeline whose source holds no such row runs with $1 = the
--     least value and sees every row.
BEGIN;
SELECT plan(24);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

CREATE TABLE lv_types (tag text PRIMARY KEY, type text, least_value text, other text, type_name text);
INSERT INTO lv_types VALUES
    ('int2', 'smallint', '-32768', '7', 'smallint'),
    ('int4', 'integer', '-2147483648', '7', 'integer'),
    ('int8', 'bigint', '-9223372036854775808', '7', 'bigint'),
    ('num', 'numeric', '-Infinity', '7', 'numeric'),
    ('date', 'date', '-infinity', '2024-01-07', 'date'),
    ('ts', 'timestamp', '-infinity', '2024-01-07 10:00', 'timestamp without time zone'),
    ('tstz', 'timestamptz', '-infinity', '2024-01-07 10:00+00', 'timestamp with time zone'),
    ('xid8', 'xid8', '0', '7', 'xid8');

-- per type: a source with a row at the least value and one above, and a
-- target per mode
CREATE FUNCTION pg_temp.lv_setup(tag text, type text, least_value text, other text) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, c %s NOT NULL)', 'lv_' || tag || '_src', type);
    EXECUTE format('INSERT INTO %I VALUES (1, %L), (2, %L)', 'lv_' || tag || '_src', least_value, other);
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, c %s)', 'lv_' || tag || '_app', type);
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, c %s)', 'lv_' || tag || '_mrg', type);
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, c %s)', 'lv_' || tag || '_qry', type);
    PERFORM incr_create_pipeline('lv_' || tag || '_app', ('lv_' || tag || '_src')::regclass,
                                 ('lv_' || tag || '_app')::regclass, 'c', keys => '{id}');
    PERFORM incr_create_pipeline('lv_' || tag || '_mrg', ('lv_' || tag || '_src')::regclass,
                                 ('lv_' || tag || '_mrg')::regclass, 'c', mode => 'merge', keys => '{id}');
    PERFORM incr_create_pipeline('lv_' || tag || '_qry', ('lv_' || tag || '_src')::regclass,
                                 ('lv_' || tag || '_qry')::regclass, 'c', mode => 'query',
                                 command => format('INSERT INTO %I SELECT id, c FROM %I WHERE c > $1 AND c <= $2',
                                                   'lv_' || tag || '_qry', 'lv_' || tag || '_src'));
END
$f$;
SELECT pg_temp.lv_setup(tag, type, least_value, other) FROM lv_types;

-- append and merge: both rows, the least value included
SELECT is((SELECT array_agg(x ORDER BY x) FROM (
    SELECT (SELECT rows_inserted FROM incr_run('lv_' || tag || '_app')) AS x FROM lv_types) r),
    ARRAY[2,2,2,2,2,2,2,2]::bigint[], 'append: every type loads its least value on the first run');
SELECT is((SELECT array_agg(x ORDER BY x) FROM (
    SELECT (SELECT rows_inserted FROM incr_run('lv_' || tag || '_mrg')) AS x FROM lv_types) r),
    ARRAY[2,2,2,2,2,2,2,2]::bigint[], 'merge: every type loads its least value on the first run');
SELECT results_eq($$SELECT c::text FROM lv_int2_app ORDER BY id$$, ARRAY['-32768', '7'], 'append smallint: -32768 loaded');
SELECT results_eq($$SELECT c::text FROM lv_int8_mrg ORDER BY id$$, ARRAY['-9223372036854775808', '7'], 'merge bigint: the least bigint loaded');
SELECT results_eq($$SELECT c::text FROM lv_num_mrg ORDER BY id$$, ARRAY['-Infinity', '7'], 'merge numeric: -Infinity loaded');
SELECT results_eq($$SELECT c::text FROM lv_ts_app ORDER BY id$$, ARRAY['-infinity', '2024-01-07 10:00:00'], 'append timestamp: -infinity loaded');
SELECT results_eq($$SELECT c::text FROM lv_xid8_app ORDER BY id$$, ARRAY['0', '7'], 'append xid8: 0 loaded');

-- query: the first run is refused, naming the value
SELECT throws_ok(format('SELECT incr_run(%L)', 'lv_' || tag || '_qry'), '55000',
                 format('source of query pipeline "%s" has rows at the least %s value, %s',
                        'lv_' || tag || '_qry', type_name, least_value),
                 'query ' || type || ': a first run with a row at the least value is refused')
FROM lv_types ORDER BY tag;
SELECT throws_ok($$SELECT incr_plan('lv_int4_qry')$$, '55000',
                 'source of query pipeline "lv_int4_qry" has rows at the least integer value, -2147483648',
                 'incr_plan says so too');
SELECT is((SELECT count(*) FROM incr_checkpoints WHERE pipeline LIKE 'lv\_%\_qry' AND (value_numeric IS NOT NULL OR value_timestamp IS NOT NULL OR value_timestamptz IS NOT NULL OR value_date IS NOT NULL)),
          0::bigint, 'no query checkpoint moved');
SELECT is((SELECT count(*) FROM lv_int2_qry), 0::bigint, 'the refused command wrote nothing');

-- the way out: process the rows at the least value, reset to it, run
INSERT INTO lv_int2_qry SELECT id, c FROM lv_int2_src WHERE c = -32768;
SELECT incr_reset('lv_int2_qry', '-32768');
SELECT is((SELECT rows_inserted FROM incr_run('lv_int2_qry')), 1::bigint, 'after incr_reset to -32768 the run goes on');
SELECT results_eq($$SELECT id, c FROM lv_int2_qry ORDER BY id$$,
                  $$VALUES (1, (-32768)::smallint), (2, 7::smallint)$$, 'each row processed once');

-- without a row at the least value, the first run sees every row
DELETE FROM lv_int8_src WHERE id = 1;
INSERT INTO lv_int8_src VALUES (3, -9223372036854775807);
SELECT is((SELECT rows_inserted FROM incr_run('lv_int8_qry')), 2::bigint, 'query bigint: the least value + 1 is read');
SELECT results_eq($$SELECT id, c FROM lv_int8_qry ORDER BY id$$,
                  $$VALUES (2, 7::bigint), (3, (-9223372036854775807)::bigint)$$, 'query bigint: both rows');
SELECT results_eq($$SELECT window_from, window_to FROM incr_runs WHERE pipeline = 'lv_int8_qry' AND status = 'ok'$$,
                  $$VALUES (NULL::text, '7'::text)$$, 'its window: no lower bound, up to 7');

DELETE FROM lv_tstz_src WHERE id = 1;
SELECT is((SELECT rows_inserted FROM incr_run('lv_tstz_qry')), 1::bigint, 'query timestamptz without -infinity rows runs');

SELECT * FROM finish();
ROLLBACK;
