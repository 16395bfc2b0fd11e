-- Bonus points live redemptions hold of each campaign's limits.points_budget
-- (see ../0009_points_budget.sql).
ALTER TABLE campaign_usage ADD COLUMN points BIGINT NOT NULL DEFAULT 0;
