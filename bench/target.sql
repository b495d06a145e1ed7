-- bench/target.sql: create the target table :"tgt" with the columns of
-- :"src", a primary key on id and an index on updated_at (as every target of
-- the bench has); with -v fill=true it starts as a copy of the source.
-- Targets are logged tables: writing them, WAL included, is what is measured.
-- psql -v src=NAME -v tgt=NAME -v fill=true|false -f bench/target.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS :"tgt" CASCADE;
CREATE TABLE :"tgt" (LIKE :"src") WITH (autovacuum_enabled = off);
\if :fill
INSERT INTO :"tgt" SELECT * FROM :"src";
\endif
ALTER TABLE :"tgt" ADD PRIMARY KEY (id);
CREATE INDEX ON :"tgt" (updated_at);
VACUUM ANALYZE :"tgt";
