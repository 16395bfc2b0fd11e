-- Whose redemption each row is (Redemption.customer.member_id; '' = a
-- guest), so that a person's data export and erasure find their
-- redemptions without reading every body. NULL = written before this
-- column: the body tells (export and erasure read those rows too and filter
-- them; erasure fills the column of the rows it rewrites).
ALTER TABLE redemptions ADD COLUMN member_id TEXT;
CREATE INDEX redemptions_member ON redemptions (member_id, seq);
-- An erasure moves a member's per-campaign counts to their pseudonym.
CREATE INDEX customer_usage_customer ON customer_usage (customer_key);
