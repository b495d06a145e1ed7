-- bench/source.sql: create the source table :"src" with :rows rows: a bigint
-- key, four payload columns and a timestamptz cursor (one second apart from
-- 2024-01-01), indexed on the key and on the cursor.  UNLOGGED: that only
-- makes generating it faster (no WAL); reading it costs the same.
-- psql -v src=NAME -v rows=N -f bench/source.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS :"src" CASCADE;
CREATE UNLOGGED TABLE :"src" (
    id          bigint NOT NULL,
    customer    int NOT NULL,
    status      text NOT NULL,
    amount      numeric(12,2) NOT NULL,
    note        text,
    updated_at  timestamptz NOT NULL
) WITH (autovacuum_enabled = off);
INSERT INTO :"src"
SELECT g, g % 5000, 'new', (g % 1000) * 1.25, 'order ' || g,
       timestamptz '2024-01-01' + g * interval '1 second'
FROM generate_series(1, :rows) g;
ALTER TABLE :"src" ADD PRIMARY KEY (id);
CREATE INDEX ON :"src" (updated_at);
VACUUM ANALYZE :"src";
