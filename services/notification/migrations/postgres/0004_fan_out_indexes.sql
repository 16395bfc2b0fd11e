-- Two unique indexes the fan-out wrote once per member that guard nothing
-- the others do not (each was a B-tree insert per row of a 1,000,000-member
-- alert):
-- - inbox.delivery_id: a message's id is its delivery's ("msg-" + the id
--   after "dlv-", services/notification/dispatch.cc), so message_id's unique
--   key already allows one message per delivery. Nothing reads by it.
-- - deliveries (member_id, seq): the natural key (member_id, message_key,
--   channel) becomes the primary key, still led by member_id (the
--   distribution key); seq keeps its own index (deliveries_seq) for the
--   lists' order and cursors, and a member's few rows are sorted by seq.
ALTER TABLE inbox DROP CONSTRAINT inbox_delivery_id_key;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey,
  DROP CONSTRAINT deliveries_member_id_message_key_channel_key,
  ADD CONSTRAINT deliveries_pkey PRIMARY KEY (member_id, message_key, channel);
