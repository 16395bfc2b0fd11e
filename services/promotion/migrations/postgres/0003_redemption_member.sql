-- Whose redemption each row is (Redemption.customer.member_id; '' = a
-- guest), for a person's data export and erasure. NULL = written before
-- this column (see ../0008_redemption_member.sql).
ALTER TABLE redemptions ADD COLUMN member_id TEXT;
CREATE INDEX redemptions_member ON redemptions (member_id, seq);
-- An erasure moves a member's per-campaign counts to their pseudonym.
CREATE INDEX customer_usage_customer ON customer_usage (customer_key);
