#!/usr/bin/env bash
# scripts/demo.sh: the README's first command.  Installs what it needs, builds,
# starts a throwaway cluster with an OLTP database "shop" and an analytics
# database "dw" that reads it through postgres_fdw, runs a pipeline of every
# mode (files from a folder too), and a table mirrored from the WAL in "shop"
# (capture => 'wal'), prints what each did, and stops the cluster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }

if [ "$(id -u)" = 0 ]; then ensure_packages >/dev/null; fi
step "build, install, start a throwaway cluster"
build_install >/dev/null
cluster_trap
cluster_start >/dev/null
say "PostgreSQL $(psql -X -At -d postgres -c 'SHOW server_version') on socket $PGHOST, port $PGPORT"

shop() { psql -X -v ON_ERROR_STOP=1 -P pager=off -d shop "$@"; }
dw() { psql -X -v ON_ERROR_STOP=1 -P pager=off -d dw "$@"; }

createdb shop
createdb dw
shop -q <<'SQL'
-- the OLTP side: orders kept up to date by the application, and a change log
CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    customer    text NOT NULL,
    status      text NOT NULL,
    amount      numeric(10,2) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON orders (updated_at);
INSERT INTO orders
SELECT g, 'customer ' || (g % 7), 'placed', 10 + g, timestamptz '2024-05-01' + g * interval '1 minute'
FROM generate_series(1, 1000) g;
SQL

step "the analytics database reads shop.orders through postgres_fdw"
dw -q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE EXTENSION postgres_fdw;
CREATE SERVER shop FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$PGHOST', port '$PGPORT', dbname 'shop');
CREATE USER MAPPING FOR CURRENT_USER SERVER shop OPTIONS (user '$PGUSER');
IMPORT FOREIGN SCHEMA public LIMIT TO (orders) FROM SERVER shop INTO public;

-- targets
CREATE TABLE dw_orders (id bigint PRIMARY KEY, customer text, status text,
                        amount numeric(10,2), updated_at timestamptz, is_deleted boolean);
CREATE TABLE order_history (id bigint, customer text, status text, amount numeric(10,2),
                            valid_from timestamptz, valid_to timestamptz, is_current boolean,
                            PRIMARY KEY (id, valid_from));
CREATE TABLE clicks_by_hour (hour timestamptz, page text, clicks bigint, PRIMARY KEY (hour, page));

-- Debezium change events from another service, as a Kafka sink would land them
CREATE TABLE customer_events (seq bigint PRIMARY KEY, payload jsonb);
CREATE TABLE customers (id int PRIMARY KEY, name text, tier text, since date);

-- an append-only click log, big enough to load in batches
CREATE TABLE clicks (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, page text, at timestamptz NOT NULL);
CREATE TABLE dw_clicks (id bigint PRIMARY KEY, page text, at timestamptz);
INSERT INTO clicks (page, at)
SELECT '/page/' || (g % 13), timestamptz '2024-05-01' + g * interval '1 second'
FROM generate_series(1, 50000) g;
SQL
say "foreign table orders -> dw_orders (merge), order_history (scd2)"
say "customer_events (Debezium) -> customers (cdc); clicks -> dw_clicks (append), clicks_by_hour (query)"

step "define one pipeline per mode"
dw -q <<'SQL'
SET client_min_messages = warning;
\o /dev/null
SELECT FROM incr_create_pipeline('orders', 'orders', 'dw_orders', 'updated_at',
    mode => 'merge', keys => ARRAY['id'], lag => '10 minutes');
SELECT FROM incr_create_pipeline('order_history', 'orders', 'order_history', 'updated_at',
    mode => 'scd2', keys => ARRAY['id']);
SELECT FROM incr_create_pipeline('clicks_by_hour', 'clicks', 'clicks_by_hour', 'at',
    mode => 'query', command => $$
      INSERT INTO clicks_by_hour
      SELECT date_trunc('hour', at), page, count(*)
      FROM clicks WHERE at > $1 AND at <= $2 GROUP BY 1, 2
      ON CONFLICT (hour, page) DO UPDATE SET clicks = clicks_by_hour.clicks + EXCLUDED.clicks$$);
SELECT FROM incr_create_pipeline('customers', 'customer_events', 'customers', 'seq',
    mode => 'cdc', keys => ARRAY['id'], payload_column => 'payload');
SELECT FROM incr_create_pipeline('clicks', 'clicks', 'dw_clicks', 'id',
    keys => ARRAY['id'], batch_size => 20000);
