-- timestamp_dst: a timestamp (without time zone) cursor holds local time,
-- which goes back when daylight saving time ends; rows written after the
-- clocks go back have values below the checkpoint.  No pipeline may lose
-- them silently:
--   * in a TimeZone that goes back (America/New_York: one hour), creating a
--     pipeline with a timestamp cursor and a lag shorter than the step is
--     refused (55000, with the step and the zone), and a query pipeline
--     (which has no lag) is refused;
--   * with lag => '1 hour' it is created, and in a simulated fall-back (the
--     checkpoint at 01:59:35 EDT, then a row at 01:00:02 EST, both local
--     times) the row is loaded;
--   * a pipeline created in UTC is refused at its run in New York (the
--     scheduler's TimeZone may be another than the creator's);
--   * timestamptz cursors, and zones without DST (UTC, Asia/Tokyo), are not
--     concerned.
BEGIN;
SELECT plan(9);
SET LOCAL client_min_messages = warning;

CREATE TABLE dst_src (id int PRIMARY KEY, at timestamp NOT NULL DEFAULT localtimestamp, attz timestamptz NOT NULL DEFAULT now());
CREATE TABLE dst_tgt (id int PRIMARY KEY, at timestamp, attz timestamptz);
CREATE TABLE dst_q (n bigint);

SET LOCAL timezone = 'UTC';
SELECT lives_ok($$SELECT incr_create_pipeline('dst_utc', 'dst_src', 'dst_tgt', 'at', keys => '{id}')$$,
                'UTC: a timestamp cursor without lag is fine');

SET LOCAL timezone = 'America/New_York';
SELECT throws_ok($$SELECT incr_create_pipeline('dst_nolag', 'dst_src', 'dst_tgt', 'at', keys => '{id}')$$,
                 '55000', 'timestamp cursor "at" of pipeline "dst_nolag" goes back 01:00:00 in time zone "America/New_York"',
                 'New York: no lag is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('dst_short', 'dst_src', 'dst_tgt', 'at', keys => '{id}', lag => '59 minutes')$$,
                 '55000', 'timestamp cursor "at" of pipeline "dst_short" goes back 01:00:00 in time zone "America/New_York"',
                 'New York: a lag shorter than the step is refused');
SELECT throws_ok($$SELECT incr_create_pipeline('dst_query', 'dst_src', 'dst_q', 'at', mode => 'query',
                     command => 'INSERT INTO dst_q SELECT count(*) FROM dst_src WHERE at > $1 AND at <= $2')$$,
                 '55000', 'timestamp cursor "at" of pipeline "dst_query" goes back 01:00:00 in time zone "America/New_York"',
                 'New York: a query pipeline is refused');
SELECT lives_ok($$SELECT incr_create_pipeline('dst_tz', 'dst_src', 'dst_tgt', 'attz', keys => '{id}')$$,
                'New York: a timestamptz cursor is fine');
SELECT lives_ok($$SELECT incr_create_pipeline('dst_lag', 'dst_src', 'dst_tgt', 'at', keys => '{id}', lag => '1 hour')$$,
                'New York: lag => 1 hour is accepted');

-- the fall-back: a run moved the checkpoint to 01:59:35 EDT; the clocks went
-- back; a row is written at 01:00:02 EST
INSERT INTO dst_src VALUES (1, '2024-11-03 01:30:00', '2024-11-03 01:30:00-04'),
                           (2, '2024-11-03 01:59:35', '2024-11-03 01:59:35-04');
SELECT incr_reset('dst_lag', '2024-11-03 01:59:35');
INSERT INTO dst_src VALUES (3, '2024-11-03 01:00:02', '2024-11-03 01:00:02-05');
SELECT results_eq($$SELECT rows_inserted FROM incr_run('dst_lag')$$, $$VALUES (3::bigint)$$,
                  'the row written after the clocks went back is loaded');

SELECT throws_ok($$SELECT incr_run('dst_utc')$$, '55000',
                 'timestamp cursor "at" of pipeline "dst_utc" goes back 01:00:00 in time zone "America/New_York"',
                 'a pipeline created in UTC is refused at a run in New York');

SET LOCAL timezone = 'Asia/Tokyo';
SELECT lives_ok($$SELECT incr_run('dst_utc')$$, 'Tokyo (no DST): it runs');

SELECT * FROM finish();
ROLLBACK;
