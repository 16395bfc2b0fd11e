-- A member's linked contacts (issue 22): the member's export and erasure
-- find them by member id, whatever address the contact was filed under.
CREATE INDEX contacts_by_member ON contacts (member_id) WHERE member_id <> '';
