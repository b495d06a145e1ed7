#!/usr/bin/env bash
# test/upgrade.sh: ALTER EXTENSION incremental UPDATE from the oldest version.
# A database gets version 0.1, pipelines of several modes that run, fail and
# hold checkpoints; then every upgrade script runs up to the default version.
# The pipelines, checkpoints and history must survive and go on loading only
# new rows, the new version's features must work, and the upgraded catalog
# (every object of the extension, with its definition, privileges, comments
# and policies) must equal a fresh install's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/cluster.sh

cluster_trap
cluster_start >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "upgrade: FAILED: $*"; exit 1; }

oldest=$(ls sql/incremental--*.sql | sed -n 's|^sql/incremental--\([0-9.]*\)\.sql$|\1|p' | sort -V | head -1)
newest=$(sed -n "s/^default_version = '\(.*\)'/\1/p" incremental.control)
[ "$oldest" != "$newest" ] || fail "only one version ($newest): nothing to upgrade from"
echo "upgrade: from $oldest to $newest"

createdb up
q -d up >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION incremental VERSION '$oldest';
CREATE TABLE src (id int PRIMARY KEY, v text, at timestamptz NOT NULL);
CREATE INDEX ON src (at);
CREATE TABLE t_merge (id int PRIMARY KEY, v text, at timestamptz);
CREATE TABLE t_append (id int PRIMARY KEY, v text, at timestamptz);
CREATE TABLE events (seq bigint PRIMARY KEY, payload jsonb);
CREATE TABLE t_cdc (id int PRIMARY KEY, v text);
CREATE TABLE rollup (day date PRIMARY KEY, n bigint);
INSERT INTO src SELECT g, 'v' || g, timestamptz '2024-01-01' + g * interval '1 hour' FROM generate_series(1, 100) g;
INSERT INTO events SELECT g, jsonb_build_object('op', 'c', 'after', jsonb_build_object('id', g, 'v', 'e' || g)) FROM generate_series(1, 10) g;
SELECT incr_create_pipeline('p_merge', 'src', 't_merge', 'at', mode => 'merge', keys => ARRAY['id'], lag => '2 hours');
SELECT incr_create_pipeline('p_append', 'src', 't_append', 'at', keys => ARRAY['id'], schedule => '1 minute', batch_size => 40);
SELECT incr_create_pipeline('p_cdc', 'events', 't_cdc', 'seq', mode => 'cdc', keys => ARRAY['id'], payload_column => 'payload');
SELECT incr_create_pipeline('p_query', 'src', 'rollup', 'at', mode => 'query',
    command => 'INSERT INTO rollup SELECT at::date, count(*) FROM src WHERE at > \$1 AND at <= \$2 GROUP BY 1
                ON CONFLICT (day) DO UPDATE SET n = rollup.n + excluded.n');
SELECT incr_run(name) FROM incr_pipelines ORDER BY name;
SELECT incr_pause('p_query');
SQL
# a failed run, recorded by the recorder worker outside the rolled-back transaction
q -d up -c "SELECT incr_run('p_query')" >/dev/null 2>&1 && fail "a paused pipeline ran"
q -d up -c "SELECT incr_resume('p_query')" >/dev/null
q -d up -c "INSERT INTO events VALUES (11, '{\"op\": \"x\", \"after\": {\"id\": 1}}')"
q -d up -c "SELECT incr_run('p_cdc')" >/dev/null 2>&1 && fail "a bad change event was applied"
q -d up -c "DELETE FROM events WHERE seq = 11"
for _ in $(seq 50); do
	[ "$(q -d up -c "SELECT count(*) FROM incr_runs WHERE status = 'error'")" = 1 ] && break
	sleep 0.1
done

state="SELECT p.name, p.source::text, p.target::text, p.cursor_column, p.mode, p.keys::text,
              p.lag::text, p.batch_size, p.schedule::text, p.enabled, p.owner::text, p.options::text,
              c.value_timestamptz, c.value_numeric, c.moved_by_run
       FROM incr_pipelines p JOIN incr_checkpoints c ON c.pipeline = p.name ORDER BY 1"
history="SELECT run_id, pipeline, trigger, window_from, window_to, rows_read, rows_inserted,
                rows_updated, rows_deleted, rows_unchanged, rows_late, status, error
         FROM incr_runs ORDER BY run_id"
state_before=$(q -d up -c "$state")
history_before=$(q -d up -c "$history")
[ "$(echo "$history_before" | grep -c '|error|')" = 1 ] || fail "the failed run was not recorded before the upgrade"

q -d up -c "ALTER EXTENSION incremental UPDATE"
[ "$(q -d up -c "SELECT extversion FROM pg_extension WHERE extname = 'incremental'")" = "$newest" ] ||
	fail "the extension is not at $newest after the update"

[ "$(q -d up -c "$state")" = "$state_before" ] || fail "pipelines or checkpoints changed in the upgrade"
[ "$(q -d up -c "$history")" = "$history_before" ] || fail "the run history changed in the upgrade"
echo "upgrade: $(echo "$state_before" | wc -l) pipelines with their checkpoints and $(echo "$history_before" | wc -l) history rows are unchanged"

# the upgraded pipelines load exactly what is new
q -d up >/dev/null <<'SQL'
INSERT INTO src VALUES (101, 'new', timestamptz '2024-01-01' + 101 * interval '1 hour');
UPDATE src SET v = 'changed', at = timestamptz '2024-01-01' + 102 * interval '1 hour' WHERE id = 7;
INSERT INTO events VALUES (11, '{"op":"d","before":{"id":1}}');
SQL
result=$(q -d up -F ' ' -c "SELECT r.pipeline, r.status, r.rows_inserted, r.rows_updated, r.rows_deleted
                           FROM incr_pipelines p, LATERAL incr_run(p.name) r ORDER BY 1")
echo "upgrade: first runs after the update: $(echo "$result" | tr '\n' ';')"
# p_append reads the tie row and the batch it is behind on; check rows, not counts, for it
[ "$(echo "$result" | grep -v '^p_append')" = "p_cdc ok 0 0 1
p_merge ok 1 1 0
p_query ok 1 0 0" ] || fail "the upgraded pipelines did not load exactly the new rows"
q -d up -c "CALL incr_catch_up('p_append')" >/dev/null 2>&1
[ "$(q -d up -c "SELECT count(*) FROM (SELECT id FROM src EXCEPT SELECT id FROM t_append) d")" = 0 ] ||
	fail "p_append is missing rows after catching up"
[ "$(q -d up -c "SELECT count(*) FROM (SELECT * FROM src EXCEPT SELECT * FROM t_merge) d")" = 0 ] ||
	fail "p_merge differs from its source"

# a feature of the new version: a files pipeline
files_dir="$CLUSTER_DIR/upgrade_files"
mkdir -p "$files_dir"
printf 'id,v\n1,one\n2,two\n' > "$files_dir/a.csv"
chown -R "$(stat -c %U "$CLUSTER_DIR")" "$files_dir"
q -d up >/dev/null <<SQL
CREATE TABLE t_files (id int, v text);
SELECT incr_create_pipeline('p_files', target => 't_files', mode => 'files',
    files => '$files_dir/*.csv', copy_options => '{"format": "csv", "header": true}');
SELECT incr_run('p_files');
SQL
[ "$(q -d up -c "SELECT count(*) FROM t_files")" = 2 ] || fail "a files pipeline did not load after the upgrade"
[ "$(q -d up -c "SELECT rows FROM incr_files WHERE pipeline = 'p_files'")" = 2 ] || fail "incr_files was not written"
echo "upgrade: the upgraded database runs a files pipeline"

# privileges a DBA set on a function the upgrade replaces are kept
createdb up_acl
q -d up_acl >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION incremental VERSION '$oldest';
CREATE ROLE incr_upgrade_etl;
CREATE ROLE incr_upgrade_other;
REVOKE EXECUTE ON FUNCTION incr_create_pipeline FROM PUBLIC;
GRANT EXECUTE ON FUNCTION incr_create_pipeline TO incr_upgrade_etl;
ALTER EXTENSION incremental UPDATE;
SQL
[ "$(q -d up_acl -c "SELECT has_function_privilege('incr_upgrade_etl', 'incr_create_pipeline(text,regclass,regclass,text,text,text[],interval,bigint,interval,boolean,text,boolean,text,text,text,text,text,text,text,text,text,text,text,text,jsonb,text,text,text,text)', 'EXECUTE'),
                           has_function_privilege('incr_upgrade_other', 'incr_create_pipeline(text,regclass,regclass,text,text,text[],interval,bigint,interval,boolean,text,boolean,text,text,text,text,text,text,text,text,text,text,text,text,jsonb,text,text,text,text)', 'EXECUTE')")" = "t|f" ] ||
	fail "EXECUTE on incr_create_pipeline revoked from PUBLIC and granted to one role did not survive the upgrade"
pg_dump -s -d up_acl | grep -q '^REVOKE ALL ON FUNCTION public.incr_create_pipeline(' ||
	fail "pg_dump of the updated database leaves out the REVOKE on incr_create_pipeline"
echo "upgrade: EXECUTE revoked from PUBLIC and granted to a role on the replaced incr_create_pipeline survives, in pg_dump too"
q -d postgres -c "DROP DATABASE up_acl" -c "DROP ROLE incr_upgrade_etl" -c "DROP ROLE incr_upgrade_other" >/dev/null

# a database still at the oldest version has no run tokens, and its
# _incr_tally(anyelement) can be called by any SQL: the library refuses a
# value of another type than the run's cursor (it crashed the server) and a
# counted value outside the window (a forged checkpoint)
createdb up_legacy
q -d up_legacy >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION incremental VERSION '$oldest';
CREATE TABLE l_src (id bigint PRIMARY KEY, n numeric NOT NULL, seq bigint NOT NULL);
INSERT INTO l_src VALUES (1, 1.5, 1), (2, 2.5, 2);
CREATE VIEW l_crash AS SELECT * FROM l_src WHERE public._incr_tally(12345::bigint);
CREATE VIEW l_forge AS SELECT * FROM l_src WHERE public._incr_tally(1000000::bigint);
CREATE TABLE l_t1 (id bigint PRIMARY KEY, n numeric);
CREATE TABLE l_t2 (id bigint PRIMARY KEY, seq bigint);
SELECT incr_create_pipeline('l_crash', 'l_crash', 'l_t1', 'n', mode => 'merge', keys => ARRAY['id']);
SELECT incr_create_pipeline('l_forge', 'l_forge', 'l_t2', 'seq', mode => 'merge', keys => ARRAY['id']);
SQL
err=$(q -d up_legacy -c "SELECT incr_run('l_crash')" 2>&1) && fail "a bigint counted on a numeric cursor at $oldest"
echo "$err" | grep -q "_incr_tally was called with a value of type bigint, but the run's cursor is of type numeric" ||
	fail "a bigint counted on a numeric cursor at $oldest did not fail with a clear error: $err"
err=$(q -d up_legacy -c "SELECT incr_run('l_forge')" 2>&1) && fail "a forged value became the checkpoint at $oldest"
echo "$err" | grep -q 'counted cursor value 1000000 outside its window' ||
	fail "a forged value past the window at $oldest did not fail with a clear error: $err"
[ "$(q -d up_legacy -c "SELECT count(*) FROM incr_checkpoints WHERE value_numeric IS NOT NULL")" = 0 ] ||
	fail "a checkpoint moved at $oldest despite the forged values"
q -d postgres -c "DROP DATABASE up_legacy" >/dev/null
echo "upgrade: at $oldest, a mistyped or forged _incr_tally call fails the run cleanly"

# the upgraded catalog equals a fresh install's
createdb fresh
q -d fresh -c "CREATE EXTENSION incremental"
catalog=$(cat <<'SQL'
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'incremental'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
UNION ALL
SELECT 'config ' || c::regclass::text FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'incremental'
UNION ALL
SELECT format('column %s.%s %s notnull=%s default=%s', c.relname, a.attname,
              format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid))
FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL
SELECT format('column-order %s %s', c.relname, string_agg(a.attname, ',' ORDER BY a.attnum))
FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
GROUP BY c.relname
UNION ALL
SELECT format('relation %s kind=%s rls=%s acl=%s options=%s comment=%s', c.relname, c.relkind,
              c.relrowsecurity, c.relacl, c.reloptions, obj_description(c.oid, 'pg_class'))
FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT format('constraint %s %s %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
FROM members m JOIN pg_constraint c ON m.classid = 'pg_class'::regclass AND c.conrelid = m.objid
UNION ALL
SELECT format('index %s', pg_get_indexdef(i.indexrelid))
FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
UNION ALL
SELECT format('policy %s %s %s %s', p.polrelid::regclass, p.polname, p.polcmd,
              pg_get_expr(p.polqual, p.polrelid))
FROM members m JOIN pg_policy p ON m.classid = 'pg_class'::regclass AND p.polrelid = m.objid
UNION ALL
SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid))
FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
WHERE c.relkind = 'v'
UNION ALL
SELECT format('function %s acl=%s comment=%s', pg_get_functiondef(p.oid), p.proacl,
              obj_description(p.oid, 'pg_proc'))
FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT format('initprivs %s %s', pg_describe_object(i.classoid, i.objoid, i.objsubid), i.initprivs)
FROM members m JOIN pg_init_privs i ON i.classoid = m.classid AND i.objoid = m.objid
ORDER BY 1
SQL
)
upgraded=$(q -d up -c "$catalog")
installed=$(q -d fresh -c "$catalog")
if [ "$upgraded" != "$installed" ]; then
	diff <(echo "$installed") <(echo "$upgraded") | head -40
	fail "the upgraded catalog differs from a fresh install's (< fresh, > upgraded)"
fi
echo "upgrade: the upgraded catalog equals a fresh install's ($(echo "$installed" | wc -l) lines: $(echo "$installed" | grep -c '^member') objects)"
echo "upgrade: ok"
