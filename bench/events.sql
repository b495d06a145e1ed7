-- bench/events.sql: create the events table :"src" of the pg_incremental
-- scenario with :rows rows (a bigint identity key, the cursor, and four
-- payload columns), and the empty target :"tgt" of the same columns with a
-- primary key on id, the same in the database of each side.
-- psql -v src=NAME -v tgt=NAME -v rows=N -f bench/events.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS :"src", :"tgt" CASCADE;
CREATE TABLE :"src" (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_time     timestamptz NOT NULL,
    client_id      bigint NOT NULL,
    path           text NOT NULL,
    response_time  float8 NOT NULL
) WITH (autovacuum_enabled = off);
INSERT INTO :"src" (event_time, client_id, path, response_time)
SELECT timestamptz '2024-01-01' + g * interval '1 second', g % 100, '/page-' || (g % 3), (g % 1000) / 1000.0
FROM generate_series(1, :rows) g;
VACUUM ANALYZE :"src";
CREATE TABLE :"tgt" (LIKE :"src") WITH (autovacuum_enabled = off);
ALTER TABLE :"tgt" ADD PRIMARY KEY (id);
