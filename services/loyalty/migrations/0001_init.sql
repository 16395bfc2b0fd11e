-- Loyalty: program versions, members, purchases, the points ledger and the
-- lots that make up each balance. Times are unix microseconds (UTC).

-- Every program version ever in force; body is a care.loyalty.v1.Program.
CREATE TABLE program_versions (
  version        INTEGER PRIMARY KEY,
  effective_at   INTEGER NOT NULL,
  superseded_at  INTEGER,
  body           BLOB    NOT NULL
);
CREATE INDEX program_versions_effective ON program_versions (effective_at);

CREATE TABLE members (
  member_id            TEXT    PRIMARY KEY,
  name                 TEXT    NOT NULL,
  email                TEXT    NOT NULL DEFAULT '',
  email_lc             TEXT    NOT NULL DEFAULT '',  -- for case-insensitive lookups
  phone                TEXT    NOT NULL DEFAULT '',
  locale               TEXT    NOT NULL DEFAULT '',
  time_zone            TEXT    NOT NULL DEFAULT '',
  birth_year           INTEGER NOT NULL DEFAULT 0,
  birth_month          INTEGER NOT NULL DEFAULT 0,   -- 0: no birthday given
  birth_day            INTEGER NOT NULL DEFAULT 0,
  segment              TEXT    NOT NULL,
  gender               INTEGER NOT NULL DEFAULT 0,
  age_band             INTEGER NOT NULL DEFAULT 0,
  occupation           TEXT    NOT NULL DEFAULT '',
  consents             TEXT    NOT NULL DEFAULT '',  -- "channel:granted:micros;..."
  consent_mask         INTEGER NOT NULL DEFAULT 0,   -- bit per channel with consent granted
  tier_id              TEXT    NOT NULL,
  tier_in_grace        INTEGER NOT NULL DEFAULT 0,
  tier_achieved_at     INTEGER NOT NULL,
  tier_review_at       INTEGER,
  tier_grace_end_at    INTEGER,
  tier_due_at          INTEGER,                      -- review or grace end: when the tier job looks
  tier_version         INTEGER NOT NULL,
  tier_program_version INTEGER NOT NULL,
  tier_snapshot_at     INTEGER NOT NULL,
  points_balance       INTEGER NOT NULL DEFAULT 0 CHECK (points_balance >= 0),
  ledger_seq           INTEGER NOT NULL DEFAULT 0,
  visit_count          INTEGER NOT NULL DEFAULT 0,
  visits_since_reward  INTEGER NOT NULL DEFAULT 0,
  last_visit_at        INTEGER,
  lifetime_spend       INTEGER NOT NULL DEFAULT 0,
  create_time          INTEGER NOT NULL,
  update_time          INTEGER NOT NULL,
  version              INTEGER NOT NULL,
  next_birthday_at     INTEGER,
  birthday_bonus_year  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX members_tier ON members (tier_id, member_id);
CREATE INDEX members_email ON members (email_lc) WHERE email_lc != '';
CREATE INDEX members_phone ON members (phone) WHERE phone != '';
CREATE INDEX members_tier_due ON members (tier_due_at) WHERE tier_due_at IS NOT NULL;
CREATE INDEX members_birthday ON members (next_birthday_at) WHERE next_birthday_at IS NOT NULL;

-- Recorded orders: the base of qualifying spend and of return reversals.
CREATE TABLE purchases (
  order_id         TEXT    PRIMARY KEY,
  member_id        TEXT    NOT NULL,
  amount           INTEGER NOT NULL,
  purchase_at      INTEGER NOT NULL,
  returned         INTEGER NOT NULL DEFAULT 0,
  earn_seq         INTEGER NOT NULL,
  points_earned    INTEGER NOT NULL,
  rounding         INTEGER NOT NULL,
  points_reversed  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX purchases_member_time ON purchases (member_id, purchase_at);

-- One row per member and local day with a counted visit.
CREATE TABLE visits (
  member_id  TEXT    NOT NULL,
  day        INTEGER NOT NULL,
  PRIMARY KEY (member_id, day)
) WITHOUT ROWID;

-- The ledger; body is the whole care.loyalty.v1.LedgerEntry.
CREATE TABLE ledger (
  member_id      TEXT    NOT NULL,
  seq            INTEGER NOT NULL,
  kind           INTEGER NOT NULL,
  delta          INTEGER NOT NULL,
  balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),
  create_time    INTEGER NOT NULL,
  order_id       TEXT,
  body           BLOB    NOT NULL,
  PRIMARY KEY (member_id, seq)
) WITHOUT ROWID;

-- What is left of each positive entry; a balance is the sum of its lots.
CREATE TABLE lots (
  member_id  TEXT    NOT NULL,
  seq        INTEGER NOT NULL,
  expire_at  INTEGER,
  remaining  INTEGER NOT NULL CHECK (remaining >= 0),
  warned     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (member_id, seq)
) WITHOUT ROWID;
CREATE INDEX lots_expiry ON lots (expire_at) WHERE remaining > 0 AND expire_at IS NOT NULL;
CREATE INDEX lots_warning ON lots (expire_at) WHERE remaining > 0 AND warned = 0 AND expire_at IS NOT NULL;

CREATE TABLE expiry_warnings (
  member_id  TEXT    NOT NULL,
  expire_at  INTEGER NOT NULL,
  PRIMARY KEY (member_id, expire_at)
) WITHOUT ROWID;

-- Tier snapshots that may not have reached Redis yet (written with the
-- change, cleared once the cache holds them).
CREATE TABLE tier_cache_dirty (
  member_id  TEXT    PRIMARY KEY,
  version    INTEGER NOT NULL
);

CREATE TABLE job_state (
  name   TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
