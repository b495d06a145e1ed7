#!/usr/bin/env bash
# scripts/demo.sh: the README's first command.  Installs what it needs, builds,
# starts a throwaway cluster, loads a small shop's data, runs pipelines of each
# mode, prints what they did, and stops the cluster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" = 0 ]; then ensure_packages >/dev/null; fi
step "building and installing the extension"
build_install >/dev/null
cluster_trap
cluster_start >/dev/null
export PGDATABASE=shop
createdb shop

q() { psql -X -v ON_ERROR_STOP=1 -P pager=off "$@"; }

q -q <<'SQL'
CREATE EXTENSION incremental;
SET client_min_messages = warning;

-- an OLTP table of orders, kept up to date by the application
CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    customer    text NOT NULL,
    status      text NOT NULL,
    amount      numeric(10,2) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON orders (updated_at);

-- an append-only event log numbered by a sequence
CREATE TABLE clicks (
    id          bigserial PRIMARY KEY,
    page        text NOT NULL,
    at          timestamptz NOT NULL
);

-- the analytics side
CREATE TABLE dw_orders (LIKE orders INCLUDING ALL, loaded_at timestamptz DEFAULT now());
CREATE TABLE dw_clicks (id bigint PRIMARY KEY, page text, at timestamptz);

INSERT INTO orders (id, customer, status, amount, updated_at)
SELECT g, 'customer ' || (g % 7), 'placed', 10 + g, timestamptz '2024-05-01' + g * interval '1 minute'
FROM generate_series(1, 1000) g;
INSERT INTO clicks (page, at)
SELECT '/page/' || (g % 13), timestamptz '2024-05-01' + g * interval '1 second'
FROM generate_series(1, 5000) g;
SQL

step "define two pipelines: a merge on a timestamp watermark, an append on a sequence"
q <<'SQL'
SELECT name, mode, cursor_column, keys, lag
FROM incr_create_pipeline('orders', source => 'orders', target => 'dw_orders',
        cursor_column => 'updated_at', mode => 'merge', keys => ARRAY['id'],
        lag => interval '10 minutes');
SELECT name, mode, cursor_column, keys, batch_size
FROM incr_create_pipeline('clicks', source => 'clicks', target => 'dw_clicks',
        cursor_column => 'id', mode => 'append', keys => ARRAY['id'],
        batch_size => 2000);
SQL

step "first runs: orders loads everything, clicks loads one batch of 2000"
q -c "SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_unchanged, window_to FROM incr_run('orders')"
q -c "SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_unchanged, window_to FROM incr_run('clicks')"

step "the application changes 50 orders, adds 20, and a late row arrives 5 minutes in the past"
q -q <<'SQL'
UPDATE orders SET status = 'shipped', updated_at = timestamptz '2024-05-01 17:00' + id * interval '1 second'
WHERE id % 20 = 0;
INSERT INTO orders (id, customer, status, amount, updated_at)
SELECT g, 'customer ' || (g % 7), 'placed', 10 + g, timestamptz '2024-05-01 18:00' + g * interval '1 second'
FROM generate_series(1001, 1020) g;
INSERT INTO orders VALUES (2000, 'late customer', 'placed', 99, (SELECT max(updated_at) FROM orders) - interval '5 minutes');
SQL
step "what the next run would execute (incr_plan)"
q -At -c "SELECT incr_plan('orders')"
step "second run: reads from the checkpoint less the 10 minute lag, so the late row is caught; rows re-read unchanged are not rewritten"
q -c "SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('orders')"
step "a re-run changes nothing"
q -c "SELECT pipeline, rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_run('orders')"

step "clicks catches up batch by batch"
for i in 1 2 3; do
	q -c "SELECT pipeline, rows_read, rows_inserted, window_from, window_to FROM incr_run('clicks')"
done

step "a failing run changes nothing and is recorded"
q -q -c "ALTER TABLE dw_orders ADD CONSTRAINT sane_amount CHECK (amount < 10000)"
q -q -c "INSERT INTO orders VALUES (3000, 'big spender', 'placed', 50000, now() - interval '1 hour')"
q -c '\set VERBOSITY terse' -c "SELECT incr_run('orders')" || true
q -c "SELECT count(*) AS dw_rows FROM dw_orders"

step "backfill re-processes a range without moving the checkpoint"
q -c "SELECT trigger, rows_read, rows_inserted, rows_updated, rows_unchanged FROM incr_backfill('orders', '2024-05-01 00:00+00', '2024-05-01 01:00+00')"

step "incr_status: one row per pipeline"
q -x -c "SELECT pipeline, mode, checkpoint, last_status, last_rows_read, last_error, rows_pending FROM incr_status ORDER BY pipeline"

step "run history"
q -c "SELECT run_id, pipeline, trigger, rows_read, rows_inserted, rows_updated, rows_unchanged, status FROM incr_runs ORDER BY run_id"

step "done; the cluster is stopped and removed"
