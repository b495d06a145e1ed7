#!/usr/bin/env bash
# bench/cdc.sh: applying 100,000 Debezium change events over 10,000 keys
# (creates, updates, deletes) with incr_run, against the hand-written SQL a
# user would write: DISTINCT ON the last event per key, INSERT ... ON
# CONFLICT of the after images with jsonb_populate_record, DELETE of the
# deleted keys, and a watermark update.  Both start from an empty target
# each round; ROUNDS rounds (default 5), alternating order; medians.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

rounds=${ROUNDS:-5}
cluster_trap
cluster_start "shared_buffers = '512MB'" "synchronous_commit = off" "autovacuum = off" >/dev/null
createdb cdcbench
export PGDATABASE=cdcbench
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION incremental;
CREATE TABLE events (seq bigint PRIMARY KEY, payload jsonb);
SELECT setseed(0.5);
INSERT INTO events
SELECT g, jsonb_build_object('payload', CASE
    WHEN g <= 10000 THEN jsonb_build_object('op', 'c', 'after',
        jsonb_build_object('id', g, 'name', 'customer ' || g, 'tier', 'bronze',
                           'balance', round((random() * 1000)::numeric, 2), 'updated', '2024-01-01T00:00:00Z'))
    WHEN g % 10 = 0 THEN jsonb_build_object('op', 'd', 'before', jsonb_build_object('id', 1 + (g * 7919) % 10000))
    ELSE jsonb_build_object('op', 'u', 'after',
        jsonb_build_object('id', 1 + (g * 7919) % 10000, 'name', 'customer ' || g, 'tier', 'silver',
                           'balance', round((random() * 1000)::numeric, 2), 'updated', '2024-01-02T00:00:00Z'))
    END)
FROM generate_series(1, 100000) g;
CREATE TABLE t_inc (id int PRIMARY KEY, name text, tier text, balance numeric(12,2), updated timestamptz);
CREATE TABLE t_ref (LIKE t_inc INCLUDING ALL);
CREATE TABLE watermark (last_seq bigint);
INSERT INTO watermark VALUES (0);
SELECT incr_create_pipeline('cdc', 'events', 't_inc', 'seq', mode => 'cdc', keys => ARRAY['id'],
                            payload_column => 'payload');
CREATE FUNCTION bench_time(stmts text[]) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); s text;
BEGIN
    FOREACH s IN ARRAY stmts LOOP EXECUTE s; END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
CREATE TABLE results (side text, round int, ms float8);
SQL

incremental="ARRAY[\$\$SELECT incr_run('cdc')\$\$]"
reference="ARRAY[\$\$
WITH last AS (
    SELECT DISTINCT ON (id) id, op, after
    FROM (SELECT e.seq, e.payload->'payload'->>'op' AS op, e.payload->'payload'->'after' AS after,
                 (coalesce(e.payload->'payload'->'after', e.payload->'payload'->'before')->>'id')::int AS id
          FROM events e WHERE e.seq > (SELECT last_seq FROM watermark)) x
    ORDER BY id, seq DESC),
up AS (
    INSERT INTO t_ref SELECT (jsonb_populate_record(NULL::t_ref, after)).* FROM last WHERE op <> 'd'
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, tier = EXCLUDED.tier,
        balance = EXCLUDED.balance, updated = EXCLUDED.updated
    WHERE (t_ref.name, t_ref.tier, t_ref.balance, t_ref.updated)
          IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.tier, EXCLUDED.balance, EXCLUDED.updated)
    RETURNING 1)
DELETE FROM t_ref USING last WHERE last.op = 'd' AND t_ref.id = last.id\$\$,
\$\$UPDATE watermark SET last_seq = (SELECT max(seq) FROM events)\$\$]"

for ((r = 1; r <= rounds; r++)); do
	q -c "TRUNCATE t_inc, t_ref" -c "UPDATE watermark SET last_seq = 0" -c "SELECT incr_reset('cdc')" >/dev/null
	q -c "VACUUM ANALYZE events, t_inc, t_ref" >/dev/null
	if [ $((r % 2)) = 1 ]; then order="incremental reference"; else order="reference incremental"; fi
	for side in $order; do
		if [ $side = incremental ]; then sql=$incremental; else sql=$reference; fi
		q -c "INSERT INTO results SELECT '$side', $r, bench_time($sql)"
	done
done
same=$(q -c "SELECT (SELECT count(*) FROM (SELECT * FROM t_inc EXCEPT SELECT * FROM t_ref) a)
               + (SELECT count(*) FROM (SELECT * FROM t_ref EXCEPT SELECT * FROM t_inc) b)")
[ "$same" = 0 ] || { echo "cdc bench: the targets differ in $same rows"; exit 1; }
q -F ' | ' <<'SQL'
WITH m AS (SELECT side, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median FROM results GROUP BY side)
SELECT '| cdc: 100,000 events, 10,000 keys', 'distinct_on_upsert_delete',
       round(i.median::numeric, 1) || ' ms', round(r.median::numeric, 1) || ' ms',
       round((i.median / r.median)::numeric, 3) || ' |'
FROM m i, m r WHERE i.side = 'incremental' AND r.side = 'reference';
SQL
echo "(both targets equal: $(q -c "SELECT count(*) FROM t_inc") rows; $rounds rounds, medians)"
