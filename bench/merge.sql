-- bench/merge.sql: 1,000,000-row source, 100,000 rows changed per round,
-- merged into a 1,000,000-row target by incr_run, by a hand-written
-- INSERT ... ON CONFLICT with a watermark table, and by a hand-written MERGE.
-- Sets up bench_merge_* tables; bench/run.sh times the statements below.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS bm_src, bm_inc, bm_upsert, bm_merge, bm_watermark CASCADE;
SELECT incr_drop_pipeline(name) FROM incr_pipelines WHERE name = 'bm';

CREATE TABLE bm_src (
    id          bigint PRIMARY KEY,
    customer    int NOT NULL,
    status      text NOT NULL,
    amount      numeric(12,2) NOT NULL,
    note        text,
    updated_at  timestamptz NOT NULL
) WITH (autovacuum_enabled = off);
INSERT INTO bm_src
SELECT g, g % 5000, 'new', (g % 1000) * 1.25, 'order ' || g,
       timestamptz '2024-01-01' + g * interval '1 second'
FROM generate_series(1, 1000000) g;
CREATE INDEX ON bm_src (updated_at);

CREATE TABLE bm_inc (LIKE bm_src INCLUDING ALL) WITH (autovacuum_enabled = off);
CREATE TABLE bm_upsert (LIKE bm_src INCLUDING ALL) WITH (autovacuum_enabled = off);
CREATE TABLE bm_merge (LIKE bm_src INCLUDING ALL) WITH (autovacuum_enabled = off);
INSERT INTO bm_inc SELECT * FROM bm_src;
INSERT INTO bm_upsert SELECT * FROM bm_src;
INSERT INTO bm_merge SELECT * FROM bm_src;

CREATE TABLE bm_watermark (name text PRIMARY KEY, last_value timestamptz NOT NULL);
INSERT INTO bm_watermark VALUES ('upsert', '2024-01-01'::timestamptz + interval '1000000 seconds'),
                                ('merge', '2024-01-01'::timestamptz + interval '1000000 seconds');

SELECT name FROM incr_create_pipeline('bm', 'bm_src', 'bm_inc', 'updated_at',
    mode => 'merge', keys => ARRAY['id']);
SELECT incr_reset('bm', (timestamptz '2024-01-01' + interval '1000000 seconds')::text);
VACUUM ANALYZE bm_src, bm_inc, bm_upsert, bm_merge;
