-- One quote token redeems one order: RedeemQuote looks a token's digest up
-- before redeeming a new order (checked on the single writer, so two orders
-- cannot both pass). Not UNIQUE: databases written before this rule may
-- hold several orders of one token, which stay as they are.
CREATE INDEX redemptions_token ON redemptions (token_digest);
