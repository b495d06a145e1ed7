-- append_keyed_catch_up_backoff: a keyed append whose cursor is not a key
-- (a primary key id, an updated_at cursor) puts its new rows in with a plain
-- INSERT in incr_catch_up's batches; when a loaded key's row got a new
-- cursor value, that INSERT collides and is undone, the batch runs the one
-- ON CONFLICT statement (the row is left as it was), the next batch does
-- without the plain INSERT, the one after tries it again.  Seen from the
-- target's statistics: scans of its key index (ON CONFLICT probes it once
-- per row, a plain INSERT does not) and rows inserted (undone ones too).
SET client_min_messages = warning;
CREATE TABLE kb_src (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
CREATE TABLE kb_tgt (id int PRIMARY KEY, v text, updated_at timestamptz);
INSERT INTO kb_src SELECT g, 'a', timestamptz '2024-01-01' + g * interval '1 second'
FROM generate_series(1, 300) g;
SELECT FROM incr_create_pipeline('kb', 'kb_src', 'kb_tgt', 'updated_at', mode => 'append',
                                 keys => ARRAY['id'], batch_size => 100);
-- what the target's statistics say since the last call
CREATE TABLE kb_seen (scans bigint, ins bigint);
INSERT INTO kb_seen VALUES (0, 0);
CREATE FUNCTION kb_delta(OUT scans bigint, OUT ins bigint) LANGUAGE sql AS $$
    WITH now AS (
        SELECT (SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'kb_tgt_pkey') AS scans,
               (SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'kb_tgt') AS ins),
    upd AS (UPDATE kb_seen AS k SET scans = now.scans, ins = now.ins FROM now
            RETURNING now.scans - (SELECT scans FROM kb_seen) AS scans,
                      now.ins - (SELECT ins FROM kb_seen) AS ins)
    SELECT scans, ins FROM upd
$$;

-- 300 rows in three batches, each a plain INSERT
CALL incr_catch_up('kb');
SELECT pg_stat_force_next_flush();
SELECT scans < 20 AS no_probe_per_row, ins FROM kb_delta();

-- 400 new rows, then row 5 changes, its row version last in the table and
-- its cursor value in the second batch
INSERT INTO kb_src SELECT g, 'b', timestamptz '2024-01-01' + g * interval '1 second'
FROM generate_series(301, 700) g;
UPDATE kb_src SET v = 'changed', updated_at = timestamptz '2024-01-01' + interval '450.5 seconds'
WHERE id = 5;
CALL incr_catch_up('kb');
SELECT pg_stat_force_next_flush();
-- probes: the batch that collided and the one after (about 100 each), not
-- the others; rows inserted: 400 kept, and the ones the undone INSERT wrote
SELECT scans BETWEEN 150 AND 300 AS two_batches_with_on_conflict, ins > 400 AS an_insert_was_undone
FROM kb_delta();
SELECT rows_read, rows_inserted, rows_unchanged FROM incr_runs
WHERE pipeline = 'kb' AND trigger = 'catch_up' AND run_id > (
    SELECT max(run_id) FROM incr_runs WHERE pipeline = 'kb' AND rows_read = 1)
ORDER BY run_id;
SELECT count(*), count(DISTINCT id) FROM kb_tgt;
SELECT id, v, updated_at FROM kb_tgt WHERE id = 5;
SELECT incr_drop_pipeline('kb');
DROP TABLE kb_src, kb_tgt, kb_seen;
DROP FUNCTION kb_delta();
