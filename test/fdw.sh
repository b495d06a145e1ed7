#!/usr/bin/env bash
# test/fdw.sh: foreign tables as sources.  An OLTP database "oltp" and an
# analytics database reading it through postgres_fdw: a merge pipeline on a
# foreign table loads exactly, its window predicate is pushed to the remote
# side (EXPLAIN VERBOSE shows it in Remote SQL), and incr_status says the
# same-cluster safe bound does not apply.  A file_fdw CSV file is a source
# too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "fdw: FAILED: $*"; exit 1; }

createdb oltp
createdb analytics
q -d oltp >/dev/null <<'SQL'
CREATE TABLE orders (id bigint PRIMARY KEY, status text, amount numeric(10,2),
                     updated_at timestamptz NOT NULL);
CREATE INDEX ON orders (updated_at);
INSERT INTO orders SELECT g, 'placed', g, timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 1000) g;
SQL
csv="$CLUSTER_DIR/clicks.csv"
printf '1,/home,2024-01-01 00:00:01+00\n2,/cart,2024-01-01 00:00:02+00\n3,/pay,2024-01-01 00:00:03+00\n' >"$csv"
chmod a+r "$csv"

q -d analytics >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE EXTENSION postgres_fdw;
CREATE EXTENSION file_fdw;
CREATE SERVER oltp FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$PGHOST', port '$PGPORT', dbname 'oltp', fetch_size '500');
CREATE USER MAPPING FOR CURRENT_USER SERVER oltp OPTIONS (user '$PGUSER');
CREATE FOREIGN TABLE remote_orders (id bigint, status text, amount numeric(10,2),
                                    updated_at timestamptz NOT NULL)
    SERVER oltp OPTIONS (table_name 'orders');
CREATE TABLE dw_orders (id bigint PRIMARY KEY, status text, amount numeric(10,2), updated_at timestamptz);
SELECT incr_create_pipeline('orders', 'remote_orders', 'dw_orders', 'updated_at',
                            mode => 'merge', keys => ARRAY['id'], lag => '5 minutes');

CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE clicks_csv (id int, page text, at timestamptz)
    SERVER files OPTIONS (filename '$csv', format 'csv');
CREATE TABLE clicks (id int PRIMARY KEY, page text, at timestamptz);
SELECT incr_create_pipeline('clicks', 'clicks_csv', 'clicks', 'at', keys => ARRAY['id']);
SQL

r=$(q -d analytics -F ' ' -c "SELECT rows_read, rows_inserted FROM incr_run('orders')")
[ "$r" = "1000 1000" ] || fail "first run: $r"
q -d oltp -c "UPDATE orders SET status = 'shipped', updated_at = updated_at + interval '1 day' WHERE id % 10 = 0"
r=$(q -d analytics -F ' ' -c "SELECT rows_updated FROM incr_run('orders')")
[ "$r" = "100" ] || fail "second run updated $r rows"
diff=$(q -d analytics -c "SELECT count(*) FROM (SELECT * FROM remote_orders EXCEPT SELECT * FROM dw_orders) d")
[ "$diff" = 0 ] || fail "target differs from the remote source in $diff rows"
echo "fdw: postgres_fdw source: 1000 rows loaded, 100 remote updates merged, target equals the remote table"

# the window predicate goes to the remote side (a run's statement is planned
# with its parameters' values, so the Remote SQL carries them)
plan=$(q -d analytics <<'SQL'
DO $$
DECLARE
    sql text := incr_plan('orders');
    lo text := substring(sql from '\$1 lower bound, inclusive: ([^(]*) \(');
    hi text := substring(sql from '\$2 upper bound, inclusive: ([^(]*) \(');
    body text := regexp_replace(sql, '^(--[^\n]*\n)+', '');
BEGIN
    EXECUTE format('PREPARE run_stmt(timestamptz, timestamptz, timestamptz, pg_catalog.int8) AS %s', rtrim(body, ';'));
    CREATE TEMP TABLE explained (line text);
    FOR sql IN EXECUTE format('EXPLAIN (VERBOSE, COSTS OFF) EXECUTE run_stmt(%L, %L, %L, 0)', trim(lo), trim(hi), trim(lo))
    LOOP
        INSERT INTO explained VALUES (sql);
    END LOOP;
END $$;
SELECT line FROM explained WHERE line LIKE '%Remote SQL%';
SQL
)
echo "fdw: $plan"
case "$plan" in
	*"FROM public.orders WHERE ((updated_at >= "*") AND ((updated_at <= "*) ;;
	*) fail "the window predicate is not in the Remote SQL" ;;
