-- Vouchers: campaign vouchers (GenerateVouchers) and goodwill vouchers
-- (IssueVoucher), each the serialized care.promotion.v1.Voucher beside the
-- columns lookups need. `uses` lives in the body and changes only inside the
-- redemption transaction, so a voucher is never used more than max_uses.
CREATE TABLE vouchers (
  code TEXT PRIMARY KEY,
  kind INTEGER NOT NULL,
  campaign_id TEXT NOT NULL,
  member_id TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  body BLOB NOT NULL
) STRICT;
CREATE INDEX vouchers_campaign ON vouchers (campaign_id, batch_id);
CREATE INDEX vouchers_member ON vouchers (member_id);
