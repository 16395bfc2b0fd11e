-- Bonus points (BonusPoints effects) live redemptions hold of each
-- campaign's limits.points_budget, changed with the other usage counters.
ALTER TABLE campaign_usage ADD COLUMN points INTEGER NOT NULL DEFAULT 0;
