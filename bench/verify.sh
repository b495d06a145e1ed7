#!/usr/bin/env bash
# bench/verify.sh: incr_verify on a matching 1,000,000-row merge pipeline,
# local and over postgres_fdw, against a hand-written full comparison
# (EXCEPT both ways), and the rows each moves over postgres_fdw.
# Usage: bash bench/verify.sh [rows]   (PG_PRIVATE as for scripts/test.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh
rows=${1:-1000000}
cluster_trap
cluster_start "shared_buffers = 256MB" "work_mem = 64MB" >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
ms() { # ms DB SQL: wall time of a statement in ms
	local t0 t1
	t0=$(date +%s%N); q -d "$1" -c "$2" >/dev/null; t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
createdb oltp
createdb dw
q -d oltp -c "CREATE TABLE orders (id bigint PRIMARY KEY, status text, amount numeric(10,2), updated_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, 'placed', g % 1000, timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series(1, $rows) g;
CREATE INDEX ON orders (updated_at);"
q -d oltp -c "VACUUM ANALYZE orders"
q -d dw >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE EXTENSION postgres_fdw;
CREATE SERVER oltp FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$PGHOST', port '$PGPORT', dbname 'oltp', fetch_size '10000');
CREATE USER MAPPING FOR CURRENT_USER SERVER oltp OPTIONS (user '$PGUSER');
CREATE FOREIGN TABLE remote_orders (id bigint, status text, amount numeric(10,2), updated_at timestamptz NOT NULL)
    SERVER oltp OPTIONS (table_name 'orders');
CREATE TABLE orders (LIKE remote_orders);
ALTER TABLE orders ADD PRIMARY KEY (id);
INSERT INTO orders SELECT * FROM remote_orders;
CREATE TABLE dw_local (LIKE orders INCLUDING ALL);
CREATE TABLE dw_remote (LIKE orders INCLUDING ALL);
SELECT incr_create_pipeline('local', 'orders', 'dw_local', 'updated_at', mode => 'merge', keys => ARRAY['id']);
SELECT incr_create_pipeline('remote', 'remote_orders', 'dw_remote', 'updated_at', mode => 'merge', keys => ARRAY['id']);
SELECT incr_run('local');
SELECT incr_run('remote');
VACUUM ANALYZE;
SQL
echo "rows: $rows"
echo "incr_verify local:       $(ms dw "SELECT * FROM incr_verify('local')") ms"
echo "EXCEPT both ways local:  $(ms dw "SELECT (SELECT count(*) FROM (TABLE orders EXCEPT TABLE dw_local) a), (SELECT count(*) FROM (TABLE dw_local EXCEPT TABLE orders) b)") ms"
echo "incr_verify fdw:         $(ms dw "SELECT * FROM incr_verify('remote')") ms"
echo "EXCEPT both ways fdw:    $(ms dw "SELECT (SELECT count(*) FROM (TABLE remote_orders EXCEPT TABLE dw_remote) a), (SELECT count(*) FROM (TABLE dw_remote EXCEPT TABLE remote_orders) b)") ms"
# rows over the wire: the Foreign Scan's actual rows in each plan
fetched=$(q -d dw 2>&1 >/dev/null <<'SQL' | grep -A3 "Foreign Scan" | grep -o "actual time=[^ ]* rows=[0-9]*" | sed 's/.*rows=//' | paste -sd+ | bc
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SELECT missing FROM incr_verify('remote');
SQL
)
except_rows=$(q -d dw -c "EXPLAIN (ANALYZE, VERBOSE) SELECT count(*) FROM (TABLE remote_orders EXCEPT TABLE dw_remote) a" | grep "Foreign Scan" | grep -o "rows=[0-9]*" | tail -1 | sed 's/rows=//')
echo "rows fetched over postgres_fdw: incr_verify $fetched, EXCEPT $except_rows per direction"
q -d oltp -c "UPDATE orders SET status = 'shipped' WHERE id % 100000 = 0"
q -d dw -c "UPDATE dw_local SET status = 'shipped' WHERE id % 100000 = 0"
echo "incr_verify fdw, $((rows / 100000)) rows differ: $(ms dw "SELECT * FROM incr_verify('remote')") ms"
q -d dw -F ' ' -c "SELECT 'differences found:', different, 'buckets:', buckets_differing, 'rows fetched:', rows_fetched FROM incr_verify('remote')"
