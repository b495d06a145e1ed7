#!/usr/bin/env bash
# test/old_catalog_impostors.sh: a database whose extension is still at 0.2 runs
# the newer library until ALTER EXTENSION UPDATE.  Objects that only 0.3 creates
# (incr_tombstones, the typed _incr_tally functions) are then missing, and the
# schema is writable by the database owner (public, on PostgreSQL 15): the
# library must take only the extension's own objects, never a look-alike a role
# put there, whose code would otherwise run as the bootstrap superuser in the
# catalog statements.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "old_catalog_impostors: FAILED: $*"; exit 1; }

q -d postgres -c "CREATE ROLE mallory LOGIN" -c "CREATE DATABASE shop OWNER mallory" >/dev/null
q -d shop -c "SET client_min_messages = warning" -c "CREATE EXTENSION incremental VERSION '0.2'" >/dev/null
q -d shop -U mallory >/dev/null <<'SQL'
CREATE TABLE public.seen (who text);
CREATE FUNCTION public.pwn() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.seen VALUES (current_user);
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE mallory SUPERUSER';
    END IF;
    RETURN false;
END $$;
CREATE TABLE public.tomb_data (pipeline text, key jsonb, value_timestamptz timestamptz,
    value_timestamp timestamp, value_date date, value_numeric numeric,
    deleted_at timestamptz, run_id bigint);
INSERT INTO public.tomb_data (pipeline) VALUES ('p');
CREATE VIEW public.incr_tombstones AS SELECT * FROM public.tomb_data WHERE public.pwn();
CREATE TABLE ev (seq bigint PRIMARY KEY, op text, id int, v text);
CREATE TABLE tgt (id int PRIMARY KEY, v text, ver bigint);
INSERT INTO ev VALUES (1, 'c', 1, 'a'), (2, 'c', 2, 'b'), (3, 'd', 1, NULL);
SELECT incr_create_pipeline('p', 'ev', 'tgt', 'seq', 'cdc', keys => ARRAY['id'],
                            op_column => 'op', version_column => 'ver');
SQL
# a superuser runs, backfills and resets mallory's pipeline: the catalog
# statements of tombstones must not read her view
q -d shop -c "SELECT status FROM incr_run('p')" >/dev/null
q -d shop -c "SELECT status FROM incr_backfill('p', '1', '3')" >/dev/null
q -d shop -c "SELECT incr_reset('p', '1')" >/dev/null
[ "$(q -d shop -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" = f ] ||
	fail "mallory became a superuser through a look-alike incr_tombstones"
[ -z "$(q -d shop -c "SELECT string_agg(who, ',') FROM public.seen")" ] ||
	fail "a look-alike incr_tombstones was read by: $(q -d shop -c "SELECT string_agg(who, ',') FROM public.seen")"
[ "$(q -d shop -c "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM tgt")" = "2:b" ] ||
	fail "the 0.2 run did not apply the events: $(q -d shop -c "SELECT * FROM tgt")"
echo "old_catalog_impostors: at 0.2, a look-alike incr_tombstones in the extension's schema is never read"

# after the update the extension's own table takes its place
q -d shop -c "DROP VIEW public.incr_tombstones" -c "SET client_min_messages = warning" \
	-c "ALTER EXTENSION incremental UPDATE" >/dev/null
q -d shop -c "SELECT status FROM incr_run('p')" >/dev/null
echo "old_catalog_impostors: updated to $(q -d shop -c "SELECT extversion FROM pg_extension WHERE extname = 'incremental'"), runs go on"
echo "old_catalog_impostors: ok"
