#!/usr/bin/env bash
# test/dump_restore.sh: pipelines survive pg_dump and pg_restore.  A database
# with merge, append, cdc and files pipelines that have run is dumped and restored
# into a new database; there the pipelines, checkpoints and history are the
# same, and the next run loads only what is new since the dump.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "dump_restore: FAILED: $*"; exit 1; }

files_dir="$CLUSTER_DIR/dr_files"
mkdir -p "$files_dir"
printf '1,one\n2,two\n' > "$files_dir/a.csv"
chown -R "$(stat -c %U "$CLUSTER_DIR")" "$files_dir"

createdb dr_orig
q -d dr_orig >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE dr_src (id int PRIMARY KEY, v text, at timestamptz NOT NULL);
CREATE INDEX ON dr_src (at);
CREATE TABLE dr_merge (id int PRIMARY KEY, v text, at timestamptz);
CREATE TABLE dr_append (id int PRIMARY KEY, v text, at timestamptz);
CREATE TABLE dr_events (seq bigint PRIMARY KEY, payload jsonb);
CREATE TABLE dr_cdc (id int PRIMARY KEY, v text);
INSERT INTO dr_src SELECT g, 'v' || g, timestamptz '2024-01-01' + g * interval '1 hour' FROM generate_series(1, 100) g;
INSERT INTO dr_events SELECT g, jsonb_build_object('op', 'c', 'after', jsonb_build_object('id', g, 'v', 'e' || g)) FROM generate_series(1, 10) g;
SELECT incr_create_pipeline('dr_merge', 'dr_src', 'dr_merge', 'at', mode => 'merge', keys => ARRAY['id'], lag => '2 hours');
SELECT incr_create_pipeline('dr_append', 'dr_src', 'dr_append', 'at', keys => ARRAY['id'], schedule => '1 minute');
SELECT incr_create_pipeline('dr_cdc', 'dr_events', 'dr_cdc', 'seq', mode => 'cdc', keys => ARRAY['id'], payload_column => 'payload');
CREATE TABLE dr_files (id int, v text);
SELECT incr_create_pipeline('dr_files', target => 'dr_files', mode => 'files', files => '$files_dir/*.csv',
    copy_options => '{"format": "csv"}');
SELECT incr_run(name) FROM incr_pipelines;
SQL

catalog="SELECT p.name, p.source::text, p.target::text, p.mode, p.keys::text, p.lag::text, p.schedule::text, p.options::text, s.checkpoint FROM incr_pipelines p JOIN incr_status s ON s.pipeline = p.name ORDER BY 1"
before=$(q -d dr_orig -c "$catalog")
runs_before=$(q -d dr_orig -c "SELECT count(*) FROM incr_runs")
files="SELECT pipeline, path, size, modified_at, checksum, loaded_at, run_id, rows FROM incr_files ORDER BY path"
files_before=$(q -d dr_orig -c "$files")
[ -n "$files_before" ] || fail "the files pipeline loaded nothing"


dump="$CLUSTER_DIR/dr.dump"
pg_dump -Fc -d dr_orig -f "$dump"
createdb dr_copy
pg_restore -d dr_copy "$dump" 2>&1 | grep -v "^$" && fail "pg_restore reported problems" || true

after=$(q -d dr_copy -c "$catalog")
[ "$before" = "$after" ] || { echo "$before"; echo "---"; echo "$after"; fail "the catalog differs after restore"; }
[ "$(q -d dr_copy -c "SELECT count(*) FROM incr_runs")" = "$runs_before" ] || fail "history differs"
[ "$(q -d dr_copy -c "$files")" = "$files_before" ] || fail "incr_files differs after restore"
echo "dump_restore: $(echo "$after" | wc -l) pipelines, checkpoints and $runs_before history rows restored identically"

q -d dr_copy >/dev/null <<'SQL'
INSERT INTO dr_src VALUES (101, 'new', timestamptz '2024-01-01' + 101 * interval '1 hour');
INSERT INTO dr_events VALUES (11, '{"op":"d","before":{"id":1}}');
SQL
result=$(q -d dr_copy -F ' ' -c "SELECT r.pipeline, r.rows_inserted, r.rows_deleted FROM incr_pipelines p, LATERAL incr_run(p.name) r ORDER BY 1")
echo "dump_restore: first runs in the restored database: $(echo "$result" | tr '\n' ';')"
[ "$result" = "dr_append 1 0
dr_cdc 0 1
dr_files 0 0
dr_merge 1 0" ] || fail "the restored pipelines did not load exactly the new rows"
[ "$(q -d dr_copy -c "SELECT nextval('incr_runs_run_id_seq') > $runs_before")" = t ] || fail "run ids would repeat"
echo "dump_restore: ok"
