-- bench/change.sql: one round's change to the source :"src" of :rows rows:
-- every :step-th row (rows / step rows, spread over the whole table) gets new
-- values and an updated_at later than anything before (round number :round).
-- psql -v src=NAME -v rows=N -v step=K -v round=R -f bench/change.sql
\set ON_ERROR_STOP 1
UPDATE :"src" SET status = 'r' || :round, amount = amount + 1,
       updated_at = timestamptz '2025-01-01' + :round * interval '1 hour' + id * interval '1 microsecond'
WHERE id IN (SELECT generate_series((:round - 1) % :step + 1, :rows, :step));
