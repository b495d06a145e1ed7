-- A wal pipeline's values reach the target exactly whatever the session's
-- extra_float_digits, DateStyle and IntervalStyle: decoding writes values as
-- text and the run reads them back, so these are pinned for the run (as the
-- apply worker does).  Runs in autocommit: decoding sees committed changes.
SET client_min_messages = warning;
CREATE TABLE vs_src (id int PRIMARY KEY, f float8, r real, d date, i interval);
CREATE TABLE vs_dst (id int PRIMARY KEY, f float8, r real, d date, i interval);
SELECT FROM incr_create_pipeline('vs', source => 'vs_src', target => 'vs_dst',
                                 mode => 'merge', keys => ARRAY['id'], capture => 'wal');
SELECT status FROM incr_run('vs');
SET extra_float_digits = -15;
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
INSERT INTO vs_src VALUES (1, 0.1 + 0.2, 1.0 / 3, '2024-01-02', '1 year 2 mons 3 days 04:05:06.789');
SELECT status, rows_inserted FROM incr_run('vs');
SHOW extra_float_digits;
SHOW DateStyle;
RESET extra_float_digits;
RESET DateStyle;
RESET IntervalStyle;
SELECT s.f = t.f AS f_exact, s.r = t.r AS r_exact, s.d = t.d AS d_same, s.i = t.i AS i_same
FROM vs_src s JOIN vs_dst t USING (id);
SELECT incr_drop_pipeline('vs');
DROP TABLE vs_src, vs_dst;
