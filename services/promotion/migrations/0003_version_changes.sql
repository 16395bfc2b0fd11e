-- Which fields each version changed (CampaignVersion.changed_fields):
-- the update mask of an UPDATED version, the dates a RESCHEDULED one moved;
-- comma-separated paths, empty for the other changes and for versions
-- written before this column existed.
ALTER TABLE campaign_versions ADD COLUMN changed_fields TEXT NOT NULL DEFAULT '';
