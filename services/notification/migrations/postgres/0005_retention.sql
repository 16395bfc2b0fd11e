-- (same as ../0007_retention.sql) Retention (NotificationService::RunRetention):
-- expired inbox messages and final deliveries are deleted by age in bounded
-- batches.
CREATE INDEX inbox_expiry ON inbox (expire_at);
CREATE INDEX deliveries_final_age ON deliveries (create_at) WHERE status <> 1;
