#!/usr/bin/env bash
# test/subscriber_source.sh: rows replicated into a table by a logical
# replication subscription commit on the subscriber in the publisher's commit
# order, each in an apply transaction that starts when it arrives; a long
# transaction on the publisher that commits after a short one brings rows
# below the checkpoint, and no bound computed on the subscriber can see it.
# So a pipeline whose source (or a table under its view) is subscribed gets
# a WARNING at creation unless it has a lag, and incr_status.safe_bound says
# 'none: replicated by a subscription, late rows need lag'.  A table that is
# not subscribed, in the same database, gets neither.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start 'wal_level = logical' >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "subscriber_source: FAILED: $*"; exit 1; }

createdb pub
createdb sub
q -d pub <<'SQL'
CREATE TABLE ss_src (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
CREATE PUBLICATION ss_pub FOR TABLE ss_src;
-- a subscription to the same cluster cannot create its slot itself
SELECT FROM pg_create_logical_replication_slot('ss_sub', 'pgoutput');
SQL
q -d sub <<SQL
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE ss_src (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON ss_src (updated_at);
CREATE VIEW ss_view AS SELECT * FROM ss_src;
CREATE TABLE ss_local (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON ss_local (updated_at);
CREATE TABLE ss_tgt (id int PRIMARY KEY, updated_at timestamptz);
CREATE SUBSCRIPTION ss_sub CONNECTION 'host=$PGHOST port=$PGPORT dbname=pub'
    PUBLICATION ss_pub WITH (create_slot = false, slot_name = 'ss_sub');
SQL

create() { q -d sub -c "SELECT FROM incr_create_pipeline($1)" 2>&1; }

out=$(create "'ss_table', 'ss_src', 'ss_tgt', 'updated_at', keys => ARRAY['id']")
echo "$out" | grep -q 'WARNING:  source "ss_src" of pipeline "ss_table" is replicated by a subscription, so its rows have no safe upper bound' ||
	fail "no warning at creation on a subscribed table: $out"
echo "$out" | grep -q 'HINT:  Pass lag => an interval longer than the publisher' || fail "no hint to set lag: $out"

out=$(create "'ss_by_view', 'ss_view', 'ss_tgt', 'updated_at', keys => ARRAY['id']")
echo "$out" | grep -q 'WARNING:  source "ss_view" of pipeline "ss_by_view" is replicated by a subscription' ||
	fail "no warning at creation on a view over a subscribed table: $out"

out=$(create "'ss_lagged', 'ss_src', 'ss_tgt', 'updated_at', mode => 'append', keys => ARRAY['id'], lag => '10 minutes'")
[ -z "$out" ] || fail "a pipeline with a lag was warned about: $out"
out=$(create "'ss_local', 'ss_local', 'ss_tgt', 'updated_at', mode => 'append', keys => ARRAY['id']")
[ -z "$out" ] || fail "a pipeline on a table no subscription writes was warned about: $out"

status=$(q -d sub -F '|' -c "SELECT pipeline, safe_bound FROM incr_status ORDER BY pipeline")
expected="ss_by_view|none: replicated by a subscription, late rows need lag
ss_lagged|start of the oldest open transaction
ss_local|start of the oldest open transaction
ss_table|none: replicated by a subscription, late rows need lag"
[ "$status" = "$expected" ] || fail "incr_status.safe_bound: $status"

PGOPTIONS="-c client_min_messages=warning" q -d sub -c "DROP SUBSCRIPTION ss_sub"
echo "subscriber_source: ok"
