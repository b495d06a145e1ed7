-- append: new rows are inserted once; rows read again (ties at the
-- checkpoint, re-runs) are not inserted twice, with keys or without.
\set VERBOSITY terse
SET timezone = 'UTC';

CREATE TABLE events (id bigint, kind text, at timestamptz NOT NULL);
CREATE INDEX ON events (at);
CREATE TABLE events_copy (id bigint PRIMARY KEY, kind text, at timestamptz);
CREATE TABLE events_log (id bigint, kind text, at timestamptz);

INSERT INTO events
SELECT g, 'k' || (g % 3), timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 5) g;

-- keyed: the unique index on the target decides what is already there
SELECT name, mode, keys FROM incr_create_pipeline('events_keyed', 'events',
    'events_copy', 'at', keys => ARRAY['id']);
-- keyless: told apart from loaded rows by the target's cursor column
SELECT name, mode, keys FROM incr_create_pipeline('events_keyless', 'events',
    'events_log', 'at');

SELECT rows_read, rows_inserted, rows_updated, rows_unchanged, status
FROM incr_run('events_keyed');
SELECT rows_read, rows_inserted, rows_updated, rows_unchanged, status
FROM incr_run('events_keyless');

-- a re-run reads the checkpoint's own value again and inserts nothing
SELECT rows_read, rows_inserted, rows_unchanged FROM incr_run('events_keyed');
SELECT rows_read, rows_inserted, rows_unchanged FROM incr_run('events_keyless');

-- a row sharing the checkpoint's value, committed after the run, is loaded
INSERT INTO events VALUES (6, 'late tie', timestamptz '2024-01-01 00:05');
INSERT INTO events VALUES (7, 'new', timestamptz '2024-01-01 00:07');
SELECT rows_read, rows_inserted, rows_unchanged FROM incr_run('events_keyed');
SELECT rows_read, rows_inserted, rows_unchanged FROM incr_run('events_keyless');

SELECT * FROM events_copy ORDER BY id;
SELECT * FROM events_log ORDER BY id;
SELECT pipeline, value_timestamptz FROM incr_checkpoints ORDER BY pipeline;

-- an updated source row is not an append: the keyed target keeps the first version
UPDATE events SET kind = 'changed', at = timestamptz '2024-01-01 00:08' WHERE id = 1;
SELECT rows_read, rows_inserted, rows_unchanged FROM incr_run('events_keyed');
SELECT kind FROM events_copy WHERE id = 1;

SELECT pipeline, trigger, rows_read, rows_inserted, status
FROM incr_runs ORDER BY run_id;
