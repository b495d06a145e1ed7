-- One round's change: 100,000 rows of bm_src get new values and a new
-- updated_at, later than anything before (round number :round).
UPDATE bm_src SET status = 'r' || :round, amount = amount + 1,
                  updated_at = timestamptz '2025-01-01' + :round * interval '1 day' + id * interval '1 microsecond'
WHERE id % 10 = :round % 10;
VACUUM ANALYZE bm_src;
