-- wal_source_children_refused: a wal pipeline refuses a source whose
-- publication would change other tables' behaviour or miss their changes:
-- a plain table with inheritance children (0A000: their changes would never
-- be read, and their UPDATEs and DELETEs would need a replica identity), and
-- a partitioned table with a partition whose replica identity does not hold
-- the keys (22023: that partition's deletes would come without them).  A
-- partitioned table whose partitions all have one is accepted.
BEGIN;
SELECT plan(3);
SET LOCAL client_min_messages = warning;

CREATE TABLE wi_parent (id int PRIMARY KEY, v text);
CREATE TABLE wi_child (extra text) INHERITS (wi_parent);
CREATE TABLE wi_dst (id int PRIMARY KEY, v text);
SELECT throws_ok($$SELECT incr_create_pipeline('wi', 'wi_parent', 'wi_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '0A000', 'source "wi_parent" of wal pipeline "wi" has inheritance children',
    'a source with inheritance children is refused');

CREATE TABLE wi_parted (id int NOT NULL, code text NOT NULL, v text) PARTITION BY LIST (code);
CREATE TABLE wi_p1 PARTITION OF wi_parted FOR VALUES IN ('a');
CREATE TABLE wi_p2 PARTITION OF wi_parted FOR VALUES IN ('b');
ALTER TABLE wi_parted REPLICA IDENTITY FULL;
ALTER TABLE wi_p1 REPLICA IDENTITY FULL;
CREATE UNIQUE INDEX wi_p2_code ON wi_p2 (code);
ALTER TABLE wi_p2 REPLICA IDENTITY USING INDEX wi_p2_code;
SELECT throws_ok($$SELECT incr_create_pipeline('wi', 'wi_parted', 'wi_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    '22023', 'key "id" of wal pipeline "wi" is not in the replica identity of source "wi_p2"',
    'a partition whose identity lacks the keys is refused');
ALTER TABLE wi_p2 REPLICA IDENTITY FULL;
SELECT lives_ok($$SELECT incr_create_pipeline('wi', 'wi_parted', 'wi_dst', mode => 'merge', keys => ARRAY['id'], capture => 'wal')$$,
    'a partitioned source whose partitions all carry the keys is accepted');

SELECT * FROM finish();
ROLLBACK;
