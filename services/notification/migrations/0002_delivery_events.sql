-- The event behind a delivery addressed to one member (complaint updates,
-- surveys, check-ins): its fields fill the template at send time.
CREATE TABLE delivery_events (
  delivery_id TEXT PRIMARY KEY,
  event BLOB NOT NULL
);
