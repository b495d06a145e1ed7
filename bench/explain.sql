-- bench/explain.sql: EXPLAIN (ANALYZE, BUFFERS) of the statement the next run
-- of pipeline :pl would execute, taken from incr_plan(:pl): its parameters
-- $1, $2, $3 get the values and the cursor type the plan's header lines
-- list, through PREPARE/EXECUTE (a statement with a run token, $4, is only
-- planned: its counting functions refuse to run outside a run).  Runs in a transaction that is rolled back,
-- so the target and the checkpoint do not change.
-- psql -v pl=NAME -f bench/explain.sql
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only on
SELECT (regexp_match(p, '^-- pipeline .*\(([^()]*)\)$', 'n'))[1] AS ctype,
       (regexp_match(p, '^-- \$1 [^:]*: ([^(]*[^( ])', 'n'))[1] AS v1,
       (regexp_match(p, '^-- \$2 [^:]*: ([^(]*[^( ])', 'n'))[1] AS v2,
       -- "none" (no checkpoint yet): the run passes the type's least value, as for $1
       COALESCE(NULLIF((regexp_match(p, '^-- \$3 [^:]*: ([^(]*[^( ])', 'n'))[1], 'none'),
                (regexp_match(p, '^-- \$1 [^:]*: ([^(]*[^( ])', 'n'))[1]) AS v3,
       -- the first statement: a keyed append may add its plain INSERT after a comment line
       rtrim(regexp_replace(regexp_replace(p, '^(--[^\n]*\n)+', ''), '\n-- .*$', ''), ';') AS stmt,
       -- since 0.3 a run statement passes the run's token as $4, which its
       -- counting functions check: outside a run it can be planned, not run
       strpos(p, '$4') > 0 AS tokened
FROM incr_plan(:'pl') p \gset
BEGIN;
\if :tokened
PREPARE bench_plan(:ctype, :ctype, :ctype, pg_catalog.int8) AS :stmt;
EXPLAIN EXECUTE bench_plan(:'v1', :'v2', :'v3', 0);
\else
PREPARE bench_plan(:ctype, :ctype, :ctype) AS :stmt;
EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_plan(:'v1', :'v2', :'v3');
\endif
ROLLBACK;
