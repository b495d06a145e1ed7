-- bench/cdc.sql: the cdc scenario's data.  100,000 Debezium change events
-- (with the "payload" wrapper) over 10,000 keys: 10,000 creates, then updates
-- and, every tenth event, a delete of a key; two empty targets; the
-- pipeline, and the watermark table of the hand-written job.
SET client_min_messages = warning;
SELECT setseed(0.5);
CREATE TABLE cdc_events (seq bigint PRIMARY KEY, payload jsonb);
INSERT INTO cdc_events
SELECT g, jsonb_build_object('payload', CASE
    WHEN g <= 10000 THEN jsonb_build_object('op', 'c', 'after',
        jsonb_build_object('id', g, 'name', 'customer ' || g, 'tier', 'bronze',
                           'balance', round((random() * 1000)::numeric, 2), 'updated', '2024-01-01T00:00:00Z'))
    WHEN g % 10 = 0 THEN jsonb_build_object('op', 'd', 'before', jsonb_build_object('id', 1 + (g * 7919) % 10000))
    ELSE jsonb_build_object('op', 'u', 'after',
        jsonb_build_object('id', 1 + (g * 7919) % 10000, 'name', 'customer ' || g, 'tier', 'silver',
                           'balance', round((random() * 1000)::numeric, 2), 'updated', '2024-01-02T00:00:00Z'))
    END)
FROM generate_series(1, 100000) g;
CREATE TABLE cdc_inc (id int PRIMARY KEY, name text, tier text, balance numeric(12,2), updated timestamptz);
CREATE TABLE cdc_ref (LIKE cdc_inc INCLUDING ALL);
CREATE TABLE cdc_watermark (last_seq bigint);
INSERT INTO cdc_watermark VALUES (0);
SELECT name FROM incr_create_pipeline('cdc', 'cdc_events', 'cdc_inc', 'seq', mode => 'cdc',
                                      keys => ARRAY['id'], payload_column => 'payload');
