-- failed_run_names_pipeline: the error of a failed run names its run and
-- pipeline in its CONTEXT ('run N of pipeline "x"'), and the generated
-- statement stays out of that CONTEXT (it is in incr_plan and at DEBUG1);
-- the failure's SQLSTATE and DETAIL are kept in incr_runs and the SQLSTATE
-- in incr_status, whose health says "failing" until a later run succeeds,
-- when consecutive_failures is 0 again and last_success_at is after the
-- last error.  A query pipeline's command keeps the context lines of the
-- user's own functions.
BEGIN;
SELECT plan(9);
SET LOCAL client_min_messages = warning;

-- Failed runs are committed by the recorder and outlive the ROLLBACK below.
CREATE TEMP TABLE frn_mark AS SELECT coalesce(max(run_id), 0) AS last_run_id FROM incr_runs;

-- the CONTEXT of the error a statement raises, NULL if it raises none
CREATE FUNCTION pg_temp.error_context(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    context text;
BEGIN
    EXECUTE statement;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS context = PG_EXCEPTION_CONTEXT;
    RETURN context;
END
$$;

CREATE TABLE frn_src (id int PRIMARY KEY, n bigint NOT NULL, qty int);
CREATE INDEX ON frn_src (n);
CREATE TABLE frn_tgt (id int PRIMARY KEY, n bigint,
                      qty int CONSTRAINT frn_tgt_qty_check CHECK (qty >= 0));
SELECT FROM incr_create_pipeline('frn', 'frn_src', 'frn_tgt', 'n', mode => 'merge', keys => ARRAY['id']);
INSERT INTO frn_src VALUES (1, 1, 10), (2, 2, -20);

CREATE TEMP TABLE frn_context AS SELECT pg_temp.error_context($$SELECT incr_run('frn')$$) AS context;
SELECT is((SELECT context FROM frn_context),
          (SELECT format(E'run %s of pipeline "frn"\nSQL statement "SELECT incr_run(\'frn\')"\n'
                         'PL/pgSQL function pg_temp_%s.error_context(text) line 5 at EXECUTE',
                         max(run_id), substring(pg_my_temp_schema()::regnamespace::text from 'pg_temp_(\d+)'))
           FROM incr_runs WHERE pipeline = 'frn' AND run_id > (SELECT last_run_id FROM frn_mark)),
          'the CONTEXT names the run and the pipeline first, then the caller''s lines; no generated statement');
SELECT results_eq($$SELECT status, sqlstate, detail FROM incr_runs
                    WHERE pipeline = 'frn' AND run_id > (SELECT last_run_id FROM frn_mark)$$,
                  $$VALUES ('error'::text, '23514'::text, 'Failing row contains (2, 2, -20).'::text)$$,
                  'incr_runs keeps the SQLSTATE and the DETAIL of the failure');
SELECT results_eq($$SELECT last_error_sqlstate, health, consecutive_failures, last_success_at IS NULL
                    FROM incr_status WHERE pipeline = 'frn'$$,
                  $$VALUES ('23514'::text, 'failing'::text, 1::bigint, true)$$,
                  'incr_status: the SQLSTATE, failing, one failure, no success yet');
SELECT is(pg_temp.error_context($$SELECT incr_run('frn')$$) ~ '^run \d+ of pipeline "frn"\nSQL statement "SELECT incr_run', true,
          'a second failure too');
SELECT is((SELECT consecutive_failures FROM incr_status WHERE pipeline = 'frn'), 2::bigint,
          'two consecutive failures');

UPDATE frn_src SET qty = 20 WHERE id = 2;
SELECT is((SELECT status FROM incr_run('frn')), 'ok', 'the fixed row loads');
SELECT results_eq($$SELECT health, consecutive_failures, last_success_at > last_error_at, last_error_sqlstate
                    FROM incr_status WHERE pipeline = 'frn'$$,
                  $$VALUES ('ok'::text, 0::bigint, true, '23514'::text)$$,
                  'after a success: healthy, no failures, the last error is older than the last success');

-- a query command that calls a function: its context lines stay, then the run's
CREATE FUNCTION frn_fail(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'no % here', n USING ERRCODE = '22023', DETAIL = 'Made to fail.';
END
$$;
CREATE TABLE frn_out (n bigint);
SELECT FROM incr_create_pipeline('frn_query', 'frn_src', 'frn_out', 'n', mode => 'query',
    command => $$insert into public.frn_out select public.frn_fail(n) from public.frn_src where n > $1 and n <= $2$$);
SELECT matches(pg_temp.error_context($$SELECT incr_run('frn_query')$$),
               '^PL/pgSQL function frn_fail\(bigint\) line 3 at RAISE\nrun \d+ of pipeline "frn_query"\nSQL statement "SELECT incr_run',
               'the user''s function keeps its context line; the command does not appear');
SELECT results_eq($$SELECT sqlstate, detail, error FROM incr_runs
                    WHERE pipeline = 'frn_query' AND run_id > (SELECT last_run_id FROM frn_mark)$$,
                  $$VALUES ('22023'::text, 'Made to fail.'::text, 'no 1 here'::text)$$,
                  'the user''s SQLSTATE and DETAIL are kept');

SELECT * FROM finish();
ROLLBACK;