esac
bound=$(q -d analytics -c "SELECT safe_bound FROM incr_status WHERE pipeline = 'orders'")
[ "$bound" = "none: foreign source, late rows need lag" ] || fail "incr_status says: $bound"
echo "fdw: incr_status: $bound"

r=$(q -d analytics -F ' ' -c "SELECT rows_inserted FROM incr_run('clicks')")
printf '4,/done,2024-01-01 00:00:04+00\n' >>"$csv"
r2=$(q -d analytics -F ' ' -c "SELECT rows_inserted FROM incr_run('clicks')")
[ "$r $r2" = "3 1" ] || fail "file_fdw runs inserted $r, then $r2"
echo "fdw: file_fdw CSV source: 3 rows, then the appended line alone"

# incr_verify over the foreign source: clean after the runs, the bucket
# aggregate runs remotely (Remote SQL has the GROUP BY), a damaged target
# row is found and repaired
r=$(q -d analytics -F ' ' -c "SELECT missing, extra, different, buckets_differing FROM incr_verify('orders', 64)")
[ "$r" = "0 0 0 0" ] || fail "verify over postgres_fdw: $r"
q -d analytics -c "UPDATE dw_orders SET status = 'lost' WHERE id = 42"
r=$(q -d analytics -F ' ' -c "SELECT different, sample->0->>'key' FROM incr_verify('orders', 64)")
[ "$r" = "1 [42]" ] || fail "verify over postgres_fdw did not find key 42: $r"
r=$(q -d analytics -F ' ' -c "SELECT rows_updated FROM incr_repair('orders')")
[ "$r" = "1" ] || fail "repair over postgres_fdw updated $r rows"
r=$(q -d analytics -F ' ' -c "SELECT missing + extra + different FROM incr_verify('orders', 64)")
[ "$r" = "0" ] || fail "verify after repair: $r"
# the plan of the digest statement incr_verify runs on the source side:
# auto_explain shows it as EXPLAIN VERBOSE would, and its Remote SQL holds
# the aggregate and the GROUP BY, so the buckets are computed remotely
remote=$(q -d analytics 2>&1 >/dev/null <<'SQL'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_verbose = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SELECT missing FROM incr_verify('orders', 64);
SQL
)
digest=$(echo "$remote" | grep "Remote SQL: SELECT abs(.*count(\*), sum(.*FROM public.orders WHERE .*GROUP BY 1" || true)
[ -n "$digest" ] || fail "the bucket aggregate is not pushed down: $remote"
echo "fdw: incr_verify over postgres_fdw: clean, a changed row found and repaired; digest pushed down:"
echo "$digest" | head -n 1 | sed 's/^ *//' | cut -c1-200

# A remote server is not trusted with our memory: a hostile remote whose abs()
# returns a bucket far out of range (here a superuser of the oltp database
# replaces it) makes incr_verify fail with a clear error, never write out of
# bounds (it crashed the server before).
q -d oltp >/dev/null <<'SQL'
CREATE TABLE hostile (id int, v text, ts timestamptz);
INSERT INTO hostile VALUES (1, 'a', now() - interval '1 hour'), (2, 'b', now() - interval '1 hour');
CREATE OR REPLACE FUNCTION pg_catalog.abs(bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS 'SELECT 4000000000000::bigint';
SQL
q -d analytics >/dev/null <<'SQL'
CREATE FOREIGN TABLE remote_hostile (id int, v text, ts timestamptz)
    SERVER oltp OPTIONS (table_name 'hostile');
CREATE TABLE dw_hostile (id int PRIMARY KEY, v text, ts timestamptz);
SELECT FROM incr_create_pipeline('hostile', 'remote_hostile', 'dw_hostile', 'ts',
                                 mode => 'merge', keys => ARRAY['id'], lag => '1 minute');
SELECT FROM incr_run('hostile');
SQL
out=$(q -d analytics -c "SELECT missing FROM incr_verify('hostile')" 2>&1) &&
	fail "incr_verify accepted a bucket out of range: $out"
echo "$out" | grep -q "a digest query returned an invalid bucket" ||
	fail "incr_verify with a hostile remote: $out"
[ "$(q -d analytics -c 'SELECT 1')" = 1 ] || fail "the server did not survive a hostile remote"
q -d oltp -c "CREATE OR REPLACE FUNCTION pg_catalog.abs(bigint) RETURNS bigint
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'int8abs'"
echo "fdw: a remote returning a bucket out of range: incr_verify refuses clearly, the server stays up"
