-- bench/events_round.sql: append :rows new events to :"src" (the identity
-- key goes on from where it stopped), as between two runs of a pipeline.
-- psql -v src=NAME -v rows=N -f bench/events_round.sql
\set ON_ERROR_STOP 1
INSERT INTO :"src" (event_time, client_id, path, response_time)
SELECT timestamptz '2025-01-01' + g * interval '1 millisecond', g % 100, '/page-' || (g % 3), (g % 1000) / 1000.0
FROM generate_series(1, :rows) g;
VACUUM ANALYZE :"src";
