-- Deliveries to a complaint contact (issue 22): found by contact id when
-- complaint erases the contact. Rows stored before name the contact only in
-- their delivery id ("dlv-" and 16 hex digits, "-", the addressee): a
-- complaint message with no member (kinds 6 to 10; staff alerts have their
-- own kinds) was addressed to a contact.
ALTER TABLE deliveries ADD COLUMN contact_id TEXT NOT NULL DEFAULT '';
UPDATE deliveries SET contact_id = substr(delivery_id, 22)
  WHERE member_id = '' AND kind IN (6, 7, 8, 9, 10) AND length(delivery_id) > 21;
CREATE INDEX deliveries_contact ON deliveries (contact_id, seq) WHERE contact_id <> '';
