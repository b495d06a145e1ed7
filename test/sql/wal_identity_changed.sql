-- A wal pipeline notices when its source's replica identity no longer
-- holds its keys: a run after such a change fails (the keys must be in the
-- replica identity), and a delete made while the identity did not hold the
-- keys (even if it holds them again by the run) fails the run instead of
-- being lost; target and checkpoint stay as they were.  Runs in autocommit:
-- decoding sees committed changes.
SET client_min_messages = warning;
CREATE TABLE ic_src (id int PRIMARY KEY, code text NOT NULL, v text);
CREATE UNIQUE INDEX ic_code ON ic_src (code);
CREATE TABLE ic_dst (id int PRIMARY KEY, code text NOT NULL, v text);
INSERT INTO ic_src VALUES (1, 'a', 'one'), (2, 'b', 'two'), (3, 'c', 'three');
SELECT FROM incr_create_pipeline('ic', source => 'ic_src', target => 'ic_dst',
                                 mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SELECT status, rows_read FROM incr_run('ic');

-- the identity no longer holds the key: the run fails
ALTER TABLE ic_src REPLICA IDENTITY USING INDEX ic_code;
\set VERBOSITY terse
SELECT status FROM incr_run('ic');
-- a delete under that identity, then the identity restored: still refused
DELETE FROM ic_src WHERE id = 2;
ALTER TABLE ic_src REPLICA IDENTITY DEFAULT;
SELECT status FROM incr_run('ic');
\set VERBOSITY default
SELECT * FROM ic_dst ORDER BY id;
SELECT incr_drop_pipeline('ic');
DROP TABLE ic_src, ic_dst;
