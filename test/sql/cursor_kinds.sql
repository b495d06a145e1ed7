-- Every cursor type keeps its checkpoint exactly, in the column of its kind.
\set VERBOSITY terse
SET timezone = 'UTC';

CREATE TABLE k_src (id int PRIMARY KEY, c_tstz timestamptz, c_ts timestamp,
                    c_date date, c_int2 smallint, c_int4 int, c_int8 bigint,
                    c_num numeric);
INSERT INTO k_src VALUES
  (1, '2024-03-01 10:00:00.123456+00', '2024-03-01 10:00:00.654321', '2024-03-01', 1, 10, 10000000000, 1.5),
  (2, '2024-03-02 10:00:00.000001+00', '2024-03-02 23:59:59.999999', '2024-03-02', 2, 20, 20000000000, 2.25);

DO $$
DECLARE c text;
BEGIN
  FOREACH c IN ARRAY ARRAY['c_tstz', 'c_ts', 'c_date', 'c_int2', 'c_int4', 'c_int8', 'c_num'] LOOP
    EXECUTE format('CREATE TABLE %I (LIKE k_src INCLUDING ALL)', 'k_' || c);
    PERFORM incr_create_pipeline('k_' || c, 'k_src', ('k_' || c)::regclass, c,
                                 mode => 'merge', keys => ARRAY['id']);
  END LOOP;
END $$;

SELECT p.name, p.cursor_type, r.rows_read, r.rows_inserted
FROM incr_pipelines p, LATERAL incr_run(p.name) r
WHERE p.name LIKE 'k\_%' ORDER BY p.name;

SELECT pipeline, value_timestamptz, value_timestamp, value_date, value_numeric
FROM incr_checkpoints WHERE pipeline LIKE 'k\_%' ORDER BY pipeline;

-- second runs change nothing
SELECT p.name, r.rows_inserted + r.rows_updated AS changed
FROM incr_pipelines p, LATERAL incr_run(p.name) r
WHERE p.name LIKE 'k\_%' ORDER BY p.name;