SQL
dw -c "SELECT name, mode, cursor_column, keys, lag, batch_size FROM incr_pipelines ORDER BY name"

step "first runs"
dw -c "SELECT r.pipeline, r.rows_read, r.rows_inserted, r.rows_updated, r.rows_deleted, r.rows_unchanged
       FROM unnest(ARRAY['orders', 'order_history']) AS n, LATERAL incr_run(n) r"

step "the shop changes 50 orders, adds 20, and a late row arrives 5 minutes behind"
shop -q <<'SQL'
UPDATE orders SET status = 'shipped', updated_at = timestamptz '2024-05-01 17:00' + id * interval '1 second'
WHERE id % 20 = 0;
INSERT INTO orders SELECT g, 'customer ' || (g % 7), 'placed', 10 + g,
                          timestamptz '2024-05-01 18:00' + g * interval '1 second'
FROM generate_series(1001, 1020) g;
INSERT INTO orders VALUES (2000, 'late customer', 'placed', 99,
                           (SELECT max(updated_at) FROM orders) - interval '5 minutes');
SQL
step "what the next merge run will execute (incr_plan): the window is pushed to the shop database"
dw -At -c "SELECT incr_plan('orders')" | sed 's/^/   /'
step "second runs: only the changes; the late row is caught by the lag; unchanged rows are not rewritten"
dw -c "SELECT r.pipeline, r.rows_read, r.rows_inserted, r.rows_updated, r.rows_unchanged, r.rows_late
       FROM unnest(ARRAY['orders', 'order_history']) AS n, LATERAL incr_run(n) r"
say "order 20's history (scd2):"
dw -c "SELECT id, status, valid_from, valid_to, is_current FROM order_history WHERE id = 20 ORDER BY valid_from"
step "a re-run changes nothing"
dw -c "SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('orders')"

step "cdc: Debezium events (create, update, delete, a tombstone, a schema-encoded date) applied per key"
dw -q <<'SQL'
INSERT INTO customer_events VALUES
  (1, '{"payload":{"op":"c","after":{"id":1,"name":"Ada","tier":"bronze","since":"2020-01-01"}}}'),
  (2, '{"payload":{"op":"c","after":{"id":2,"name":"Bob","tier":"silver","since":"2021-06-01"}}}'),
  (3, '{"payload":{"op":"u","before":{"id":1},"after":{"id":1,"name":"Ada","tier":"gold","since":"2020-01-01"}}}'),
  (4, NULL),
  (5, '{"payload":{"op":"d","before":{"id":2}}}'),
  (6, '{"schema":{"type":"struct","fields":[{"field":"after","type":"struct","fields":[{"field":"id","type":"int32"},{"field":"since","type":"int32","name":"io.debezium.time.Date"}]}]},"payload":{"op":"c","after":{"id":3,"name":"Cy","tier":"bronze","since":19000}}}');
SQL
dw -c "SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_deleted, rows_unchanged FROM incr_run('customers')"
dw -c "SELECT * FROM customers ORDER BY id"
say "Bob was created and deleted within the window: only his last event counts, so he was never written"

step "catch-up: 50,000 clicks in batches of 20,000, each committed on its own"
dw -c "CALL incr_catch_up('clicks')" 2>&1 | sed 's/^/   /'
dw -c "SELECT count(*) AS dw_clicks FROM dw_clicks"

step "query: an hourly rollup of clicks, kept equal to a full recompute"
dw -c "SELECT pipeline, rows_inserted AS rollup_rows_written, window_from, window_to FROM incr_run('clicks_by_hour')"
dw -q -c "INSERT INTO clicks (page, at) SELECT '/late/' || g, timestamptz '2024-05-01 13:59' + g * interval '1 second' FROM generate_series(1, 100) g"
dw -c "SELECT pipeline, rows_inserted AS rollup_rows_written, window_from, window_to FROM incr_run('clicks_by_hour')"
dw -c "SELECT (SELECT sum(clicks) FROM clicks_by_hour) AS rollup_total, (SELECT count(*) FROM clicks) AS recomputed_total"

step "files: CSV exports dropped in a folder, each loaded once with COPY"
exports="$CLUSTER_DIR/refund_exports"
mkdir -p "$exports"
printf 'order_id,amount,refunded_on\n12,22.00,2024-05-01\n40,50.00,2024-05-01\n' > "$exports/refunds-2024-05-01.csv"
printf 'order_id,amount,refunded_on\n77,87.00,2024-05-02\n' > "$exports/refunds-2024-05-02.csv"
chown -R "$(stat -c %U "$CLUSTER_DIR")" "$exports"
say "folder $exports: $(ls "$exports" | tr '\n' ' ')"
dw -q <<SQL
CREATE TABLE refunds (order_id bigint, amount numeric(10,2), refunded_on date);
SELECT name, mode, options->'copy_options' AS copy_options
FROM incr_create_pipeline('refund_files', target => 'refunds', mode => 'files',
    files => '$exports/refunds-*.csv', copy_options => '{"format": "csv", "header": true}');
SQL
dw -c "SELECT pipeline, rows_inserted, status FROM incr_run('refund_files')"
printf 'order_id,amount,refunded_on\n90,100.00,2024-05-03\n' > "$exports/refunds-2024-05-03.csv"
touch "$exports/refunds-2024-05-01.csv"
say "a third export arrives; the first one is touched (same bytes, new mtime)"
dw -c "SELECT pipeline, rows_inserted, status FROM incr_run('refund_files')"
dw -c "SELECT regexp_replace(path, '.*/', '') AS file, size, rows, run_id, left(checksum, 12) AS sha256
       FROM incr_files ORDER BY run_id, path"
dw -c "SELECT count(*) AS refunds_rows FROM refunds"

step "wal: a table with no updated_at, mirrored from the WAL (capture => 'wal'), deletes included"
shop -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION incremental"
shop -q <<'SQL'
CREATE TABLE stock (sku text PRIMARY KEY, qty int NOT NULL);
INSERT INTO stock VALUES ('apple', 10), ('pear', 5), ('plum', 7);
CREATE TABLE stock_mirror (sku text PRIMARY KEY, qty int);
SQL
say "in the shop database itself: its own logical slot follows table stock (wal_level = logical)"
shop -c "SELECT name, mode, options->>'capture' AS capture
         FROM incr_create_pipeline('stock_mirror', source => 'stock', target => 'stock_mirror',
                                   mode => 'merge', keys => ARRAY['sku'], capture => 'wal')"
shop -c "SELECT rows_read, rows_inserted FROM incr_run('stock_mirror')"
shop -q -c "INSERT INTO stock VALUES ('fig', 3)" -c "UPDATE stock SET qty = qty - 4 WHERE sku = 'apple'" \
	-c "DELETE FROM stock WHERE sku = 'pear'" -c "BEGIN" -c "DELETE FROM stock" -c "ROLLBACK"
say "an insert, an update and a delete committed; a transaction deleting everything rolled back"
shop -c "SELECT rows_read, rows_inserted, rows_updated, rows_deleted, window_from, window_to
         FROM incr_run('stock_mirror')"
shop -c "SELECT * FROM stock_mirror ORDER BY sku"
shop -c "SELECT pipeline, checkpoint, wal_retained_bytes, wal_status FROM incr_status"
shop -q -c "SELECT incr_drop_pipeline('stock_mirror')" >/dev/null
say "dropped: slots left $(shop -At -c "SELECT count(*) FROM pg_replication_slots"), publications left $(shop -At -c "SELECT count(*) FROM pg_publication")"

step "backfill: re-process a range without moving the checkpoint"
shop -q -c "UPDATE orders SET amount = amount + 1 WHERE id BETWEEN 10 AND 19"
say "(10 orders corrected in place, without touching updated_at: a normal run would not see them)"
dw -c "SELECT trigger, rows_read, rows_updated, rows_unchanged, window_from, window_to
       FROM incr_backfill('orders', '2024-05-01 00:10+00', '2024-05-01 00:19+00')"

step "a failing run changes nothing and is recorded"
dw -q -c "ALTER TABLE dw_orders ADD CONSTRAINT sane_amount CHECK (amount < 10000)"
shop -q -c "INSERT INTO orders VALUES (3000, 'big spender', 'placed', 50000, timestamptz '2024-05-02')"
dw -c '\set VERBOSITY terse' -c "SELECT incr_run('orders')" 2>&1 | sed 's/^/   /' || true
dw -c "SELECT count(*) AS dw_orders_rows FROM dw_orders"

step "incr_status"
dw -c "SELECT pipeline, mode, checkpoint, last_status, last_rows_read, left(last_error, 50) AS last_error,
              rows_pending, safe_bound
       FROM incr_status ORDER BY pipeline"

step "run history"
dw -c "SELECT run_id, pipeline, trigger, rows_read, rows_inserted, rows_updated, rows_deleted, status
       FROM incr_runs ORDER BY run_id"

step "done; the cluster is stopped and removed"
